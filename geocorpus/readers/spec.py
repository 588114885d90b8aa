"""``InputSpec``: one input of a curation config, validated, and the reader steps it becomes."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TypedDict

from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from geocorpus.readers.base import CANONICAL_FIELDS, MAX_LINE_BYTES, MAX_TEXT_CHARS
from geocorpus.readers.now import NOW_GAP_POLICIES, NowReader
from geocorpus.readers.records import RecordCsvReader, RecordJsonlReader, RecordParquetReader
from geocorpus.readers.warc import ExtractHTML, WarcHtmlReader
from geocorpus.typed_config import from_mapping

FORMATS = ("jsonl", "parquet", "csv", "tsv", "warc", "now")
EXTRACTORS = ("trafilatura",)
#: Folder inputs read the files matching this glob unless the spec says otherwise.
DEFAULT_GLOBS = {
    "jsonl": "**/*.jsonl*",
    "parquet": "**/*.parquet",
    "csv": "**/*.csv*",
    "tsv": "**/*.tsv*",
    "warc": "**/*.warc*",
    "now": "text/*.txt*",
}
#: Stage name of the HTML extraction exclusions.
EXTRACT_STAGE = "extract_html"


_INPUT_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class _ReaderOptions(TypedDict):
    """Keyword arguments every geocorpus reader takes (``fields`` aside: not for WARC and NOW)."""

    country: str | None
    url_prefix: str | None
    single_file: str | None
    glob_pattern: str | None
    limit: int
    max_text_chars: int
    max_line_bytes: int


@dataclass
class InputSpec:
    """One input: where it is, its format, and how its columns map to url/text/title/date/country."""

    name: str
    format: str
    path: str
    glob: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    country: str | None = None
    url_prefix: str | None = None
    limit: int = -1
    now_gaps: str = "drop"
    extract: str = "trafilatura"
    #: a record whose text is longer is excluded (read/record_too_large)
    max_text_chars: int = MAX_TEXT_CHARS
    #: a line (JSONL, CSV/TSV, NOW) or WARC payload larger than this is excluded unread (read/line_too_long)
    max_line_bytes: int = MAX_LINE_BYTES

    @classmethod
    def from_dict(cls, d: dict) -> InputSpec:
        """Validate a config mapping (keys and types by the one validator, then :meth:`validate`)."""
        name = d.get("name") if isinstance(d, dict) else None
        return from_mapping(cls, d, f"input {name!r}" if name else "input")

    def validate(self) -> None:
        label = repr(self.name)
        for required in ("name", "format", "path"):
            if not getattr(self, required):
                raise ValueError(f"input {label}: key {required!r} must not be empty")
        if not _INPUT_NAME.fullmatch(self.name) or self.name in (".", ".."):
            raise ValueError(
                f"input {label}: key 'name' must be letters, digits, '_', '-' or '.' (it prefixes ids and "
                "names exclusion folders)"
            )
        if self.format not in FORMATS:
            raise ValueError(f"input {label}: key 'format' is {self.format!r}, expected one of {FORMATS}")
        bad_fields = sorted(set(self.fields) - set(CANONICAL_FIELDS))
        if bad_fields:
            raise ValueError(
                f"input {label}: key 'fields' has unknown field(s) {bad_fields}; known: {CANONICAL_FIELDS}"
            )
        if not all(isinstance(v, str) and v for v in self.fields.values()):
            raise ValueError(f"input {label}: key 'fields' must map to non-empty column names")
        if self.fields and self.format in ("warc", "now"):
            raise ValueError(f"input {label}: key 'fields' does not apply to format {self.format!r}")
        if self.now_gaps not in NOW_GAP_POLICIES:
            raise ValueError(f"input {label}: key 'now_gaps' is {self.now_gaps!r}, expected one of {NOW_GAP_POLICIES}")
        if self.extract not in EXTRACTORS:
            raise ValueError(f"input {label}: key 'extract' is {self.extract!r}, expected one of {EXTRACTORS}")
        if self.limit < -1 or self.limit == 0:
            raise ValueError(f"input {label}: key 'limit' must be -1 (no limit) or positive, not {self.limit}")
        for key in ("max_text_chars", "max_line_bytes"):
            if getattr(self, key) < 1:
                raise ValueError(f"input {label}: key {key!r} must be >= 1, not {getattr(self, key)}")


def build_reader_steps(spec: InputSpec, exclusion_folder: DataFolderLike | None = None) -> list[PipelineStep]:
    """The datatrove steps reading ``spec``: the reader, plus ``ExtractHTML`` for WARC inputs.

    ``exclusion_folder`` is the root exclusion folder; HTML extraction drops go to
    ``<exclusion_folder>/extract_html/<input name>/${rank}.parquet``.
    """
    folder, single_file = _split_path(spec.path)
    fields = spec.fields or None
    common: _ReaderOptions = {
        "country": spec.country,
        "url_prefix": spec.url_prefix,
        "single_file": single_file,
        "glob_pattern": None if single_file else (spec.glob or DEFAULT_GLOBS[spec.format]),
        "limit": spec.limit,
        "max_text_chars": spec.max_text_chars,
        "max_line_bytes": spec.max_line_bytes,
    }
    if spec.format == "jsonl":
        return [RecordJsonlReader(folder, spec.name, fields=fields, **common)]
    if spec.format == "parquet":
        return [RecordParquetReader(folder, spec.name, fields=fields, **common)]
    if spec.format in ("csv", "tsv"):
        delimiter = "\t" if spec.format == "tsv" else ","
        return [RecordCsvReader(folder, spec.name, delimiter=delimiter, fields=fields, **common)]
    if spec.format == "now":
        return [NowReader(folder, spec.name, now_gaps=spec.now_gaps, **common)]
    writer = None
    if exclusion_folder is not None:
        from geocorpus.writers import ExclusionWriter

        writer = ExclusionWriter(
            exclusion_folder, stage=EXTRACT_STAGE, output_filename=f"{EXTRACT_STAGE}/{spec.name}/${{rank}}.parquet"
        )
    return [WarcHtmlReader(folder, spec.name, **common), ExtractHTML(exclusion_writer=writer)]


def _split_path(path: str) -> tuple[str, str | None]:
    """(folder, file name) for a file path; (path, None) for a folder. Works for fsspec URLs too."""
    data_folder = get_datafolder(path)
    if data_folder.isfile(""):
        parent, _, name = path.rstrip("/").rpartition("/") if "/" in path else (os.curdir, "", path)
        return parent or "/", name
    if not data_folder.isdir(""):
        raise ValueError(f"input path {path!r} does not exist")
    return path, None
