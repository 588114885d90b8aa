"""Tiny causal language models for the evaluation tests: seeded random Llamas and a few training steps.

The models are small enough (2 layers, hidden size 32) that building and scoring them stays fast on
two CPU cores. The fixtures that use these builders live in ``tests/evaluation/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from support.tagged_corpus import write_fundus_eval_file


def build_tiny_llama(tokenizer_dir: Path, out_dir: Path, seed: int = 0, max_positions: int = 128) -> Path:
    """A randomly initialised 2-layer Llama saved with its tokenizer; same seed, same weights."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def train_on_texts(model_dir: Path, texts: list[str], steps: int = 40, lr: float = 3e-2) -> Path:
    """Fit the model in ``model_dir`` to ``texts`` for a few Adam steps and save it in place."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = LlamaForCausalLM.from_pretrained(model_dir, local_files_only=True)
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    ids = torch.cat([torch.full((len(texts), 1), tokenizer.bos_token_id), batch["input_ids"]], dim=1)
    mask = torch.cat([torch.ones(len(texts), 1, dtype=torch.long), batch["attention_mask"]], dim=1)
    labels = ids.masked_fill(mask == 0, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.save_pretrained(model_dir)
    return model_dir


def model_weights(folder: Path) -> dict[str, torch.Tensor]:
    """A saved model's state dict (local files only)."""
    return LlamaForCausalLM.from_pretrained(folder, local_files_only=True).state_dict()


def build_merge_models(tokenizer_dir: Path, root: Path, seeds: tuple[int, int, int]) -> dict[str, Path]:
    """Global, regional and base tiny Llamas of one shape (one seed each): the three sides of a merge."""
    names = ("global", "regional", "base")
    return {name: build_tiny_llama(tokenizer_dir, root / name, seed=seed) for name, seed in zip(names, seeds)}


def build_eval_cli_setup(shared: Path, tokenizer_dir: Path, root: Path, per_country: int, max_chars: int) -> dict:
    """What the eval CLI tests run on: two tiny Llamas, a small fundus eval corpus, the shared QA folder."""
    corpus = write_fundus_eval_file(
        shared, root / "corpus" / "part.parquet", per_country=per_country, max_chars=max_chars
    )
    return {
        "global": build_tiny_llama(tokenizer_dir, root / "global", seed=1),
        "regional": build_tiny_llama(tokenizer_dir, root / "regional", seed=2),
        "corpus": corpus,
        "qa": shared / "qa",
        "root": root,
    }
