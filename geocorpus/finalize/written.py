"""The files a finalize task writes, recorded before each one is created.

A killed task leaves partial files behind; its retry must remove exactly those and nothing else.
Each task therefore keeps a record (paths relative to the run folder) that it appends to *before* it
creates a file, again with the file's inode once created, and, when the task has finished writing,
with each file's inode, size and mtime. A retry deletes a listed file only if it is still the file
recorded (a file a user put in its place since is left alone), and a path that already exists without
being on the record is someone else's file: never deleted or overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path


class ForeignFileError(FileExistsError):
    """A file finalize would write already exists and was not written by geocorpus."""


class WrittenFiles:
    """The record of one task (e.g. ``finalize_write`` rank 3) inside the run folder ``root``."""

    def __init__(self, root: Path | str, record: Path | str) -> None:
        self.root = Path(root)
        self.record = Path(record)
        self._claimed: set[Path] = set()

    def reset(self) -> list[Path]:
        """Delete every file an earlier attempt of this task recorded, then start an empty record.

        Returns the files deleted. Only files on this task's own record are touched.
        """
        removed = []
        for path, known in self._entries().items():
            if path.is_symlink() or not path.is_file():
                continue
            now = path.stat()
            if known == (now.st_ino, now.st_size, now.st_mtime_ns)[: len(known)]:
                path.unlink()
                removed.append(path)
        self.record.parent.mkdir(parents=True, exist_ok=True)
        self.record.write_text("", encoding="utf-8")
        self._claimed = set()
        return removed

    def claim(self, path: Path | str) -> Path:
        """Record ``path`` as this task's, then return it; refuse a file that geocorpus did not write.

        Call :meth:`reset` first: after it, an existing file at ``path`` is not one of this task's.
        """
        path = Path(path)
        if path in self._claimed:
            return path
        if path.exists() or path.is_symlink():
            raise ForeignFileError(
                f"{path} already exists and was not written by this geocorpus run; refusing to overwrite it "
                "(move it away, or choose another output folder)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        relative = self._relative(path)
        self._append(relative)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:  # created between the check and here: not ours either
            raise ForeignFileError(
                f"{path} appeared while geocorpus was about to write it; refusing to overwrite it"
            ) from None
        self._append(f"{relative}\t{path.stat().st_ino}")
        self._claimed.add(path)
        return path

    def seal(self) -> None:
        """Record inode, size and mtime of every file claimed, once the task has finished writing them."""
        for path in sorted(self._claimed):
            if path.is_file():
                now = path.stat()
                self._append(f"{self._relative(path)}\t{now.st_ino}\t{now.st_size}\t{now.st_mtime_ns}")

    def _append(self, line: str) -> None:
        with self.record.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def listed(self) -> list[Path]:
        """The files on this task's record (whether or not they still exist)."""
        return list(self._entries())

    def _entries(self) -> dict[Path, tuple[int, ...]]:
        """Path -> what is known of the file: (inode, size, mtime_ns) once sealed, (inode,) once
        created, () when the task was killed between the record and the creation."""
        entries: dict[Path, tuple[int, ...]] = {}
        if self.record.is_file():
            for line in self.record.read_text(encoding="utf-8").splitlines():
                name, *known = line.split("\t")
                if name.strip():
                    path = self.root / name
                    entries[path] = tuple(int(k) for k in known) if known else entries.get(path, ())
        return entries

    def _relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            raise ValueError(f"{path}: finalize only writes inside the run folder {self.root}") from None


def recorded_files(root: Path | str, records: Path | str) -> list[Path]:
    """Every file listed by any record under ``records`` (the whole finalize stage's output)."""
    folder = Path(records)
    files: list[Path] = []
    for record in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        files += WrittenFiles(root, record).listed()
    return files
