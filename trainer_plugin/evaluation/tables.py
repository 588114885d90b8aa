"""Write a result table as CSV + Parquet and show it as a rich table: the same numbers three ways."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table


def write_table(frame: pl.DataFrame, out_dir: str | Path, stem: str) -> tuple[Path, Path]:
    """``<out_dir>/<stem>.csv`` and ``.parquet``; returns both paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = folder / f"{stem}.csv", folder / f"{stem}.parquet"
    frame.write_csv(csv_path)
    frame.write_parquet(parquet_path)
    return csv_path, parquet_path


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def rich_table(frame: pl.DataFrame, title: str, max_rows: int = 60) -> Table:
    """A rich Table of the first ``max_rows`` rows, floats to 4 significant digits."""
    table = Table(title=title)
    for column in frame.columns:
        numeric = frame.schema[column].is_numeric()
        table.add_column(column, justify="right" if numeric else "left")
    for row in frame.head(max_rows).iter_rows():
        table.add_row(*(_cell(value) for value in row))
    return table


def with_intervals(frame: pl.DataFrame, metrics: list[str], keep: list[str]) -> pl.DataFrame:
    """``keep`` columns plus one text column per metric, "value [low, high]", for narrow terminals."""
    return frame.select(
        *keep,
        *[
            pl.format("{} [{}, {}]", *(pl.col(c).round(2) for c in (m, f"{m}_low", f"{m}_high"))).alias(m)
            for m in metrics
        ],
    )


def show_table(frame: pl.DataFrame, title: str, console: Console | None = None) -> None:
    """Print the table to the terminal."""
    (console or Console()).print(rich_table(frame, title))
