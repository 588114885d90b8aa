"""Reader for the NOW corpus (News on the Web) in its distributed layout.

``<root>/text/<yy>-<mm>-<cc>.txt`` hold entries ``@@<textID> <text>`` (an entry runs until the next
``@@``); ``<root>/sources/<year>-sources.txt`` hold tab-separated rows ``textID, #words, date,
country, website, URL, title``. Sources are loaded lazily per year and only the last few years are
kept, since files are sharded in name order and a full NOW year of sources is large.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike

from geocorpus.readers.base import GeoDiskReader
from geocorpus.readers.compressed import (
    CompressedFileError,
    OversizedLine,
    compression_of,
    iter_decompressed,
    iter_lines,
)
from geocorpus.readers.errors import (
    INVALID_UTF8,
    MALFORMED_ROW,
    MISSING_SOURCE_ROW,
    MISSING_TEXT,
    RECORD_TOO_LARGE,
    UNREADABLE_FILE,
)

NOW_GAP_POLICIES = ("drop", "marker", "keep")
#: What a NOW gap becomes under ``now_gaps: marker``.
GAP_MARKER = "[…]"
#: NOW blanks out runs of words as "@ @ @ @ @ @ @ @ @ @" (ten by design; three or more is a gap here).
_GAP = re.compile(r"@(?:[ \t]+@){2,}")
_PARAGRAPH_MARK = re.compile(r"\s*<[ph]>\s*", re.IGNORECASE)
_ENTRY_START = re.compile(rb"^@@(\d+)[ \t]?")
_TEXT_FILE_NAME = re.compile(r"(?:^|/)(\d{2}|\d{4})-(\d{2})-([A-Za-z]+)\.txt(?:\.gz|\.zst)?$")
_SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class NowSource:
    """One row of a NOW sources file."""

    text_id: str
    words: str
    date: str
    country: str
    website: str
    url: str
    title: str


def clean_now_text(text: str, gaps: str) -> str:
    """Turn ``<p>``/``<h>`` marks into paragraph breaks and handle gaps per policy (drop|marker|keep)."""
    if gaps == "drop":
        text = _GAP.sub(" ", text)
    elif gaps == "marker":
        text = _GAP.sub(GAP_MARKER, text)
    elif gaps != "keep":
        raise ValueError(f"now_gaps must be one of {NOW_GAP_POLICIES}, not {gaps!r}")
    paragraphs = (_SPACES.sub(" ", part).strip() for part in _PARAGRAPH_MARK.split(text))
    return "\n\n".join(p for p in paragraphs if p)


def parse_sources_line(line: str) -> NowSource | None:
    """A sources row, or None for header, blank or rule lines (their first field is not a number)."""
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) < 6 or not fields[0].strip().isdigit():
        return None
    fields = [f.strip() for f in fields] + [""] * (7 - len(fields))
    title = "\t".join(fields[6:]).strip()
    return NowSource(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], title)


class NowReader(GeoDiskReader):
    """NOW entries joined to their sources rows; ``source_row`` is the 0-based entry index in the text file."""

    name = "📰 NOW corpus"

    def __init__(
        self,
        data_folder: DataFolderLike,
        input_name: str,
        *,
        now_gaps: str = "drop",
        years_cached: int = 2,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("glob_pattern", "text/*.txt*")
        super().__init__(data_folder, input_name, **kwargs)
        if now_gaps not in NOW_GAP_POLICIES:
            raise ValueError(f"input {input_name!r}: now_gaps must be one of {NOW_GAP_POLICIES}, not {now_gaps!r}")
        self.now_gaps = now_gaps
        self.years_cached = years_cached
        self._sources: OrderedDict[int, dict[str, NowSource] | None] = OrderedDict()

    # ---- sources ----------------------------------------------------------------------------------
    def sources_for_year(self, year: int) -> dict[str, NowSource] | None:
        """textID -> source row for one year (None when the year has no sources file); LRU-cached."""
        if year in self._sources:
            self._sources.move_to_end(year)
            return self._sources[year]
        table = self._load_sources(year)
        self._sources[year] = table
        while len(self._sources) > self.years_cached:
            self._sources.popitem(last=False)
        return table

    def _load_sources(self, year: int) -> dict[str, NowSource] | None:
        candidates = [f"sources/{year}-sources.txt", f"sources/{year}-sources.txt.gz"]
        path = next((c for c in candidates if self.data_folder.exists(c)), None)
        if path is None:
            return None
        table: dict[str, NowSource] = {}
        with self.data_folder.open(path, "rb") as raw:
            for line in iter_lines(iter_decompressed(raw, compression_of(path)), self.max_line_bytes):
                if isinstance(line, OversizedLine):
                    continue  # not a sources row; its entry is reported as missing_source_row
                source = parse_sources_line(line.decode("utf-8", errors="replace"))
                if source is not None:
                    table[source.text_id] = source
        self.stat_update("sources_rows_loaded", value=len(table))
        return table

    # ---- text files -------------------------------------------------------------------------------
    def read_file(self, filepath: str) -> DocumentsPipeline:
        match = _TEXT_FILE_NAME.search(filepath)
        if not match:
            yield self.error(UNREADABLE_FILE, "file name is not NOW's <yy>-<mm>-<cc>.txt", filepath, None)
            return
        year = int(match.group(1))
        year = year + 2000 if year < 100 else year
        entries_seen = 0
        try:
            with self.data_folder.open(filepath, "rb") as raw:
                for entry_index, (text_id, body, size) in enumerate(self._entries(raw, filepath)):
                    entries_seen = entry_index + 1
                    if size > self.max_line_bytes:
                        yield self.error(
                            RECORD_TOO_LARGE,
                            f"textID {text_id}: entry of {size:,} bytes is over the cap of {self.max_line_bytes:,} "
                            "(input key max_line_bytes)",
                            filepath,
                            entry_index,
                            raw=body,
                        )
                        continue
                    with self.track_time():
                        document = self._entry_document(text_id, body, year, filepath, entry_index)
                    yield document
        except CompressedFileError as err:
            yield self.error(err.code, f"{err} after {entries_seen} entries", filepath, entries_seen)
        except OSError as err:
            yield self.error(UNREADABLE_FILE, f"cannot read file: {err}", filepath, None)

    def _entries(self, raw: BinaryIO, filepath: str) -> Iterator[tuple[str | None, bytes, int]]:
        """(textID or None, body bytes, body size) per entry; text before the first ``@@`` comes as textID None.

        An entry over ``max_line_bytes`` keeps only its first bytes (its size says it is over the cap)."""
        text_id: str | None = None
        body: list[bytes] = []
        size = 0
        for line in iter_lines(iter_decompressed(raw, compression_of(filepath)), self.max_line_bytes):
            head = line.head if isinstance(line, OversizedLine) else line
            start = _ENTRY_START.match(head)
            if start:
                if text_id is not None or any(part.strip() for part in body):
                    yield text_id, b"".join(body), size
                text_id, body, size = start.group(1).decode(), [head[start.end() :]], 0
            elif size <= self.max_line_bytes:
                body.append(head)
            size += line.size if isinstance(line, OversizedLine) else len(line)
            if size > self.max_line_bytes and sum(map(len, body)) > 4096:
                body = [b"".join(body)[:4096]]  # over the cap: keep a preview, not the entry
        if text_id is not None or any(part.strip() for part in body):
            yield text_id, b"".join(body), size

    def _entry_document(self, text_id: str | None, body: bytes, year: int, filepath: str, index: int) -> Document:
        if text_id is None:
            return self.error(MALFORMED_ROW, "text before the first @@<textID> entry", filepath, index, raw=body)
        try:
            decoded = body.decode("utf-8")
        except UnicodeDecodeError as err:
            return self.error(
                INVALID_UTF8, f"textID {text_id}: invalid UTF-8 at byte {err.start}", filepath, index, raw=body
            )
        sources = self.sources_for_year(year)
        source = sources.get(text_id) if sources else None
        if source is None:
            where = f"sources/{year}-sources.txt" + ("" if sources is not None else " (file absent)")
            return self.error(
                MISSING_SOURCE_ROW,
                f"textID {text_id} has no row in {where}",
                filepath,
                index,
                raw=decoded,
                now_text_id=text_id,
            )
        text = clean_now_text(decoded, self.now_gaps)
        if not text:
            return self.error(MISSING_TEXT, f"textID {text_id}: empty text", filepath, index, raw=decoded)
        metadata = {"now_text_id": text_id, "now_words": source.words, "website": source.website}
        metadata.update(
            self.convention_metadata(
                filepath,
                index,
                url=source.url or None,
                title=source.title or None,
                date=source.date or None,
                country=source.country or None,
            )
        )
        return Document(text=text, id=self.doc_id(filepath, index), metadata=metadata)
