"""Read the held-out documents of a tagged corpus (CORPUS_SCHEMA Parquet) for evaluation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from geocorpus.paths import RunLayout
from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.template import METADATA_FIELDS, PAPER_TEMPLATE, MetadataTemplate

#: Columns every evaluated document needs, whatever the template.
BASE_COLUMNS = ("id", "text", "title", "country", "continent")


def parquet_files(paths: Iterable[str | Path], split: str | None = None) -> list[Path]:
    """Files as given; a curation run folder (or its ``data/``) gives its final shards of ``split``
    (all of them when None), so work files under ``stages/`` are never read; any other folder gives
    its ``*.parquet`` files (recursively, sorted)."""
    files: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            layout = RunLayout.of_corpus(path)
            if layout is None:
                found, what = sorted(path.rglob("*.parquet")), ".parquet"
            elif split is None:
                found, what = layout.data_files(), "data/*.parquet"
            else:
                found, what = layout.split_files(split), f"data/{split}-*.parquet"
            if not found:
                raise EvaluationError(f"folder {str(path)!r} holds no {what} files")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise EvaluationError(f"corpus path {str(path)!r} does not exist")
    if not files:
        raise EvaluationError("no corpus files given")
    return files


def load_eval_documents(
    paths: Sequence[str | Path],
    split: str | None = "eval",
    template: MetadataTemplate | None = PAPER_TEMPLATE,
    limit: int | None = None,
) -> pl.DataFrame:
    """Documents of ``split`` (all rows when None), with the columns the template reads; the first
    ``limit`` of them (in file order) when given.

    Each file is checked on its own, so an error names the file that lacks a column and the row
    that lacks a country.
    """
    needed = list(BASE_COLUMNS)
    if template is not None:
        needed += [METADATA_FIELDS[name] for name in template.fields if METADATA_FIELDS[name] not in needed]
    if split is not None:
        needed.append("split")
    frames = []
    for file in parquet_files(paths, split):
        columns = pq.read_schema(file).names
        missing = [c for c in needed if c not in columns]
        if missing:
            raise EvaluationError(f"{file}: missing column(s) {missing} needed for evaluation")
        frame = pl.read_parquet(file, columns=needed).with_row_index("source_row")
        if split is not None:
            frame = frame.filter(pl.col("split") == split)
        untagged = frame.filter(pl.col("country").is_null() | pl.col("continent").is_null())
        if untagged.height:
            row = untagged.row(0, named=True)
            raise EvaluationError(
                f"{file} row {row['source_row']} (id {row['id']!r}): no country/continent tag; "
                f"{untagged.height} such row(s) in split {split!r} cannot be assigned a region"
            )
        frames.append(frame.with_columns(pl.lit(str(file)).alias("source_file")))
    documents = pl.concat(frames, how="vertical_relaxed")
    if documents.height == 0:
        raise EvaluationError(f"no documents with split == {split!r} in {[str(p) for p in paths]}")
    return documents if limit is None else documents.head(limit)
