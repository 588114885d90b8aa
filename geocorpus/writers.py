"""datatrove writers for the tagged corpus and for excluded documents, both with explicit schemas.

Why explicit: datatrove's ParquetWriter infers the schema from the first document, so a shard that
starts with a null title gets a null-typed column. Why an exclusion writer: nothing may be lost;
every dropped document lands here with the step that dropped it and a machine-readable reason.
"""

from __future__ import annotations

import json
import reprlib
from string import Template
from typing import Any

from datatrove.data import Document
from datatrove.io import DataFolderLike
from datatrove.pipeline.writers.parquet import ParquetWriter

from geocorpus.schema import EXCLUSION_SCHEMA, MINHASH_DIGESTS, TAGGED_METADATA_COLUMNS, TAGGED_SCHEMA

#: Metadata key datatrove's BaseFilter sets when a filter returns (False, reason).
FILTER_REASON_KEY = "filter_reason"
#: Metadata key holding the country the *input* claims (raw, as read); the tag goes to ``country``.
INPUT_COUNTRY_KEY = "input_country"


def corpus_row(document: Document) -> dict[str, Any]:
    """Flatten a Document into a TAGGED_SCHEMA row; metadata outside the schema is dropped."""
    meta = document.metadata
    row: dict[str, Any] = {"id": document.id, "text": document.text}
    for column in TAGGED_METADATA_COLUMNS:
        row[column] = meta.get(column)
    return row


def exclusion_record(
    doc_id: str, stage: str, reason: str, text: str, country: object, fields: dict[str, Any]
) -> dict[str, Any]:
    """One EXCLUSION_SCHEMA row; ``fields`` (every original field but id and text) is kept whole.

    Hostile records must still land here, never end the run: strings are made storable (a lone surrogate,
    which UTF-8 and Parquet cannot hold, is written as its ``\\udXXX`` escape) and ``metadata_json`` of
    fields nested too deep for ``json.dumps`` keeps their outer levels and a bounded repr of the rest.
    """
    return {
        "id": storable(doc_id),
        "stage": storable(stage),
        "reason": storable(str(reason)),
        "text": storable(text),
        "url": _str_or_none(fields.get("url")),
        "title": _str_or_none(fields.get("title")),
        "country": _str_or_none(country),
        "source_file": _str_or_none(fields.get("source_file")),
        "source_row": fields.get("source_row"),
        "metadata_json": storable(_metadata_json(fields)),
    }


def storable(value: str) -> str:
    """``value`` with lone surrogates replaced by their backslash escapes (other text unchanged)."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return value


#: Levels of nesting kept whole in ``metadata_json`` when a record is too deep to serialise as it is.
_JSON_DEPTH = 32
_DEEP_REPR = reprlib.Repr()
_DEEP_REPR.maxlevel = 4


def _metadata_json(fields: dict[str, Any]) -> str:
    try:
        return json.dumps(fields, ensure_ascii=False, default=str, sort_keys=True)
    except RecursionError:
        return json.dumps(_bounded(fields, _JSON_DEPTH), ensure_ascii=False, default=str, sort_keys=True)


def _bounded(value: Any, depth: int) -> Any:
    """``value`` with lists/dicts below ``depth`` levels replaced by a short repr string."""
    if isinstance(value, dict):
        return {str(k): _bounded(v, depth - 1) for k, v in value.items()} if depth > 0 else _DEEP_REPR.repr(value)
    if isinstance(value, (list, tuple)):
        return [_bounded(v, depth - 1) for v in value] if depth > 0 else _DEEP_REPR.repr(value)
    return value


def exclusion_row(document: Document, stage: str) -> dict[str, Any]:
    """Flatten a dropped Document into an EXCLUSION_SCHEMA row, keeping every original field."""
    meta = dict(document.metadata)
    reason = meta.pop(FILTER_REASON_KEY, None) or "unspecified"
    meta.pop(MINHASH_DIGESTS, None)  # derived from the text, not a field of the record
    country = meta.get(INPUT_COUNTRY_KEY, meta.get("country"))
    return exclusion_record(document.id, stage, reason, document.text, country, meta)


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list, tuple)):  # str() of a deeply nested value would recurse
        return storable(_DEEP_REPR.repr(value))
    return storable(value if isinstance(value, str) else str(value))


class _RankOnlyFilename:
    """File names take ``${rank}`` and nothing else.

    datatrove fills file-name placeholders from document metadata too, after the rank: a record with
    a field named ``rank`` (or a metadata value like ``../../x``) would then choose the shard file,
    overwrite other tasks' output or escape the output folder. Data never names files here.
    """

    output_filename: Template  # set by datatrove's DiskWriter.__init__

    def _get_output_filename(self, document: Document, rank: int | str = 0, **kwargs: object) -> str:
        return self.output_filename.safe_substitute(rank=str(rank).zfill(5))


class CorpusWriter(_RankOnlyFilename, ParquetWriter):
    """Parquet shards of the tagged corpus, always in TAGGED_SCHEMA (CORPUS_SCHEMA and the MinHash digests)."""

    name = "🌍 geocorpus Parquet"

    def __init__(self, output_folder: DataFolderLike, output_filename: str = "${rank}.parquet", **kwargs: Any) -> None:
        kwargs.setdefault("compression", "zstd")
        super().__init__(
            output_folder,
            output_filename=output_filename,
            adapter=lambda self, doc: corpus_row(doc),
            schema=TAGGED_SCHEMA,
            **kwargs,
        )


class ExclusionWriter(_RankOnlyFilename, ParquetWriter):
    """Parquet files of dropped documents for one pipeline stage (e.g. ``verify_url``)."""

    name = "🗑 geocorpus exclusions"

    def __init__(
        self,
        output_folder: DataFolderLike,
        stage: str,
        output_filename: str = "${rank}.parquet",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("compression", "zstd")
        self.stage = stage
        super().__init__(
            output_folder,
            output_filename=output_filename,
            adapter=lambda self, doc: exclusion_row(doc, self.stage),
            schema=EXCLUSION_SCHEMA,
            **kwargs,
        )
