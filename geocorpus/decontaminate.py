"""Decontamination: drop training documents that share an n-gram with an evaluation item.

A model scored on the paper's 800 MCQs or on LocalNewsQA must not have read those questions (and
their answers) during training. This stage indexes every evaluation item's word n-grams (13 by
default, as GPT-3 and datatrove's ``NGramsDecontConfig`` do) and excludes any document that contains
one, with stage ``decontamination`` and the evaluation set's name as reason.

Why not datatrove's ``NGramsDecontIndexer``/``NGramsDecontFilter`` as they are: the indexer imports
lighteval and loads its tasks from the Hub (not offline), its English word tokenizer needs spaCy,
and the filter gives every set one reason. The text normalisation (datatrove's ``simplify_text``:
lower case, no punctuation, digits folded, diacritics removed; ``geocorpus.simplified_words``) and the
n-gram windows (``datatrove.utils.text.ngrams``) are datatrove's; words are whitespace-split, as in
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from geocorpus.base_filter import PerTaskStatsFilter
from geocorpus.simplified_words import joined_words, title_and_text_words
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


#: Anchors hashed per kernel call when the table is built (buffers stay small).
_BLOCK = 1 << 14
#: Slots of the anchor table per anchor (a power of two at least this large): about 1/32 of the windows
#: that open no key pass the table by chance and are looked up exactly, a dictionary lookup each.
_SLOTS_PER_ANCHOR = 32


@dataclass
class NGramIndex:
    """Word n-grams of evaluation items (and short items whole) -> the set they came from.

    Keys are the words joined by single spaces. Every key opens with an *anchor*: its first ``shortest``
    words (no key is shorter). A document's words come as one buffer joined the same way
    (``geocorpus.simplified_words.joined_words``). Compiled passes hash each word once (``word_kernels.word_hashes``),
    roll the hash of every window of that many words from its words' hashes, and check it against a table
    of the anchors' hashes (``word_kernels.window_candidates``; a byte
    per slot, ``_SLOTS_PER_ANCHOR`` slots per anchor, so about 3% of windows pass by chance): only windows
    that may open a key, a few per document, are then looked up exactly, by their bytes, with every key
    length that anchor opens.
    """

    n_grams: int
    shortest: int = 0  # the fewest words a key may have; 0: ``n_grams``
    grams: dict[bytes, str] = field(default_factory=dict)  # key (UTF-8 words joined by spaces) -> set
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)  # set -> items, checkable_items
    #: anchor bytes -> the lengths of the keys it opens, as the bits of an int (bit n: a key of n words)
    _anchors: dict[bytes, int] = field(default_factory=dict, repr=False, compare=False)
    _table: np.ndarray | None = field(default=None, repr=False, compare=False)  # 2**bits slots

    def __post_init__(self) -> None:
        self.shortest = self.shortest or self.n_grams

    def _put_windows(
        self, data: bytes, starts: list[int], ends: list[int], size: int, first: int, last: int, set_name: str
    ) -> None:
        """Index the keys of ``size`` words of ``data`` that begin at words ``first`` to ``last - 1``."""
        if size < self.shortest:
            raise ValueError(f"a key of {size} words in an index of keys of at least {self.shortest}")
        grams, anchors, bit = self.grams, self._anchors, 1 << size
        opening = self.shortest - 1
        for p in range(first, last):
            key = data[starts[p] : ends[p + size - 1]]
            if key not in grams:
                grams[key] = set_name
                anchor = key if size == self.shortest else data[starts[p] : ends[p + opening]]
                anchors[anchor] = anchors.get(anchor, 0) | bit
        self._table = None

    def _build_table(self) -> np.ndarray:
        """The slots of the anchors' hashes, set. Anchors all have ``shortest`` words, so in a block of them
        joined by spaces the anchor ``k`` is the window that starts at word ``k * shortest``."""
        from geocorpus.word_kernels import window_hashes, word_hashes

        bits = max(16, int(len(self._anchors) * _SLOTS_PER_ANCHOR - 1).bit_length())
        table = np.zeros(1 << bits, bool)
        openings = list(self._anchors)
        for first in range(0, len(openings), _BLOCK):  # a block at a time: buffers stay small
            data = np.frombuffer(b" ".join(openings[first : first + _BLOCK]), np.uint8)
            hashes = window_hashes(word_hashes(data)[2], self.shortest)[:: self.shortest]
            table[hashes >> np.uint64(64 - bits)] = True
        self._table = table
        return table

    def add_item(self, set_name: str, pieces: Sequence[str], min_words: int) -> bool:
        """One evaluation item: each field on its own, and the fields joined (n-grams across them).

        A field indexes its n-grams, or itself whole when it is shorter than ``n_grams`` and has at least
        ``min_words`` words (never when ``min_words`` is 0). The fields joined add the n-grams that cross
        from one field into the next (those inside a field are its own). The joined fields' words are the
        fields' words in order: simplification works per character and per word, and the joining space
        ends a word as the end of the text does. False when nothing could be indexed."""
        from geocorpus.word_kernels import word_hashes

        n = self.n_grams
        fields = [joined for joined in map(joined_words, pieces) if joined]
        if not fields:
            return False
        data = b" ".join(fields)
        bounds = word_hashes(np.frombuffer(data, np.uint8))
        starts, ends = bounds[0].tolist(), bounds[1].tolist()
        checkable = len(starts) >= n  # the fields joined have n-grams
        first = 0  # the first word of the field
        for joined in fields:
            count = joined.count(b" ") + 1
            if count >= n:
                self._put_windows(data, starts, ends, n, first, first + count - n + 1, set_name)
                checkable = True
            elif min_words and count >= max(min_words, 2):
                self._put_windows(data, starts, ends, count, first, first + 1, set_name)
                checkable = True
            after = first + count
            if after < len(starts):  # the n-grams that begin in this field or before and end after it
                self._put_windows(
                    data, starts, ends, n, max(after - n + 1, 0), min(after, len(starts) - n + 1), set_name
                )
            first = after
        return checkable

    def find(self, text: str) -> tuple[str, str] | None:
        """(set name, matched words) of the first indexed key found in ``text`` (the shortest key where
        several open at the same word), or None."""
        return self.find_joined(joined_words(text))

    def find_joined(self, data: bytes) -> tuple[str, str] | None:
        """:meth:`find` on a text's words joined by single spaces (``joined_words``)."""
        if not self._anchors or not data:
            return None
        from geocorpus.word_kernels import window_candidates, word_hashes

        table = self._table if self._table is not None else self._build_table()
        starts, ends, hashes = word_hashes(np.frombuffer(data, np.uint8))
        shift = 65 - len(table).bit_length()  # the top ``bits`` bits of a hash
        count = len(starts)
        for position in window_candidates(hashes, self.shortest, table, shift).tolist():
            lengths = self._anchors.get(data[starts[position] : ends[position + self.shortest - 1]], 0)
            size = self.shortest
            lengths >>= size
            while lengths and position + size <= count:
                if lengths & 1:  # a key of ``size`` words opens with this anchor: is it these words?
                    key = data[starts[position] : ends[position + size - 1]]
                    hit = self.grams.get(key)
                    if hit is not None:
                        return hit, key.decode("utf-8")
                lengths >>= 1
                size += 1
        return None


def build_index(config: DecontaminationConfig) -> NGramIndex:
    """The index of every configured set (about half a second for the 19,500 shared QA items)."""
    shortest = min(config.n_grams, max(config.min_words, 2)) if config.min_words else config.n_grams
    index = NGramIndex(config.n_grams, shortest)
    for spec in config.sets:
        items, name = item_pieces(spec), spec.set_name
        checkable = sum(index.add_item(name, pieces, config.min_words) for pieces in items)
        index.coverage[name] = {"items": len(items), "checkable_items": checkable}
    return index


#: The index last built in this process, by what it was built from: a worker process runs task after task
#: of the same stage (datatrove's local pool, a Ray worker, a Slurm array job's tasks), each of which
#: unpickles its own copy of the step, and would otherwise rebuild the same index for every task.
_built: tuple[tuple, NGramIndex] | None = None


def _index_key(config: DecontaminationConfig) -> tuple:
    """The config and each set file's size and modification time: a changed file is indexed again."""
    files = []
    for spec in config.sets:
        stat = Path(spec.path).stat()
        files.append((spec.path, stat.st_size, stat.st_mtime_ns))
    return repr(config), tuple(files)


def process_index(config: DecontaminationConfig) -> NGramIndex:
    """``build_index(config)``, built once per process while the config and its files stay the same."""
    global _built
    key = _index_key(config)
    if _built is None or _built[0] != key:
        _built = (key, build_index(config))
    return _built[1]


def forget_process_index() -> None:
    """Drop the index ``process_index`` keeps (a benchmark timing whole runs in one process builds it anew)."""
    global _built
    _built = None


class NGramDecontamination(PerTaskStatsFilter):
    """Excludes documents (title or text) sharing an n-gram with an evaluation item; reason = the set's name.

    The index is built lazily by the first document (``process_index``: once per worker process), so the
    step pickles small to any executor.
    """

    name = "🦠 Decontaminate (n-grams)"
    type = "🦠 - DECONT"

    def __init__(self, config: DecontaminationConfig, exclusion_writer: ExclusionWriter | None = None) -> None:
        super().__init__(exclusion_writer=exclusion_writer)
        self.config = config
        self._index: NGramIndex | None = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self._index is None:
            self._index = process_index(self.config)
        # the title's words then the text's are the words of both joined by a newline (``add_item``);
        # the text's own buffer is kept for the MinHash digest step after this one
        hit = self._index.find_joined(title_and_text_words(doc.metadata.get("title"), doc.text))
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
