"""Readers for record files: JSONL (plain, .gz, .zst), CSV/TSV and Parquet.

Each input record becomes exactly one Document or one read-error Document; a failure that ends a
file early (truncated gzip, corrupt Parquet) yields what was read plus one read-error Document.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from typing import Any

import orjson
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike

from geocorpus.readers.base import GeoDiskReader
from geocorpus.readers.compressed import CompressedFileError, compression_of, iter_decompressed, iter_lines
from geocorpus.readers.errors import (
    CORRUPT_PARQUET,
    INVALID_JSON,
    INVALID_UTF8,
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
                for line_no, line in enumerate(iter_lines(iter_decompressed(raw, compression_of(filepath)))):
                    next_row = line_no + 1
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
    """CSV/TSV with a header row; quoted values may span lines. ``source_row`` is the 0-based data row."""

    name = "🧾 geocorpus CSV"

    def __init__(self, data_folder: DataFolderLike, input_name: str, *, delimiter: str = ",", **kwargs: Any) -> None:
        super().__init__(data_folder, input_name, **kwargs)
        self.delimiter = delimiter

    def read_file(self, filepath: str) -> DocumentsPipeline:
        # articles are long: the default 128 KiB field limit would reject real rows
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        bad_lines: set[int] = set()
        row = 0
        try:
            with self.data_folder.open(filepath, "rb") as raw:
                lines = _decoded_lines(iter_lines(iter_decompressed(raw, compression_of(filepath))), bad_lines)
                reader = csv.reader(lines, delimiter=self.delimiter)
                header = None
                first_line = 1
                while True:
                    try:
                        values = next(reader)
                    except StopIteration:
                        break
                    except csv.Error as err:
                        yield self.error(MALFORMED_ROW, f"CSV error near line {reader.line_num}: {err}", filepath, row)
                        row += 1
                        first_line = reader.line_num + 1
                        continue
                    span = range(first_line, reader.line_num + 1)
                    first_line = reader.line_num + 1
                    if header is None:
                        header = [values[0].lstrip("\ufeff"), *values[1:]] if values else values  # drop a BOM
                        if bad_lines.intersection(span):
                            raise _HeaderError("header row is not valid UTF-8")
                        continue
                    if not any(v.strip() for v in values):
                        continue  # a blank line is not a record
                    with self.track_time():
                        yield self._row_document(header, values, span, bad_lines, filepath, row)
                    row += 1
        except _HeaderError as err:
            yield self.error(INVALID_UTF8, str(err), filepath, None)
        except CompressedFileError as err:
            yield self.error(err.code, f"{err} after data row {row - 1}", filepath, row)
        except OSError as err:
            yield self.error(UNREADABLE_FILE, f"cannot read file: {err}", filepath, row or None)

    def _row_document(
        self, header: list[str], values: list[str], span: range, bad_lines: set[int], filepath: str, row: int
    ) -> Document:
        raw = self.delimiter.join(values)
        lines = f"lines {span.start}-{span.stop - 1}"
        if bad_lines.intersection(span):
            return self.error(INVALID_UTF8, f"invalid UTF-8 on {lines}", filepath, row, raw=raw)
        if len(values) != len(header):
            return self.error(
                MALFORMED_ROW,
                f"{len(values)} fields where the header has {len(header)} ({lines})",
                filepath,
                row,
                raw=raw,
            )
        return self.get_document_from_dict(dict(zip(header, values)), filepath, row)


class _HeaderError(Exception):
    pass


def _decoded_lines(lines: Iterator[bytes], bad_lines: set[int]) -> Iterator[str]:
    """Decode line by line; a line with invalid UTF-8 is decoded with replacement and remembered (1-based)."""
    for number, line in enumerate(lines, start=1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines.add(number)
            yield line.decode("utf-8", errors="replace")


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
