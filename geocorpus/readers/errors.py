"""Read-error documents: how a reader reports a record it could not turn into a document.

Why documents and not exceptions or log lines: nothing may be lost. A bad record travels down the
pipeline as an empty Document carrying ``read_error`` (a machine-readable code) and
``read_error_detail`` (a message naming file and row), and ``ExcludeReadErrors`` drops it into an
exclusion file, so ``input records = kept + excluded`` reconciles.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import Any

from datatrove.data import Document
from datatrove.utils.logging import logger

from geocorpus.base_filter import PerTaskStatsFilter

READ_ERROR_KEY = "read_error"
READ_ERROR_DETAIL_KEY = "read_error_detail"
#: How much of a bad raw record is kept for inspection.
RAW_PREVIEW_CHARS = 2000
_PREVIEW_REPR = reprlib.Repr()
_PREVIEW_REPR.maxlevel = 8
_PREVIEW_REPR.maxstring = _PREVIEW_REPR.maxother = RAW_PREVIEW_CHARS

# Reason codes (documented in docs/inputs.md).
INVALID_JSON = "invalid_json"
INVALID_UTF8 = "invalid_utf8"
NOT_AN_OBJECT = "not_an_object"
MISSING_TEXT = "missing_text"
INVALID_FIELD_TYPE = "invalid_field_type"
MALFORMED_ROW = "malformed_row"
TRUNCATED_GZIP = "truncated_gzip"
CORRUPT_COMPRESSED_FILE = "corrupt_compressed_file"
CORRUPT_PARQUET = "corrupt_parquet"
UNREADABLE_FILE = "unreadable_file"
WARC_FORMAT_ERROR = "warc_format_error"
UNDECODABLE_HTML = "undecodable_html"
MISSING_SOURCE_ROW = "missing_source_row"
EXTRACTION_FAILED = "extraction_failed"
EXTRACTION_EMPTY = "extraction_empty"
COMPRESSED_CONTENT = "compressed_content"
LINE_TOO_LONG = "line_too_long"
RECORD_TOO_LARGE = "record_too_large"
NESTED_TOO_DEEP = "nested_too_deep"
INVALID_UNICODE = "invalid_unicode"
TRUNCATED_WARC = "truncated_warc"

READ_ERROR_CODES = frozenset(
    {
        INVALID_JSON,
        INVALID_UTF8,
        NOT_AN_OBJECT,
        MISSING_TEXT,
        INVALID_FIELD_TYPE,
        MALFORMED_ROW,
        TRUNCATED_GZIP,
        CORRUPT_COMPRESSED_FILE,
        CORRUPT_PARQUET,
        UNREADABLE_FILE,
        WARC_FORMAT_ERROR,
        UNDECODABLE_HTML,
        MISSING_SOURCE_ROW,
        COMPRESSED_CONTENT,
        LINE_TOO_LONG,
        RECORD_TOO_LARGE,
        NESTED_TOO_DEEP,
        INVALID_UNICODE,
        TRUNCATED_WARC,
    }
)
#: Records nested deeper than this (JSON objects in lists in objects ...) are read errors: deeper ones
#: exhaust Python's recursion limit in any code that walks them (json.dumps, repr, pyarrow).
MAX_NESTING = 64


def raw_preview(raw: object) -> str | None:
    """The first RAW_PREVIEW_CHARS characters of a raw record; bytes are decoded with replacement, other
    objects shown with a depth- and size-bounded repr (a record nested 1,000 deep must not recurse)."""
    if raw is None:
        return None
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw[: RAW_PREVIEW_CHARS * 4]).decode("utf-8", errors="replace")
    elif not isinstance(raw, str):
        raw = _PREVIEW_REPR.repr(raw)
    return raw[:RAW_PREVIEW_CHARS]


def nesting_depth_exceeds(value: object, limit: int = MAX_NESTING) -> bool:
    """Whether lists/dicts in ``value`` nest deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def read_error_document(
    *,
    doc_id: str,
    code: str,
    detail: str,
    source_file: str,
    source_row: int | None,
    input_name: str | None = None,
    raw: object = None,
    extra: dict[str, Any] | None = None,
) -> Document:
    """An empty Document standing for a record that could not be read; logs a warning naming it."""
    logger.warning(f"read error [{code}] {detail}")
    metadata = dict(extra or {})
    metadata.update(
        {
            READ_ERROR_KEY: code,
            READ_ERROR_DETAIL_KEY: detail,
            "source_file": source_file,
            "source_row": source_row,
            "raw": raw_preview(raw),
        }
    )
    if input_name is not None:
        metadata["input_name"] = input_name
    return Document(text="", id=doc_id, metadata=metadata)


def is_read_error(document: Document) -> bool:
    return bool(document.metadata.get(READ_ERROR_KEY))


class ExcludeReadErrors(PerTaskStatsFilter):
    """Drops read-error documents with their code as the exclusion reason (stage e.g. ``read``)."""

    name = "🧯 exclude read errors"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        code = doc.metadata.get(READ_ERROR_KEY)
        if code:
            return False, str(code)
        return True
