"""The common reader base: file sharding, the document convention and read-error documents.

Every geocorpus reader turns one input record into either a Document following the convention in
docs/inputs.md (``url``, ``title``, ``date``, ``input_country``, ``source_file``, ``source_row``,
``input_name`` plus the record's other fields) or a read-error Document: it never skips silently.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFileLike, DataFolderLike, get_shard_from_paths_file
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.utils.logging import logger

from geocorpus.readers.errors import (
    INVALID_FIELD_TYPE,
    MAX_NESTING,
    MISSING_TEXT,
    NESTED_TOO_DEEP,
    READ_ERROR_DETAIL_KEY,
    READ_ERROR_KEY,
    RECORD_TOO_LARGE,
    nesting_depth_exceeds,
    read_error_document,
)
from geocorpus.schema import TAGGED_METADATA_COLUMNS
from geocorpus.writers import FILTER_REASON_KEY, INPUT_COUNTRY_KEY

#: Default caps on one record: its text (characters) and one physical line or raw record (bytes). A line
#: may hold a capped text escaped as JSON (``\\uXXXX``: 6 bytes a character), hence the larger line cap.
MAX_TEXT_CHARS = 10_000_000
MAX_LINE_BYTES = 64 << 20
#: The canonical fields a record can map from its own column names.
CANONICAL_FIELDS = ("url", "text", "title", "date", "country")
DEFAULT_FIELDS = {name: name for name in CANONICAL_FIELDS}
#: Metadata keys geocorpus itself sets; an input column with one of these names is kept as ``orig_<name>``.
RESERVED_KEYS = frozenset(
    set(TAGGED_METADATA_COLUMNS)
    | {"id", "text", "input_name", INPUT_COUNTRY_KEY, FILTER_REASON_KEY, READ_ERROR_KEY, READ_ERROR_DETAIL_KEY}
    | {"raw", "url_as_input", "needs_extraction"}
)


class GeoDiskReader(BaseDiskReader):
    """Base of geocorpus readers. ``single_file`` reads one file of ``data_folder`` (on rank 0 only)."""

    def __init__(
        self,
        data_folder: DataFolderLike,
        input_name: str,
        *,
        fields: dict[str, str] | None = None,
        country: str | None = None,
        url_prefix: str | None = None,
        single_file: str | None = None,
        glob_pattern: str | None = None,
        paths_file: DataFileLike | None = None,
        limit: int = -1,
        skip: int = 0,
        file_progress: bool = False,
        doc_progress: bool = False,
        max_text_chars: int = MAX_TEXT_CHARS,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        super().__init__(
            data_folder,
            paths_file=paths_file,
            limit=limit,
            skip=skip,
            file_progress=file_progress,
            doc_progress=doc_progress,
            glob_pattern=glob_pattern,
            add_file_path=False,
        )
        self.input_name = input_name
        self.fields = DEFAULT_FIELDS | dict(fields or {})
        self.country = country
        self.url_prefix = url_prefix
        self.single_file = single_file
        self.max_text_chars = max_text_chars
        self.max_line_bytes = max_line_bytes

    # ---- sharding -------------------------------------------------------------------------------
    def files_shard(self, rank: int, world_size: int) -> list[str]:
        """This rank's files, relative to ``data_folder``."""
        if self.single_file is not None:
            return [self.single_file] if rank == 0 else []
        if self.paths_file:
            return list(get_shard_from_paths_file(self.paths_file, rank, world_size))
        shard = self.data_folder.get_shard(rank, world_size, recursive=self.recursive, glob_pattern=self.glob_pattern)
        if shard is None:
            raise FileNotFoundError(
                f"input {self.input_name!r}: no files match {self.glob_pattern!r} under {self.data_folder.path}"
            )
        return shard

    def all_files(self) -> list[str]:
        """Every file this reader reads over all ranks, as full paths (what the manifest fingerprints)."""
        return [self.data_folder.resolve_paths(name) for name in self.files_shard(0, 1)]

    def run(self, data: DocumentsPipeline | None = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Pass upstream documents through, then read this rank's files (readers chain)."""
        if data:
            yield from data
        shard = self.files_shard(rank, world_size)
        if not shard:
            logger.info(f"input {self.input_name!r}: no files for rank {rank}")
        for document in self.read_files_shard(shard):
            if document.metadata.get(READ_ERROR_KEY):
                self.stat_update(f"read_error_{document.metadata[READ_ERROR_KEY]}")
            else:
                self.update_doc_stats(document)
            yield document

    # ---- documents --------------------------------------------------------------------------------
    def doc_id(self, source_file: str, source_row: int | str | None) -> str:
        """Stable and unique across inputs: ``<input>/<file>/<row>``."""
        return f"{self.input_name}/{source_file}/{source_row}"

    def error(
        self, code: str, reason: str, source_file: str, source_row: int | None, raw: object = None, **extra: Any
    ) -> Document:
        """A read-error document whose detail names input, file and row."""
        where = f"row {source_row}" if source_row is not None else "file"
        detail = f"input {self.input_name!r}, file {source_file}, {where}: {reason}"
        return read_error_document(
            doc_id=self.doc_id(source_file, source_row if source_row is not None else "file"),
            code=code,
            detail=detail,
            source_file=source_file,
            source_row=source_row,
            input_name=self.input_name,
            raw=raw,
            extra=extra or None,
        )

    def get_document_from_dict(self, data: dict[str, Any], source_file: str, id_in_file: int) -> Document:
        """Map a record through ``fields`` into the document convention; never returns None."""
        for key, value in data.items():
            if isinstance(value, (dict, list)) and nesting_depth_exceeds(value, MAX_NESTING - 1):
                return self.error(
                    NESTED_TOO_DEEP,
                    f"field {key!r} nests lists/objects deeper than {MAX_NESTING} levels",
                    source_file,
                    id_in_file,
                    raw=data,
                )
        record = dict(data)
        text = record.pop(self.fields["text"], None)
        canonical = {name: record.pop(self.fields[name], None) for name in ("url", "title", "date", "country")}
        if text is not None and not isinstance(text, str):
            return self.error(
                INVALID_FIELD_TYPE,
                f"text field {self.fields['text']!r} holds a {type(text).__name__}, not a string",
                source_file,
                id_in_file,
                raw=data,
            )
        if text is None or not text.strip():
            return self.error(
                MISSING_TEXT, f"no text in field {self.fields['text']!r}", source_file, id_in_file, raw=data
            )
        if len(text) > self.max_text_chars:
            return self.error(
                RECORD_TOO_LARGE,
                f"text of {len(text):,} characters is over the cap of {self.max_text_chars:,} (input key max_text_chars)",
                source_file,
                id_in_file,
                raw=text[:2000],
            )
        metadata = {_kept_name(key): value for key, value in record.items()}
        metadata.update(self.convention_metadata(source_file, id_in_file, **canonical))
        return Document(text=text, id=self.doc_id(source_file, id_in_file), metadata=metadata)

    def convention_metadata(
        self, source_file: str, source_row: int, *, url: object, title: object, date: object, country: object
    ) -> dict[str, Any]:
        """The convention keys; scalar values become strings, the fixed country claim wins."""
        url = _as_text(url)
        metadata = {
            "url": url,
            "title": _as_text(title),
            "date": _as_text(date),
            INPUT_COUNTRY_KEY: self.country if self.country is not None else _as_text(country),
            "source_file": source_file,
            "source_row": source_row,
            "input_name": self.input_name,
        }
        if self.url_prefix and url and _is_relative(url):
            metadata["url_as_input"] = url
            metadata["url"] = urljoin(self.url_prefix, url)
        return metadata


def _kept_name(key: object) -> str:
    name = str(key)
    return f"orig_{name}" if name in RESERVED_KEYS else name


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _is_relative(url: str) -> bool:
    parts = urlsplit(url.strip())
    return not parts.scheme and not url.strip().startswith("//")
