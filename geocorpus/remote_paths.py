"""Remote locations (fsspec URLs): checked offline, read through fsspec, and a finished run uploaded to one.

Why: ``output: s3://bucket/out`` used to pass ``validate`` and then make a local folder named ``s3:``,
and an ``hf://`` input made ``validate`` contact the Hub and print a long traceback. Whether a scheme is
known and its fsspec implementation importable is decidable without network or credentials; reaching
the bucket is left to the run.

What works with a URL (docs/cli.md, "Remote paths"):

* inputs: datatrove's DataFolder reads them in the stage processes; inputs on a filesystem that lives in
  one process (``memory://``) are read by stages run in the ``geocorpus`` process itself
  (:func:`process_local`);
* the output: a run's lock, resume markers and finalize's shuffle need a local folder, so a remote output
  is curated in a local work folder (:func:`work_folder`) and the finished dataset (the files
  ``geocorpus push`` publishes) is uploaded with :func:`upload_run`;
* the trainer's corpus: :func:`is_dir`, :func:`glob_files`, :func:`open_binary` and :func:`size` give
  trainer_plugin.shards one way to list and read local paths and URLs alike.

Local paths keep their spelling (no ``file://``, no absolutising), so fingerprints and messages of local
runs do not change.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import fsspec
from fsspec.core import split_protocol, url_to_fs
from fsspec.registry import known_implementations

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

LOCAL_PROTOCOLS = (None, "file", "local")
#: Filesystems whose files exist only inside the process that wrote them (stage processes cannot see them).
PROCESS_LOCAL_PROTOCOLS = ("memory",)
#: The record of what geocorpus uploaded to a remote output: the only remote files it ever deletes.
UPLOAD_MARKER = ".geocorpus-run"


class RemotePathError(ValueError):
    """A location whose scheme is unknown, or whose fsspec implementation is not installed."""


def protocol_of(path: str) -> str | None:
    """``s3`` for ``s3://bucket/x``; None for a local path."""
    return split_protocol(str(path))[0]


def is_remote(path: str | Path) -> bool:
    return protocol_of(str(path)) not in LOCAL_PROTOCOLS


def process_local(path: str) -> bool:
    """True for a location only this process can see (``memory://``)."""
    return protocol_of(path) in PROCESS_LOCAL_PROTOCOLS


def check_location(path: str, what: str) -> None:
    """Raise RemotePathError unless ``path`` is local or its fsspec implementation imports (no network)."""
    protocol = protocol_of(path)
    if protocol in LOCAL_PROTOCOLS:
        return
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        known = ", ".join(sorted(p for p in known_implementations if len(p) <= 6)[:30])
        raise RemotePathError(f"{what}: unknown scheme {protocol}:// in {path!r}; fsspec knows: {known}") from None
    except ImportError as exc:
        hint = known_implementations.get(protocol or "", {}).get("err") or str(exc)
        raise RemotePathError(
            f"{what}: {path!r} needs an fsspec implementation that is not installed: {hint}"
        ) from None


# ---- reading local paths and URLs alike ---------------------------------------------------------------


def _fs(path: str) -> tuple[AbstractFileSystem, str]:
    fs, stripped = url_to_fs(str(path))
    return fs, stripped


def join(path: str | Path, *parts: str) -> str:
    """``path/part/...`` for a local path or a URL (a URL's ``//`` survives, unlike with pathlib)."""
    if not is_remote(path):
        return str(Path(path, *parts))
    return "/".join([str(path).rstrip("/"), *(p.strip("/") for p in parts)])


def is_dir(path: str | Path) -> bool:
    if not is_remote(path):
        return Path(path).is_dir()
    fs, stripped = _fs(str(path))
    return bool(fs.isdir(stripped))


def is_file(path: str | Path) -> bool:
    if not is_remote(path):
        return Path(path).is_file()
    fs, stripped = _fs(str(path))
    return bool(fs.isfile(stripped))


def glob_files(pattern: str | Path) -> list[str]:
    """Sorted matches of a glob pattern; URLs come back as full URLs."""
    if not is_remote(pattern):
        return sorted(glob.glob(str(pattern)))
    fs, stripped = _fs(str(pattern))
    return sorted(fs.unstrip_protocol(p) for p in fs.glob(stripped) if fs.isfile(p))


def size(path: str | Path) -> int:
    if not is_remote(path):
        return Path(path).stat().st_size
    fs, stripped = _fs(str(path))
    return int(fs.size(stripped))


def open_binary(path: str | Path) -> IO[bytes]:
    """A seekable binary handle (pyarrow reads Parquet footers and row groups from it)."""
    if not is_remote(path):
        return Path(path).open("rb")
    fs, stripped = _fs(str(path))
    handle: IO[bytes] = fs.open(stripped, "rb")
    return handle


def basename(path: str | Path) -> str:
    return str(path).rstrip("/").rpartition("/")[2]


# ---- a remote output: a local work folder, then an upload ---------------------------------------------


def work_folder(output: str) -> Path:
    """The local folder a run for remote ``output`` works in: the same URL always maps to the same folder,
    so running the same command again resumes there.

    ``$GEOCORPUS_HOME/runs/<url slug>-<hash>`` if set, else ``$XDG_CACHE_HOME/geocorpus/runs/...``
    (``~/.cache/geocorpus/runs/...``)."""
    home = os.environ.get("GEOCORPUS_HOME")
    if home:
        base = Path(home).expanduser() / "runs"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "geocorpus" / "runs"
    key = output.rstrip("/")  # s3://b/out and s3://b/out/ are one location
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[-80:].strip("_") or "output"
    return base / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _previous_upload(fs: AbstractFileSystem, root: str, output: str) -> list[str] | None:
    """Files of geocorpus's previous upload to ``root`` (relative), [] for an empty or missing folder;
    RemotePathError for a folder holding files geocorpus did not upload."""
    if not fs.exists(root):
        return []
    marker = f"{root}/{UPLOAD_MARKER}"
    if fs.isfile(marker):
        return list(json.loads(fs.cat_file(marker)).get("files", []))
    entries = fs.ls(root, detail=False)
    if entries:
        shown = ", ".join(sorted(e.rstrip("/").rpartition("/")[2] for e in entries)[:5])
        raise RemotePathError(
            f"output {output!r} is not empty ({shown}) and holds no {UPLOAD_MARKER} record of a geocorpus upload; "
            "geocorpus never overwrites files it did not write: choose a new or empty output location"
        )
    return []


def check_output_writable(output: str) -> None:
    """Before a run: the remote output is empty, missing, or a previous geocorpus upload (contacts it)."""
    fs, root = _fs(output)
    _previous_upload(fs, root.rstrip("/"), output)


def upload_run(local: str | Path, output: str, files: list[Path]) -> list[str]:
    """Upload ``files`` (inside the finished run folder ``local``) to ``output``; returns their remote URLs.

    Order: the marker first (so a cut upload is still recognised as geocorpus's), then the data, manifest,
    report and plots, the dataset card last (a card present means the files it lists are there), then the
    marker with the full list. Files of the previous upload that this one does not have (fewer shards)
    are deleted; nothing else is ever touched."""
    fs, root = _fs(output)
    root = root.rstrip("/")
    previous = _previous_upload(fs, root, output) or []
    names = [Path(f).relative_to(local).as_posix() for f in files]
    record: dict[str, Any] = {"tool": "geocorpus", "files": sorted(set(previous) | set(names)), "complete": False}
    fs.makedirs(root, exist_ok=True)
    fs.pipe_file(f"{root}/{UPLOAD_MARKER}", json.dumps(record).encode())
    card = [n for n in names if n == "README.md"]
    for name in [n for n in names if n != "README.md"] + card:
        target = f"{root}/{name}"
        parent = target.rpartition("/")[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        fs.put_file(str(Path(local) / name), target)
    for stale in sorted(set(previous) - set(names)):
        if fs.isfile(f"{root}/{stale}"):
            fs.rm_file(f"{root}/{stale}")
    record = {"tool": "geocorpus", "files": sorted(names), "complete": True, "uploaded_unix": time.time()}
    fs.pipe_file(f"{root}/{UPLOAD_MARKER}", json.dumps(record).encode())
    return [fs.unstrip_protocol(f"{root}/{n}") for n in names]
