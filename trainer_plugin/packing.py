"""Tokenize documents in batches and pack them into fixed-length training sequences.

Why the prefix is tokenized apart from the body: MeCo masks the metadata tokens (and BOS) out of the
loss, the paper (probably) did not; both need the exact token boundary. Documents are joined with EOS
(and begin with BOS when the condition asks, as MeCo does). A sequence's document boundaries are
where its position ids restart (``document_offsets``).

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
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch

IGNORE_INDEX = -100
#: what the collator stacks for the model; the rest of a batch are attention kwargs
MODEL_INPUTS = ("input_ids", "labels", "position_ids")
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


class Encoded(NamedTuple):
    """One document ready to pack: its id arrays in order ([BOS], prefix, body, EOS; not copied
    together until a whole batch is), and how many leading tokens the loss ignores."""

    parts: list[np.ndarray]
    masked: int

    @property
    def ids(self) -> np.ndarray:
        return np.concatenate(self.parts).astype(np.int64, copy=False)


class Packer:
    """Turns documents into dicts of ``seq_len`` tokens: ``input_ids``, ``labels``, ``position_ids``.

    Tokens of a document that do not fit continue in the next sequence (nothing is cut off; with
    isolation its positions restart there); ``flush`` pads the final partial sequence with label
    -100 so the last document is not lost. Work is vectorised per batch of documents (one
    concatenation, positions for all rows at once), so packing runs at tens of millions of tokens/s
    and the tokenizer (or, pre-tokenized, the disk) stays the bottleneck.
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
        self._eos = np.array([self.eos_id], np.int64)
        self._bos = np.array([bos_id], np.int64) if bos_id is not None else None
        self._ids = np.zeros(0, np.int64)
        self._labels = np.zeros(0, np.int64)
        self._starts = np.zeros(0, np.int64)  # offsets in the buffer where a document begins
        self._index = np.arange(0, dtype=np.int64)  # 0..n-1, grown on demand

    def encode(self, docs: Sequence[tuple[Sequence[str] | str, str]]) -> list[Encoded]:
        """Each (prefix pieces, body) as an ``Encoded`` document.

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

    def assemble(self, prefix: np.ndarray, body: np.ndarray) -> Encoded:
        """One document ``[BOS] prefix body EOS`` and how many leading tokens are masked (BOS + prefix
        when ``mask_metadata`` and there is a prefix, as MeCo)."""
        parts = [prefix, body, self._eos] if len(prefix) else [body, self._eos]
        if self._bos is not None:
            parts.insert(0, self._bos)
        masked = (len(prefix) + (self._bos is not None)) if self.mask_metadata and len(prefix) else 0
        return Encoded(parts, masked)

    def add(self, encoded: Sequence[Encoded]) -> Iterator[dict]:
        """Append encoded documents; yield every sequence that became full."""
        if not encoded:
            return
        parts = [p for doc in encoded for p in doc.parts]
        counts = np.fromiter((len(doc.parts) for doc in encoded), np.int64, len(encoded))
        part_lengths = np.fromiter(map(len, parts), np.int64, len(parts))
        lengths = np.add.reduceat(part_lengths, np.cumsum(counts) - counts)
        new_ids = np.concatenate(parts).astype(np.int64, copy=False)
        offsets = np.cumsum(lengths) - lengths
        new_labels = new_ids.copy()
        for offset, doc in zip(offsets.tolist(), encoded):
            if doc.masked:
                new_labels[offset : offset + doc.masked] = IGNORE_INDEX
        starts = np.concatenate([self._starts, offsets + len(self._ids)])
        ids = np.concatenate([self._ids, new_ids])
        labels = np.concatenate([self._labels, new_labels])
        n_rows = len(ids) // self.seq_len
        block = n_rows * self.seq_len
        if n_rows:
            yield from self._rows(ids[:block], labels[:block], starts[starts < block], n_rows)
        self._ids, self._labels = ids[block:], labels[block:]
        self._starts = starts[starts >= block] - block

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
        (sample,) = self._rows(ids, labels, starts, 1)
        return {**sample, "attention_mask": attention}

    def _rows(self, ids: np.ndarray, labels: np.ndarray, starts: np.ndarray, n_rows: int) -> list[dict]:
        """``n_rows`` samples (views of one block): positions restart at every document start and at
        every row start (a document continued from the previous sequence)."""
        size = n_rows * self.seq_len
        if len(self._index) < size:
            self._index = np.arange(size, dtype=np.int64)
        if self.document_isolation:
            marks = np.zeros(size, np.int64)
            marks[starts] = starts
            marks[:: self.seq_len] = self._index[: size : self.seq_len]
            positions = self._index[:size] - np.maximum.accumulate(marks)
        else:
            positions = np.tile(np.arange(self.seq_len, dtype=np.int64), n_rows)
        shape = (n_rows, self.seq_len)
        ids2, labels2, positions2 = ids.reshape(shape), labels.reshape(shape), positions.reshape(shape)
        return [{"input_ids": ids2[r], "labels": labels2[r], "position_ids": positions2[r]} for r in range(n_rows)]


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
        width = len(samples[0]["input_ids"])
        # int32 to cross from a worker (half the bytes to pickle and pipe); int64 once in the main process
        dtype = np.int32 if self.as_numpy else np.int64
        batch: dict[str, Any] = {}
        for key in MODEL_INPUTS:
            block = np.empty((len(samples), width), dtype)
            for row, sample in enumerate(samples):
                block[row] = sample[key]
            batch[key] = block
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
    """Numpy arrays of a collated batch as torch tensors, the model inputs as int64 (labels must be);
    pinned when asked."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, np.ndarray):
            tensor = torch.from_numpy(value)
            if key in MODEL_INPUTS and tensor.dtype != torch.int64:
                tensor = tensor.long()
            out[key] = tensor.pin_memory() if pin_memory else tensor
        else:
            out[key] = value
    return out
