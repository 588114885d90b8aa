"""Tagged Parquet as a list of (file, row group) units, and each reader's exact slice of it.

Why units: a row group is the smallest piece pyarrow reads lazily, so a reader (one DDP rank x one
dataloader worker) only ever holds one row group. Why slices over *kept* rows: splitting the shuffled
unit list into contiguous, equal ranges of documents gives every reader the same number of documents
(+-1) with none seen twice or skipped, even when there are fewer units than readers.

Paths may be fsspec URLs (``s3://``, ``gs://``, ``hf://``, ``memory://``): files are listed and opened
through :mod:`geocorpus.remote_paths`, which leaves local paths spelled as given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from geocorpus import remote_paths
from geocorpus.paths import RunLayout
from trainer_plugin.conditions import Condition


class CorpusError(ValueError):
    """The tagged corpus cannot be used: no files, missing columns, no documents for a region."""


@dataclass(frozen=True)
class Unit:
    """One row group of one file, with how many of its rows the condition keeps."""

    file: str
    row_group: int
    n_kept: int


def expand_paths(paths: Sequence[str | Path] | str | Path, split: str = "train") -> list[str]:
    """Parquet files named by files, globs or folders.

    A curation run folder (or its ``data/`` folder) yields that split's final shards, as
    ``geocorpus.paths.RunLayout`` lays them out; any other folder yields its ``{split}-*.parquet``.
    URLs are listed through fsspec the same way.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[str] = []
    for entry in paths:
        if remote_paths.is_remote(entry):
            files += _expand_url(str(entry), split)
            continue
        entry_path = Path(entry)
        if entry_path.is_dir():
            layout = RunLayout.of_corpus(entry_path)
            if layout is not None:
                folder, found = layout.data, [str(p) for p in layout.split_files(split)]
            else:
                folder, found = entry_path, remote_paths.glob_files(entry_path / f"{split}-*.parquet")
            if not found:
                raise CorpusError(f"no {split}-*.parquet files in folder {folder}")
            files += found
        elif entry_path.is_file():
            files.append(str(entry_path))
        else:
            found = remote_paths.glob_files(entry)
            if not found:
                raise CorpusError(f"no Parquet file matches {entry!s}")
            files += found
    return files


def _expand_url(url: str, split: str) -> list[str]:
    """expand_paths for one URL: a run folder (its ``data/``), a folder, a file or a glob."""
    if remote_paths.is_dir(url):
        data = remote_paths.join(url, "data")
        folder = data if remote_paths.is_dir(data) else url
        found = remote_paths.glob_files(remote_paths.join(folder, f"{split}-*.parquet"))
        if not found:
            raise CorpusError(f"no {split}-*.parquet files in folder {folder}")
        return found
    if remote_paths.is_file(url):
        return [url]
    found = remote_paths.glob_files(url)
    if not found:
        raise CorpusError(f"no Parquet file matches {url}")
    return found


def files_fingerprint(files: Iterable[str]) -> str:
    """sha256 over each file's name, size and Parquet footer (schema, row groups, statistics): cheap at
    any corpus size, changes whenever rows change, and unchanged when the folder moves."""
    digest = hashlib.sha256()
    for file in sorted(dict.fromkeys(files)):
        size = remote_paths.size(file)
        with remote_paths.open_binary(file) as handle:
            handle.seek(max(0, size - 8))
            tail = handle.read(8)
            footer = int.from_bytes(tail[:4], "little") if tail[4:] == b"PAR1" else 0
            handle.seek(max(0, size - 8 - footer))
            digest.update(f"{remote_paths.basename(file)}\0{size}\0".encode())
            digest.update(handle.read(footer))
    return digest.hexdigest()[:16]


def required_columns(condition: Condition) -> list[str]:
    """Columns the reader needs: text, title, the prefix's columns, and the region columns."""
    from trainer_plugin.template import METADATA_FIELDS

    columns = ["id", "text", "title", "country", "continent"]
    columns += [METADATA_FIELDS[f] for f in condition.metadata]
    return list(dict.fromkeys(columns))


HashRange = tuple[float, float]


def id_fractions(ids: Sequence[str | None]) -> np.ndarray:
    """Each document id's stable place in [0, 1) (xxh64): a slice of it is the same documents on every
    machine and run, whatever the file layout, so two slices of one corpus never share a document."""
    return np.fromiter(
        (xxhash.xxh64_intdigest(str(i).encode("utf-8")) / 2.0**64 for i in ids), dtype=np.float64, count=len(ids)
    )


def kept_mask(table: pa.Table, condition: Condition, hash_range: HashRange | None = None) -> pa.Array | None:
    """Boolean mask of the rows the condition's region filter (and the id slice) keeps; None when all."""
    mask = _region_mask(table, condition)
    if hash_range is None:
        return mask
    fractions = id_fractions(table.column("id").to_pylist())
    in_range = pa.array((fractions >= hash_range[0]) & (fractions < hash_range[1]))
    return in_range if mask is None else pc.and_(mask, in_range)


def _region_mask(table: pa.Table, condition: Condition) -> pa.Array | None:
    if not condition.has_region_filter:
        return None
    country = pc.utf8_lower(table.column("country"))
    continent = pc.utf8_lower(table.column("continent"))

    def tagged(regions: Sequence[str]) -> pa.Array:
        values = pa.array([r.lower() for r in regions], pa.string())
        hit = pc.or_(pc.is_in(country, value_set=values), pc.is_in(continent, value_set=values))
        return pc.fill_null(hit, False)

    mask = tagged(condition.include_regions) if condition.include_regions else None
    if condition.exclude_regions:
        keep = pc.invert(tagged(condition.exclude_regions))
        mask = keep if mask is None else pc.and_(mask, keep)
    return mask


def list_units(
    files: Sequence[str],
    condition: Condition,
    source_name: str = "corpus",
    hash_range: HashRange | None = None,
    columns: Sequence[str] | None = None,
) -> list[Unit]:
    """Validate every file's columns, count kept rows per row group; fail before any training."""
    needed = list(columns) if columns is not None else required_columns(condition)
    units: list[Unit] = []
    for file in files:
        try:
            parquet = _parquet(file)
        except Exception as exc:  # pyarrow raises several types for non-Parquet input
            raise CorpusError(f"{file}: not a readable Parquet file ({exc})") from exc
        missing = [c for c in needed if c not in parquet.schema_arrow.names]
        if missing:
            raise CorpusError(
                f"{file}: missing column(s) {missing} needed by condition {condition.name!r} "
                f"(expected the tagged-corpus schema, geocorpus.schema.CORPUS_SCHEMA)"
            )
        for group in range(parquet.num_row_groups):
            if condition.has_region_filter or hash_range is not None:
                table = parquet.read_row_group(group, columns=["id", "country", "continent"])
                n_kept = int(pc.sum(kept_mask(table, condition, hash_range)).as_py() or 0)
            else:
                n_kept = parquet.metadata.row_group(group).num_rows
            if n_kept:
                units.append(Unit(file, group, n_kept))
    if not units:
        regions = (
            f" (include_regions={list(condition.include_regions)}, exclude_regions={list(condition.exclude_regions)})"
            if condition.has_region_filter
            else ""
        )
        regions += f" (hash_range={list(hash_range)})" if hash_range is not None else ""
        raise CorpusError(
            f"{source_name}: no documents for condition {condition.name!r}{regions} in {len(files)} file(s)"
        )
    return units


def _parquet(file: str) -> pq.ParquetFile:
    """A local path as pyarrow opens it; a URL through an fsspec handle."""
    if not remote_paths.is_remote(file):
        return pq.ParquetFile(file)
    return pq.ParquetFile(remote_paths.open_binary(file))


def slot_slices(units: Sequence[Unit], order: np.ndarray, slot: int, n_slots: int) -> list[tuple[Unit, int, int]]:
    """The (unit, start, stop) pieces of kept rows that reader ``slot`` of ``n_slots`` owns.

    Units are laid end to end in ``order``; the reader owns kept rows ``[slot*T/S, (slot+1)*T/S)``.
    """
    total = sum(u.n_kept for u in units)
    lo, hi = total * slot // n_slots, total * (slot + 1) // n_slots
    pieces, offset = [], 0
    for index in order:
        unit = units[int(index)]
        start, stop = max(lo, offset), min(hi, offset + unit.n_kept)
        if start < stop:
            pieces.append((unit, start - offset, stop - offset))
        offset += unit.n_kept
        if offset >= hi:
            break
    return pieces


class UnitReader:
    """Reads slices of kept rows, one row group at a time, keeping file handles open."""

    def __init__(
        self, condition: Condition, hash_range: HashRange | None = None, columns: Sequence[str] | None = None
    ) -> None:
        self.condition = condition
        self.hash_range = hash_range
        self.columns = list(columns) if columns is not None else required_columns(condition)
        self._files: dict[str, pq.ParquetFile] = {}

    def slice(self, unit: Unit, start: int, stop: int) -> pa.Table:
        """Kept rows ``[start, stop)`` of one unit, as a table of the reader's columns."""
        parquet = self._files.get(unit.file)
        if parquet is None:
            parquet = self._files[unit.file] = _parquet(unit.file)
        table = parquet.read_row_group(unit.row_group, columns=self.columns)
        mask = kept_mask(table, self.condition, self.hash_range)
        if mask is not None:
            table = table.filter(mask)
        return table.slice(start, stop - start)

    def rows(self, unit: Unit, start: int, stop: int) -> Iterator[Any]:
        yield from self.slice(unit, start, stop).to_pylist()
