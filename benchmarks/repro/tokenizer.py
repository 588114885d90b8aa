"""The repro's tokenizer: the project's BPE (trainer_plugin.tokenizer) on the curated train split.

Trained on the train documents rendered with the paper's full prefix, so URL, country and continent
lines tokenize as compactly as the text: every condition then shares one vocabulary, and the
comparison is between models, not tokenizers. Eval documents never reach the tokenizer.
"""

from __future__ import annotations

from pathlib import Path

from trainer_plugin.tokenizer import corpus_texts, train_bpe_tokenizer


def train_tokenizer(corpus_data: Path, out_dir: Path, vocab_size: int) -> Path:
    """Train (or reuse) the BPE at ``out_dir``; returns the folder AutoTokenizer loads."""
    if (out_dir / "tokenizer.json").exists():
        return out_dir
    # corpus_texts reads a run's data/ folder as geocorpus.paths.RunLayout lays it out
    return train_bpe_tokenizer(corpus_texts([corpus_data], split="train"), out_dir, vocab_size=vocab_size)
