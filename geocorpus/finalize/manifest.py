"""What went into a run: input file fingerprints, package versions and the registry version.

The manifest must name exactly the files the readers read (not every file in an input folder), so
fingerprints come from the readers' own file listing.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING

import xxhash

from geocorpus.readers.spec import build_reader_steps

if TYPE_CHECKING:
    from geocorpus.config import CurateConfig

FINGERPRINT_FULL_LIMIT = 1 << 30  # hash whole files up to 1 GiB; larger ones by head+tail+size
_PART = 64 << 20


def input_files(config: CurateConfig) -> list[tuple[str, str]]:
    """(input name, file path) for every file a reader of ``config`` reads, in reading order."""
    files = []
    for spec in config.inputs:
        reader = build_reader_steps(spec)[0]
        files += [(spec.name, path) for path in reader.all_files()]
    return files


def fingerprint_file(path: str) -> dict:
    """Size and xxh64 of one file (head and tail only past FINGERPRINT_FULL_LIMIT), via fsspec."""
    from fsspec.core import url_to_fs

    fs, local = url_to_fs(path)
    size = int(fs.size(local))
    digest = xxhash.xxh64()
    with fs.open(local, "rb") as handle:
        if size <= FINGERPRINT_FULL_LIMIT:
            for chunk in iter(lambda: handle.read(1 << 22), b""):
                digest.update(chunk)
            how = "xxh64"
        else:
            digest.update(handle.read(_PART))
            handle.seek(size - _PART)
            digest.update(handle.read())
            how = "xxh64(head64MiB+tail64MiB)"
    return {"bytes": size, how: digest.hexdigest()}


def fingerprint_inputs(config: CurateConfig) -> list[dict]:
    """One record per file the readers read: input name, path, size and hash."""
    return [{"input": name, "file": path, **fingerprint_file(path)} for name, path in input_files(config)]


def package_versions() -> dict[str, str]:
    names = ["geocorpus", "datatrove", "polars", "pyarrow", "tldextract", "pycountry", "py3langid"]
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def registry_version() -> str | None:
    try:
        from geocorpus.registry import OutletRegistry

        return OutletRegistry.builtin().version
    except Exception as exc:  # the manifest records what it can; a broken registry fails earlier, in tagging
        return f"unavailable: {exc}"
