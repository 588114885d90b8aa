"""Train a byte-level BPE tokenizer on a tagged corpus, saved as a transformers tokenizer folder.

Experiments need a tokenizer that saw the corpus's own outlets, place names and metadata lines;
training one takes seconds for small corpora and keeps every run offline (nothing is downloaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import pyarrow.parquet as pq

SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>"]


def corpus_texts(paths: Iterable[str | Path], split: str | None = "train", with_metadata: bool = True) -> Iterator[str]:
    """Texts of tagged Parquet shards, streamed by row group; metadata lines included so the
    tokenizer learns ``URL:``/``COUNTRY:`` prefixes as the model will see them."""
    from trainer_plugin.template import PAPER_TEMPLATE

    files: list[Path] = []
    for path in paths:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"no such file or folder: {p}")
        files += sorted(p.glob("*.parquet")) if p.is_dir() else [p]
    if not files:
        raise FileNotFoundError(f"no Parquet files in {list(paths)}")
    for file in files:
        parquet = pq.ParquetFile(file)
        for group in range(parquet.num_row_groups):
            for row in parquet.read_row_group(group).to_pylist():
                if split and row.get("split") not in (None, split):
                    continue
                prefix = ""
                if with_metadata and row.get("url_normalized") and row.get("country"):
                    prefix = PAPER_TEMPLATE.prefix(row)
                yield prefix + PAPER_TEMPLATE.body(row)


def train_bpe_tokenizer(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 8000) -> Path:
    """Byte-level BPE with ``<|endoftext|>`` (EOS/BOS) and ``<|pad|>``; returns the saved folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=True,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=SPECIAL_TOKENS[0], bos_token=SPECIAL_TOKENS[0], pad_token=SPECIAL_TOKENS[1]
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    return out
