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


def words(text: str) -> list[str]:
    """datatrove's simplified text (``simplify_text`` with its default ``TextNormConfig``), split on whitespace.

    The same words, several times faster on news text, as this runs on every training document:
    datatrove's diacritics step is a Python generator over every character (NFD, then drop category
    ``Mn``), here one regex, skipped for ASCII text (NFD changes no ASCII character); its whitespace
    step (``\\s+`` to one space) cannot change a whitespace split, so it is left out; ASCII text gets
    the punctuation table and the number pattern in their ASCII forms. A test holds the words equal to
    datatrove's on every shared news text.
    """
    text = text.lower()
    if text.isascii():
        text = _ASCII_NUMBERS.sub("0", text)
        return text.encode("ascii").translate(_ASCII_PUNCTUATION).decode("ascii").split()
    text = _PUNCTUATION.sub(" ", NUMBERS_PATTERN.sub("0", text))
    return _COMBINING_MARKS.sub("", unicodedata.normalize("NFD", text)).split()


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from enumerate(pq.read_table(path).to_pylist())
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
    for number, row in _rows(path):
        missing = [f for f in spec.fields if f not in row]
        if missing:
            raise ValueError(f"{path} row {number}: missing column(s) {missing} named in decontamination fields")
        items.append([t for t in (_text(row[f]) for f in spec.fields) if t.strip()])
    return items


def _windows(tokens: Sequence[str], length: int) -> Iterator[tuple[str, ...]]:
    """Every run of ``length`` consecutive tokens as a tuple, built in C by ``zip``."""
    return zip(*(tokens[offset:] for offset in range(length)), strict=False)


@dataclass
class NGramIndex:
    """Word n-grams of evaluation items (and short items whole) -> the set they came from.

    Keys are word tuples. ``starts`` maps each key's first two words to the key lengths that begin
    with them, so a document position is looked up once and only the few plausible windows are built
    (measured on the fundus articles: ~15x faster than trying every window length at every position).
    Before that scan, the document's windows of the shortest key length are looked up among every key's
    opening words (the anchors, a set of tuples): ``zip`` builds the windows and ``set.isdisjoint`` hashes
    and probes them without a Python-level loop, which rules out almost every document.
    """

    n_grams: int
    grams: dict[tuple[str, ...], str] = field(default_factory=dict)
    starts: dict[tuple[str, ...], set[int]] = field(default_factory=dict)
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)  # set -> items, checkable_items
    _anchors: frozenset[tuple[str, ...]] | None = field(default=None, repr=False, compare=False)
    _anchor_length: int = field(default=0, repr=False, compare=False)

    def _put(self, key: tuple[str, ...], set_name: str) -> None:
        self.grams.setdefault(key, set_name)
        self.starts.setdefault(key[:2], set()).add(len(key))
        self._anchors = None

    def _could_match(self, tokens: list[str]) -> bool:
        """False when no window of the document opens any key: the common case."""
        if self._anchors is None:
            self._anchor_length = min((len(key) for key in self.grams), default=2)
            self._anchors = frozenset(key[: self._anchor_length] for key in self.grams)
        if len(tokens) < self._anchor_length or not self._anchors:
            return False
        return not self._anchors.isdisjoint(_windows(tokens, self._anchor_length))

    def add_text(self, set_name: str, text: str, min_words: int, whole_if_short: bool = True) -> bool:
        """Index one text's n-grams (or the text whole when short); False when nothing was indexed."""
        tokens = tuple(words(text))
        if len(tokens) >= self.n_grams:
            for start in range(len(tokens) - self.n_grams + 1):
                self._put(tokens[start : start + self.n_grams], set_name)
            return True
        if whole_if_short and min_words and len(tokens) >= max(min_words, 2):
            self._put(tokens, set_name)
            return True
        return False

    def add_item(self, set_name: str, pieces: Sequence[str], min_words: int) -> bool:
        """One evaluation item: each field on its own, and the fields joined (n-grams across them)."""
        indexed = [self.add_text(set_name, piece, min_words) for piece in pieces]
        joined = self.add_text(set_name, " ".join(pieces), min_words, whole_if_short=False)
        return any(indexed) or joined

    def find(self, text: str) -> tuple[str, str] | None:
        """(set name, matched words) of the first indexed key found in ``text``, or None."""
        tokens = words(text)
        if not self._could_match(tokens):
            return None
        grams, starts = self.grams, self.starts
        for position in range(len(tokens) - 1):
            lengths = starts.get((tokens[position], tokens[position + 1]))
            if lengths is None:
                continue
            for length in lengths:
                key = tuple(tokens[position : position + length])
                hit = grams.get(key)
                if hit is not None:
                    return hit, " ".join(key)
        return None


def build_index(config: DecontaminationConfig) -> NGramIndex:
    """The index of every configured set (seconds for the 19,500 shared QA items)."""
    index = NGramIndex(config.n_grams)
    for spec in config.sets:
        items = item_pieces(spec)
        checkable = sum(index.add_item(spec.set_name, pieces, config.min_words) for pieces in items)
        index.coverage[spec.set_name] = {"items": len(items), "checkable_items": checkable}
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
        hit = self._index.find(f"{title}\n{doc.text}" if title else doc.text)
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
