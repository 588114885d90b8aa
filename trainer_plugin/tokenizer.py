"""Tokenizers, offline: train a byte-level BPE on a tagged corpus, and load any tokenizer locally.

Experiments need a tokenizer that saw the corpus's own outlets, place names and metadata lines;
training one takes seconds for small corpora and keeps every run offline (nothing is downloaded).
``load_tokenizer`` is the one loader training, evaluation and merging share, so they agree on what
"a tokenizer" is: local, fast (batched Rust encoding) and with a pad token.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from geocorpus.paths import RunLayout

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>"]


class TokenizerError(ValueError):
    """A tokenizer that cannot be used (slow only, no EOS where one is needed); names the path."""


class TokenizerNotFoundError(TokenizerError, FileNotFoundError):
    """Neither a local tokenizer folder nor an id in the local Hugging Face cache; names the path."""


def load_tokenizer(name_or_path: str | Path, *, require_eos: bool = False) -> PreTrainedTokenizerBase:
    """A fast tokenizer from a local folder (a run folder means its model's) or a hub id already in
    the local cache; never downloads.

    A missing pad token is borrowed from EOS (batching pads; padded positions are never scored).
    ``require_eos``: training packs documents joined by EOS, so it cannot do without one.
    """
    from transformers import AutoTokenizer

    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir() and not any((path / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        from trainer_plugin.checkpoints import CheckpointError, resolve_model_dir

        with contextlib.suppress(CheckpointError):  # a run folder: the tokenizer saved with its model/
            path = resolve_model_dir(path)
    if path.exists() and not path.is_dir():
        raise TokenizerNotFoundError(f"tokenizer {text!r} is a file; expected a tokenizer folder")
    if not path.exists() and (path.is_absolute() or text.startswith((".", "~")) or text.count("/") > 1):
        raise TokenizerNotFoundError(f"tokenizer folder {text!r} does not exist (nothing is downloaded)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(path) if path.exists() else text, local_files_only=True, use_fast=True
        )
    except (OSError, ValueError) as exc:
        where = (
            "folder holds no loadable tokenizer"
            if path.exists()
            else "is neither a local folder nor in the local Hugging Face cache"
        )
        raise TokenizerNotFoundError(f"tokenizer {text!r} {where} (nothing is downloaded): {exc}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise TokenizerError(f"tokenizer {text!r} has no fast (Rust) version; batched tokenization needs one")
    if require_eos and tokenizer.eos_token_id is None:
        raise TokenizerError(f"tokenizer {text!r} has no EOS token; packing needs one between documents")
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of the tokenizer's full serialisation (vocabulary, merges, normalizer, special tokens):
    what a checkpoint's token ids mean."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    special = repr(sorted((k, str(v)) for k, v in tokenizer.special_tokens_map.items()))
    return hashlib.sha256((text + special).encode("utf-8")).hexdigest()[:16]


def _parquet_files(paths: Iterable[str | Path], split: str | None = None) -> list[Path]:
    """Parquet files named by files or folders; a curation run folder (or its ``data/``) gives its
    final shards (of ``split`` when given), any other folder its ``*.parquet``."""
    files: list[Path] = []
    for path in paths:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"no such file or folder: {p}")
        if not p.is_dir():
            files.append(p)
            continue
        layout = RunLayout.of_corpus(p)
        if layout is None:
            files += sorted(p.glob("*.parquet"))
        else:
            files += layout.split_files(split) if split else layout.data_files()
    return files


def corpus_texts(
    paths: Iterable[str | Path], split: str | None = "train", with_metadata: bool = True
) -> Iterator[str]:
    """Texts of tagged Parquet shards, streamed by row group; metadata lines included so the
    tokenizer learns ``URL:``/``COUNTRY:`` prefixes as the model will see them."""
    from trainer_plugin.template import PAPER_TEMPLATE

    paths = list(paths)
    files = _parquet_files(paths, split)
    if not files:
        raise FileNotFoundError(f"no Parquet files in {[str(p) for p in paths]}")
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
        tokenizer_object=tokenizer,
        eos_token=SPECIAL_TOKENS[0],
        bos_token=SPECIAL_TOKENS[0],
        pad_token=SPECIAL_TOKENS[1],
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    return out
