"""Byte streams of possibly compressed files, decompressed by hand so a damaged file is *reported*.

Why not ``open(..., compression="infer")``: gzip raises EOFError on a truncated file somewhere inside
a buffered read and the caller cannot tell which lines were complete. Decompressing chunk by chunk
delivers every complete byte before the failure and then raises a ``CompressedFileError`` whose
``code`` is a read-error reason code.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

from geocorpus.readers.errors import COMPRESSED_CONTENT, CORRUPT_COMPRESSED_FILE, TRUNCATED_GZIP

CHUNK_BYTES = 1 << 20
#: Magic numbers of compressed data, for files whose name does not say they are compressed.
_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}


class CompressedFileError(Exception):
    """A compressed file ends early or is corrupt; ``code`` is the read-error reason code."""

    def __init__(self, code: str, message: str, complete_bytes: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        #: the incomplete last line read before the failure, set by :func:`iter_lines`
        self.partial_line: bytes | None = None
        #: decompressed bytes delivered by complete members/frames (the rest came from the broken one)
        self.complete_bytes = complete_bytes


class OversizedLine:
    """Stands for a line longer than the cap in :func:`iter_lines`: its first bytes and its full size.

    Why not the line: one 2 GB line (a small gzip can expand to it) would be held whole in memory.
    """

    __slots__ = ("head", "size")

    def __init__(self, head: bytes, size: int) -> None:
        self.head = head
        self.size = size


def compression_of(path: str) -> str | None:
    """``gzip`` / ``zstd`` / None from the file name."""
    lowered = path.lower()
    if lowered.endswith((".gz", ".gzip")):
        return "gzip"
    if lowered.endswith((".zst", ".zstd")):
        return "zstd"
    return None


def iter_decompressed(raw: BinaryIO, compression: str | None) -> Iterator[bytes]:
    """Decompressed chunks of ``raw``; raises CompressedFileError after the last good byte.

    A file whose name says it is not compressed but whose first bytes are a gzip or zstd header raises
    ``compressed_content`` at once: read as text it would give one garbage record per stray newline.
    """
    if compression is None:
        first = raw.read(CHUNK_BYTES)
        sniffed = next((name for magic, name in _MAGIC.items() if first.startswith(magic)), None)
        if sniffed is not None:
            raise CompressedFileError(
                COMPRESSED_CONTENT,
                f"the file starts with a {sniffed} header but its name does not end in "
                f"{'.gz' if sniffed == 'gzip' else '.zst'}: rename it so it is decompressed",
            )
        if first:
            yield first
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
    read_bytes: int,
) -> Iterator[bytes]:
    """Decompress a stream of concatenated members/frames, one fresh decompressor per member.

    A member that has started but not reached its end marker when the input runs out means the file
    was truncated; a decompressor error means it is corrupt. Both are raised after every good byte.
    Compressed input is fed ``read_bytes`` at a time so that one call's output stays bounded: a 1 MiB
    gzip read of a run of one byte expands to ~1 GB at once (the format's ~1000:1 limit; zstd's is ~30,000:1).
    """
    decompressor = new_decompressor()
    pending_member = False
    delivered = complete = 0  # decompressed bytes yielded; of those, from members that ended
    while chunk := raw.read(read_bytes):
        while chunk:
            pending_member = True
            try:
                out = decompressor.decompress(chunk)
            except errors as err:
                raise CompressedFileError(CORRUPT_COMPRESSED_FILE, f"corrupt {name} data: {err}", complete) from err
            if out:
                delivered += len(out)
                yield out
            if decompressor.eof:
                pending_member = False
                complete = delivered
                chunk = decompressor.unused_data
                decompressor = new_decompressor()
                if skip_padding and chunk.strip(b"\x00") == b"":  # zero padding after the last member
                    chunk = b""
            else:
                chunk = b""
    if pending_member:
        raise CompressedFileError(
            TRUNCATED_GZIP, f"{name} stream ends before its end-of-stream marker (truncated file)", complete
        )


def _iter_gzip(raw: BinaryIO) -> Iterator[bytes]:
    # wbits 16+MAX_WBITS: gzip framing; a new decompressor per member handles concatenated members.
    return _iter_frames(
        raw,
        lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
        zlib.error,
        "gzip",
        skip_padding=True,
        read_bytes=16 << 10,
    )


def _iter_zstd(raw: BinaryIO) -> Iterator[bytes]:
    import zstandard

    return _iter_frames(
        raw,
        lambda: zstandard.ZstdDecompressor().decompressobj(),
        zstandard.ZstdError,
        "zstd",
        skip_padding=False,
        read_bytes=1 << 10,
    )


def iter_lines(chunks: Iterator[bytes], max_line_bytes: int | None = None) -> Iterator[bytes | OversizedLine]:
    """Lines (with their ``\\n``) of a chunk stream; a last line without newline is yielded too.

    A line longer than ``max_line_bytes`` is not held: an :class:`OversizedLine` (its first bytes and size)
    comes in its place and reading goes on with the next line. Parts of a long line are joined once, at
    its end (concatenating chunk by chunk copied a 2 GB line ~2,000 times). If ``chunks`` raises, the
    partial line held so far is attached to the exception as ``partial_line``.
    """
    cap = max_line_bytes if max_line_bytes is not None else -1
    parts: list[bytes] = []  # the current line's pieces
    held = 0  # their total size
    skipped = 0  # bytes dropped from the current line once it passed the cap
    head = b""
    try:
        for chunk in chunks:
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                piece = chunk[start : end + 1]
                start = end + 1
                if skipped:
                    yield OversizedLine(head, skipped + len(piece))
                    skipped, head = 0, b""
                    continue
                if 0 <= cap < held + len(piece):
                    line_head = (b"".join(parts) + piece)[:_HEAD_BYTES]
                    yield OversizedLine(line_head, held + len(piece))
                elif parts:
                    yield b"".join(parts) + piece
                else:
                    yield piece
                parts, held = [], 0
            rest = chunk[start:]
            if not rest:
                continue
            if skipped:
                skipped += len(rest)
            elif 0 <= cap < held + len(rest):  # over the cap: keep the head, drop the rest as it comes
                head = (b"".join(parts) + rest)[:_HEAD_BYTES]
                skipped = held + len(rest)
                parts, held = [], 0
            else:
                parts.append(rest)
                held += len(rest)
    except CompressedFileError as err:
        err.partial_line = head if skipped else b"".join(parts)
        raise
    if skipped:
        yield OversizedLine(head, skipped)
    elif parts:
        yield b"".join(parts)


#: How much of an oversized line is kept for the read-error preview.
_HEAD_BYTES = 4096


class DecompressedStream(io.RawIOBase):
    """A forward-only binary file over :func:`iter_decompressed` whose damage ends it like EOF, kept in ``error``.

    Why: warcio swallows the EOFError of a truncated gzip and reports the records it got as the whole file
    (a 3-record file cut by 200 bytes read as 0 records, no error). Here every complete byte is delivered,
    then EOF, and the reader decides from ``error`` (and ``error.complete_bytes``) which records were whole.
    ``tell`` is the decompressed offset; ``skip`` moves forward by reading.
    """

    def __init__(self, raw: BinaryIO, compression: str | None) -> None:
        super().__init__()
        self._chunks: Iterator[bytes] | None = iter_decompressed(raw, compression)
        self._buffer = memoryview(b"")
        self._position = 0
        self.error: CompressedFileError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            if self._chunks is None:
                return 0
            try:
                self._buffer = memoryview(next(self._chunks))
            except StopIteration:
                self._chunks = None
            except CompressedFileError as err:
                self.error, self._chunks = err, None
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        self._position += size
        return size

    def tell(self) -> int:
        return self._position

    def skip(self, count: int) -> None:
        """Read and drop ``count`` bytes (fewer at the end of the data)."""
        while count > 0 and (chunk := self.read(min(count, CHUNK_BYTES))):
            count -= len(chunk)
