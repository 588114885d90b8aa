"""The compiled word kernels give the values of their formulas.

``whitespace_words`` must be ``len(text.split())`` on real texts in many scripts and on every code point
``str.split`` splits on; ``span_hashes`` must be ``sum(data[j] * B**(e - 1 - j)) mod 2**64`` of each span (computed here with Python
integers), ``word_bounds`` the spans of the words between single spaces, and ``window_candidates`` exactly
the windows whose span hash lands on a set slot of the table, on real texts. (``simplify_utf8`` is held
equal to datatrove's ``simplify_text`` in ``test_simplified_words.py``.)
"""

from __future__ import annotations

import numpy as np
from support.tagged_corpus import fundus_rows

from geocorpus.simplified_words import joined_words
from geocorpus.word_kernels import (
    ASCII_WHITESPACE,
    HASH_BASE,
    WIDE_WHITESPACE,
    span_hashes,
    whitespace_words,
    window_candidates,
    word_bounds,
)


def _formula(data: bytes, start: int, end: int) -> int:
    value = 0
    for byte in data[start:end]:
        value = (value * int(HASH_BASE) + byte) % (1 << 64)
    return value


def _bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8) if data else np.zeros(0, np.uint8)


def test_span_hashes_are_the_polynomial_of_each_span():
    rng = np.random.default_rng(3)
    data = rng.integers(0, 256, size=300, dtype=np.uint8).tobytes()
    starts = rng.integers(0, 299, size=200)
    ends = np.minimum(starts + rng.integers(1, 60, size=200), 300)
    got = span_hashes(_bytes(data), starts.astype(np.int64), ends.astype(np.int64))
    assert got.tolist() == [_formula(data, s, e) for s, e in zip(starts.tolist(), ends.tolist())]
    # equal bytes hash equal wherever they stand
    again = span_hashes(_bytes(b"xx" + data[10:50]), np.array([2], np.int64), np.array([42], np.int64))
    assert again[0] == _formula(data, 10, 50)


def test_word_bounds_are_the_words_between_single_spaces():
    for text in (b"", b"a", b"one two  three"[:7], b"one two three", "naïve café 北京".encode()):
        starts, ends = word_bounds(_bytes(text))
        pieces = [text[s:e] for s, e in zip(starts.tolist(), ends.tolist())]
        assert pieces == (text.split(b" ") if text else []), text


def test_window_candidates_are_the_windows_whose_hash_slot_is_set(shared_data):
    rng = np.random.default_rng(5)
    texts = [row["text"] for row in fundus_rows(shared_data)][:60]
    checked = 0
    for bits in (8, 12):
        table = rng.random(1 << bits) < 0.2
        shift = 64 - bits
        for text in texts:
            data = joined_words(text)
            buffer = _bytes(data)
            starts, ends = word_bounds(buffer)
            for length in (1, 3, 8):
                windows = len(starts) - length + 1
                expected = [
                    p
                    for p in range(max(windows, 0))
                    if table[_formula(data, int(starts[p]), int(ends[p + length - 1])) >> shift]
                ]
                got = window_candidates(buffer, starts, ends, length, table, shift).tolist()
                assert got == expected, (text[:60], length)
                checked += bool(expected)
    assert checked > 100


def test_whitespace_words_count_what_str_split_makes(shared_data):
    texts = [row["text"] for row in fundus_rows(shared_data)]
    texts += [row["title"] or "" for row in fundus_rows(shared_data)]
    every_space = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    texts += [
        "x".join(every_space) + "x",  # each of them between two words
        every_space,
        f"{every_space}word{every_space}",
        "",
        "lone \ud800 surrogate\udfff ok",
        "🌍 Lagos–Nairobi\u200bzero-width is not a space",
        "\x1c\x1d\x1e\x1fa\x85b\xa0c",
    ]
    assert len(WIDE_WHITESPACE) > 10 and sum(not t.isascii() for t in texts) > 100
    for text in texts:
        data = _bytes(text.encode("utf-8", "surrogatepass"))
        assert whitespace_words(data, ASCII_WHITESPACE, WIDE_WHITESPACE) == len(text.split()), text[:60]
