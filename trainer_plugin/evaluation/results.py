"""``results.json``: what an evaluation measured and exactly what it measured it on.

Like lm-evaluation-harness's ``--output_path``: every ``geocorpus eval`` command writes one JSON file
beside its tables with the command's settings, each model's path and weight-file hash, the tokenizer,
a fingerprint of every data file read, package versions, and the metrics with their intervals
(regions with too few documents or questions carry ``small_n: true``). Two results files with the
same hashes and settings are the same experiment.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import polars as pl

from geocorpus.finalize.manifest import fingerprint_file, package_versions
from trainer_plugin.checkpoints import CheckpointError, resolve_model_dir

RESULTS_FILE = "results.json"
#: Files that hold a transformers model's weights (not a checkpoint's optimizer state) or its tokenizer.
WEIGHT_PATTERNS = ("model*.safetensors", "pytorch_model*.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "merges.txt", "tokenizer_config.json")


def _files_fingerprint(folder: Path, names: Sequence[Path]) -> dict[str, Any]:
    return {str(p.relative_to(folder)): fingerprint_file(str(p)) for p in sorted(names)}


def _loaded_folder(path: str | Path, names: Sequence[str]) -> Path:
    """The folder the files were loaded from: ``path`` itself, or for a training run folder the model
    folder or checkpoint the commands load (``resolve_model_dir``), so a run folder's hashes are not empty."""
    folder = Path(path)
    if not folder.is_dir() or any(next(folder.glob(n), None) for n in names):
        return folder
    try:
        return resolve_model_dir(folder)
    except CheckpointError:
        return folder


def model_record(path: str | Path) -> dict[str, Any]:
    """Path (and the folder loaded, for a run folder) and per-file xxh64 of the model's weight files."""
    given = Path(path)
    folder = _loaded_folder(given, WEIGHT_PATTERNS)
    weights = sorted({p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern)}) if folder.is_dir() else []
    record: dict[str, Any] = {"path": str(given.resolve()), "weights": _files_fingerprint(folder, weights)}
    if folder != given:
        record["loaded"] = str(folder.resolve())
    return record


def tokenizer_record(path: str | Path, tokenizer: Any = None) -> dict[str, Any]:
    """Path (and the folder loaded, for a run folder), class, vocabulary size and file hashes of the tokenizer."""
    given = Path(path)
    folder = _loaded_folder(given, TOKENIZER_FILES)
    files = [folder / n for n in TOKENIZER_FILES if (folder / n).is_file()]
    record: dict[str, Any] = {"path": str(given.resolve()), "files": _files_fingerprint(folder, files)}
    if folder != given:
        record["loaded"] = str(folder.resolve())
    if tokenizer is not None:
        record["class"] = type(tokenizer).__name__
        record["vocab_size"] = len(tokenizer)
    return record


def data_record(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Size and xxh64 of every data file read (folders: their Parquet files)."""
    records = []
    for entry in paths:
        path = Path(entry)
        files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        records += [{"file": str(f.resolve()), **fingerprint_file(str(f))} for f in files]
    return records


def versions() -> dict[str, str]:
    """geocorpus's manifest versions plus the evaluation stack."""
    found = package_versions()
    for name in ("torch", "transformers", "numpy"):
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _plain(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, paths strings, tuples lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def table_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """A result table as JSON rows."""
    return [_plain(row) for row in frame.to_dicts()]


def write_results(
    out_dir: str | Path,
    command: str,
    settings: Mapping[str, Any],
    metrics: Mapping[str, Any],
    models: Mapping[str, str | Path] | None = None,
    tokenizer: Mapping[str, Any] | None = None,
    data: Sequence[str | Path] = (),
) -> Path:
    """Write ``<out_dir>/results.json``; returns its path."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": command,
        "created_unix": time.time(),
        "settings": _plain(dict(settings)),
        "models": {name: model_record(path) for name, path in (models or {}).items()},
        "tokenizer": _plain(dict(tokenizer)) if tokenizer is not None else None,
        "data": data_record(data),
        "versions": versions(),
        "metrics": _plain(dict(metrics)),
    }
    path = folder / RESULTS_FILE
    path.write_text(json.dumps(payload, indent=2, sort_keys=False), encoding="utf-8")
    return path
