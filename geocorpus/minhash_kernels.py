"""Compiled MinHash kernels: the xxh64 of every word n-gram of a text, the permutation minima, and the
pairs of documents that share an LSH bucket (finalize's cross-split check, ``bucket_pairs``).

Why: the tag stage signs every kept document (``geocorpus.bucket_digests``). In Python and numpy that
cost ~260-460 us a news article (by machine): one ``xxhash`` call per n-gram (~660 of them) and 112 permutations of
each hash, eight numpy passes over a (hashes x n-grams) block. Here both are one loop each, compiled
by numba (cached on disk after the first process), and give the same values: XXH64 with seed 0 of each
n-gram's UTF-8 bytes (what ``xxhash.xxh64_intdigest`` returns for the n-gram string, and so datatrove's
``MinhashDedupSignature``), then ``min((h * a + b) mod 2**64 mod (2**61 - 1))`` per permutation. Tests
hold both equal to ``xxhash`` and to datatrove's signatures on real texts.

XXH64 follows its specification (github.com/Cyan4973/xxHash, doc/xxhash_spec.md): 32-byte stripes in
four lanes, then 8-, 4- and 1-byte steps, then the avalanche.
"""

from __future__ import annotations

import sys

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# XXH64's primes (the specification's PRIME64_1 .. PRIME64_5)
_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)
_MERSENNE = np.uint64((1 << 61) - 1)
_SPACE = 32  # the byte that joins words (UTF-8 never uses it inside a multi-byte character)

# every constant is a uint64: numba turns uint64 mixed with a Python int into float64
_njit = numba.njit(cache=True, nogil=True)


@numba.njit(inline="always")
def _rotl(x: np.uint64, bits: int) -> np.uint64:
    return (x << np.uint64(bits)) | (x >> np.uint64(64 - bits))


#: Whether an unaligned load reads bytes little-endian, as XXH64 reads its input.
_LITTLE_ENDIAN = sys.byteorder == "little"


@intrinsic
def _load(typingctx, data_type, at_type, bits_type):
    """The ``bits.literal_value // 8`` bytes of uint8 array ``data`` from ``at`` as one unsigned integer: a
    single unaligned load (numba cannot express one; a loop of byte loads ran XXH64 at a tenth of C's speed)."""
    if not isinstance(data_type, types.Array) or data_type.dtype != types.uint8 or data_type.ndim != 1:
        return None
    if not isinstance(bits_type, types.IntegerLiteral) or bits_type.literal_value not in (32, 64):
        return None
    bits = bits_type.literal_value

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        pointer = builder.bitcast(builder.gep(array.data, [args[1]]), ir.IntType(bits).as_pointer())
        return builder.zext(builder.load(pointer, align=1), ir.IntType(64))

    return types.uint64(data_type, types.intp, bits_type), codegen


@numba.njit(inline="always")
def _read(data: np.ndarray, at: int, size: int) -> np.uint64:
    """``size`` (4 or 8) bytes of ``data`` from ``at``, little-endian; the caller keeps them in bounds."""
    if _LITTLE_ENDIAN:
        return _load(data, at, 64) if size == 8 else _load(data, at, 32)  # type: ignore[call-arg]
    value = np.uint64(0)
    for k in range(size):
        value |= np.uint64(data[at + k]) << np.uint64(8 * k)
    return value


@numba.njit(inline="always")
def _round(acc: np.uint64, lane: np.uint64) -> np.uint64:
    return _rotl(acc + lane * _P2, 31) * _P1


@numba.njit(inline="always")
def _merge(acc: np.uint64, lane: np.uint64) -> np.uint64:
    return (acc ^ _round(np.uint64(0), lane)) * _P1 + _P4


@_njit
def xxh64(data: np.ndarray, start: int, end: int) -> np.uint64:
    """XXH64, seed 0, of the bytes ``data[start:end]`` (``data``: a uint8 array)."""
    at = start
    if end - start >= 32:
        v1, v2, v3, v4 = _P1 + _P2, _P2, np.uint64(0), np.uint64(0) - _P1
        while at + 32 <= end:
            v1 = _round(v1, _read(data, at, 8))
            v2 = _round(v2, _read(data, at + 8, 8))
            v3 = _round(v3, _read(data, at + 16, 8))
            v4 = _round(v4, _read(data, at + 24, 8))
            at += 32
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        h = _merge(_merge(_merge(_merge(h, v1), v2), v3), v4)
    else:
        h = _P5
    h += np.uint64(end - start)
    while at + 8 <= end:
        h = _rotl(h ^ _round(np.uint64(0), _read(data, at, 8)), 27) * _P1 + _P4
        at += 8
    if at + 4 <= end:
        h = _rotl(h ^ (_read(data, at, 4) * _P1), 23) * _P2 + _P3
        at += 4
    while at < end:
        h = _rotl(h ^ (np.uint64(data[at]) * _P5), 11) * _P1
        at += 1
    h = (h ^ (h >> np.uint64(33))) * _P2
    h = (h ^ (h >> np.uint64(29))) * _P3
    return h ^ (h >> np.uint64(32))


@_njit
def ngram_hashes(data: np.ndarray, n_grams: int) -> np.ndarray:
    """xxh64 of every run of ``n_grams`` words in ``data``: words joined by single spaces, UTF-8 encoded
    (an n-gram is its words with their spaces, as ``" ".join`` gives it). Empty when there are fewer
    words."""
    size = data.shape[0]
    words = 1
    for i in range(size):
        words += data[i] == _SPACE
    starts = np.empty(words + 1, np.int64)  # where each word begins; past the end, one byte beyond
    starts[0], word = 0, 1
    for i in range(size):
        if data[i] == _SPACE:
            starts[word] = i + 1
            word += 1
    starts[words] = size + 1
    count = max(words - n_grams + 1, 0)
    hashes = np.empty(count, np.uint64)
    for i in range(count):
        hashes[i] = xxh64(data, starts[i], starts[i + n_grams] - 1)
    return hashes


@_njit
def permutation_minima(hashes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per permutation ``j``, the smallest ``((h * a[j] + b[j]) mod 2**64) mod (2**61 - 1)`` over the
    hashes, the product wrapping at 2**64 as datatrove's uint64 numpy product does."""
    minima = np.full(a.shape[0], _MERSENNE)  # above any value mod the prime
    for i in range(hashes.shape[0]):
        h = hashes[i]
        for j in range(a.shape[0]):
            x = h * a[j] + b[j]
            r = (x & _MERSENNE) + (x >> np.uint64(61))  # x mod p: the low 61 bits plus the high 3 ...
            if r >= _MERSENNE:
                r -= _MERSENNE  # ... minus p once if that reaches p
            if r < minima[j]:
                minima[j] = r
    return minima


@_njit
def bucket_pairs(
    ranges: np.ndarray,
    rows: np.ndarray,
    positions: np.ndarray,
    start: int,
    stamp: np.ndarray,
    rank: np.ndarray,
    bound: int,
    out_train: np.ndarray,
    out_rank: np.ndarray,
) -> tuple[int, int, int]:
    """The distinct (train document, eval document) pairs of a block of train documents that share a bucket.

    Train document ``d`` (from ``start`` on) matches, in bucket ``b``, the eval documents
    ``rows[b, ranges[0, d, b]:ranges[1, d, b]]``. ``stamp[e]`` is the last train position paired with eval
    document ``e`` (-1: none; the eval documents hit are those with a stamp), so a pair found in several
    buckets counts once, with no sort. A new pair whose eval ``rank[e] <= bound`` is written to
    ``out_train``/``out_rank``. A document is taken only whole, while its matches fit the outputs.
    Returns (the first document not taken, pairs counted, pairs written)."""
    docs, buckets = ranges.shape[1], ranges.shape[2]
    capacity = out_train.shape[0]
    pairs = written = 0
    d = start
    while d < docs:
        matches = 0
        for b in range(buckets):
            matches += ranges[1, d, b] - ranges[0, d, b]
        if written + matches > capacity:
            break
        p = positions[d]
        for b in range(buckets):
            for k in range(ranges[0, d, b], ranges[1, d, b]):
                e = rows[b, k]
                if stamp[e] != p:
                    stamp[e] = p
                    pairs += 1
                    if rank[e] <= bound:
                        out_train[written] = p
                        out_rank[written] = rank[e]
                        written += 1
        d += 1
    return d, pairs, written
