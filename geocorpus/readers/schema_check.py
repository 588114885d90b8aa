"""Check each input's columns against its ``fields:`` mapping before any work is done.

Why: a URL column named ``link`` used to validate "OK" and then curate to 0 documents (every record
excluded as ``missing_url``), and a typo in a mapping (``country: fundus_country``) silently changed the
tags. Reading a Parquet footer, a CSV header or the first JSON records of each file costs milliseconds,
so ``validate`` and ``curate`` do it first and name the file, the field, the columns present and the
mapping that would fix it.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Iterable

from datatrove.io import DataFolder

from geocorpus.readers.base import CANONICAL_FIELDS
from geocorpus.readers.compressed import compression_of, iter_decompressed, iter_lines
from geocorpus.readers.spec import InputSpec, build_reader_steps

#: Fields every record needs; the others (title, date, country) may be absent unless mapped explicitly.
REQUIRED_FIELDS = ("url", "text")
#: How many files of an input and JSON records of a file are looked at.
MAX_FILES = 3
MAX_JSON_RECORDS = 200
#: Column-name words that suggest a field when no name is close in spelling (``link`` for ``url``).
HINTS = {
    "url": ("url", "link", "href", "uri"),
    "text": ("text", "body", "content", "article"),
    "title": ("title", "headline"),
    "date": ("date", "time", "published"),
    "country": ("country",),
}
RECORD_FORMATS = ("jsonl", "parquet", "csv", "tsv")


class InputSchemaError(ValueError):
    """An input's file lacks a column its ``fields:`` mapping (or the default mapping) needs."""


def check_inputs(inputs: Iterable[InputSpec]) -> list[str]:
    """Check every record input; return one line per checked file; raise InputSchemaError on a miss."""
    lines = []
    for spec in inputs:
        if spec.format not in RECORD_FORMATS:
            continue  # WARC and NOW inputs have a fixed layout
        reader = build_reader_steps(spec)[0]
        files = reader.files_shard(0, 1)  # relative to reader.data_folder, every file of the input
        for name in files[:MAX_FILES]:
            columns = _columns(reader.data_folder, name, spec.format)
            if columns is None:
                continue  # an empty file: nothing to map (the readers count it as 0 documents)
            _check(spec, f"{reader.data_folder.path.rstrip('/')}/{name}", columns)
            lines.append(f"input {spec.name!r}: {name}: columns {', '.join(columns[:12])}")
    return lines


def _check(spec: InputSpec, path: str, columns: list[str]) -> None:
    for field in CANONICAL_FIELDS:
        explicit = field in spec.fields
        column = spec.fields.get(field, field)
        if column in columns or not (explicit or field in REQUIRED_FIELDS):
            continue
        if field == "country" and spec.country is not None and not explicit:
            continue
        how = f"is mapped to column {column!r}" if explicit else f"needs a column {column!r} (the default)"
        guess = suggest(field, column, columns)
        fix = (
            f"; did you mean `fields: {{{field}: {guess}}}`?"
            if guess
            else f"; map it with `fields: {{{field}: COLUMN}}`"
        )
        raise InputSchemaError(
            f"input {spec.name!r}: {path}: field {field!r} {how}, which is not in the file; "
            f"columns present: {columns}{fix}"
        )


def suggest(field: str, column: str, columns: list[str]) -> str | None:
    """The present column closest to ``column`` in spelling, else one whose name holds a hint word."""
    close = difflib.get_close_matches(column, columns, n=1, cutoff=0.6)
    if close:
        return close[0]
    for hint in HINTS.get(field, ()):
        for present in columns:
            if hint in present.lower():
                return present
    return None


def _columns(folder: DataFolder, name: str, fmt: str) -> list[str] | None:
    """The column names of one file, or None when it has no records."""
    with folder.open(name, "rb") as raw:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(raw).names)
        lines = iter_lines(iter_decompressed(raw, compression_of(name)))
        if fmt in ("csv", "tsv"):
            for line in lines:
                if isinstance(line, bytes) and line.strip():
                    row = next(
                        csv.reader(
                            io.StringIO(line.decode("utf-8", "replace")), delimiter="\t" if fmt == "tsv" else ","
                        )
                    )
                    return [row[0].lstrip("\ufeff"), *row[1:]] if row else []
            return None
        seen: dict[str, None] = {}
        records = 0
        for line in lines:
            if not isinstance(line, bytes) or not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a bad line is the reader's to report, with its line number
            if isinstance(record, dict):
                seen.update(dict.fromkeys(record))
                records += 1
                if records >= MAX_JSON_RECORDS:
                    break
        return list(seen) if records else None
