"""Compiled loops over a text's simplified words: the simplification, and decontamination's window prefilter.

Why: every kept document of the tag stage is simplified (``geocorpus.simplified_words``) and its windows of
words checked against the decontamination index. In Python and numpy that was ~110 us a news article: a
regex pass for numbers, a translate, a split into ~700 word objects, a join, then eight numpy calls of
fixed overhead for the window hashes. Here the simplification of ASCII text is one pass over its bytes
that writes the words joined by single spaces; one more hashes each word, and the window hashes are
rolled from the word hashes and looked up in the table, compiled by numba (cached on disk after the first
process). Tests hold the words equal to datatrove's ``simplify_text`` and the hashes equal to their formula.
"""

from __future__ import annotations

import numba
import numpy as np

_njit = numba.njit(cache=True, nogil=True)
_SPACE = np.uint8(32)
_ZERO = np.uint8(48)
#: Code points ``str.split()`` splits on: ASCII ones as a table, the others (19 in Python 3.11) as a list.
ASCII_WHITESPACE = np.array([chr(c).isspace() for c in range(128)])
WIDE_WHITESPACE = np.array([c for c in range(128, 0x110000) if chr(c).isspace()], np.int64)


@numba.njit(inline="always")
def _code_point(data: np.ndarray, i: int) -> tuple[np.int64, int]:
    """The code point of the multi-byte UTF-8 sequence at ``data[i]``, and where the next one starts (a
    sequence cut short by the end of ``data`` takes the bytes there are)."""
    lead = data[i]
    if lead >= 0xF0:
        cp, extra = np.int64(lead & 0x07), 3
    elif lead >= 0xE0:
        cp, extra = np.int64(lead & 0x0F), 2
    else:
        cp, extra = np.int64(lead & 0x1F), 1
    for k in range(i + 1, min(i + extra + 1, data.shape[0])):
        cp = (cp << 6) | np.int64(data[k] & 0x3F)
    return cp, i + extra + 1


#: What ``simplify_utf8`` does with a non-ASCII code point (``codes[cp]``); 0 and above: the index of its
#: simplified bytes in the pool.
UNKNOWN, SEPARATOR, DROPPED, UNSAFE = -1, -2, -3, -4
#: ``simplify_utf8``'s outcomes.
DONE, NEEDS_CODES, NEEDS_PYTHON = 0, 1, 2


@_njit
def simplify_utf8(
    text: np.ndarray, separator: np.ndarray, codes: np.ndarray, offsets: np.ndarray, pool: np.ndarray, capacity: int
) -> tuple[np.ndarray, int, int]:
    """The words of UTF-8 ``text`` (uint8), datatrove-simplified, joined by single spaces.

    ASCII bytes as ``geocorpus.simplified_words`` does with str methods: A-Z lowered; a number
    (``[0-9]+([.,][0-9]+)?``, matched leftmost-first and greedy like the regex) becomes ``0``; a byte with
    ``separator`` set (punctuation or whitespace) ends a word. Each other code point as ``codes`` says (its
    simplified bytes, a word end, or nothing). (words, outcome, code point): ``NEEDS_CODES`` names a code
    point not in ``codes`` yet, ``NEEDS_PYTHON`` one whose simplification depends on its neighbours (the
    caller then simplifies the text in Python). ``capacity``: bytes enough for the words."""
    size = text.shape[0]
    out = np.empty(capacity, np.uint8)
    n = 0
    pending = False
    i = 0
    while i < size:
        c = text[i]
        if c < 0x80:
            if 48 <= c <= 57:
                i += 1
                while i < size and 48 <= text[i] <= 57:
                    i += 1
                if i + 1 < size and (text[i] == 46 or text[i] == 44) and 48 <= text[i + 1] <= 57:
                    i += 2
                    while i < size and 48 <= text[i] <= 57:
                        i += 1
                c = _ZERO
            else:
                i += 1
                if separator[c]:
                    pending = True
                    continue
                if 65 <= c <= 90:
                    c += np.uint8(32)
            if pending and n:
                out[n] = _SPACE
                n += 1
            pending = False
            out[n] = c
            n += 1
            continue
        cp, i = _code_point(text, i)
        code = codes[cp]
        if code == SEPARATOR:
            pending = True
            continue
        if code == DROPPED:
            continue
        if code == UNKNOWN:
            return out[:0], NEEDS_CODES, int(cp)
        if code == UNSAFE:
            return out[:0], NEEDS_PYTHON, int(cp)
        if pending and n:
            out[n] = _SPACE
            n += 1
        pending = False
        for k in range(offsets[code], offsets[code + 1]):
            out[n] = pool[k]
            n += 1
    return out[:n], DONE, 0


@_njit
def whitespace_words(data: np.ndarray, ascii_space: np.ndarray, wide_space: np.ndarray) -> int:
    """``len(text.split())`` of the text whose UTF-8 bytes are ``data`` (surrogates passed through), without
    making the words: the code points that start a run of non-whitespace."""
    count = 0
    in_word = False
    i, size = 0, data.shape[0]
    while i < size:
        b = data[i]
        if b < 0x80:
            space = ascii_space[b]
            i += 1
        else:
            cp, i = _code_point(data, i)
            space = False
            for w in wide_space:
                if cp == w:
                    space = True
                    break
        if space:
            in_word = False
        elif not in_word:
            in_word = True
            count += 1
    return count


#: FNV-1a's 64-bit offset basis and prime (a word's bytes), and the odd base of the window polynomial.
FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
WINDOW_BASE = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(inline="always")
def _mix(h: np.uint64) -> np.uint64:
    """MurmurHash3's 64-bit finaliser: every bit of ``h`` moves the top bits that pick a table slot."""
    h = (h ^ (h >> np.uint64(33))) * np.uint64(0xFF51AFD7ED558CCD)
    h = (h ^ (h >> np.uint64(33))) * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


@_njit
def word_hashes(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte start, end and hash of every word of ``data``, words joined by single spaces (none when empty;
    UTF-8 never puts 0x20 inside a multi-byte character). A word's hash: ``_mix`` of its bytes' FNV-1a."""
    size = data.shape[0]
    if size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint64)
    count = 1
    for i in range(size):
        count += data[i] == _SPACE
    starts = np.empty(count, np.int64)
    ends = np.empty(count, np.int64)
    hashes = np.empty(count, np.uint64)
    starts[0] = 0
    word = 0
    h = FNV_OFFSET
    for i in range(size):
        c = data[i]
        if c == _SPACE:
            ends[word] = i
            hashes[word] = _mix(h)
            word += 1
            starts[word] = i + 1
            h = FNV_OFFSET
        else:
            h = (h ^ np.uint64(c)) * FNV_PRIME
    ends[word] = size
    hashes[word] = _mix(h)
    return starts, ends, hashes


@_njit
def window_hashes(hashes: np.ndarray, length: int) -> np.ndarray:
    """The hash of every window of ``length`` words, from their word hashes: ``_mix`` of
    ``sum(hashes[p + k] * WINDOW_BASE**(length - 1 - k))`` mod 2**64, rolled from one window to the next.
    Equal words hash equal wherever they stand; unequal ones can collide, so a hash only rules a window out."""
    windows = hashes.shape[0] - length + 1
    if windows <= 0:
        return np.empty(0, np.uint64)
    top = np.uint64(1)  # WINDOW_BASE**(length - 1)
    for _ in range(length - 1):
        top *= WINDOW_BASE
    value = np.uint64(0)
    for k in range(length):
        value = value * WINDOW_BASE + hashes[k]
    found = np.empty(windows, np.uint64)
    found[0] = _mix(value)
    for p in range(1, windows):
        value = (value - hashes[p - 1] * top) * WINDOW_BASE + hashes[p + length - 1]
        found[p] = _mix(value)
    return found


@_njit
def window_candidates(hashes: np.ndarray, length: int, table: np.ndarray, shift: int) -> np.ndarray:
    """Positions of the windows of ``length`` words whose hash (``window_hashes``) has its top bits
    (``hash >> shift``) set in ``table``: the windows that may be an indexed anchor, in order."""
    windows = window_hashes(hashes, length)
    found = np.empty(windows.shape[0], np.int64)
    count = 0
    drop = np.uint64(shift)
    for p in range(windows.shape[0]):
        if table[windows[p] >> drop]:
            found[count] = p
            count += 1
    return found[:count]
