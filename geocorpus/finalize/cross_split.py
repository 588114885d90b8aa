"""The cross-split near-duplicate check, split into datatrove tasks with bounded memory.

An eval document and a train document are near duplicates when they share a MinHash LSH bucket, as
datatrove's MinHash dedup judges it. Each bucket stands for its values by a 64-bit digest, computed per
document in the tag stage (``geocorpus.bucket_digests``; equal buckets have equal digests, two
different buckets share one with a chance of about 2**-64), so the check is a join of digests and reads
no text:

* ``finalize_scatter``: each task appends the digests of the rows it routes, with their positions in
  their split, to a file pair per split of its own (:class:`DigestFile`); a row of a shard tagged
  without digests is signed there, from its text.
* ``finalize_cross_split``: each task loads every eval document's digests, sorted per bucket
  (:class:`EvalIndex`: 16 bytes per eval document and bucket), and streams its scatter task's train
  digests past them, a block of rows at a time (:func:`scan_train`: a binary search per bucket, then a
  compiled count of the distinct pairs). The task keeps counts, the eval documents hit and the
  candidates for the ten smallest pairs, never the pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from geocorpus.bucket_digests import Signer
from geocorpus.minhash import MinhashConfig
from geocorpus.schema import MINHASH_DIGESTS

#: Pairs listed in the report (the count covers all).
MAX_EXAMPLES = 10
#: Train documents looked up per block (their match ranges: 16 bytes a bucket).
_BLOCK_ROWS = 1 << 16
#: The most (train, eval) matches ``EvalIndex.pairs`` lists at once (x 16 bytes): memory stays bounded
#: even when one eval cluster matches every train document.
_BLOCK_MATCHES = 1 << 22
#: Pairs that may be among the smallest, written out per kernel call (x 16 bytes).
_CANDIDATE_ROWS = 1 << 16


class DigestFile:
    """Digests and split positions of the rows one scatter task routed to one split: ``<stem>.sig``
    (``num_buckets`` uint64 a row) and ``<stem>.pos`` (int64), appended as rows arrive; rows without a
    signature are left out."""

    def __init__(self, stem: Path, signer: Signer, claim: Callable[[Path], Path] | None = None) -> None:
        self.signer = signer
        self.sig_path, self.pos_path = paths_of(stem)
        for path in (self.sig_path, self.pos_path):
            if claim is not None:
                claim(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
        self.rows = 0

    def add(self, rows: pa.Table, positions: np.ndarray) -> None:
        """Rows with ``id``, ``text`` and, when their shard has it, ``minhash_digests``."""
        digests, signed = table_digests(self.signer, rows)
        if signed.any():
            with self.sig_path.open("ab") as out:
                out.write(digests[signed].astype("<u8").tobytes())
            with self.pos_path.open("ab") as out:
                out.write(np.asarray(positions, "<i8")[signed].tobytes())
            self.rows += int(signed.sum())


def table_digests(signer: Signer, rows: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`Signer.column_digests` of rows with ``id``, ``text`` and maybe ``minhash_digests``."""
    stored = rows.column(MINHASH_DIGESTS).combine_chunks() if MINHASH_DIGESTS in rows.column_names else None
    return signer.column_digests(stored, rows.column("text").combine_chunks(), rows.column("id").combine_chunks())


def paths_of(stem: Path) -> tuple[Path, Path]:
    return stem.with_name(stem.name + ".sig"), stem.with_name(stem.name + ".pos")


def read_digests(stem: Path, buckets: int, rows: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(digests, positions) of a :class:`DigestFile`, ``rows`` at a time (all at once: None)."""
    sig_path, pos_path = paths_of(stem)
    count = pos_path.stat().st_size // 8
    if sig_path.stat().st_size != count * 8 * buckets or pos_path.stat().st_size % 8:
        raise ValueError(
            f"{sig_path}: {sig_path.stat().st_size // 8} values for {count} positions of {buckets} buckets; "
            "written by another run?"
        )
    if count == 0:
        return
    digests = np.memmap(sig_path, "<u8", "r", shape=(count, buckets))
    positions = np.memmap(pos_path, "<i8", "r", shape=(count,))
    step = rows or count
    for start in range(0, count, step):
        yield np.array(digests[start : start + step], np.uint64), np.array(positions[start : start + step], np.int64)


@dataclass
class EvalIndex:
    """Per bucket (a row of each array), the eval documents' digests sorted, with the eval position of each."""

    size: int  # eval documents
    values: np.ndarray  # (buckets, signed eval documents) uint64
    rows: np.ndarray  # (buckets, signed eval documents) int64

    @classmethod
    def load(cls, stems: Iterable[Path], eval_docs: int, buckets: int) -> EvalIndex:
        """From the eval :class:`DigestFile` of every scatter task; ``eval_docs``: the eval split's rows."""
        parts, seen = [], np.zeros(eval_docs, bool)
        for stem in stems:
            for digests, positions in read_digests(stem, buckets):
                if positions.min() < 0 or positions.max() >= eval_docs or seen[positions].any():
                    raise ValueError(f"{paths_of(stem)[1]}: eval positions outside 0..{eval_docs - 1} or seen twice")
                seen[positions] = True
                parts.append((digests, positions))
        if not parts:
            return cls.build(np.zeros((0, buckets), np.uint64), np.zeros(0, np.int64), eval_docs)
        return cls.build(np.concatenate([d for d, _ in parts]), np.concatenate([p for _, p in parts]), eval_docs)

    @classmethod
    def build(cls, digests: np.ndarray, positions: np.ndarray, size: int) -> EvalIndex:
        """From the digests (rows, buckets) of the signed eval documents at ``positions``."""
        order = np.argsort(digests, axis=0, kind="stable").T  # per bucket, the rows by digest
        values = np.ascontiguousarray(np.take_along_axis(digests.T, order, axis=1), np.uint64)
        return cls(size, values, np.ascontiguousarray(positions[order], np.int64))

    @property
    def empty(self) -> bool:
        """No eval document has a signature: no train document can pair."""
        return not self.values.size

    def ranges(self, digests: np.ndarray) -> np.ndarray:
        """(2, rows, buckets): where each train row's digest of each bucket starts and ends among the eval's."""
        ranges = np.empty((2, *digests.shape), np.int64)
        for bucket, values in enumerate(self.values):
            # sorted needles: numpy's binary search starts from the last one's result (~5x faster here)
            order = np.argsort(digests[:, bucket])
            needles = digests[order, bucket]
            ranges[0, order, bucket] = np.searchsorted(values, needles, "left")
            ranges[1, order, bucket] = np.searchsorted(values, needles, "right")
        return ranges

    def pairs(self, digests: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(row of ``digests``, eval position) of every pair sharing a bucket, each pair once, sorted;
        in parts of at most about ``_BLOCK_MATCHES`` bucket matches. Every pair at once, by sorting:
        :func:`scan_train` counts them without listing them."""
        if self.empty or not len(digests):
            return
        ranges = self.ranges(digests)
        matches = (ranges[1] - ranges[0]).sum(axis=1)
        hit = np.flatnonzero(matches)
        start = 0
        ends = np.cumsum(matches[hit])
        while start < len(hit):  # blocks of documents whose matches add up to about _BLOCK_MATCHES
            stop = max(
                start + 1, int(np.searchsorted(ends, (ends[start - 1] if start else 0) + _BLOCK_MATCHES, "right"))
            )
            yield self._pairs_of(hit[start:stop], ranges[:, hit[start:stop]])
            start = stop

    def _pairs_of(self, docs: np.ndarray, ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found_docs, found_evals = [], []
        for bucket in range(ranges.shape[2]):
            lo, hi = ranges[0, :, bucket], ranges[1, :, bucket]
            counts = hi - lo
            has = counts > 0
            if not has.any():
                continue
            counts, lo = counts[has], lo[has]
            first = np.repeat(lo - np.cumsum(counts) + counts, counts)  # lo of each match, minus its offset
            found_docs.append(np.repeat(docs[has], counts))
            found_evals.append(self.rows[bucket][first + np.arange(int(counts.sum()))])
        keys = distinct(np.concatenate(found_docs) * np.int64(self.size) + np.concatenate(found_evals))
        return keys // self.size, keys % self.size


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted: ``np.unique`` by a sort and a neighbour comparison (numpy 2.4's
    ``np.unique`` took 7.4 s for 4 M int64 keys where this takes 0.17 s)."""
    ordered = np.sort(values)
    keep = np.empty(len(ordered), bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


class CrossSplitCounts:
    """What one task found: pairs, eval documents hit, and candidates for its smallest pairs by
    (eval id, train id): every pair whose eval id is among the ten smallest of the pairs so far (a pair
    of the ten smallest has fewer than ten smaller pairs, so fewer than ten smaller eval ids)."""

    def __init__(self, eval_ids: pa.Array) -> None:
        self.eval_ids = eval_ids
        self.pairs = 0
        self.hit = np.zeros(len(eval_ids), bool)
        self._order = pc.sort_indices(eval_ids).to_numpy()  # eval positions by id (code point order)
        self.rank = np.empty(len(eval_ids), np.int64)  # and the place of each in that order
        self.rank[self._order] = np.arange(len(eval_ids))
        self._ranks = np.zeros(0, np.int64)  # candidates: eval rank and train position
        self._trains = np.zeros(0, np.int64)
        self._bound: int | None = None  # the tenth smallest eval rank among the candidates, once there are ten

    @property
    def bound(self) -> int:
        """The largest eval rank a pair may have to be a candidate (any, until ten eval ids are known)."""
        return self._bound if self._bound is not None else len(self.eval_ids)

    def add_candidates(self, train_positions: np.ndarray, ranks: np.ndarray) -> None:
        """Pairs (train position, eval rank), each once across the task's calls and counted in ``pairs``
        and ``hit`` by the caller: those that may be among the smallest are kept."""
        if self._bound is not None:  # ten eval ids are known: only pairs of those or smaller ones can enter
            within = ranks <= self._bound
            ranks, train_positions = ranks[within], train_positions[within]
        ranks = np.concatenate((self._ranks, ranks))
        trains = np.concatenate((self._trains, train_positions))
        smallest = distinct(ranks)[:MAX_EXAMPLES]
        keep = ranks <= smallest[-1] if len(smallest) else np.zeros(0, bool)
        self._ranks, self._trains = ranks[keep], trains[keep]
        self._bound = int(smallest[-1]) if len(smallest) == MAX_EXAMPLES else None

    def examples(self, train_ids: Callable[[np.ndarray], list[str]]) -> list[tuple[str, str]]:
        """The smallest pairs; ``train_ids`` gives the ids of train positions."""
        evals = self._order[self._ranks]
        pairs = zip((self.eval_ids[int(e)].as_py() for e in evals), train_ids(self._trains))
        return sorted(pairs)[:MAX_EXAMPLES]


def eval_ids(eval_files: Sequence[Path]) -> pa.Array:
    """The ids of the eval split in eval-position order."""
    parts = [pq.read_table(f, columns=["id"]).column("id").combine_chunks() for f in eval_files]
    return pa.concat_arrays(parts) if parts else pa.array([], pa.string())


def ids_at(files: Sequence[Path], positions: np.ndarray) -> list[str]:
    """The ids of rows at ``positions`` of ``files`` read one after another, in the order asked."""
    ends = np.cumsum([pq.ParquetFile(f).metadata.num_rows for f in files])
    result: list[str] = [""] * len(positions)
    which = np.searchsorted(ends, positions, "right")
    for index in distinct(which).tolist():
        asked = np.flatnonzero(which == index)
        first = int(ends[index - 1]) if index else 0
        column = pq.read_table(files[index], columns=["id"]).column("id")
        for at, value in zip(asked.tolist(), column.take(pa.array(positions[asked] - first)).to_pylist()):
            result[at] = value
    return result


def scan_train(index: EvalIndex, stems: Iterable[Path], buckets: int, counts: CrossSplitCounts) -> CrossSplitCounts:
    """Every train digest of ``stems`` against ``index``, ``_BLOCK_ROWS`` rows at a time.

    The pairs are counted by a compiled loop over the bucket matches (``minhash_kernels.bucket_pairs``),
    which tells a pair met in a second bucket by the train document it last paired with, instead of
    listing and sorting every match (``EvalIndex.pairs``): in a corpus with many copies of each document
    the matches grow with the square of the copies. Only the pairs that may be among the smallest are
    written out, ``_CANDIDATE_ROWS`` at a time."""
    if index.empty:
        return counts
    from geocorpus.minhash_kernels import bucket_pairs

    stamp = np.full(index.size, -1, np.int64)  # the train position an eval document last paired with (>= 0)
    out_train = np.empty(_CANDIDATE_ROWS, np.int64)
    out_rank = np.empty(_CANDIDATE_ROWS, np.int64)
    for stem in stems:
        for digests, positions in read_digests(stem, buckets, _BLOCK_ROWS):
            ranges = index.ranges(digests)
            start = 0
            while start < len(digests):
                stop, pairs, written = bucket_pairs(
                    ranges,
                    index.rows,
                    positions,
                    start,
                    stamp,
                    counts.rank,
                    counts.bound,
                    out_train,
                    out_rank,
                )
                counts.pairs += pairs
                counts.add_candidates(out_train[:written], out_rank[:written])
                if stop == start:  # one document matches more than the outputs hold
                    size = int((ranges[1, start] - ranges[0, start]).sum())
                    out_train, out_rank = np.empty(size, np.int64), np.empty(size, np.int64)
                start = stop
    counts.hit |= stamp >= 0
    return counts


def sign_files(files: Sequence[Path], signer: Signer) -> tuple[np.ndarray, np.ndarray]:
    """(digests, positions) of the signed rows of ``files`` read one after another, in this process."""
    parts, positions, offset = [], [], 0
    for file in files:
        shard = pq.ParquetFile(file)
        columns = ["id", "text", *([MINHASH_DIGESTS] if MINHASH_DIGESTS in shard.schema_arrow.names else [])]
        for batch in shard.iter_batches(columns=columns, batch_size=2048):
            digests, signed = table_digests(signer, pa.Table.from_batches([batch]))
            parts.append(digests[signed])
            positions.append(np.flatnonzero(signed) + offset)
            offset += batch.num_rows
    if not parts:
        return np.zeros((0, signer.buckets), np.uint64), np.zeros(0, np.int64)
    return np.concatenate(parts), np.concatenate(positions)


def near_duplicate_pairs(
    train_files: Sequence[Path], eval_files: Sequence[Path], minhash: MinhashConfig | None = None
) -> set[tuple[str, str]]:
    """(eval id, train id) of every eval document that shares a MinHash LSH bucket with a train document.

    One process, every pair in memory: for tests and small corpora; runs use the tasks above.
    """
    signer = Signer(minhash)
    eval_digests, eval_positions = sign_files(eval_files, signer)
    ids = eval_ids(eval_files).to_pylist()
    index = EvalIndex.build(eval_digests, eval_positions, len(ids))
    pairs: set[tuple[str, str]] = set()
    if index.empty:
        return pairs
    train_digests, train_positions = sign_files(train_files, signer)
    train_ids = ids_at(train_files, train_positions)
    for rows, evals in index.pairs(train_digests):
        pairs.update((ids[e], train_ids[r]) for r, e in zip(rows.tolist(), evals.tolist()))
    return pairs
