"""Tokenize documents in batches and pack them into fixed-length training sequences.

Why the prefix is tokenized apart from the body: MeCo masks the metadata tokens (and BOS) out of the
loss, the paper (probably) did not; both need the exact token boundary. Documents are joined with EOS
(and begin with BOS when the condition asks, as MeCo does).

Document isolation (the default): ``position_ids`` restart at every document and the collator sends
no ``attention_mask``, so transformers builds its packed-sequence (block-diagonal causal) mask for
sdpa and eager; flash-attention-2 gets the document offsets as ``cu_seq_lens_q/k``. An all-ones
``attention_mask`` would switch that mask off (measured: document B's logits moved by up to 0.145
when document A changed); a KV cache would too, hence ``use_cache=False`` in the batch. With
``document_isolation=False`` positions run 0..seq_len-1 across documents and attention is plain
causal over the whole sequence (the paper's Nanotron setting).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch

IGNORE_INDEX = -100
#: attention implementations that take document offsets as flash-attention varlen kwargs
VARLEN_IMPLEMENTATIONS = ("flash_attention_2", "flash_attention_3")


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
    """Turns documents into dicts of ``seq_len`` tokens: ids, labels, positions, segment lengths.

    Tokens of a document that do not fit continue in the next sequence (nothing is cut off);
    ``flush`` pads the final partial sequence with label -100 so the last document is not lost.
    Packing is vectorised with numpy per batch of documents: it runs at tens of millions of tokens/s,
    so the tokenizer (or, pre-tokenized, the disk) stays the bottleneck.
    """

    def __init__(
        self,
        tokenizer: Any,
        seq_len: int,
        mask_metadata: bool = False,
        eos_id: int | None = None,
        pad_id: int | None = None,
        bos_id: int | None = None,
        document_isolation: bool = True,
    ) -> None:
        if seq_len < 2:
            raise ValueError(f"seq_len must be at least 2, got {seq_len}")
        self.backend = backend_of(tokenizer) if tokenizer is not None else None
        self.seq_len = seq_len
        self.mask_metadata = mask_metadata
        self.document_isolation = document_isolation
        eos = eos_id if eos_id is not None else getattr(tokenizer, "eos_token_id", None)
        if eos is None:
            raise ValueError("the tokenizer has no eos_token_id; pass eos_id explicitly")
        self.eos_id: int = eos
        pad = pad_id if pad_id is not None else getattr(tokenizer, "pad_token_id", None)
        self.pad_id = self.eos_id if pad is None else pad
        self.bos_id = bos_id
        self._ids = np.zeros(0, np.int64)
        self._labels = np.zeros(0, np.int64)
        self._starts = np.zeros(0, np.int64)  # offsets in the buffer where a document begins
        self._arange = np.arange(seq_len, dtype=np.int64)

    def encode(self, docs: Sequence[tuple[Sequence[str] | str, str]]) -> list[tuple[np.ndarray, int]]:
        """(token ids with BOS/EOS, number of leading tokens to mask) per (prefix pieces, body).

        The prefix is a list of pieces tokenized apart (``MetadataTemplate.prefix_pieces``) or one
        string; everything of the batch goes to the tokenizer in one call.
        """
        if self.backend is None:
            raise ValueError("this Packer was built without a tokenizer; pass token ids to assemble()")
        texts: list[str] = []
        counts: list[int] = []
        for prefix, body in docs:
            pieces = [prefix] if isinstance(prefix, str) else list(prefix)
            pieces = [p for p in pieces if p]
            texts += pieces
            texts.append(body)
            counts.append(len(pieces))
        ids = encode_texts(self.backend, texts)
        out = []
        at = 0
        for n in counts:
            prefix_ids = [t for piece in ids[at : at + n] for t in piece]
            out.append(self.assemble(np.asarray(prefix_ids, np.int64), np.asarray(ids[at + n], np.int64)))
            at += n + 1
        return out

    def assemble(self, prefix: np.ndarray, body: np.ndarray) -> tuple[np.ndarray, int]:
        """One document's ids ``[BOS] prefix body EOS`` and how many leading tokens are masked."""
        parts = [prefix, body, np.array([self.eos_id], np.int64)]
        if self.bos_id is not None:
            parts.insert(0, np.array([self.bos_id], np.int64))
        ids = np.concatenate(parts).astype(np.int64, copy=False)
        masked = (len(prefix) + (self.bos_id is not None)) if self.mask_metadata and len(prefix) else 0
        return ids, masked

    def add(self, encoded: Sequence[tuple[np.ndarray | Sequence[int], int]]) -> Iterator[dict]:
        """Append encoded documents; yield every sequence that became full."""
        if not encoded:
            return
        arrays = [np.asarray(ids, np.int64) for ids, _ in encoded]
        lengths = np.fromiter((len(a) for a in arrays), np.int64, len(arrays))
        new_ids = np.concatenate(arrays)
        new_labels = new_ids.copy()
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for offset, (_, masked) in zip(offsets.tolist(), encoded):
            if masked:
                new_labels[offset : offset + masked] = IGNORE_INDEX
        base = len(self._ids)
        ids = np.concatenate([self._ids, new_ids])
        labels = np.concatenate([self._labels, new_labels])
        starts = np.concatenate([self._starts, offsets + base])
        n_rows = len(ids) // self.seq_len
        bounds = np.searchsorted(starts, np.arange(n_rows + 1) * self.seq_len)
        for row in range(n_rows):
            lo = row * self.seq_len
            row_starts = starts[bounds[row] : bounds[row + 1]] - lo
            yield self._sample(ids[lo : lo + self.seq_len], labels[lo : lo + self.seq_len], row_starts)
        cut = n_rows * self.seq_len
        self._ids, self._labels = ids[cut:], labels[cut:]
        self._starts = starts[bounds[n_rows] :] - cut

    def flush(self) -> dict | None:
        """The buffered tail as one padded sequence (None when the buffer is empty)."""
        n = len(self._ids)
        if not n:
            return None
        pad = self.seq_len - n
        ids = np.concatenate([self._ids, np.full(pad, self.pad_id, np.int64)])
        labels = np.concatenate([self._labels, np.full(pad, IGNORE_INDEX, np.int64)])
        starts = np.concatenate([self._starts, [n]]) if pad else self._starts  # padding: its own segment
        attention = np.ones(self.seq_len, dtype=np.int64)
        attention[n:] = 0
        self._ids, self._labels, self._starts = self._ids[:0], self._labels[:0], self._starts[:0]
        return {**self._sample(ids, labels, starts), "attention_mask": attention}

    def _sample(self, ids: np.ndarray, labels: np.ndarray, starts: np.ndarray) -> dict:
        """Numpy arrays: cheap to pickle from workers and to stack into tensors."""
        if not len(starts) or starts[0] != 0:
            starts = np.concatenate([[0], starts])  # a document continued from the previous sequence
        lens = np.diff(np.append(starts, self.seq_len))
        if self.document_isolation:
            positions = self._arange - np.repeat(starts, lens)
        else:
            positions = self._arange.copy()
        return {"input_ids": ids, "labels": labels, "position_ids": positions, "seq_lens": lens.tolist()}


def document_offsets(position_ids: np.ndarray) -> np.ndarray:
    """Cumulative document offsets (``cu_seqlens``) of a flattened batch: a document starts where
    its position id is 0, and every row starts one."""
    flat = np.asarray(position_ids).reshape(-1)
    starts = np.flatnonzero(flat == 0)
    return np.append(starts, len(flat)).astype(np.int32)


class PackedCollator:
    """Stacks packed samples into the model's inputs: ``input_ids``, ``labels``, ``position_ids``.

    No ``attention_mask`` is sent (see the module docstring). With document isolation, sdpa/eager
    also get ``use_cache=False`` (transformers builds the packed-sequence mask only without a
    cache) and flash-attention gets ``cu_seq_lens_q/k`` and ``max_length_q/k`` over the flattened
    batch, which keeps documents apart at any batch size. ``as_numpy`` keeps arrays as numpy so that
    dataloader workers pickle them instead of sharing one file descriptor per tensor.
    """

    def __init__(
        self,
        attn_implementation: str = "sdpa",
        document_isolation: bool = True,
        with_stream_position: bool = False,
        as_numpy: bool = False,
    ) -> None:
        self.attn_implementation = attn_implementation
        self.document_isolation = document_isolation
        self.with_stream_position = with_stream_position
        self.as_numpy = as_numpy

    def __call__(self, samples: Sequence[dict]) -> dict:
        batch: dict[str, Any] = {
            key: np.stack([np.asarray(s[key], dtype=np.int64) for s in samples])
            for key in ("input_ids", "labels", "position_ids")
        }
        if self.document_isolation:
            if self.attn_implementation in VARLEN_IMPLEMENTATIONS:
                offsets = document_offsets(batch["position_ids"])
                batch["cu_seq_lens_q"] = batch["cu_seq_lens_k"] = offsets
                longest = int(np.diff(offsets).max())
                batch["max_length_q"] = batch["max_length_k"] = longest
            else:
                batch["use_cache"] = False
        if not self.as_numpy:
            batch = to_tensors(batch)
        if self.with_stream_position and "_pos" in samples[-1]:
            batch["_pos"] = samples[-1]["_pos"]  # the loader strips it; see trainer_plugin.loader
        return batch


def to_tensors(batch: dict, pin_memory: bool = False) -> dict:
    """Numpy arrays of a collated batch as torch tensors (zero-copy; pinned when asked)."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, np.ndarray):
            tensor = torch.from_numpy(value)
            out[key] = tensor.pin_memory() if pin_memory else tensor
        else:
            out[key] = value
    return out
