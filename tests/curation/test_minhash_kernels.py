"""The compiled MinHash kernels give the values of the libraries they stand in for.

``xxh64`` must be ``xxhash.xxh64_intdigest`` on every input length (each branch of the algorithm: under
4 bytes, 4-7, 8-31, 32 and more with every remainder), ``ngram_hashes`` the xxh64 of each joined
n-gram string, and ``permutation_minima`` numpy's uint64 ``min((h * a + b) % (2**61 - 1))``, which is
how datatrove computes a signature. (``test_cross_split.py`` holds whole signatures equal to
datatrove's ``MinhashDedupSignature`` on real texts.)
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import xxhash
from support.tagged_corpus import fundus_rows

from geocorpus.minhash_kernels import ngram_hashes, permutation_minima, xxh64
from geocorpus.simplified_words import words


def _bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8) if data else np.zeros(0, np.uint8)


def test_xxh64_is_xxhash_at_every_length_and_offset():
    rng = random.Random(11)
    for length in range(0, 131):
        data = bytes(rng.randrange(256) for _ in range(length + 7))
        for offset in (0, 3, 7):  # a slice that starts anywhere in the buffer
            piece = data[offset : offset + length]
            assert xxh64(_bytes(data), offset, offset + len(piece)) == xxhash.xxh64_intdigest(piece), (length, offset)
    text = "Lagos – Nairobi: ₦1,000 ≈ KSh 85; naïve café, Zürich 北京 🌍".encode()
    assert xxh64(_bytes(text), 0, len(text)) == xxhash.xxh64_intdigest(text)


@pytest.mark.parametrize("n_grams", [1, 3, 5])
def test_ngram_hashes_are_the_xxh64_of_each_joined_ngram_on_real_texts(shared_data, n_grams):
    texts = [row["text"] for row in fundus_rows(shared_data)][:150]
    texts += ["one two three four five", "only four words here", "ünïcödé wörds with àccents ok"]
    checked = 0
    for text in texts:
        tokens = words(text)
        joined = " ".join(tokens)
        expected = [
            xxhash.xxh64_intdigest(" ".join(tokens[i : i + n_grams])) for i in range(len(tokens) - n_grams + 1)
        ]
        got = ngram_hashes(_bytes(joined.encode()), n_grams)
        assert got.dtype == np.uint64 and got.tolist() == expected, text[:60]
        checked += bool(expected)
    assert checked > 100


def test_permutation_minima_are_numpys_uint64_formula():
    rng = np.random.default_rng(4)
    mersenne = np.uint64((1 << 61) - 1)
    a = rng.integers(1, 1 << 61, size=112, dtype=np.uint64)
    b = rng.integers(0, 1 << 61, size=112, dtype=np.uint64)
    for size in (1, 2, 17, 700):
        hashes = rng.integers(0, np.iinfo(np.uint64).max, size=size, dtype=np.uint64, endpoint=True)
        hashes[0] = np.iinfo(np.uint64).max  # the product and the sum wrap at 2**64
        expected = ((hashes[:, None] * a[None, :] + b[None, :]) % mersenne).min(axis=0)
        assert permutation_minima(hashes, a, b).tolist() == expected.tolist()
    # x = p (and x = p + k): reduces to 0 (k), the case the final subtraction is for
    x = np.array([(1 << 61) - 1, (1 << 61) + 5], np.uint64)
    ones, zeros = np.ones(1, np.uint64), np.zeros(1, np.uint64)
    assert permutation_minima(x[:1], ones, zeros).tolist() == [0]
    assert permutation_minima(x[1:], ones, zeros).tolist() == [6]
