"""A small byte-level BPE tokenizer trained on the curated train split, saved for transformers.

Trained on the train documents rendered with the paper's full prefix, so URL, country and continent
lines tokenize as compactly as the text: every condition then shares one vocabulary, and the
comparison is between models, not tokenizers. Eval documents never reach the tokenizer.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from trainer_plugin.template import PAPER_TEMPLATE

EOS = "<|endoftext|>"
PAD = "<pad>"


def _rendered_train_texts(corpus_data: Path):
    frame = pl.read_parquet(corpus_data / "train-*.parquet")
    for doc in frame.iter_rows(named=True):
        context, target = PAPER_TEMPLATE.render(doc)
        yield context + target


def train_tokenizer(corpus_data: Path, out_dir: Path, vocab_size: int) -> Path:
    """Train (or reuse) the BPE at ``out_dir``; returns the folder AutoTokenizer loads."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if (out_dir / "tokenizer.json").exists():
        return out_dir
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_rendered_train_texts(corpus_data), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=EOS, eos_token=EOS, pad_token=PAD)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(out_dir))
    return out_dir
