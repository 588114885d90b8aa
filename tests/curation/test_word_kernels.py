"""The compiled word kernels give the values of their formulas.

``whitespace_words`` must be ``len(text.split())`` on real texts in many scripts and on every code point
``str.split`` splits on; ``word_hashes`` the spans of the words between single spaces and the mixed FNV-1a of
each, ``window_hashes`` the mixed polynomial of each window's word hashes (both computed here with Python
integers), and ``window_candidates`` exactly the windows whose hash lands on a set slot of the table, on
real texts. (``simplify_utf8`` is held
equal to datatrove's ``simplify_text`` in ``test_simplified_words.py``.)
"""

from __future__ import annotations

import numpy as np
from support.tagged_corpus import fundus_rows

from geocorpus.simplified_words import joined_words
from geocorpus.word_kernels import (
    ASCII_WHITESPACE,
    FNV_OFFSET,
    FNV_PRIME,
    WIDE_WHITESPACE,
    WINDOW_BASE,
    whitespace_words,
    window_candidates,
    window_hashes,
    word_hashes,
)

_MASK = (1 << 64) - 1


def _mix(h: int) -> int:
    h = ((h ^ (h >> 33)) * 0xFF51AFD7ED558CCD) & _MASK
    h = ((h ^ (h >> 33)) * 0xC4CEB9FE1A85EC53) & _MASK
    return h ^ (h >> 33)


def _word_formula(word: bytes) -> int:
    h = int(FNV_OFFSET)
    for byte in word:
        h = ((h ^ byte) * int(FNV_PRIME)) & _MASK
    return _mix(h)


def _window_formula(words: list[bytes]) -> int:
    value = 0
    for word in words:
        value = (value * int(WINDOW_BASE) + _word_formula(word)) & _MASK
    return _mix(value)


def _bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8) if data else np.zeros(0, np.uint8)


def test_word_hashes_are_the_words_between_single_spaces_and_their_formula():
    for text in (b"", b"a", b"one two  three"[:7], b"one two three", "naïve café 北京".encode(), b"\xff\x80 x"):
        starts, ends, hashes = word_hashes(_bytes(text))
        pieces = [text[s:e] for s, e in zip(starts.tolist(), ends.tolist())]
        assert pieces == (text.split(b" ") if text else []), text
        assert hashes.tolist() == [_word_formula(piece) for piece in pieces], text


def test_window_hashes_are_the_formula_and_equal_words_hash_equal(shared_data):
    text = joined_words(fundus_rows(shared_data)[0]["text"])
    words = text.split(b" ")
    hashes = word_hashes(_bytes(text))[2]
    for length in (1, 2, 8, 13, len(words), len(words) + 1):
        got = window_hashes(hashes, length).tolist()
        assert got == [_window_formula(words[p : p + length]) for p in range(max(len(words) - length + 1, 0))]
    # a window's hash depends only on its words: the same words elsewhere, in another buffer, hash the same
    piece = b" ".join(words[5:13])
    again = window_hashes(word_hashes(_bytes(b"x y " + piece))[2], 8)
    assert again[2] == window_hashes(hashes, 8)[5]


def test_window_candidates_are_the_windows_whose_hash_slot_is_set(shared_data):
    rng = np.random.default_rng(5)
    texts = [row["text"] for row in fundus_rows(shared_data)][:60]
    checked = 0
    for bits in (8, 12):
        table = rng.random(1 << bits) < 0.2
        shift = 64 - bits
        for text in texts:
            words = joined_words(text).split(b" ")
            hashes = word_hashes(_bytes(joined_words(text)))[2]
            for length in (1, 3, 8):
                expected = [
                    p
                    for p in range(max(len(words) - length + 1, 0))
                    if table[_window_formula(words[p : p + length]) >> shift]
                ]
                got = window_candidates(hashes, length, table, shift).tolist()
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
