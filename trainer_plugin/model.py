"""The model a training config describes: its Llama shape, built at random or loaded from ``init_from``."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from trainer_plugin.checkpoints import CheckpointError
from trainer_plugin.config import TrainConfig
from trainer_plugin.tokenizer import load_tokenizer, tokenizer_fingerprint


def llama_config(
    config: TrainConfig, vocab_size: int, tokenizer: PreTrainedTokenizerBase | None = None
) -> LlamaConfig:
    """The Llama shape of the config's ``model`` section (also used by ``--dry-run`` on the meta device)."""
    m = config.model
    eos = tokenizer.eos_token_id if tokenizer is not None else None
    bos = tokenizer.bos_token_id if tokenizer is not None and tokenizer.bos_token_id is not None else eos
    pad = tokenizer.pad_token_id if tokenizer is not None and tokenizer.pad_token_id is not None else eos
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=m.hidden_size,
        num_hidden_layers=m.num_layers,
        num_attention_heads=m.num_heads,
        num_key_value_heads=m.num_kv_heads or m.num_heads,
        intermediate_size=m.intermediate_size or 4 * m.hidden_size,
        max_position_embeddings=max(config.data.seq_len, m.max_position_embeddings or 0),
        rope_parameters={"rope_type": "default", "rope_theta": m.rope_theta},
        rms_norm_eps=m.rms_norm_eps,
        initializer_range=m.initializer_range,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
        tie_word_embeddings=m.tie_word_embeddings,
    )


def build_model(
    config: TrainConfig, tokenizer: PreTrainedTokenizerBase, init_dir: Path | None = None
) -> LlamaForCausalLM:
    """A randomly initialised Llama of the configured size, or the weights of ``init_dir``.

    Either way its vocabulary must be the tokenizer's: a checkpoint trained with another tokenizer
    (told by the tokenizer saved beside it, or by the embedding size) is refused.
    """
    attn = config.model.attn_implementation
    if init_dir is None:
        torch.manual_seed(config.seed)
        model = LlamaForCausalLM._from_config(
            llama_config(config, len(tokenizer), tokenizer), attn_implementation=attn
        )
    else:
        _check_same_tokenizer(init_dir, tokenizer, config.tokenizer)
        model = LlamaForCausalLM.from_pretrained(
            init_dir, local_files_only=True, attn_implementation=attn, dtype=torch.float32
        )
        rows = int(model.config.vocab_size)
        if rows != len(tokenizer):
            raise CheckpointError(
                f"init_from {init_dir} has {rows} embedding rows but tokenizer {config.tokenizer} has "
                f"{len(tokenizer)} tokens: use the tokenizer the checkpoint was trained with"
            )
    model.config.use_cache = False  # training: transformers builds the packed-document mask only without a cache
    return model


def _check_same_tokenizer(init_dir: Path, tokenizer: PreTrainedTokenizerBase, name: str) -> None:
    saved = init_dir / "tokenizer.json"
    if not saved.is_file():
        return
    theirs = tokenizer_fingerprint(load_tokenizer(init_dir))
    if theirs != tokenizer_fingerprint(tokenizer):
        raise CheckpointError(
            f"init_from {init_dir} was trained with another tokenizer (fingerprint {theirs}) than {name} "
            f"({tokenizer_fingerprint(tokenizer)}); set tokenizer: {init_dir}"
        )
