"""A text's words as datatrove simplifies them: lower case, no punctuation, numbers folded, no diacritics.

Why one module: decontamination (``geocorpus.decontaminate``) and the MinHash bucket digests
(``geocorpus.bucket_digests``) both look at a document through these words, one step after the other, and
both want them as one UTF-8 buffer of words joined by single spaces (their windows are byte spans of it).
``joined_words`` gives that buffer and keeps the last one, so the second step does not simplify the same
text again; ``words`` gives the list (what splitting datatrove's simplified text gives).

The words equal datatrove's ``simplify_text`` (default ``TextNormConfig``) split on whitespace, computed
faster, as this runs on every training document: datatrove's diacritics step is a Python generator over
every character (NFD, then drop category ``Mn``), here one regex of the same category as Python's
``unicodedata`` has it; its whitespace step (``\\s+`` to one space) cannot change a whitespace split, so
it is left out. Most text is simplified by one compiled pass over its UTF-8 bytes (``geocorpus.word_kernels``):
ASCII bytes with the same punctuation table and number pattern, every other code point by what the
Python path makes of it alone (``CodeTable``, learnt the first time a process meets the code point). A code
point whose result depends on its neighbours (a digit of another script, a number separator, a final
sigma, a combining mark that stays) sends its text down the Python path. Tests hold both paths equal to
datatrove's on every shared news text and on every code point.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import regex
from datatrove.utils.text import NUMBERS_PATTERN, PUNCTUATION_TRANS

#: The same punctuation table as one character class (``str.translate`` with a dict is slow on non-ASCII text).
_PUNCTUATION = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(PUNCTUATION_TRANS)) + "]")
#: ASCII bytes that end a word: datatrove's punctuation (each maps to a space) and ``str.split``'s whitespace.
ASCII_SEPARATORS = np.array([c in PUNCTUATION_TRANS or chr(c).isspace() for c in range(128)] + [False] * 128)

#: The last text ``joined_words`` simplified, and its buffer. A strong reference, so the identity check can
#: never match another text that reused the address.
_last: tuple[str, bytes] = ("", b"")


@cache
def _combining_marks() -> regex.Pattern:
    """Runs of category ``Mn`` as *this* Python's ``unicodedata`` has them, as datatrove removes them (the
    ``regex`` module's own ``\\p{Mn}`` follows a newer Unicode: it also takes code points unassigned here)."""
    marks = [c for c in range(0x110000) if unicodedata.category(chr(c)) == "Mn"]
    ranges: list[list[int]] = []
    for c in marks:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return regex.compile("[" + "".join(f"{regex.escape(chr(a))}-{regex.escape(chr(b))}" for a, b in ranges) + "]+")


def _without_marks(text: str) -> str:
    return _combining_marks().sub("", unicodedata.normalize("NFD", text))


def _unicode_words(text: str) -> list[str]:
    return _without_marks(_PUNCTUATION.sub(" ", NUMBERS_PATTERN.sub("0", text.lower()))).split()


def _alone(char: str) -> bytes | int:
    """What the Python path makes of a non-ASCII ``char`` wherever it stands: its bytes in the words, or one
    of ``word_kernels``' SEPARATOR (it ends a word), DROPPED (nothing) or UNSAFE (it depends on neighbours)."""
    from geocorpus.word_kernels import DROPPED, SEPARATOR, UNSAFE

    lowered = char.lower()
    for before, after in (("a", ""), ("", "a"), ("a", "a")):  # str.lower's one context rule: a final sigma
        if (before + char + after).lower() != before + lowered + after:
            return UNSAFE
    if [m.group() for m in NUMBERS_PATTERN.finditer(f"0{lowered}0")] != ["0", "0"]:
        return UNSAFE  # a digit of some script, or a separator that joins two numbers into one
    simplified = _without_marks(_PUNCTUATION.sub(" ", lowered))
    if not simplified:
        return DROPPED
    if simplified.isspace():
        return SEPARATOR
    if any(c.isspace() or unicodedata.combining(c) for c in simplified):
        return UNSAFE  # a word end inside, or a mark that canonical ordering could move past a neighbour's
    return simplified.encode("utf-8")


@dataclass
class CodeTable:
    """Every non-ASCII code point this process has simplified, as ``word_kernels.simplify_utf8`` reads them.

    ``codes[cp]``: UNKNOWN, SEPARATOR, DROPPED, UNSAFE, or the index of its bytes (``pool[offsets[i]:
    offsets[i + 1]]``). Learnt per text, for the code points the kernel reports missing: news in one
    language meets a few hundred, so the table stays small and is filled in the first documents."""

    codes: np.ndarray = field(default_factory=lambda: np.full(0x110000, -1, np.int32))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    pool: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    #: The most bytes a code point's simplification takes per byte of its UTF-8 (a Hangul syllable: 3).
    growth: float = 1.0

    def learn(self, text: str) -> int:
        """Add every code point of ``text`` not in the table yet; how many were added."""
        from geocorpus.word_kernels import UNKNOWN

        pieces: list[bytes] = []
        added = 0
        for char in set(text):
            cp = ord(char)
            if cp < 0x80 or self.codes[cp] != UNKNOWN:
                continue
            result = _alone(char)
            added += 1
            if isinstance(result, bytes):
                self.codes[cp] = len(self.offsets) - 1 + len(pieces)
                pieces.append(result)
                self.growth = max(self.growth, len(result) / len(char.encode("utf-8")))
            else:
                self.codes[cp] = result
        if pieces:
            ends = self.offsets[-1] + np.cumsum([len(p) for p in pieces])
            self.offsets = np.concatenate((self.offsets, ends))
            self.pool = np.concatenate((self.pool, np.frombuffer(b"".join(pieces), np.uint8)))
        return added


_table: CodeTable | None = None


def _utf8_words(text: str) -> bytes:
    """``joined_words``: compiled where every code point allows (ASCII text always), else the Python path."""
    global _table
    from geocorpus.word_kernels import DONE, NEEDS_CODES, simplify_utf8

    try:
        data = np.frombuffer(text.encode("utf-8"), np.uint8)
    except UnicodeEncodeError:  # a lone surrogate (readers exclude those records): the Python path raises too
        return " ".join(_unicode_words(text)).encode("utf-8")
    table = _table if _table is not None else (_table := CodeTable())
    while True:
        capacity = int(len(data) * table.growth) + 8
        joined, outcome, _ = simplify_utf8(data, ASCII_SEPARATORS, table.codes, table.offsets, table.pool, capacity)
        if outcome == DONE:
            return joined.tobytes()
        if outcome != NEEDS_CODES or not table.learn(text):  # learn: every code point the text lacks
            return " ".join(_unicode_words(text)).encode("utf-8")


def joined_words(text: str) -> bytes:
    """The text's simplified words joined by single spaces, UTF-8 (``b""`` when it has none).

    The same text object asked twice in a row is simplified once."""
    global _last
    if _last[0] is text:
        return _last[1]
    joined = _utf8_words(text)
    _last = (text, joined)
    return joined


def words(text: str) -> list[str]:
    """The text's simplified words."""
    joined = joined_words(text)
    return joined.decode("utf-8").split(" ") if joined else []


def title_and_text_words(title: object, text: str) -> bytes:
    """``joined_words`` of a title then its text: the words of both joined by a newline, each simplified on
    its own (a newline ends a word as the end of a text does), the text's buffer kept for the next step."""
    title_joined = joined_words(str(title)) if title else b""
    text_joined = joined_words(text)  # last: the MinHash digest step asks for this text next
    if title_joined and text_joined:
        return title_joined + b" " + text_joined
    return title_joined or text_joined
