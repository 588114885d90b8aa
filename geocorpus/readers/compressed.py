"""Byte streams of possibly compressed files, decompressed by hand so a damaged file is *reported*.

Why not ``open(..., compression="infer")``: gzip raises EOFError on a truncated file somewhere inside
a buffered read and the caller cannot tell which lines were complete. Decompressing chunk by chunk
delivers every complete byte before the failure and then raises a ``CompressedFileError`` whose
``code`` is a read-error reason code.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

from geocorpus.readers.errors import CORRUPT_COMPRESSED_FILE, TRUNCATED_GZIP

CHUNK_BYTES = 1 << 20


class CompressedFileError(Exception):
    """A compressed file ends early or is corrupt; ``code`` is the read-error reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        #: the incomplete last line read before the failure, set by :func:`iter_lines`
        self.partial_line: bytes | None = None


def compression_of(path: str) -> str | None:
    """``gzip`` / ``zstd`` / None from the file name."""
    lowered = path.lower()
    if lowered.endswith((".gz", ".gzip")):
        return "gzip"
    if lowered.endswith((".zst", ".zstd")):
        return "zstd"
    return None


def iter_decompressed(raw: BinaryIO, compression: str | None) -> Iterator[bytes]:
    """Decompressed chunks of ``raw``; raises CompressedFileError after the last good byte."""
    if compression is None:
        while chunk := raw.read(CHUNK_BYTES):
            yield chunk
    elif compression == "gzip":
        yield from _iter_gzip(raw)
    elif compression == "zstd":
        yield from _iter_zstd(raw)
    else:
        raise ValueError(f"unknown compression {compression!r}")


class _Decompressor(Protocol):
    """What zlib's and zstandard's decompress objects have in common."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, /) -> bytes: ...


def _iter_frames(
    raw: BinaryIO,
    new_decompressor: Callable[[], _Decompressor],
    errors: type[Exception] | tuple[type[Exception], ...],
    name: str,
    skip_padding: bool,
) -> Iterator[bytes]:
    """Decompress a stream of concatenated members/frames, one fresh decompressor per member.

    A member that has started but not reached its end marker when the input runs out means the file
    was truncated; a decompressor error means it is corrupt. Both are raised after every good byte.
    """
    decompressor = new_decompressor()
    pending_member = False
    while chunk := raw.read(CHUNK_BYTES):
        while chunk:
            pending_member = True
            try:
                out = decompressor.decompress(chunk)
            except errors as err:
                raise CompressedFileError(CORRUPT_COMPRESSED_FILE, f"corrupt {name} data: {err}") from err
            if out:
                yield out
            if decompressor.eof:
                pending_member = False
                chunk = decompressor.unused_data
                decompressor = new_decompressor()
                if skip_padding and chunk.strip(b"\x00") == b"":  # zero padding after the last member
                    chunk = b""
            else:
                chunk = b""
    if pending_member:
        raise CompressedFileError(
            TRUNCATED_GZIP, f"{name} stream ends before its end-of-stream marker (truncated file)"
        )


def _iter_gzip(raw: BinaryIO) -> Iterator[bytes]:
    # wbits 16+MAX_WBITS: gzip framing; a new decompressor per member handles concatenated members.
    return _iter_frames(raw, lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), zlib.error, "gzip", skip_padding=True)


def _iter_zstd(raw: BinaryIO) -> Iterator[bytes]:
    import zstandard

    return _iter_frames(
        raw, lambda: zstandard.ZstdDecompressor().decompressobj(), zstandard.ZstdError, "zstd", skip_padding=False
    )


def iter_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Lines (with their ``\\n``) of a chunk stream; a last line without newline is yielded too.

    If ``chunks`` raises, the partial line held so far is attached to the exception as
    ``partial_line`` so the caller can show it in the read-error document.
    """
    pending = b""
    try:
        for chunk in chunks:
            data = pending + chunk if pending else chunk
            start = 0
            while (end := data.find(b"\n", start)) != -1:
                yield data[start : end + 1]
                start = end + 1
            pending = data[start:]
    except CompressedFileError as err:
        err.partial_line = pending
        raise
    if pending:
        yield pending
