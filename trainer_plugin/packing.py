"""Tokenize rendered documents in batches and pack them into fixed-length training sequences.

Why the prefix is tokenized apart from the body: MeCo masks the metadata tokens out of the loss, the
paper (probably) did not; both need the exact token boundary, which ``MetadataTemplate.render``
gives as a (prefix, body) pair. Documents are joined with EOS; ``position_ids`` restart at every
document so flash-attention (varlen / padding-free) keeps documents apart, and ``seq_lens`` lists
each sequence's document segments for custom loops.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch

IGNORE_INDEX = -100


class BatchEncoder(Protocol):
    """What packing needs of a tokenizer backend: ``tokenizers.Tokenizer`` or anything alike."""

    def encode_batch(self, input: Sequence[Any], is_pretokenized: bool = ..., add_special_tokens: bool = ...) -> Any:
        """Encodings (each with ``.ids``) of many texts."""


def backend_of(tokenizer: Any) -> BatchEncoder:
    """The ``tokenizers.Tokenizer`` behind a transformers fast tokenizer (or the object itself)."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if not hasattr(backend, "encode_batch"):
        raise TypeError(
            f"{type(tokenizer).__name__} is not a fast tokenizer; load it with use_fast=True "
            f"(packing tokenizes in batches with the Rust backend)"
        )
    return backend


def encode_texts(backend: BatchEncoder, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of many texts in one batched, parallel call, without special tokens."""
    encode = getattr(backend, "encode_batch_fast", backend.encode_batch)
    return [e.ids for e in encode(list(texts), add_special_tokens=False)]


class Packer:
    """Turns (prefix, body) text pairs into dicts of ``seq_len`` tokens: ids, labels, positions.

    Tokens of a document that do not fit continue in the next sequence (nothing is cut off);
    ``flush`` pads the final partial sequence with label -100 so the last document is not lost.
    """

    def __init__(
        self,
        tokenizer: Any,
        seq_len: int,
        mask_metadata: bool = False,
        eos_id: int | None = None,
        pad_id: int | None = None,
    ) -> None:
        if seq_len < 2:
            raise ValueError(f"seq_len must be at least 2, got {seq_len}")
        self.backend = backend_of(tokenizer)
        self.seq_len = seq_len
        self.mask_metadata = mask_metadata
        eos = eos_id if eos_id is not None else getattr(tokenizer, "eos_token_id", None)
        if eos is None:
            raise ValueError("the tokenizer has no eos_token_id; pass eos_id explicitly")
        self.eos_id: int = eos
        pad = pad_id if pad_id is not None else getattr(tokenizer, "pad_token_id", None)
        self.pad_id = self.eos_id if pad is None else pad
        self._ids: list[int] = []
        self._labels: list[int] = []
        self._segments: list[int] = []  # lengths of document pieces in the buffer

    def encode(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], int]]:
        """(token ids with EOS appended, number of prefix tokens) per (prefix, body) pair."""
        prefixes = [p for p, _ in pairs]
        bodies = encode_texts(self.backend, [b for _, b in pairs])
        if any(prefixes):
            prefix_ids = encode_texts(self.backend, prefixes)
        else:
            prefix_ids = [[] for _ in pairs]
        return [(p + b + [self.eos_id], len(p)) for p, b in zip(prefix_ids, bodies)]

    def add(self, encoded: Sequence[tuple[list[int], int]]) -> Iterator[dict]:
        """Append encoded documents; yield every sequence that became full."""
        for ids, n_prefix in encoded:
            self._ids += ids
            if self.mask_metadata and n_prefix:
                self._labels += [IGNORE_INDEX] * n_prefix
                self._labels += ids[n_prefix:]
            else:
                self._labels += ids
            self._segments.append(len(ids))
            while len(self._ids) >= self.seq_len:
                yield self._cut(self.seq_len)

    def flush(self) -> dict | None:
        """The buffered tail as one padded sequence (None when the buffer is empty)."""
        if not self._ids:
            return None
        n = len(self._ids)
        pad = self.seq_len - n
        ids, labels, lens = self._take(n)
        attention = np.ones(self.seq_len, dtype=np.int64)
        if pad:
            ids += [self.pad_id] * pad
            labels += [IGNORE_INDEX] * pad
            lens.append(pad)  # padding is its own segment so offsets cover the sequence
            attention[n:] = 0
        return {**self._sample(ids, labels, lens), "attention_mask": attention}

    def _cut(self, n: int) -> dict:
        return self._sample(*self._take(n))

    def _take(self, n: int) -> tuple[list[int], list[int], list[int]]:
        ids, self._ids = self._ids[:n], self._ids[n:]
        labels, self._labels = self._labels[:n], self._labels[n:]
        lens: list[int] = []
        taken = 0
        while taken < n:
            piece = min(self._segments[0], n - taken)
            lens.append(piece)
            taken += piece
            if piece == self._segments[0]:
                self._segments.pop(0)
            else:
                self._segments[0] -= piece
        return ids, labels, lens

    @staticmethod
    def _sample(ids: list[int], labels: list[int], lens: list[int]) -> dict:
        """Numpy arrays: cheap to pickle from workers and to stack into tensors."""
        starts = np.repeat(np.cumsum([0] + lens[:-1]), lens)
        return {
            "input_ids": np.array(ids, dtype=np.int64),
            "labels": np.array(labels, dtype=np.int64),
            "position_ids": np.arange(len(ids), dtype=np.int64) - starts,
            "seq_lens": lens,
        }


class PackedCollator:
    """Stacks packed samples into tensors for ``LlamaForCausalLM``-style models.

    ``seq_lens`` (ragged) is dropped unless ``return_seq_lens``; then it comes back as
    ``cu_seq_lens``, the cumulative document offsets of the flattened batch (flash-attention varlen).
    """

    def __init__(self, return_seq_lens: bool = False, with_stream_position: bool = False) -> None:
        self.return_seq_lens = return_seq_lens
        self.with_stream_position = with_stream_position

    def __call__(self, samples: Sequence[dict]) -> dict:
        batch = {
            key: torch.from_numpy(np.stack([np.asarray(s[key], dtype=np.int64) for s in samples]))
            for key in ("input_ids", "labels", "position_ids")
        }
        width = batch["input_ids"].shape[1]
        batch["attention_mask"] = torch.from_numpy(
            np.stack(
                [
                    np.asarray(s["attention_mask"]) if "attention_mask" in s else np.ones(width, np.int64)
                    for s in samples
                ]
            )
        )
        if self.return_seq_lens:
            lens = [length for s in samples for length in s["seq_lens"]]
            batch["cu_seq_lens"] = torch.tensor(np.concatenate([[0], np.cumsum(lens)]), dtype=torch.int32)
        if self.with_stream_position and "_pos" in samples[-1]:
            batch["_pos"] = samples[-1]["_pos"]  # the loader strips it; see trainer_plugin.loader
        return batch
