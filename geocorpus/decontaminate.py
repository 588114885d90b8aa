"""Decontamination: drop training documents that share an n-gram with an evaluation item.

A model scored on the paper's 800 MCQs or on LocalNewsQA must not have read those questions (and
their answers) during training. This stage indexes every evaluation item's word n-grams (13 by
default, as GPT-3 and datatrove's ``NGramsDecontConfig`` do) and excludes any document that contains
one, with stage ``decontamination`` and the evaluation set's name as reason.

Why not datatrove's ``NGramsDecontIndexer``/``NGramsDecontFilter`` as they are: the indexer imports
lighteval and loads its tasks from the Hub (not offline), its English word tokenizer needs spaCy,
and the filter gives every set one reason. The text normalisation (datatrove's ``simplify_text``:
lower case, no punctuation, digits folded, diacritics removed) and the n-gram windows
(``datatrove.utils.text.ngrams``) are datatrove's; words are whitespace-split, as in
``geocorpus.minhash``.

An item is the configured ``fields`` of one row (e.g. question and answer). Each field is indexed on
its own, and the fields joined in order too, so n-grams spanning the question and its answer count
(datatrove's ``find_query_ngrams`` and ``find_overlap_ngrams``). A field shorter than ``n_grams``
words has no n-gram; it is matched whole when it has at least ``min_words`` words (GPT-3 lowered n
to 8 for short items), never when ``min_words`` is 0, so a one-word answer ("Abuja") never excludes
a document. The report says how many items of each set could be checked at all.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import regex
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.text import NUMBERS_PATTERN, PUNCTUATION_TRANS

from geocorpus.base_filter import PerTaskStatsFilter
from geocorpus.writers import ExclusionWriter

DECONTAMINATION_STAGE = "decontamination"
#: Document metadata keys recording what matched (kept in the exclusion's metadata_json).
MATCH_KEY = "contaminated_ngram"
SET_KEY = "contaminated_set"


@dataclass
class EvalSetConfig:
    """One evaluation set: a JSONL or Parquet file and the columns whose text makes an item."""

    path: str
    name: str | None = None  # the exclusion reason; default: the file name without its extension
    fields: list[str] = field(default_factory=lambda: ["text"])

    @property
    def set_name(self) -> str:
        return self.name or Path(self.path).name.split(".")[0]

    def validate(self) -> None:
        if not Path(self.path).is_file():
            raise ValueError(f"path: evaluation set not found: {self.path}")
        if not self.path.endswith((".jsonl", ".json", ".parquet")):
            raise ValueError(f"path: {self.path}: an evaluation set is a .jsonl or .parquet file")
        if not self.fields:
            raise ValueError("fields: name at least one column")


@dataclass
class DecontaminationConfig:
    """The ``decontamination`` section: which sets, the n-gram length, and the cross-split check."""

    sets: list[EvalSetConfig] = field(default_factory=list)
    n_grams: int = 13
    min_words: int = 8  # short items (fewer than n_grams words) with at least this many are matched whole
    cross_split_check: bool = True  # finalize reports eval documents with a near duplicate in train

    def validate(self) -> None:
        if self.n_grams < 1:
            raise ValueError(f"n_grams: must be >= 1, got {self.n_grams}")
        if not 0 <= self.min_words <= self.n_grams:
            raise ValueError(f"min_words: must lie in 0..n_grams ({self.n_grams}), got {self.min_words}")
        names = [s.set_name for s in self.sets]
        if len(set(names)) != len(names):
            raise ValueError(f"sets: names must be unique, got {names}")


_COMBINING_MARKS = regex.compile(r"\p{Mn}+")
#: datatrove's punctuation table as a byte table, for ASCII text (every ASCII entry maps to a space).
_ASCII_PUNCTUATION = bytes.maketrans(
    bytes(c for c in range(128) if c in PUNCTUATION_TRANS), b" " * sum(c in PUNCTUATION_TRANS for c in range(128))
)
#: ``NUMBERS_PATTERN`` on ASCII text: ``\p{Nd}`` is 0-9 and the only ASCII separators are . and ,
_ASCII_NUMBERS = re.compile(r"[0-9]+([.,][0-9]+)?")
#: the same table as one character class (``str.translate`` with a dict is slow on non-ASCII text)
_PUNCTUATION = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(PUNCTUATION_TRANS)) + "]")


#: The last text ``words`` split, and its words: the tag stage's decontamination and MinHash digest
#: steps split the same text object one after the other. A strong reference, so the identity check can
#: never match another text that reused the address.
_last: tuple[str, list[str]] = ("", [])


def words(text: str) -> list[str]:
    """datatrove's simplified text (``simplify_text`` with its default ``TextNormConfig``), split on whitespace.

    The list returned may be the one returned for the same text object before: callers must not change it.

    The same words, several times faster on news text, as this runs on every training document:
    datatrove's diacritics step is a Python generator over every character (NFD, then drop category
    ``Mn``), here one regex, skipped for ASCII text (NFD changes no ASCII character); its whitespace
    step (``\\s+`` to one space) cannot change a whitespace split, so it is left out; ASCII text gets
    the punctuation table and the number pattern in their ASCII forms. A test holds the words equal to
    datatrove's on every shared news text.
    """
    global _last
    if _last[0] is text:
        return _last[1]
    lowered = text.lower()
    if lowered.isascii():
        lowered = _ASCII_NUMBERS.sub("0", lowered)
        split = lowered.encode("ascii").translate(_ASCII_PUNCTUATION).decode("ascii").split()
    else:
        lowered = _PUNCTUATION.sub(" ", NUMBERS_PATTERN.sub("0", lowered))
        split = _COMBINING_MARKS.sub("", unicodedata.normalize("NFD", lowered)).split()
    _last = (text, split)
    return split


def _rows(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"{path} row 0: missing column(s) {missing} named in decontamination fields")
        yield from enumerate(pq.read_table(path, columns=list(columns)).to_pylist())
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path} line {number + 1}: not valid JSON ({exc})") from None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value)
    return str(value)


def item_pieces(spec: EvalSetConfig) -> list[list[str]]:
    """Per row, the non-empty texts of its ``fields`` in order. A missing column is an error naming it."""
    path = Path(spec.path)
    items = []
    for number, row in _rows(path, spec.fields):
        missing = [f for f in spec.fields if f not in row]
        if missing:
            raise ValueError(f"{path} row {number}: missing column(s) {missing} named in decontamination fields")
        items.append([t for t in (_text(row[f]) for f in spec.fields) if t.strip()])
    return items


#: Anchors hashed, or document windows looked up, per numpy call.
_BLOCK = 1 << 14
#: Slots of the anchor table per anchor (a power of two at least this large): about 1/32 of the windows
#: that open no key pass the table by chance and are looked up exactly, a dictionary lookup each.
_SLOTS_PER_ANCHOR = 32


class SpanHasher:
    """Polynomial hashes (mod 2**64) of many byte spans of one buffer at once, with numpy.

    ``hash(data[s:e]) = sum(data[j] * B**(e - 1 - j))`` for ``s <= j < e``: with ``G`` the running sum of
    ``data[j] * B**-j`` (``B`` is odd, so invertible mod 2**64), each span is ``B**(e - 1) * (G[e] - G[s])``,
    two gathers and a product however long the span. Equal bytes hash equal wherever they stand; unequal
    ones can collide, so a hash only ever rules a span *out*.
    """

    BASE = 0x9E3779B97F4A7C15  # odd

    def __init__(self) -> None:
        self._powers = np.ones(1, np.uint64)
        self._inverse_powers = np.ones(1, np.uint64)

    def _grow(self, size: int) -> None:
        if size <= len(self._powers):
            return
        size = max(size, 2 * len(self._powers))
        modulus = 1 << 64
        for name, base in (("_powers", self.BASE), ("_inverse_powers", pow(self.BASE, -1, modulus))):
            steps = np.full(size, base, np.uint64)
            steps[0] = 1
            setattr(self, name, np.cumprod(steps, dtype=np.uint64))  # wraps mod 2**64, as intended

    def spans(self, data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The hash of ``data[s:e]`` for every ``(s, e)`` of ``starts`` and ``ends`` (non-empty spans)."""
        values = np.frombuffer(data, np.uint8)
        size = len(values)
        self._grow(size + 1)
        running = np.empty(size + 1, np.uint64)
        running[0] = 0
        np.multiply(values, self._inverse_powers[:size], out=running[1:])
        np.cumsum(running[1:], out=running[1:])
        hashes = running[ends]
        hashes -= running[starts]
        hashes *= self._powers[ends - 1]
        return hashes


def token_spans(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Byte start and end of every token of words joined by single spaces (UTF-8 never puts 0x20 in a
    multi-byte character)."""
    spaces = np.flatnonzero(np.frombuffer(data, np.uint8) == 0x20)
    starts = np.empty(len(spaces) + 1, np.intp)
    starts[0] = 0
    np.add(spaces, 1, out=starts[1:])
    ends = np.empty(len(spaces) + 1, np.intp)
    ends[:-1] = spaces
    ends[-1] = len(data)
    return starts, ends


@dataclass
class NGramIndex:
    """Word n-grams of evaluation items (and short items whole) -> the set they came from.

    Keys are the words joined by single spaces. Every key opens with an *anchor*: its first ``shortest``
    words (no key is shorter). A document's words are joined the same way and the hashes of all its
    windows of that many words computed at once (:class:`SpanHasher`); a table of the anchors' hashes (a
    byte per slot, ``_SLOTS_PER_ANCHOR`` slots per anchor, so about 3% of windows pass by chance) lets
    through only windows that may open a key, a few per document, and those are then looked up exactly,
    by their bytes, with every key length that anchor opens. Tuples of words, hashed and probed window
    by window, cost about twice as much on the shared news (``benchmarks/bench_pipeline_overhead.py``).
    """

    n_grams: int
    shortest: int = 0  # the fewest words a key may have; 0: ``n_grams``
    grams: dict[str, str] = field(default_factory=dict)
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)  # set -> items, checkable_items
    #: anchor bytes -> the lengths of the keys it opens, as the bits of an int (bit n: a key of n words)
    _anchors: dict[bytes, int] = field(default_factory=dict, repr=False, compare=False)
    _table: np.ndarray | None = field(default=None, repr=False, compare=False)  # 2**bits slots
    _hasher: SpanHasher = field(default_factory=SpanHasher, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.shortest = self.shortest or self.n_grams

    def _put(self, tokens: Sequence[str], set_name: str) -> None:
        if len(tokens) < self.shortest:
            raise ValueError(f"a key of {len(tokens)} words in an index of keys of at least {self.shortest}")
        key = " ".join(tokens)
        if key not in self.grams:
            self.grams[key] = set_name
            opening = key if len(tokens) == self.shortest else " ".join(tokens[: self.shortest])
            anchor = opening.encode("utf-8")
            self._anchors[anchor] = self._anchors.get(anchor, 0) | 1 << len(tokens)
            self._table = None

    def _build_table(self) -> np.ndarray:
        """The slots of the anchors' hashes, set."""
        bits = max(16, int(len(self._anchors) * _SLOTS_PER_ANCHOR - 1).bit_length())
        table = np.zeros(1 << bits, bool)
        openings = list(self._anchors)
        for first in range(0, len(openings), _BLOCK):  # a block at a time: buffers stay small
            block = openings[first : first + _BLOCK]
            ends = np.cumsum(np.fromiter(map(len, block), np.intp, len(block)))
            starts = np.concatenate(([0], ends[:-1]))
            table[self._hasher.spans(b"".join(block), starts, ends) >> np.uint64(64 - bits)] = True
        self._table = table
        return table

    def add_tokens(self, set_name: str, tokens: Sequence[str], min_words: int, whole_if_short: bool = True) -> bool:
        """Index one text's n-grams (or the text whole when short); False when nothing was indexed."""
        if len(tokens) >= self.n_grams:
            for start in range(len(tokens) - self.n_grams + 1):
                self._put(tokens[start : start + self.n_grams], set_name)
            return True
        if whole_if_short and min_words and len(tokens) >= max(min_words, 2):
            self._put(tokens, set_name)
            return True
        return False

    def add_item(self, set_name: str, pieces: Sequence[str], min_words: int) -> bool:
        """One evaluation item: each field on its own, and the fields joined (n-grams across them).

        The joined fields' words are the fields' words in order: ``words`` works per character and per
        word, and the joining space ends a word as the end of the text does."""
        tokens = [words(piece) for piece in pieces]
        indexed = [self.add_tokens(set_name, t, min_words) for t in tokens]
        joined = self.add_tokens(set_name, [w for t in tokens for w in t], min_words, whole_if_short=False)
        return any(indexed) or joined

    def _maybe_anchors(self, data: bytes, starts: np.ndarray, ends: np.ndarray, table: np.ndarray) -> list[int]:
        """Word positions whose window of ``shortest`` words may be an anchor (its hash's slot is set), in
        order; ``_BLOCK`` windows at a time, so a long document never needs buffers of its whole length."""
        length, shift = self.shortest, np.uint64(65 - len(table).bit_length())  # the top ``bits`` bits
        windows = len(starts) - length + 1
        if windows <= _BLOCK:  # nearly every document: one block, no offsets
            slots = self._hasher.spans(data, starts[:windows], ends[length - 1 :])
            slots >>= shift
            return np.flatnonzero(table[slots.view(np.intp)]).tolist()
        found = []
        for first in range(0, windows, _BLOCK):
            last = min(first + _BLOCK, windows)
            origin = starts[first]
            block = data[origin : ends[last + length - 2]]
            slots = self._hasher.spans(
                block, starts[first:last] - origin, ends[first + length - 1 : last + length - 1] - origin
            )
            slots >>= shift
            found += (np.flatnonzero(table[slots.view(np.intp)]) + first).tolist()
        return found

    def find(self, text: str) -> tuple[str, str] | None:
        """(set name, matched words) of the first indexed key found in ``text`` (the shortest key where
        several open at the same word), or None."""
        tokens = words(text)
        return self.find_words(tokens)

    def find_words(self, tokens: Sequence[str]) -> tuple[str, str] | None:
        """:meth:`find` on a text's :func:`words`."""
        if len(tokens) < self.shortest or not self._anchors:
            return None
        table = self._table if self._table is not None else self._build_table()
        data = " ".join(tokens).encode("utf-8")
        starts, ends = token_spans(data)
        for position in self._maybe_anchors(data, starts, ends, table):
            lengths = self._anchors.get(data[starts[position] : ends[position + self.shortest - 1]], 0)
            size = self.shortest
            lengths >>= size
            while lengths and position + size <= len(tokens):
                if lengths & 1:  # a key of ``size`` words opens with this anchor: is it these words?
                    key = data[starts[position] : ends[position + size - 1]].decode("utf-8")
                    hit = self.grams.get(key)
                    if hit is not None:
                        return hit, key
                lengths >>= 1
                size += 1
        return None


def build_index(config: DecontaminationConfig) -> NGramIndex:
    """The index of every configured set (seconds for the 19,500 shared QA items)."""
    shortest = min(config.n_grams, max(config.min_words, 2)) if config.min_words else config.n_grams
    index = NGramIndex(config.n_grams, shortest)
    for spec in config.sets:
        items, name = item_pieces(spec), spec.set_name
        checkable = sum(index.add_item(name, pieces, config.min_words) for pieces in items)
        index.coverage[name] = {"items": len(items), "checkable_items": checkable}
    return index


class NGramDecontamination(PerTaskStatsFilter):
    """Excludes documents (title or text) sharing an n-gram with an evaluation item; reason = the set's name.

    The index is built lazily inside ``run`` so the step pickles small to any executor.
    """

    name = "🦠 Decontaminate (n-grams)"
    type = "🦠 - DECONT"

    def __init__(self, config: DecontaminationConfig, exclusion_writer: ExclusionWriter | None = None) -> None:
        super().__init__(exclusion_writer=exclusion_writer)
        self.config = config
        self._index: NGramIndex | None = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self._index is None:
            self._index = build_index(self.config)
        title = doc.metadata.get("title")
        # the title's words then the text's are the words of both joined by a newline (``add_item``),
        # and the text's own words are what the MinHash digest step after this one splits again
        hit = self._index.find_words([*words(str(title)), *words(doc.text)] if title else words(doc.text))
        if hit is None:
            return True
        set_name, matched = hit
        doc.metadata[SET_KEY] = set_name
        doc.metadata[MATCH_KEY] = matched
        return False, set_name


def decontamination_steps(config: DecontaminationConfig | None, exclusion_folder: str) -> list[PipelineStep]:
    """The stage-1 step for ``config`` (none when there is no set to decontaminate against)."""
    if config is None or not config.sets:
        return []
    writer = ExclusionWriter(str(Path(exclusion_folder) / DECONTAMINATION_STAGE), stage=DECONTAMINATION_STAGE)
    return [NGramDecontamination(config, exclusion_writer=writer)]
