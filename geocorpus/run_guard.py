"""Run-folder safety: a curation run never deletes or overwrites what it did not write, never mixes two
configurations in one folder, and never runs twice at once in the same folder.

* **Marker** (``OUT/.geocorpus-run``): written when geocorpus creates a folder or adopts an empty one. A
  non-empty folder without it holds someone else's files, so it is refused: finalize rewrites ``data/`` and
  ``README.md``, and ``--overwrite`` deletes run files, which must only ever be geocorpus's own.
* **Paths** (``geocorpus.config.output_path_problem``, checked with the config): not ``""`` (the working
  folder), not a filesystem root, not inside an input folder (readers would read the outputs), holding no input.
* **Fingerprint** (``OUT/fingerprint.json``), written before any stage starts: the config without cosmetic
  keys (executor resources, the output path), every file the readers will read with its size and mtime,
  and the versions of the packages, the outlet registry and the language model. A rerun with the same
  fingerprint resumes (or, when finished, does nothing); with another it stops and says what changed,
  because datatrove's completion markers would otherwise keep the old tasks' output beside the new ones
  (a file added after a kill was never read; ``min_words`` 50 -> 500 mixed both settings).
* **Lock** (``OUT/.geocorpus.lock``): an ``flock`` held for the whole run; the kernel drops it when the
  process dies, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from geocorpus.paths import RunLayout

if TYPE_CHECKING:
    from geocorpus.config import CurateConfig

MARKER_NAME = ".geocorpus-run"
LOCK_NAME = ".geocorpus.lock"
FINGERPRINT_NAME = "fingerprint.json"
#: Config sections that do not change what a run writes (where and how fast it runs).
COSMETIC_KEYS = ("output", "executor")
#: Entries of a run folder that geocorpus writes (what ``--overwrite`` may delete); marker and lock stay.
RUN_ENTRIES = (
    "stages",
    "data",
    "exclusions",
    "logs",
    "plots",
    "manifest.json",
    "report.json",
    "README.md",
    "run_layout.json",
    FINGERPRINT_NAME,
)


class RunFolderError(RuntimeError):
    """The output folder cannot be used for this run; the message says why and what to do."""


class RunState(Enum):
    """What a run finds in its folder once the fingerprints are compared."""

    NEW = "new"  # empty folder, or overwritten
    RESUME = "resume"  # same fingerprint: finished stages are skipped


# ---- fingerprint -------------------------------------------------------------------------------------


def run_fingerprint(config: CurateConfig) -> dict[str, Any]:
    """What decides a run's output: config (cosmetic keys aside), input files (size, mtime), versions."""
    from geocorpus.finalize.manifest import input_files, package_versions, registry_version
    from geocorpus.langid import LID176_SHA256

    settings = {k: v for k, v in config.to_dict().items() if k not in COSMETIC_KEYS}
    files = []
    for name, path in input_files(config):
        record: dict[str, Any] = {"input": name, "file": path}
        if "://" not in path:
            stat = os.stat(path)
            record |= {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        files.append(record)
    versions = {k: v for k, v in package_versions().items() if k != "platform"}
    versions["registry"] = str(registry_version())
    versions["fasttext-lid176"] = LID176_SHA256
    return json.loads(json.dumps({"config": settings, "inputs": files, "versions": versions}, default=str))


def fingerprint_changes(before: dict[str, Any], now: dict[str, Any], limit: int = 12) -> list[str]:
    """Human-readable differences between two fingerprints (at most ``limit`` lines)."""
    changes: list[str] = []
    old_config, new_config = _flatten(before.get("config", {})), _flatten(now.get("config", {}))
    for key in sorted(set(old_config) | set(new_config)):
        if old_config.get(key, "<absent>") != new_config.get(key, "<absent>"):
            changes.append(f"config {key}: {old_config.get(key, '<absent>')!r} -> {new_config.get(key, '<absent>')!r}")
    old_files = {f["file"]: f for f in before.get("inputs", [])}
    new_files = {f["file"]: f for f in now.get("inputs", [])}
    changes += [f"input file added: {p}" for p in new_files if p not in old_files]
    changes += [f"input file gone: {p}" for p in old_files if p not in new_files]
    for path in new_files.keys() & old_files.keys():
        if new_files[path] != old_files[path]:
            old, new = old_files[path], new_files[path]
            changes.append(
                f"input file changed: {path} ({old.get('bytes')} -> {new.get('bytes')} bytes, "
                f"modified {'again' if old.get('mtime_ns') != new.get('mtime_ns') else 'no'})"
            )
    old_versions, new_versions = before.get("versions", {}), now.get("versions", {})
    for name in sorted(set(old_versions) | set(new_versions)):
        if old_versions.get(name) != new_versions.get(name):
            changes.append(f"version {name}: {old_versions.get(name)} -> {new_versions.get(name)}")
    if len(changes) > limit:
        changes = changes[:limit] + [f"... and {len(changes) - limit} more"]
    return changes


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat |= _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return flat
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        flat = {}
        for index, item in enumerate(value):
            flat |= _flatten(item, f"{prefix}[{index}]")
        return flat
    return {prefix: value}


# ---- the folder ----------------------------------------------------------------------------------------


def claim_folder(out: Path) -> None:
    """Create ``out`` (or adopt it when empty) and mark it; refuse a non-empty folder geocorpus did not create."""
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"output {out} exists and is not a folder")
    marker = out / MARKER_NAME
    if out.is_dir() and not marker.is_file():
        entries = sorted(p.name for p in out.iterdir())
        if entries:
            shown = ", ".join(entries[:5]) + (" ..." if len(entries) > 5 else "")
            raise RunFolderError(
                f"output folder {out} is not empty ({shown}) and was not created by geocorpus (no {MARKER_NAME} "
                "marker). geocorpus never deletes or overwrites files it did not write: choose a new or empty "
                "output folder (a run folder of an older geocorpus has no marker: delete it yourself)"
            )
    out.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        from geocorpus.finalize.manifest import package_versions

        marker.write_text(
            json.dumps({"tool": "geocorpus", "version": package_versions()["geocorpus"], "created_unix": time.time()})
            + "\n"
        )


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` for the duration; a second holder gets RunFolderError naming the pid."""
    path = out / LOCK_NAME
    handle: IO[str] = path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            raise RunFolderError(
                f"output folder {out} is in use by pid {pid} (another geocorpus curate run); wait for it to "
                "finish, or use another output folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing drops the lock


def clear_run_folder(out: Path) -> None:
    """Delete the run entries geocorpus writes (RUN_ENTRIES) from a marked folder; anything else stays."""
    if not (out / MARKER_NAME).is_file():
        raise RunFolderError(f"{out} has no {MARKER_NAME} marker: geocorpus deletes nothing in it")
    for name in RUN_ENTRIES:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def settle_fingerprint(config: CurateConfig, overwrite: bool) -> RunState:
    """Compare this run's fingerprint with the folder's; write it for a new run. Call under the folder lock.

    ``overwrite`` discards the folder's run whatever its fingerprint (``--overwrite`` after a finished run
    runs it again)."""
    out = config.output_dir
    path = out / FINGERPRINT_NAME
    now = run_fingerprint(config)
    layout = RunLayout(out)
    started = path.is_file() or any((out / name).exists() for name in RUN_ENTRIES)
    if started:
        before = json.loads(path.read_text()) if path.is_file() else None
        if before == now and not overwrite:
            return RunState.RESUME
        if not overwrite:
            changes = fingerprint_changes(before, now) if before is not None else ["no fingerprint.json was found"]
            raise RunFolderError(
                f"output folder {out} holds a run of other settings or inputs; resuming would mix them:\n  - "
                + "\n  - ".join(changes)
                + f"\nRe-run with --overwrite to discard that run (only the files geocorpus wrote in {out} are "
                "deleted), or choose another output folder."
            )
        clear_run_folder(out)
    layout.root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(now, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return RunState.NEW


@contextlib.contextmanager
def guarded_run(config: CurateConfig, overwrite: bool = False) -> Iterator[RunState]:
    """Claim the output folder, lock it and settle the fingerprint; the lock is held until the block ends."""
    out = config.output_dir
    claim_folder(out)
    with folder_lock(out):
        yield settle_fingerprint(config, overwrite)
