"""The compiled simplification gives datatrove's words for every code point, alone and among others.

``joined_words`` simplifies most text in one compiled pass, with each non-ASCII code point replaced by what
the Python path makes of it alone; code points whose result depends on their neighbours go down the
Python path. Both must give ``datatrove.utils.text.simplify_text(text).split()`` joined by spaces.
"""

from __future__ import annotations

import random

import numpy as np
from datatrove.utils.text import simplify_text
from support.tagged_corpus import fundus_rows

from geocorpus import simplified_words
from geocorpus.simplified_words import ASCII_SEPARATORS, CodeTable, joined_words
from geocorpus.word_kernels import DONE, NEEDS_CODES, NEEDS_PYTHON, UNSAFE, simplify_utf8


def _datatrove(text: str) -> bytes:
    return " ".join(simplify_text(text).split()).encode("utf-8")


def _compiled(table: CodeTable, text: str) -> tuple[bytes, int]:
    data = np.frombuffer(text.encode("utf-8"), np.uint8)
    out, outcome, _ = simplify_utf8(
        data, ASCII_SEPARATORS, table.codes, table.offsets, table.pool, int(len(data) * table.growth) + 8
    )
    return out.tobytes(), outcome


def test_every_code_point_alone_and_between_words_digits_and_marks():
    """Every code point but the surrogates, in chunks, each between letters, after and before digits, after
    a combining mark and doubled: the compiled pass (where it answers) and ``joined_words`` equal datatrove."""
    table = CodeTable()
    chars = [chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    table.learn("".join(chars))
    unsafe = [c for c in chars if table.codes[ord(c)] == UNSAFE]
    assert 0 < len(unsafe) < len(chars) // 20  # few code points need their neighbours (digits of all scripts ...)
    assert "\u03a3" in unsafe and "\u0663" in unsafe and "\u060c" in unsafe  # final sigma, Arabic 3, Arabic comma
    safe = [c for c in chars if table.codes[ord(c)] != UNSAFE]
    compiled = 0
    for first in range(0, len(safe), 4_000):
        text = " ".join(f"a{c}b 1{c}2,5{c} e\u0301{c}{c}. {c}" for c in safe[first : first + 4_000])
        got, outcome = _compiled(table, text)
        assert outcome == DONE
        assert got == _datatrove(text), first
        compiled += 1
    assert compiled > 200
    for first in range(0, len(unsafe), 500):  # each chunk has neighbour-dependent code points: Python's path
        text = " ".join(f"a{c}b 1{c}2,5{c}3 {c}{c}x" for c in unsafe[first : first + 500])
        assert _compiled(table, text)[1] == NEEDS_PYTHON
        assert joined_words(text) == _datatrove(text), first


def test_real_texts_with_odd_characters_inserted_equal_datatrove(shared_data):
    """Real news (many scripts), and the same with code points of every kind dropped in at random places."""
    rng = random.Random(7)
    odd = ["’", "“", "—", "£", "é", "e\u0301", "\u0301", "\u00a0", "\u2003", "Σ", "ΣΑΣ", "İ", "ǅ", "한국"]
    odd += ["٣٫٥", "1،5", "🌍", "\u200b", "Ｆ２", ""]
    texts = [row["text"] for row in fundus_rows(shared_data)]
    mixed = []
    for text in texts[:120]:
        pieces = list(text[:3_000])
        for _ in range(30):
            pieces.insert(rng.randrange(len(pieces) + 1), rng.choice(odd))
        mixed.append("".join(pieces))
    simplified_words._table = None  # a fresh table: learnt while these texts are simplified
    for text in texts + mixed:
        assert joined_words(text) == _datatrove(text), text[:60]
    table = simplified_words._table
    assert table is not None and 100 < int((table.codes >= 0).sum()) < 10_000


def test_a_code_point_not_learnt_yet_is_asked_for_then_learnt():
    table = CodeTable()
    got, outcome = _compiled(table, "naïve café")
    assert outcome == NEEDS_CODES and got == b""
    assert table.learn("naïve café") == 2 and table.learn("naïve café") == 0
    assert _compiled(table, "naïve café") == (b"naive cafe", DONE)
    assert _compiled(table, "한")[1] == NEEDS_CODES
    table.learn("한")
    assert table.growth == 3.0  # a Hangul syllable: three jamo of three bytes each
    assert _compiled(table, "한 한") == (_datatrove("한 한"), DONE)
