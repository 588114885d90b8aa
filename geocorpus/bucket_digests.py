"""MinHash LSH bucket digests of each document, computed once, in the tag stage.

Why: finalize's cross-split check asks which eval documents share a MinHash LSH bucket with a train
document, as datatrove's MinHash dedup judges it (``MinhashDedupSignature`` with the run's settings and
the whitespace word tokenizer of ``geocorpus.minhash``). A bucket stands for its values by one 64-bit
digest, so that check is a join of digests (``geocorpus.finalize.cross_split``). Signing a document is
per-document work: done here, it runs with the tag stage's tasks, once per document however often
finalize is redone, and on words the decontamination step has just simplified (``joined_words`` keeps
its last result). Finalize then reads a column of 8 bytes per bucket instead of every text. Shards tagged without
the column get their digests computed in finalize, from the text.

Signatures are datatrove's values, computed faster: the words of ``geocorpus.simplified_words``
(datatrove's simplified text, split) as one buffer joined by single spaces, then the n-gram hashes and the
``(h * a + b) mod (2**61 - 1)`` permutation minima by the compiled kernels of
``geocorpus.minhash_kernels``. Tests hold them equal to ``MinhashDedupSignature``'s own on real texts.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from geocorpus.minhash import MinhashConfig, WhitespaceWordTokenizer
from geocorpus.schema import MINHASH_DIGESTS
from geocorpus.simplified_words import joined_words

_DIGEST_SEED = 0x6D696E68617368  # any fixed seed: digests are compared within one run only
#: The stored digests of a document with fewer than ``n_grams`` words (no signature; a null: not computed).
UNSIGNED = b""


class Signer:
    """datatrove's MinHash signature of a text: ``num_buckets`` buckets of ``hashes_per_bucket`` values."""

    def __init__(self, settings: MinhashConfig | None = None) -> None:
        from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

        self.settings = settings or MinhashConfig()
        config = self.settings.to_datatrove()
        if (config.hash_config.precision, config.hash_config.hash_fc) != (64, "xxhash"):
            raise ValueError(f"MinHash digests: only 64-bit xxhash signatures are supported, got {config.hash_config}")
        # datatrove's own permutation parameters (its signer writes nothing until it runs)
        reference = MinhashDedupSignature(
            "memory://geocorpus-unused", config=config, language=WhitespaceWordTokenizer()
        )
        a, b = reference.parameters  # shape (1, hashes)
        self.n_grams = self.settings.n_grams
        self.width = self.settings.hashes_per_bucket
        self.buckets = self.settings.num_buckets
        self._a, self._b = np.ascontiguousarray(a[0], np.uint64), np.ascontiguousarray(b[0], np.uint64)
        # odd multipliers: a bucket's digest is sum(value * key) mod 2**64, so buckets that differ in one
        # value never share a digest, and ones that differ in more do with a chance of about 2**-64
        keys = np.random.default_rng(_DIGEST_SEED).integers(0, 1 << 63, size=self.width, dtype=np.uint64)
        self._digest_keys = keys * np.uint64(2) + np.uint64(1)

    @property
    def digest_bytes(self) -> int:
        """Bytes of one document's stored digests."""
        return 8 * self.buckets

    def shingles(self, text: str | None) -> np.ndarray | None:
        """The hashed word n-grams, shape (n, 1); None when the text has fewer than ``n_grams`` words
        (datatrove's dedup skips such documents too)."""
        # numba (~0.1 GB) is loaded by the first text signed, not by every process that holds a Signer
        from geocorpus.minhash_kernels import ngram_hashes

        joined = joined_words(text or "")
        hashes = ngram_hashes(np.frombuffer(joined, np.uint8), self.n_grams) if joined else None
        return hashes.reshape(-1, 1) if hashes is not None and len(hashes) else None

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        """All ``num_buckets * hashes_per_bucket`` minima, bucket after bucket."""
        from geocorpus.minhash_kernels import permutation_minima

        return permutation_minima(np.ascontiguousarray(shingles.reshape(-1), np.uint64), self._a, self._b)

    def digests(self, signature: np.ndarray) -> np.ndarray:
        """One 64-bit digest of each bucket's values (a signature's rows, ``(..., buckets)``)."""
        values = signature.reshape(*signature.shape[:-1], self.buckets, self.width)
        return (values * self._digest_keys).sum(axis=-1, dtype=np.uint64)  # wraps mod 2**64, as intended

    def text_digests(self, text: str | None) -> bytes:
        """What the tag stage stores: the digests as little-endian uint64, or ``UNSIGNED``."""
        shingles = self.shingles(text)
        if shingles is None:
            return UNSIGNED
        return self.digests(self.signature(shingles)).astype("<u8").tobytes()

    def column_digests(self, stored: pa.Array | None, texts: pa.Array, ids: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(digests (rows, buckets), signed mask) of rows whose stored digests are ``stored`` (a binary
        column, or None when the shards have none): a null is computed here from the row's text.

        Stored digests are read from the column's buffer as they lie (no Python object per row)."""
        rows = len(texts)
        digests = np.zeros((rows, self.buckets), np.uint64)
        signed = np.zeros(rows, bool)
        if stored is None:
            lengths = np.full(rows, -1, np.int64)
        else:
            lengths = pc.fill_null(pc.binary_length(stored), -1).to_numpy(zero_copy_only=False).astype(np.int64)
        wrong = np.flatnonzero((lengths > 0) & (lengths != self.digest_bytes))
        if len(wrong):
            i = int(wrong[0])
            raise ValueError(
                f"tagged row id={ids[i].as_py()!r}: {MINHASH_DIGESTS} holds {lengths[i]} bytes, expected "
                f"{self.digest_bytes} ({self.buckets} buckets); were its shards tagged with other minhash settings?"
            )
        full = lengths == self.digest_bytes
        if stored is not None and full.any():
            values = stored.filter(pa.array(full)).cast(pa.large_binary())
            offsets = np.frombuffer(values.buffers()[1], np.int64)[values.offset : values.offset + len(values) + 1]
            data = np.frombuffer(values.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
            digests[full] = data.view("<u8").reshape(-1, self.buckets)
            signed |= full
        computed = np.flatnonzero(lengths < 0)
        text_values = texts.take(pa.array(computed, pa.int64())).to_pylist() if len(computed) else []
        for i, text in zip(computed.tolist(), text_values):
            value = self.text_digests(text)
            if value != UNSIGNED:
                digests[i] = np.frombuffer(value, "<u8")
                signed[i] = True
        return digests, signed


class BucketDigests(PipelineStep):
    """Tag-stage step: sets ``minhash_digests`` (``Signer.text_digests``) on every document it sees.

    Put it after the filters (only kept documents need digests) and after decontamination, whose words
    it reuses. The signer is built in ``run``, so the step pickles small to any executor.
    """

    name = "#️⃣ MinHash bucket digests"
    type = "🫂 - DEDUP"

    def __init__(self, settings: MinhashConfig | None = None) -> None:
        super().__init__()
        self.settings = settings

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        signer = Signer(self.settings)
        signed = too_short = 0
        spent = 0.0  # counted per task, as ``PerTaskStatsFilter`` does: per document it cost more than signing
        try:
            for doc in data:
                started = time.perf_counter()
                digests = doc.metadata[MINHASH_DIGESTS] = signer.text_digests(doc.text)
                spent += time.perf_counter() - started
                if digests:
                    signed += 1
                else:
                    too_short += 1
                yield doc
        finally:
            for label, value in (("signed", signed), ("too_short", too_short)):
                if value:
                    self.stat_update(label, value=value)
            if signed or too_short:
                self.stats.time_stats.update(spent, unit="task")
