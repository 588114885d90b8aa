"""The cross-split near-duplicate check, split into datatrove tasks with bounded memory.

An eval document and a train document are near duplicates when they share a MinHash LSH bucket, as
datatrove's MinHash dedup judges it (``MinhashDedupSignature`` with the run's settings and the
whitespace word tokenizer of ``geocorpus.minhash``). The check runs in two places of finalize:

* ``finalize_scatter``: each task signs the *eval* rows it routes (a small share of the corpus) and
  appends, per bucket, the first value and a 64-bit digest of all its values, and the eval positions,
  to two files of its own (``EvalSignatureFile``).
* ``finalize_cross_split``: each task loads every eval document's firsts and digests (``EvalIndex``:
  ``8 x num_buckets`` bytes of digests per eval document plus a sorted copy of each bucket's first
  values with their eval positions, ~3 x 8 x num_buckets bytes in all: 336 with the defaults, where
  whole signatures took 1,120) and streams its share of the train row groups past it. A train
  document gets only its buckets' first hashes; a bucket is completed only when its first hash equals
  that of an eval document in the same bucket (equal buckets have equal first hashes, so this skips no
  pair), and only while that bucket can still confirm a candidate (:class:`TrainScan`). Pairs are
  checked on the whole bucket, by its digest (:meth:`Signer.digests`: equal buckets have equal
  digests; two different buckets share one with a chance of about 2**-64).
  The task keeps counts, the eval documents hit and the ten smallest pairs, never the pairs.

Signatures are datatrove's values, computed faster: the words of ``geocorpus.decontaminate.words``
(datatrove's simplified text, split), n-grams hashed as slices of one joined string, and the
``(h * a + b) mod (2**61 - 1)`` permutations reduced with the Mersenne-prime identity, in blocks that
stay in cache. Tests hold them equal to ``MinhashDedupSignature``'s own on real texts.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from geocorpus.decontaminate import words
from geocorpus.minhash import MinhashConfig, WhitespaceWordTokenizer

#: Pairs listed in the report (the count covers all).
MAX_EXAMPLES = 10
_MERSENNE = np.uint64((1 << 61) - 1)
_SHIFT = np.uint64(61)
#: Values per block of the signature product (x 8 bytes stays in cache): 256 shingles of a whole
#: signature, or all of a document's shingles at once for its first hashes or one bucket (fewer numpy
#: calls: with a few hashes a call's own cost outweighs its arithmetic).
_BLOCK_VALUES = 256 * 112
_DIGEST_SEED = 0x6D696E68617368  # any fixed seed: digests are compared within one run only


class Signer:
    """datatrove's MinHash signature of a text: ``num_buckets`` buckets of ``hashes_per_bucket`` values."""

    def __init__(self, settings: MinhashConfig | None = None) -> None:
        import xxhash
        from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

        self.settings = settings or MinhashConfig()
        config = self.settings.to_datatrove()
        if (config.hash_config.precision, config.hash_config.hash_fc) != (64, "xxhash"):
            raise ValueError(
                f"cross-split check: only 64-bit xxhash signatures are supported, got {config.hash_config}"
            )
        # datatrove's own permutation parameters (its signer writes nothing until it runs)
        reference = MinhashDedupSignature(
            "memory://geocorpus-unused", config=config, language=WhitespaceWordTokenizer()
        )
        a, b = reference.parameters  # shape (1, hashes)
        self.n_grams = self.settings.n_grams
        self.width = self.settings.hashes_per_bucket
        self.buckets = self.settings.num_buckets
        # as columns (hashes, 1): a block of products is (hashes, shingles), reduced along contiguous rows
        self._all = _columns(a, b, slice(None))
        self._leads = _columns(a, b, slice(None, None, self.width))
        self._bucket = [_columns(a, b, slice(s, s + self.width)) for s in range(0, a.shape[1], self.width)]
        # odd multipliers: a bucket's digest is sum(value * key) mod 2**64, so buckets that differ in one
        # value never share a digest, and ones that differ in more do with a chance of about 2**-64
        keys = np.random.default_rng(_DIGEST_SEED).integers(0, 1 << 63, size=self.width, dtype=np.uint64)
        self._digest_keys = keys * np.uint64(2) + np.uint64(1)
        self._hash = xxhash.xxh64_intdigest

    def shingles(self, text: str | None) -> np.ndarray | None:
        """The hashed word n-grams, shape (n, 1); None when the text has fewer than ``n_grams`` words
        (datatrove's dedup skips such documents too)."""
        tokens = words(text or "")
        count = len(tokens) - self.n_grams + 1
        if count <= 0:
            return None
        joined = " ".join(tokens)
        after = np.cumsum(np.fromiter(map(len, tokens), np.int64, len(tokens)) + 1)  # past each word's space
        starts, ends = [0, *after[: count - 1].tolist()], (after[self.n_grams - 1 :] - 1).tolist()
        h = self._hash
        hashes = [h(joined[s:e]) for s, e in zip(starts, ends)]
        return np.fromiter(hashes, np.uint64, count).reshape(-1, 1)

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        """All ``num_buckets * hashes_per_bucket`` minima, bucket after bucket."""
        return _minima(shingles, *self._all)

    def leads(self, shingles: np.ndarray) -> np.ndarray:
        """The first value of every bucket (what :class:`EvalIndex` looks up)."""
        return _minima(shingles, *self._leads)

    def digests(self, signature: np.ndarray) -> np.ndarray:
        """One 64-bit digest of each bucket's values (a signature's rows, ``(..., buckets)``)."""
        values = signature.reshape(*signature.shape[:-1], self.buckets, self.width)
        return (values * self._digest_keys).sum(axis=-1, dtype=np.uint64)  # wraps mod 2**64, as intended

    def bucket_digest(self, shingles: np.ndarray, bucket: int) -> np.uint64:
        """The digest of one bucket (:meth:`digests`), computing only that bucket's values."""
        values = _minima(shingles, *self._bucket[bucket])
        return (values * self._digest_keys).sum(dtype=np.uint64)

    def summary(self, signature: np.ndarray) -> np.ndarray:
        """What :class:`EvalIndex` holds of an eval document, shape (2, buckets): firsts, then digests."""
        return np.stack((signature[:: self.width], self.digests(signature)))


def _columns(a: np.ndarray, b: np.ndarray, which: slice) -> tuple[np.ndarray, np.ndarray]:
    return np.ascontiguousarray(a[0, which, None]), np.ascontiguousarray(b[0, which, None])


def _minima(shingles: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``min((shingles * a + b) % (2**61 - 1))`` per hash (``a``, ``b``: shape (hashes, 1)) in uint64
    arithmetic, as datatrove computes it."""
    values = shingles.reshape(-1)
    result: np.ndarray | None = None
    step = max(1, _BLOCK_VALUES // len(a))
    for start in range(0, len(values), step):
        x = values[start : start + step] * a  # wraps at 2**64 like datatrove's product
        x += b
        r = x & _MERSENNE  # x mod p = low 61 bits + high 3 bits, minus p once if that reaches p
        x >>= _SHIFT
        r += x
        np.subtract(r, _MERSENNE, out=r, where=r >= _MERSENNE)
        block = r.min(axis=1)
        result = block if result is None else np.minimum(result, block, out=result)
    assert result is not None
    return result


def _texts(files: Sequence[Path], columns: Sequence[str] = ("id", "text")) -> Iterator[pa.RecordBatch]:
    for file in files:
        yield from pq.ParquetFile(file).iter_batches(columns=list(columns), batch_size=2048)


# --------------------------------------------------------------------------------------------------
# eval signatures
# --------------------------------------------------------------------------------------------------


class EvalSignatureFile:
    """Bucket firsts and digests, and eval positions, of the eval rows one task saw: ``<stem>.sig``
    (uint64 rows: ``num_buckets`` firsts, then ``num_buckets`` digests) and ``<stem>.pos`` (int64),
    appended as rows arrive; rows without a signature are left out."""

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

    def add(self, texts: Iterable[str | None], positions: Iterable[int]) -> None:
        sigs, kept = [], []
        for text, position in zip(texts, positions):
            shingles = self.signer.shingles(text)
            if shingles is not None:
                sigs.append(self.signer.summary(self.signer.signature(shingles)))
                kept.append(position)
        if kept:
            with self.sig_path.open("ab") as out:
                out.write(np.stack(sigs).astype("<u8").tobytes())
            with self.pos_path.open("ab") as out:
                out.write(np.asarray(kept, "<i8").tobytes())
            self.rows += len(kept)


def paths_of(stem: Path) -> tuple[Path, Path]:
    return stem.with_name(stem.name + ".sig"), stem.with_name(stem.name + ".pos")


@dataclass
class EvalIndex:
    """Every eval document's bucket digests (by eval position) and, per bucket, the first values sorted."""

    digests: np.ndarray  # (eval documents, buckets), row = eval position; unsigned rows unused
    lead_values: list[np.ndarray] = field(default_factory=list)  # per bucket, sorted
    lead_rows: list[np.ndarray] = field(default_factory=list)  # per bucket, the eval position of each value

    @classmethod
    def load(cls, stems: Iterable[Path], eval_docs: int, signer: Signer) -> EvalIndex:
        """From the files of :class:`EvalSignatureFile`; ``eval_docs`` is the eval split's row count."""
        summaries = np.zeros((eval_docs, 2, signer.buckets), np.uint64)
        signed = np.zeros(eval_docs, bool)
        for stem in stems:
            sig_path, pos_path = paths_of(stem)
            positions = np.fromfile(pos_path, "<i8")
            rows = np.fromfile(sig_path, "<u8")
            if rows.size != len(positions) * 2 * signer.buckets:
                raise ValueError(
                    f"{sig_path}: {rows.size} values for {len(positions)} signatures; written by another run?"
                )
            rows = rows.reshape(len(positions), 2, signer.buckets)
            if len(positions) and (positions.min() < 0 or positions.max() >= eval_docs or signed[positions].any()):
                raise ValueError(f"{pos_path}: eval positions outside 0..{eval_docs - 1} or seen twice")
            summaries[positions] = rows
            signed[positions] = True
        return cls.build(summaries, signed)

    @classmethod
    def build(cls, summaries: np.ndarray, signed: np.ndarray) -> EvalIndex:
        """From each eval document's :meth:`Signer.summary` (rows of unsigned documents unused)."""
        index = cls(np.ascontiguousarray(summaries[:, 1]))
        rows = np.flatnonzero(signed)
        for bucket in range(summaries.shape[2]):
            values = summaries[rows, 0, bucket]
            order = np.argsort(values, kind="stable")
            index.lead_values.append(values[order])
            index.lead_rows.append(rows[order])
        return index

    @property
    def empty(self) -> bool:
        """No eval document has a signature: no train document can pair, none needs signing."""
        return not self.lead_values or not len(self.lead_values[0])

    def hits(self, leads: np.ndarray) -> np.ndarray:
        """(documents, buckets) of [lo, hi) ranges into each bucket's sorted values, shape (2, docs, buckets)."""
        ranges = np.empty((2, *leads.shape), np.int64)
        for bucket, values in enumerate(self.lead_values):
            ranges[0, :, bucket] = np.searchsorted(values, leads[:, bucket], "left")
            ranges[1, :, bucket] = np.searchsorted(values, leads[:, bucket], "right")
        return ranges


# --------------------------------------------------------------------------------------------------
# the train scan
# --------------------------------------------------------------------------------------------------


class TrainScan:
    """Train documents against an :class:`EvalIndex`, a batch at a time.

    Every document gets its buckets' first hashes (``num_buckets`` permutations, not the whole
    signature). Its candidates are the eval documents with an equal first hash in some bucket; only
    those buckets are completed, one at a time, and only while a candidate of the bucket is not yet
    confirmed by an earlier one. A near duplicate usually shares its first bucket whole, so a document
    of a large near-duplicate cluster costs about one bucket more than the first hashes, not the whole
    signature; the pairs are the same.
    """

    def __init__(self, index: EvalIndex, signer: Signer) -> None:
        self.index, self.signer = index, signer
        self.buckets_completed = 0  # buckets whose remaining values were computed (for tests and profiles)

    def __call__(self, ids: Sequence[str], texts: Sequence[str | None]) -> Iterator[tuple[str, np.ndarray]]:
        """(train id, eval positions) for every document with at least one eval near duplicate."""
        firsts, held = [], []
        for i, text in enumerate(texts):
            shingles = self.signer.shingles(text)
            if shingles is not None:
                firsts.append(self.signer.leads(shingles))
                held.append((i, shingles))
        if not firsts:
            return
        ranges = self.index.hits(np.stack(firsts))
        for k in np.flatnonzero((ranges[1] > ranges[0]).any(axis=1)):
            i, shingles = held[k]
            matched = self._confirm(shingles, ranges[0, k], ranges[1, k])
            if len(matched):
                yield ids[i], matched

    def _confirm(self, shingles: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Eval positions sharing a whole bucket with the document, unique, sorted."""
        confirmed: set[int] = set()
        for bucket in np.flatnonzero(hi > lo).tolist():
            candidates = self.index.lead_rows[bucket][lo[bucket] : hi[bucket]]
            if confirmed.issuperset(candidates.tolist()):
                continue
            digest = self.signer.bucket_digest(shingles, bucket)
            confirmed.update(candidates[self.index.digests[candidates, bucket] == digest].tolist())
            self.buckets_completed += 1
        return np.array(sorted(confirmed), np.int64)


class CrossSplitCounts:
    """What one task found: pairs, eval documents hit, and its smallest pairs by (eval id, train id)."""

    def __init__(self, eval_ids: pa.Array) -> None:
        self.eval_ids = eval_ids
        self.pairs = 0
        self.hit = np.zeros(len(eval_ids), bool)
        self.examples: list[tuple[str, str]] = []
        self._rank = np.empty(len(eval_ids), np.int64)  # place of each eval id in sorted (code point) order
        self._rank[pc.sort_indices(eval_ids).to_numpy()] = np.arange(len(eval_ids))

    def add(self, train_id: str, matched: np.ndarray) -> None:
        self.pairs += len(matched)
        self.hit[matched] = True
        ranks = self._rank[matched]
        if len(self.examples) == MAX_EXAMPLES:
            smallest = (self.eval_ids[int(matched[ranks.argmin()])].as_py(), train_id)
            if smallest >= self.examples[-1]:
                return
        for position in matched[np.argsort(ranks)[:MAX_EXAMPLES]]:
            pair = (self.eval_ids[int(position)].as_py(), train_id)
            if len(self.examples) < MAX_EXAMPLES or pair < self.examples[-1]:
                bisect.insort(self.examples, pair)
                del self.examples[MAX_EXAMPLES:]

    def to_dict(self) -> dict:
        return {"pairs": self.pairs, "examples": [list(p) for p in self.examples]}


def eval_ids(eval_files: Sequence[Path]) -> pa.Array:
    """The ids of the eval split in eval-position order."""
    parts = [pq.read_table(f, columns=["id"]).column("id").combine_chunks() for f in eval_files]
    return pa.concat_arrays(parts) if parts else pa.array([], pa.string())


def train_row_groups(train_files: Sequence[Path], rank: int, world_size: int) -> Iterator[tuple[Path, int]]:
    """Row groups ``rank``, ``rank + world_size``, ... of the train files, counted across files."""
    counter = 0
    for file in train_files:
        for group in range(pq.ParquetFile(file).metadata.num_row_groups):
            if counter % world_size == rank:
                yield file, group
            counter += 1


def scan_train(
    index: EvalIndex, signer: Signer, groups: Iterable[tuple[Path, int]], counts: CrossSplitCounts
) -> CrossSplitCounts:
    if index.empty:
        return counts
    scan = TrainScan(index, signer)
    for file, group in groups:
        table = pq.ParquetFile(file).read_row_group(group, columns=["id", "text"])
        for train_id, matched in scan(table.column("id").to_pylist(), table.column("text").to_pylist()):
            counts.add(train_id, matched)
    return counts


def sign_eval_files(eval_files: Sequence[Path], signer: Signer) -> EvalIndex:
    """An :class:`EvalIndex` of the eval files, signed in this process."""
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in eval_files)
    summaries = np.zeros((total, 2, signer.buckets), np.uint64)
    signed = np.zeros(total, bool)
    position = 0
    for batch in _texts(eval_files, ["text"]):
        for text in batch.column("text").to_pylist():
            shingles = signer.shingles(text)
            if shingles is not None:
                summaries[position] = signer.summary(signer.signature(shingles))
                signed[position] = True
            position += 1
    return EvalIndex.build(summaries, signed)


def near_duplicate_pairs(
    train_files: Sequence[Path], eval_files: Sequence[Path], minhash: MinhashConfig | None = None
) -> set[tuple[str, str]]:
    """(eval id, train id) of every eval document that shares a MinHash LSH bucket with a train document.

    One process, every pair in memory: for tests and small corpora; runs use the tasks above.
    """
    signer = Signer(minhash)
    index = sign_eval_files(eval_files, signer)
    ids = eval_ids(eval_files).to_pylist()
    pairs: set[tuple[str, str]] = set()
    if index.empty:
        return pairs
    scan = TrainScan(index, signer)
    for batch in _texts(train_files):
        for train_id, matched in scan(batch.column("id").to_pylist(), batch.column("text").to_pylist()):
            pairs.update((ids[int(p)], train_id) for p in matched)
    return pairs
