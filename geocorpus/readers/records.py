"""Readers for record files: JSONL (plain, .gz, .zst), CSV/TSV and Parquet.

Each input record becomes exactly one Document or one read-error Document; a failure that ends a
file early (truncated gzip, corrupt Parquet) yields what was read plus one read-error Document.
"""

from __future__ import annotations

import csv
import sys
from collections import deque
from collections.abc import Iterator
from typing import Any

import orjson
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
    CORRUPT_PARQUET,
    INVALID_JSON,
    INVALID_UTF8,
    LINE_TOO_LONG,
    MALFORMED_ROW,
    NOT_AN_OBJECT,
    UNREADABLE_FILE,
)


class RecordJsonlReader(GeoDiskReader):
    """One JSON object per line; ``source_row`` is the 0-based line number (blank lines are not records)."""

    name = "🐿 geocorpus JSONL"

    def read_file(self, filepath: str) -> DocumentsPipeline:
        next_row = 0  # lines seen so far: where a file-level failure is reported
        try:
            with self.data_folder.open(filepath, "rb") as raw:
                lines = iter_lines(iter_decompressed(raw, compression_of(filepath)), self.max_line_bytes)
                for line_no, line in enumerate(lines):
                    next_row = line_no + 1
                    if isinstance(line, OversizedLine):
                        yield self._oversized(line, filepath, line_no)
                        continue
                    if not line.strip():
                        continue
                    with self.track_time():
                        document = self._line_document(line, filepath, line_no)
                    yield document
        except CompressedFileError as err:
            yield self.error(
                err.code, f"{err}; {next_row} complete lines were read", filepath, next_row, raw=err.partial_line
            )
        except OSError as err:
            yield self.error(UNREADABLE_FILE, f"cannot read file after {next_row} lines: {err}", filepath, next_row)

    def _oversized(self, line: OversizedLine, filepath: str, line_no: int) -> Document:
        return self.error(
            LINE_TOO_LONG,
            f"line of {line.size:,} bytes is over the cap of {self.max_line_bytes:,} (input key max_line_bytes)",
            filepath,
            line_no,
            raw=line.head,
        )

    def _line_document(self, line: bytes, filepath: str, line_no: int) -> Document:
        try:
            decoded = line.decode("utf-8-sig" if line_no == 0 else "utf-8")  # a BOM may open the file
        except UnicodeDecodeError as err:
            return self.error(INVALID_UTF8, f"invalid UTF-8 at byte {err.start}", filepath, line_no, raw=line)
        try:
            record = orjson.loads(decoded)
        except orjson.JSONDecodeError as err:
            return self.error(INVALID_JSON, f"invalid JSON: {err}", filepath, line_no, raw=decoded)
        if not isinstance(record, dict):
            return self.error(
                NOT_AN_OBJECT, f"JSON {type(record).__name__} instead of an object", filepath, line_no, raw=decoded
            )
        return self.get_document_from_dict(record, filepath, line_no)


class RecordCsvReader(GeoDiskReader):
    """CSV/TSV with a header row, read strictly; quoted values may span lines. ``source_row`` is the 0-based
    data row.

    Why strict: a stray quote opens a quoted field that swallows the following lines, so their rows would
    silently become part of one row's text. With ``strict=True`` the csv module fails where the quoting
    breaks; the first line of the failed row becomes a ``malformed_row`` exclusion and the lines after it
    are parsed again, so the rows the stray quote swallowed are read as themselves.
    """

    name = "🧾 geocorpus CSV"

    def __init__(self, data_folder: DataFolderLike, input_name: str, *, delimiter: str = ",", **kwargs: Any) -> None:
        super().__init__(data_folder, input_name, **kwargs)
        self.delimiter = delimiter

    def read_file(self, filepath: str) -> DocumentsPipeline:
        # articles are long: the default 128 KiB field limit would reject real rows; the line cap bounds it
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1, self.max_line_bytes))
        row = 0
        try:
            with self.data_folder.open(filepath, "rb") as raw:
                chunks = iter_decompressed(raw, compression_of(filepath))
                lines = _LineSource(iter_lines(chunks, self.max_line_bytes))
                reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
                header = None
                while True:
                    try:
                        values = next(reader)
                    except StopIteration:
                        break
                    except csv.Error as err:
                        first, *rest = lines.take_row() or [(0, "")]
                        lines.push_back(rest)
                        reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
                        yield self._bad_line(first, f"CSV error on line {first[0]}: {err}", filepath, row, lines)
                        row += 1
                        continue
                    span = lines.take_row()
                    numbers = [number for number, _ in span]
                    if header is None:
                        header = [values[0].lstrip("\ufeff"), *values[1:]] if values else values  # drop a BOM
                        if lines.flagged(numbers):
                            raise _HeaderError("header row is not valid UTF-8 or over the line cap")
                        continue
                    if not lines.flagged(numbers) and not any(v.strip() for v in values):
                        continue  # a blank line is not a record
                    with self.track_time():
                        yield self._row_document(header, values, numbers, lines, filepath, row)
                    row += 1
        except _HeaderError as err:
            yield self.error(INVALID_UTF8, str(err), filepath, None)
        except CompressedFileError as err:
            yield self.error(err.code, f"{err} after data row {row - 1}", filepath, row)
        except OSError as err:
            yield self.error(UNREADABLE_FILE, f"cannot read file: {err}", filepath, row or None)

    def _bad_line(self, line: tuple[int, str], reason: str, filepath: str, row: int, lines: _LineSource) -> Document:
        number, text = line
        if number in lines.oversized:
            return self._too_long(number, filepath, row, lines)
        return self.error(MALFORMED_ROW, reason, filepath, row, raw=text)

    def _too_long(self, number: int, filepath: str, row: int, lines: _LineSource) -> Document:
        size, head = lines.oversized[number]
        return self.error(
            LINE_TOO_LONG,
            f"line {number} of {size:,} bytes is over the cap of {self.max_line_bytes:,} (input key max_line_bytes)",
            filepath,
            row,
            raw=head,
        )

    def _row_document(
        self, header: list[str], values: list[str], numbers: list[int], lines: _LineSource, filepath: str, row: int
    ) -> Document:
        raw = self.delimiter.join(values)
        where = f"lines {numbers[0]}-{numbers[-1]}" if numbers else "end of file"
        too_long = [n for n in numbers if n in lines.oversized]
        if too_long:
            return self._too_long(too_long[0], filepath, row, lines)
        if lines.invalid_utf8.intersection(numbers):
            return self.error(INVALID_UTF8, f"invalid UTF-8 on {where}", filepath, row, raw=raw)
        if len(values) != len(header):
            return self.error(
                MALFORMED_ROW,
                f"{len(values)} fields where the header has {len(header)} ({where})",
                filepath,
                row,
                raw=raw,
            )
        return self.get_document_from_dict(dict(zip(header, values)), filepath, row)


class _HeaderError(Exception):
    pass


class _LineSource:
    """Decoded lines for ``csv.reader``, numbered (1-based), with the lines of the row being parsed kept so
    that a failed row's lines can be pushed back and parsed again.

    A line with invalid UTF-8 is decoded with replacement and its number remembered; a line over the cap
    comes as a placeholder and its size and first bytes are remembered.
    """

    def __init__(self, lines: Iterator[bytes | OversizedLine]) -> None:
        self._lines = lines
        self._number = 0
        self._pushed: deque[tuple[int, str]] = deque()
        self._row: list[tuple[int, str]] = []
        self.invalid_utf8: set[int] = set()
        self.oversized: dict[int, tuple[int, bytes]] = {}

    def __iter__(self) -> _LineSource:
        return self

    def __next__(self) -> str:
        if self._pushed:
            item = self._pushed.popleft()
        else:
            item = (self._number + 1, self._decode(next(self._lines), self._number + 1))
            self._number += 1
        self._row.append(item)
        return item[1]

    def _decode(self, line: bytes | OversizedLine, number: int) -> str:
        if isinstance(line, OversizedLine):
            self.oversized[number] = (line.size, line.head)
            return "<line over the cap>\n"
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            self.invalid_utf8.add(number)
            return line.decode("utf-8", errors="replace")

    def take_row(self) -> list[tuple[int, str]]:
        """The lines consumed since the last call: those of the row just parsed (or just failed)."""
        row, self._row = self._row, []
        return row

    def push_back(self, lines: list[tuple[int, str]]) -> None:
        """Lines to read again, before any new one."""
        self._pushed.extendleft(reversed(lines))

    def flagged(self, numbers: list[int]) -> bool:
        return any(n in self.invalid_utf8 or n in self.oversized for n in numbers)


class RecordParquetReader(GeoDiskReader):
    """Parquet streamed batch by batch; ``source_row`` is the 0-based row in the file."""

    name = "📦 geocorpus Parquet"

    def __init__(self, data_folder: DataFolderLike, input_name: str, *, batch_size: int = 1024, **kwargs: Any) -> None:
        super().__init__(data_folder, input_name, **kwargs)
        self.batch_size = batch_size

    def read_file(self, filepath: str) -> DocumentsPipeline:
        import pyarrow as pa
        import pyarrow.parquet as pq

        row = 0
        try:
            with self.data_folder.open(filepath, "rb") as raw:
                parquet = pq.ParquetFile(raw)
                # row group by row group, so a damaged group costs only itself and what follows
                for group in range(parquet.num_row_groups):
                    for batch in parquet.iter_batches(batch_size=self.batch_size, row_groups=[group]):
                        for record in batch.to_pylist():
                            with self.track_time():
                                document = self.get_document_from_dict(record, filepath, row)
                            yield document
                            row += 1
        except (FileNotFoundError, PermissionError, IsADirectoryError) as err:
            yield self.error(UNREADABLE_FILE, f"cannot read file: {err}", filepath, row)
        except (pa.ArrowException, OSError, ValueError) as err:  # pyarrow reports corrupt pages as OSError
            yield self.error(CORRUPT_PARQUET, f"corrupt Parquet after {row} rows: {err}", filepath, row)
