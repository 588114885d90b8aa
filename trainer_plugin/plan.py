"""What a training config will cost, before anything runs: the model built on the meta device (no
memory, no weights), its parameter counts, tokens per optimizer step and in total.

``geocorpus train CONFIG --dry-run`` prints it; a paper-sized config (1B parameters, a 128k
vocabulary) is checked in a second on a laptop.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import torch

from trainer_plugin.checkpoints import resolve_model_dir
from trainer_plugin.config import TrainConfig


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Total parameters (tied weights once), and those outside the token embeddings and LM head."""
    seen: set[int] = set()
    total = 0
    for parameter in model.parameters():  # parameters() yields a tied weight once
        if id(parameter) not in seen:
            seen.add(id(parameter))
            total += parameter.numel()
    embedding_ids: set[int] = set()
    embeddings = 0
    get_in, get_out = getattr(model, "get_input_embeddings", None), getattr(model, "get_output_embeddings", None)
    for module in (get_in() if get_in else None, get_out() if get_out else None):
        weight = getattr(module, "weight", None)
        if weight is not None and id(weight) not in embedding_ids:
            embedding_ids.add(id(weight))
            embeddings += weight.numel()
    return {"parameters": total, "embedding_parameters": embeddings, "non_embedding_parameters": total - embeddings}


def plan(config: TrainConfig, world_size: int | None = None, vocab_size: int | None = None) -> dict[str, Any]:
    """Parameter counts and token budget of ``config``; reads no data and allocates no weights.

    The vocabulary is the tokenizer's (or ``vocab_size`` when the tokenizer is not on this
    machine); with ``init_from`` the shape is the checkpoint's.
    """
    from transformers import AutoConfig, LlamaConfig, LlamaForCausalLM

    from trainer_plugin.model import llama_config
    from trainer_plugin.tokenizer import TokenizerError, load_tokenizer

    tokenizer = None
    if vocab_size is None:
        try:
            tokenizer = load_tokenizer(config.tokenizer)
        except TokenizerError as exc:
            raise TokenizerError(f"{exc}; pass --vocab-size to plan without the tokenizer") from None
        vocab_size = len(tokenizer)
    if config.init_from:
        shape = AutoConfig.from_pretrained(resolve_model_dir(config.init_from), local_files_only=True)
        if not isinstance(shape, LlamaConfig):
            raise ValueError(f"init_from {config.init_from} is a {type(shape).__name__}, not a Llama")
    else:
        shape = llama_config(config, vocab_size, tokenizer)
    with torch.device("meta"):
        model = LlamaForCausalLM(shape)
    counts = count_parameters(model)
    world = world_size or int(os.environ.get("WORLD_SIZE", 1))
    t = config.training
    per_step = config.tokens_per_step(world)
    steps = t.stop_after_steps or t.max_steps
    return {
        **counts,
        "vocab_size": int(shape.vocab_size),
        "shape": {
            "hidden_size": shape.hidden_size,
            "num_layers": shape.num_hidden_layers,
            "num_heads": shape.num_attention_heads,
            "num_kv_heads": shape.num_key_value_heads,
            "intermediate_size": shape.intermediate_size,
            "tie_word_embeddings": bool(shape.tie_word_embeddings),
        },
        "world_size": world,
        "seq_len": config.data.seq_len,
        "tokens_per_step": per_step,
        "steps": steps,
        "total_tokens": per_step * steps,
        "tokens_per_parameter": per_step * steps / counts["parameters"],
        # 6 N D: forward + backward matmul FLOPs of the non-embedding weights (attention scores not counted)
        "train_flops": 6 * counts["non_embedding_parameters"] * per_step * steps,
        "condition": config.condition if isinstance(config.condition, str) else dict(config.condition),
        "document_isolation": config.data.document_isolation,
        "attn_implementation": config.model.attn_implementation,
        "schedule": {
            k: v
            for k, v in asdict(t).items()
            if k in ("learning_rate", "min_lr", "lr_scheduler", "warmup_steps", "adam_beta2", "max_grad_norm", "bf16")
        },
    }


def format_plan(result: dict[str, Any]) -> str:
    """The plan as a few aligned lines for a terminal."""
    s = result["shape"]

    def millions(n: float) -> str:
        return f"{n / 1e9:.3f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"

    lines = [
        f"model       Llama {s['num_layers']} layers x {s['hidden_size']} (heads {s['num_heads']}/{s['num_kv_heads']}, "
        f"ffn {s['intermediate_size']}, vocab {result['vocab_size']:,}, tied embeddings {s['tie_word_embeddings']})",
        f"parameters  {millions(result['parameters'])} total, {millions(result['non_embedding_parameters'])} without "
        f"embeddings ({result['parameters']:,} / {result['non_embedding_parameters']:,})",
        f"tokens      {result['tokens_per_step']:,} per step (seq_len {result['seq_len']} x batch x accumulation x "
        f"{result['world_size']} ranks); {result['total_tokens']:,} in {result['steps']:,} steps "
        f"({result['tokens_per_parameter']:.1f} tokens/parameter)",
        f"compute     {result['train_flops']:.3g} FLOPs (6 x non-embedding parameters x tokens)",
        f"attention   {result['attn_implementation']}, document_isolation={result['document_isolation']}",
    ]
    return "\n".join(lines)
