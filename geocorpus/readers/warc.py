"""WARC input: HTTP 200 HTML responses become documents holding raw HTML, extracted later by ExtractHTML.

Why our own reader rather than datatrove's WarcReader: that one drops records without telling
(ClueWeb09 writes an *empty* ``WARC-Identified-Payload-Type``, so every record of such a file is
skipped) and a record warcio cannot parse ends the file. Here the HTTP ``Content-Type`` decides,
an unparsable record becomes a read-error document naming file and record index, and reading
resumes at the next ``WARC/`` header.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from geocorpus.readers.base import GeoDiskReader
from geocorpus.readers.compressed import CompressedFileError, DecompressedStream, compression_of
from geocorpus.readers.errors import (
    EXTRACTION_EMPTY,
    EXTRACTION_FAILED,
    INVALID_UNICODE,
    MISSING_TEXT,
    RECORD_TOO_LARGE,
    TRUNCATED_GZIP,
    TRUNCATED_WARC,
    UNDECODABLE_HTML,
    UNREADABLE_FILE,
    WARC_FORMAT_ERROR,
)

if TYPE_CHECKING:
    from warcio.recordloader import ArcWarcRecord

#: Metadata flag on documents whose text is raw HTML still to be extracted.
NEEDS_EXTRACTION_KEY = "needs_extraction"
HTML_TYPES = ("text/html", "application/xhtml+xml")
_RESYNC_SCAN_BYTES = 1 << 16
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


class WarcHtmlReader(GeoDiskReader):
    """WARC/WARC.gz records; ``source_row`` is the 0-based index of the record among all records of the file.

    Records that are not HTTP 200 HTML responses (requests, metadata, redirects, images) are not
    documents and are only counted in the stats (``skipped_<why>``).
    """

    name = "🕷 geocorpus WARC"

    def read_file(self, filepath: str) -> DocumentsPipeline:
        from warcio.archiveiterator import ArchiveIterator

        compression = compression_of(filepath)
        record_index = 0
        resume_at: int | None = 0  # decompressed offset to (re)start parsing from
        while resume_at is not None:
            try:
                with self.data_folder.open(filepath, "rb") as raw:
                    stream = DecompressedStream(raw, compression)
                    stream.skip(resume_at)
                    records = ArchiveIterator(stream)
                    failed_at = resume_at
                    complete_end = resume_at
                    try:
                        for record in records:
                            with self.track_time():
                                document = self._record_document(record, filepath, record_index)
                                records.read_to_end(record)
                            end = records.get_record_offset() + records.get_record_length()
                            if stream.error is not None and end > (stream.error.complete_bytes or 0):
                                break  # this record runs into the damaged part: not complete
                            failed_at = complete_end = end
                            record_index += 1
                            if document is not None:
                                yield document
                        resume_at = None
                    except Exception as err:  # warcio raises assorted errors on malformed records
                        if stream.error is None:
                            yield self.error(
                                WARC_FORMAT_ERROR,
                                f"record {record_index} (offset ~{failed_at}) cannot be parsed: {type(err).__name__}: {err}",
                                filepath,
                                record_index,
                            )
                            record_index += 1
                            resume_at = self._next_record_start(filepath, compression, failed_at + 1)
                        else:
                            resume_at = None
                    if stream.error is not None:
                        yield self._damaged(stream.error, filepath, record_index, complete_end)
                        resume_at = None
            except OSError as err:
                yield self.error(
                    UNREADABLE_FILE, f"cannot read file at record {record_index}: {err}", filepath, record_index
                )
                resume_at = None

    def _damaged(self, error: CompressedFileError, filepath: str, record_index: int, complete_end: int) -> Document:
        """The read error for a file whose compressed data ends early or is corrupt, after ``record_index`` records."""
        code = TRUNCATED_WARC if error.code == TRUNCATED_GZIP else error.code
        return self.error(
            code,
            f"{error}: {record_index} complete record(s) read; record {record_index} and anything after it are lost "
            f"(data breaks at decompressed offset {complete_end})",
            filepath,
            record_index,
            offset=complete_end,
        )

    def _next_record_start(self, filepath: str, compression: str | None, start: int) -> int | None:
        """Offset of the next line starting with ``WARC/`` at or after ``start``, None if there is none."""
        with self.data_folder.open(filepath, "rb") as raw:
            stream = DecompressedStream(raw, compression)
            stream.skip(start)
            position, carry = start, b""
            while chunk := stream.read(_RESYNC_SCAN_BYTES):
                data = carry + chunk
                found = data.find(b"\nWARC/")
                if found != -1:
                    return position - len(carry) + found + 1
                carry = data[-6:]
                position += len(chunk)
        return None

    def _record_document(self, record: ArcWarcRecord, filepath: str, index: int) -> Document | None:
        if not record.rec_type:
            return self.error(WARC_FORMAT_ERROR, "record without a WARC-Type header", filepath, index)
        if record.rec_type != "response":
            self.stat_update(f"skipped_{record.rec_type}")
            return None
        http = record.http_headers
        status = http.get_statuscode() if http is not None else None
        if status is not None and status != "200":
            self._note_redirect(record, status, filepath)
            self.stat_update("skipped_http_status")
            return None
        payload = record.content_stream().read(self.max_line_bytes + 1)
        if len(payload) > self.max_line_bytes:
            return self.error(
                RECORD_TOO_LARGE,
                f"payload over the cap of {self.max_line_bytes:,} bytes (input key max_line_bytes)",
                filepath,
                index,
                raw=payload[:4096],
            )
        content_type = _content_type(record, payload)
        if not content_type.startswith(HTML_TYPES):
            self.stat_update("skipped_not_html")
            return None
        url = record.rec_headers.get_header("WARC-Target-URI")
        date = record.rec_headers.get_header("WARC-Date")
        html = _decode_html(payload, http.get_header("Content-Type") if http is not None else None)
        if html is None:
            return self.error(UNDECODABLE_HTML, "HTML payload in no known encoding", filepath, index, raw=payload)
        if (surrogate := _lone_surrogate(html)) is not None:
            return self.error(
                INVALID_UNICODE,
                f"decoding the page gives a lone surrogate U+{ord(html[surrogate]):04X} at character {surrogate} "
                "(an odd charset such as UTF-7): not text that can be stored",
                filepath,
                index,
                raw=payload,
                url=url,
            )
        if not html.strip():
            return self.error(MISSING_TEXT, "empty HTML payload", filepath, index, url=url)
        metadata = {
            NEEDS_EXTRACTION_KEY: True,
            "warc_record_id": record.rec_headers.get_header("WARC-Record-ID"),
            "content_type": content_type,
        }
        metadata.update(self.convention_metadata(filepath, index, url=url, title=None, date=date, country=None))
        metadata.update(self._page_evidence(url, html, http, filepath))
        return Document(text=html, id=self.doc_id(filepath, index), metadata=metadata)

    # Page evidence and redirects for tagging (geocorpus.page_evidence, geocorpus.shortlinks): the
    # HTML and HTTP headers are only here, before ExtractHTML replaces the page by its text.
    def _note_redirect(self, record: ArcWarcRecord, status: str, filepath: str) -> None:
        """Remember a 3xx record's hop (this file's earlier records only) to resolve shortlinks."""
        from geocorpus.shortlinks import REDIRECT_STATUSES

        location = record.http_headers.get_header("Location") if record.http_headers is not None else None
        source = record.rec_headers.get_header("WARC-Target-URI")
        if status in REDIRECT_STATUSES and location and source:
            from urllib.parse import urljoin

            if getattr(self, "_redirects_file", None) != filepath:
                self._redirects_file, self._redirects = filepath, {}
            self._redirects[source] = urljoin(source, location.strip())
            self.stat_update("redirect_recorded")

    def _page_evidence(self, url: str | None, html: str, http: object, filepath: str) -> dict:
        from geocorpus.page_evidence import PAGE_SIGNALS_KEY, page_signals
        from geocorpus.shortlinks import REDIRECT_TARGET_KEY, follow_redirects

        language = http.get_header("Content-Language") if http is not None else None  # type: ignore[attr-defined]
        found: dict = {PAGE_SIGNALS_KEY: page_signals(html, language, url)}
        if url and getattr(self, "_redirects_file", None) == filepath:
            target = follow_redirects(self._redirects, url)
            if target is not None:
                found[REDIRECT_TARGET_KEY] = target
        return found


def _lone_surrogate(text: str) -> int | None:
    """Index of the first lone surrogate code point in ``text`` (UTF-8 and Parquet cannot hold one), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return err.start
    return None


def _content_type(record: ArcWarcRecord, payload: bytes) -> str:
    """Media type from HTTP headers, then a non-empty WARC-Identified-Payload-Type, then sniffing."""
    http = record.http_headers
    declared = (http.get_header("Content-Type") if http is not None else None) or ""
    declared = declared or record.rec_headers.get_header("WARC-Identified-Payload-Type") or ""
    declared = declared.split(";")[0].strip().lower()
    if declared:
        return declared
    head = payload[:1024].lstrip().lower()
    return "text/html" if head.startswith((b"<!doctype html", b"<html")) else "application/octet-stream"


def _decode_html(payload: bytes, content_type: str | None) -> str | None:
    """Decode with the declared charset, the ``<meta charset>``, UTF-8, then a detector's guess."""
    candidates = []
    if content_type and "charset=" in content_type.lower():
        candidates.append(content_type.lower().split("charset=")[-1].split(";")[0].strip(" \"'"))
    if meta := _META_CHARSET.search(payload[:4096]):
        candidates.append(meta.group(1).decode("ascii", errors="ignore"))
    candidates.append("utf-8")
    for charset in candidates:
        try:
            return payload.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(payload).best()
    return str(best) if best is not None else None


class ExtractHTML(BaseFilter):
    """Extracts article text (and a missing title) from WARC documents with trafilatura.

    Only documents flagged ``needs_extraction`` are touched, so chained inputs pass through. A failed
    or empty extraction drops the document with reason ``extraction_failed`` / ``extraction_empty``.
    """

    name = "🪓 extract HTML"

    def __init__(self, exclusion_writer: DiskWriter | None = None, include_tables: bool = False) -> None:
        super().__init__(exclusion_writer)
        self.include_tables = include_tables

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if not doc.metadata.pop(NEEDS_EXTRACTION_KEY, False):
            return True
        import trafilatura

        try:
            result = trafilatura.bare_extraction(
                doc.text,
                url=doc.metadata.get("url"),
                with_metadata=True,
                include_comments=False,
                include_tables=self.include_tables,
            )
        except Exception as err:  # trafilatura/lxml raise many types on hostile HTML
            doc.metadata["extraction_error"] = f"{type(err).__name__}: {err}"
            return False, EXTRACTION_FAILED
        text = (result or {}).get("text") or ""
        if not text.strip():
            return False, EXTRACTION_EMPTY
        doc.text = text
        if not doc.metadata.get("title") and result.get("title"):
            doc.metadata["title"] = result["title"]
        if result.get("language"):
            doc.metadata.setdefault("html_language", result["language"])
        return True
