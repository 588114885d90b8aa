"""A streaming, resumable, DDP- and worker-sharded dataset of packed, metadata-conditioned sequences.

Pipeline per reader (one DDP rank x one dataloader worker): its exact slice of the tagged Parquet
(``shards.slot_slices``), weighted mixing of sources, a seeded shuffle buffer, the condition's
template, batched tokenization and packing. Everything is a pure function of (seed, epoch, reader),
which is what makes resume exact: the state is, per worker, (epoch, sequences taken in that epoch,
sequences taken in all), and restoring it regenerates that epoch's stream and skips what was taken.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from trainer_plugin.conditions import Condition, load_condition
from trainer_plugin.packing import Encoded, Packer
from trainer_plugin.shards import (
    CorpusError,
    Unit,
    UnitReader,
    expand_paths,
    files_fingerprint,
    list_units,
    slot_slices,
)
from trainer_plugin.tokenized import TokenDoc, TokenReader, TokenStore, is_tokenized
from trainer_plugin.tokenizer import tokenizer_fingerprint

STATE_VERSION = 2


class ResumeError(ValueError):
    """A saved stream state that cannot continue this stream; says every difference."""


#: why a change of each signature key breaks the saved position (shown in the refusal)
_WHY = {
    "seq_len": "positions count sequences of the old length",
    "tokenizer": "other token ids and lengths",
    "condition": "other prefixes, regions or cooldown",
    "corpus": "other files or contents",
}


def describe_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """One phrase per signature key whose value differs, e.g. ``seq_len 64 -> 256 (...)``."""
    out = []
    for key in sorted(set(saved) | set(current)):
        before, after = saved.get(key), current.get(key)
        if before == after:
            continue
        if key == "seq_len" and isinstance(before, int) and isinstance(after, int):
            effect = (
                f"would skip {after / before:g}x the tokens trained on"
                if after > before
                else f"would restart at {after / before:g}x the tokens trained on and repeat the rest"
            )
            detail = f"{before} -> {after} ({_WHY[key]}: resuming {effect})"
        elif key == "corpus" or isinstance(before, dict) or isinstance(after, dict):
            detail = f"changed ({_WHY.get(key, 'another stream')})" + _diff_hint(before, after)
        else:
            detail = f"{before} -> {after}" + (f" ({_WHY[key]})" if key in _WHY else "")
        out.append(f"{key} {detail}")
    return out


def _diff_hint(before: Any, after: Any) -> str:
    if isinstance(before, dict) and isinstance(after, dict):
        keys = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
        return ": " + ", ".join(f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in keys[:3])
    return ""


@dataclass(frozen=True)
class Source:
    """Some tagged Parquet (files, globs or folders), its mixing weight, and optional region filter."""

    paths: tuple[str, ...]
    weight: float = 1.0
    include_regions: tuple[str, ...] = ()
    name: str = ""


def as_sources(spec: Any) -> list[Source]:
    """Sources from a path, a list of paths, Source objects or ``{path(s), weight, regions}`` mappings."""
    if isinstance(spec, (str, Path)):
        return [Source((str(spec),))]
    if isinstance(spec, Source):
        return [spec]
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"path", "paths", "weight", "regions", "include_regions", "name"})
        if unknown:
            raise CorpusError(f"unknown source key(s) {unknown}; known: path(s), weight, regions, name")
        paths = spec.get("paths", spec.get("path"))
        if paths is None:
            raise CorpusError(f"source {dict(spec)} has no 'path' or 'paths'")
        paths = (paths,) if isinstance(paths, (str, Path)) else tuple(paths)
        regions = spec.get("regions", spec.get("include_regions")) or ()
        regions = (regions,) if isinstance(regions, str) else tuple(regions)
        weight = float(spec.get("weight", 1.0))
        if weight <= 0:
            raise CorpusError(f"source {spec.get('name') or paths}: weight must be > 0, got {weight}")
        return [Source(tuple(str(p) for p in paths), weight, regions, str(spec.get("name", "")))]
    if isinstance(spec, Sequence):
        if all(isinstance(s, (str, Path)) for s in spec):
            return [Source(tuple(str(s) for s in spec))]
        return [source for item in spec for source in as_sources(item)]
    raise CorpusError(f"cannot read a data source from {spec!r}")


def region_sources(paths: Any, weights: Mapping[str, float]) -> list[Source]:
    """One source per region (country code or continent) over the same files: mixing by region."""
    paths = (paths,) if isinstance(paths, (str, Path)) else tuple(paths)
    return [Source(tuple(map(str, paths)), float(w), (region,), region) for region, w in weights.items()]


def resolve_rank_world(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """Explicit values, else torch.distributed, else RANK/WORLD_SIZE (torchrun), else (0, 1)."""
    if rank is not None and world_size is not None:
        return rank, world_size
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class PackedDataset(IterableDataset):
    """Packed training sequences from tagged Parquet under one experimental condition.

    ``epochs=None`` repeats forever (training by step count); every epoch reshuffles. With several
    sources, a seeded draw by weight picks each next document and an epoch ends when any source's
    share runs out. ``cooldown_after_sequences`` (per rank) drops the metadata prefix afterwards.
    """

    def __init__(
        self,
        sources: Any,
        tokenizer: Any,
        condition: Condition | str | Mapping = "url_country_continent",
        seq_len: int = 1024,
        split: str = "train",
        seed: int = 0,
        shuffle_buffer: int = 1000,
        epochs: int | None = 1,
        tokenize_batch: int = 128,
        cooldown_after_sequences: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        eos_id: int | None = None,
        document_isolation: bool = True,
        hash_range: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.condition = condition if isinstance(condition, Condition) else load_condition(condition)
        self.template = self.condition.template()
        self.sources = as_sources(sources)
        self.tokenizer = tokenizer
        self.seq_len, self.seed, self.epochs, self.split = seq_len, seed, epochs, split
        self._signature: dict[str, Any] | None = None
        self.shuffle_buffer, self.tokenize_batch = max(1, shuffle_buffer), max(1, tokenize_batch)
        self.cooldown_after_sequences = cooldown_after_sequences
        self.eos_id = eos_id
        self.document_isolation = document_isolation
        self.bos_id: int | None = None
        if self.condition.bos:
            self.bos_id = getattr(tokenizer, "bos_token_id", None)
            if self.bos_id is None:
                raise CorpusError(
                    f"condition {self.condition.name!r} starts documents with BOS; the tokenizer has none"
                )
        self.rank, self.world_size = resolve_rank_world(rank, world_size)
        self.hash_range: tuple[float, float] | None = None
        if hash_range is not None:
            lo, hi = (float(x) for x in hash_range)
            if not 0.0 <= lo < hi <= 1.0:
                raise CorpusError(f"hash_range must be [lo, hi) with 0 <= lo < hi <= 1, got {list(hash_range)}")
            self.hash_range = (lo, hi)
        self._packer()  # fail now on a slow tokenizer or missing EOS
        self._source_conditions = [self._condition_for(s) for s in self.sources]
        self._stores: list[list[TokenStore]] = [self._token_stores(s) for s in self.sources]
        self._units: list[list[Unit]] = []
        self._files: list[list[str]] = []
        for source, condition, stores in zip(self.sources, self._source_conditions, self._stores):
            name = source.name or ",".join(source.paths)
            if stores:
                files = [f for store in stores for f in store.shard_files()]
                columns = stores[0].columns(condition)
                self._units.append(list_units(files, condition, name, self.hash_range, columns))
                self._files.append([f for store in stores for f in store.files()])
            else:
                files = expand_paths(source.paths, split)
                self._units.append(list_units(files, condition, name, self.hash_range))
                self._files.append(files)
        self.num_documents = sum(u.n_kept for units in self._units for u in units)
        if self.num_documents < self.world_size:
            raise CorpusError(f"{self.num_documents} document(s) cannot be shared by {self.world_size} ranks")
        self._positions: dict[int, tuple[int, int, int]] = {}  # worker -> (epoch, index, total)
        self._resume: dict[int, tuple[int, int, int]] = {}
        self._num_workers = 0
        self._next_worker = 0  # the DataLoader starts at worker 0; on resume it plays this role

    def _token_stores(self, source: Source) -> list[TokenStore]:
        """The pre-tokenized stores of a source (``geocorpus tokenize`` folders), or [] for tagged Parquet."""
        tokenized = [is_tokenized(p) for p in source.paths]
        if not any(tokenized):
            return []
        if not all(tokenized):
            raise CorpusError(f"source {source.name or source.paths} mixes token stores and Parquet; split it in two")
        return [TokenStore(p, self.tokenizer) for p in source.paths]

    def _condition_for(self, source: Source) -> Condition:
        if not source.include_regions:
            return self.condition
        if self.condition.include_regions:
            raise CorpusError(
                f"source {source.name or source.paths} sets regions and condition {self.condition.name!r} "
                f"sets include_regions too; set regions in one place"
            )
        return replace(self.condition, include_regions=source.include_regions)

    # --- resumable state -------------------------------------------------------------------
    def signature(self) -> dict[str, Any]:
        """What the stream is made of: a saved position means something only for the same of all of these.

        Corpus files are fingerprinted by name, size and Parquet footer (row groups, statistics), the
        tokenizer by its full serialisation; a moved corpus folder keeps its fingerprint.
        """
        if self._signature is None:
            signature = {
                "seq_len": self.seq_len,
                "condition": asdict(self.condition),
                "corpus": [
                    {
                        "name": s.name,
                        "weight": s.weight,
                        "regions": list(s.include_regions),
                        "files": files_fingerprint(files),
                        "tokenized": bool(stores),
                    }
                    for s, files, stores in zip(self.sources, self._files, self._stores)
                ],
                "split": self.split,
                "hash_range": list(self.hash_range) if self.hash_range else None,
                "tokenizer": tokenizer_fingerprint(self.tokenizer),
                "shuffle_buffer": self.shuffle_buffer,
                "tokenize_batch": self.tokenize_batch,
                "document_isolation": self.document_isolation,
            }
            self._signature = json.loads(json.dumps(signature))  # as it reads back from a checkpoint
        return self._signature

    def state_dict(self) -> dict:
        """Where every worker's stream stands, and what the stream is; JSON-serialisable."""
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "rank": self.rank,
            "world_size": self.world_size,
            "num_workers": self._num_workers,
            "next_worker": self._next_worker,
            "workers": {str(w): list(p) for w, p in sorted(self._positions.items())},
            "signature": self.signature(),
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Continue exactly where ``state`` was taken; refuse, with every reason, a state of another stream.

        A position is a count of sequences per reader: with another seq_len, corpus, condition,
        tokenizer, seed, world size or worker count the same count points somewhere else (seq_len
        64 -> 256 would skip four times the tokens already trained on), so such a resume is refused.
        """
        if state.get("version") not in (1, STATE_VERSION):
            raise ResumeError(f"dataset state version {state.get('version')!r}; expected {STATE_VERSION}")
        changes = [
            f"{key} {state[key]} -> {mine}"
            for key, mine in (("seed", self.seed), ("world_size", self.world_size))
            if state[key] != mine
        ]
        if "signature" in state:  # version 1 states (before these checks) carry none
            changes += describe_changes(json.loads(json.dumps(state["signature"])), self.signature())
        if changes:
            raise ResumeError(
                "cannot resume: the saved stream position belongs to another stream ("
                + "; ".join(changes)
                + "). Train into a new output_dir, or keep the weights with init_from: CHECKPOINT on the new stream"
            )
        self._resume = {int(w): tuple(p) for w, p in state["workers"].items()}
        self._positions = dict(self._resume)
        self._num_workers = int(state["num_workers"])
        self._next_worker = int(state.get("next_worker", 0))

    def record_position(self, position: Sequence[int]) -> None:
        """Called by the loader in the main process for every batch it hands out."""
        worker, epoch, index, total = position
        self._positions[int(worker)] = (int(epoch), int(index), int(total))
        self._next_worker = (int(worker) + 1) % max(1, self._num_workers)

    def begin_pass(self, start: Callable[[], Iterator[dict]]) -> Iterator[dict]:
        """Start one pass over the stream with ``start`` (a loader's own ``__iter__``) and return it.

        A fresh pass forgets where an earlier one stood; a pass right after ``load_state_dict``
        keeps the restored positions. The resume point must stay set while ``start`` launches the
        readers (workers read it as they are created) and is cleared afterwards, so that the pass
        after this one starts from the beginning, not from the old checkpoint.
        """
        if not self._resume:
            self._positions, self._next_worker = {}, 0
        batches = start()
        self._resume = {}
        return batches

    def set_num_workers(self, num_workers: int) -> None:
        """Told by the loader; a resume state must have been saved with the same number.

        Not elastic: each worker's position is a count within its own slice of the corpus, and the
        slices depend on the number of workers.
        """
        if self._resume and num_workers != self._num_workers:
            raise ResumeError(
                f"cannot resume: the stream was saved with num_workers={self._num_workers} (data.num_workers), "
                f"this run has {num_workers}; the worker count is part of the stream (each worker owns a slice)"
            )
        if not self._resume:
            self._num_workers = num_workers

    # --- iteration ---------------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        # batches come round-robin from workers; a resumed loader's worker 0 continues the role of
        # the worker whose turn was next, so the interleaving matches the uninterrupted run
        worker, n_workers = ((info.id + self._next_worker) % info.num_workers, info.num_workers) if info else (0, 1)
        if self._resume and (info.num_workers if info else 0) != self._num_workers:
            raise ValueError(
                f"resuming a stream saved with num_workers={self._num_workers} with "
                f"num_workers={info.num_workers if info else 0}; use the same number of dataloader workers"
            )
        start = self._resume.get(worker, (0, 0, 0))  # read now: begin_pass clears it after iter()
        return self._stream(worker, n_workers, *start)

    def _stream(self, worker: int, n_workers: int, epoch: int, skip: int, total: int) -> Iterator[dict]:
        slot, n_slots = self.rank * n_workers + worker, self.world_size * n_workers
        while self.epochs is None or epoch < self.epochs:
            index = 0
            for sample, last in _with_last(self._epoch_samples(epoch, slot, n_slots, total - skip)):
                index += 1
                if index <= skip:
                    continue
                total += 1
                position = (epoch + 1, 0, total) if last else (epoch, index, total)
                sample["_pos"] = (worker, *position)
                self._positions[worker] = position
                yield sample
            if index == 0:
                return  # this reader's share is empty (more readers than documents): do not spin
            epoch, skip = epoch + 1, 0

    def documents(self, epoch: int = 0, worker: int = 0, num_workers: int = 1) -> Iterator[dict]:
        """This rank's (and worker's) documents of one epoch, mixed and shuffled, before packing."""
        slot = self.rank * num_workers + worker
        yield from self._shuffled(self._mixed(epoch, slot, self.world_size * num_workers), epoch, slot)

    def _packer(self) -> Packer:
        return Packer(
            self.tokenizer,
            self.seq_len,
            self.condition.mask_metadata,
            eos_id=self.eos_id,
            bos_id=self.bos_id,
            document_isolation=self.document_isolation,
        )

    def _epoch_samples(self, epoch: int, slot: int, n_slots: int, total_before: int) -> Iterator[dict]:
        packer = self._packer()
        produced = total_before
        batch: list[Any] = []
        docs = self._shuffled(self._mixed(epoch, slot, n_slots), epoch, slot)
        for doc in _chain_end(docs):
            if doc is not None:
                batch.append(doc)
            if batch and (doc is None or len(batch) >= self.tokenize_batch):
                encoded = self._encode(packer, batch, self._metadata_on(produced))
                batch = []
                for sample in packer.add(encoded):
                    produced += 1
                    yield sample
        tail = packer.flush()
        if tail is not None:
            yield tail

    def _encode(self, packer: Packer, batch: list[Any], with_metadata: bool) -> list[Encoded]:
        """Token ids of a batch of documents: rendered and tokenized in one call, or, from a token store,
        assembled from the stored spans (the same ids)."""
        fields = self.condition.metadata if with_metadata else ()
        texts = [
            (self.template.prefix_pieces(d) if with_metadata else [], self.template.body(d))
            for d in batch
            if not isinstance(d, TokenDoc)
        ]
        from_text = iter(packer.encode(texts) if texts else [])
        return [
            packer.assemble(*d.store.assemble(d, fields)) if isinstance(d, TokenDoc) else next(from_text)
            for d in batch
        ]

    def _metadata_on(self, produced: int) -> bool:
        if self.cooldown_after_sequences is None:
            return True
        info = get_worker_info()
        n_workers = info.num_workers if info else 1
        return produced < -(-self.cooldown_after_sequences // n_workers)

    def _mixed(self, epoch: int, slot: int, n_slots: int) -> Iterator[dict]:
        streams = []
        for index, (units, condition) in enumerate(zip(self._units, self._source_conditions)):
            order = np.random.default_rng([self.seed, epoch, index]).permutation(len(units))
            stores = self._stores[index]
            reader = (
                TokenReader(stores, condition, self.hash_range) if stores else UnitReader(condition, self.hash_range)
            )
            streams.append(_read(reader, slot_slices(units, order, slot, n_slots)))
        if len(streams) == 1:
            yield from streams[0]
            return
        weights = np.array([s.weight for s in self.sources], dtype=float)
        cumulative = np.cumsum(weights / weights.sum())
        rng = np.random.default_rng([self.seed, epoch, slot, 1])
        while True:
            pick = min(int(np.searchsorted(cumulative, rng.random(), side="right")), len(streams) - 1)
            doc = next(streams[pick], None)
            if doc is None:
                return  # first source exhausted ends the epoch; the next epoch reshuffles
            yield doc

    def _shuffled(self, docs: Iterator[dict], epoch: int, slot: int) -> Iterator[dict]:
        if self.shuffle_buffer <= 1:
            yield from docs
            return
        rng = np.random.default_rng([self.seed, epoch, slot, 2])
        buffer: list[dict] = []
        for doc in docs:
            if len(buffer) < self.shuffle_buffer:
                buffer.append(doc)
                continue
            pick = int(rng.integers(len(buffer)))
            yield buffer[pick]
            buffer[pick] = doc
        for pick in rng.permutation(len(buffer)):
            yield buffer[int(pick)]


def _read(reader: UnitReader, pieces: list[tuple[Unit, int, int]]) -> Iterator[dict]:
    for unit, start, stop in pieces:
        yield from reader.rows(unit, start, stop)


def _chain_end(items: Iterator[dict]) -> Iterator[dict | None]:
    yield from items
    yield None


def _with_last(items: Iterator[dict]) -> Iterator[tuple[dict, bool]]:
    """Each item with whether it is the last one (one item of look-ahead)."""
    previous = None
    for item in items:
        if previous is not None:
            yield previous, False
        previous = item
    if previous is not None:
        yield previous, True
