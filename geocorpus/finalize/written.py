"""The files a finalize task writes, recorded before each one is created.

A killed task leaves partial files behind; its retry must remove exactly those and nothing else.
Each task therefore keeps a record (one path per line, relative to the run folder) that it appends
to *before* it creates a file. A retry deletes what its own record lists, and a path that already
exists without being on a record is someone else's file: it is never deleted or overwritten.
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
        for path in self.listed():
            if path.is_file() or path.is_symlink():
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
        with self.record.open("a", encoding="utf-8") as handle:
            handle.write(self._relative(path) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._claimed.add(path)
        return path

    def listed(self) -> list[Path]:
        """The files on this task's record (whether or not they still exist)."""
        if not self.record.is_file():
            return []
        lines = self.record.read_text(encoding="utf-8").splitlines()
        return [self.root / line for line in lines if line.strip()]

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
