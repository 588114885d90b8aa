"""Input readers that never lose a document: every record becomes a Document or a read-error Document."""

from geocorpus.readers.errors import READ_ERROR_CODES, READ_ERROR_KEY, ExcludeReadErrors, is_read_error
from geocorpus.readers.now import NowReader
from geocorpus.readers.records import RecordCsvReader, RecordJsonlReader, RecordParquetReader
from geocorpus.readers.sequence import ReadInputs
from geocorpus.readers.spec import InputSpec, build_reader_steps
from geocorpus.readers.warc import ExtractHTML, WarcHtmlReader

__all__ = [
    "READ_ERROR_CODES",
    "READ_ERROR_KEY",
    "ExcludeReadErrors",
    "ExtractHTML",
    "InputSpec",
    "NowReader",
    "ReadInputs",
    "RecordCsvReader",
    "RecordJsonlReader",
    "RecordParquetReader",
    "WarcHtmlReader",
    "build_reader_steps",
    "is_read_error",
]
