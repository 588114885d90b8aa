"""Which tagged rows become the corpus: exact dedup, balancing and the eval split, on metadata columns only.

Finalize reads only ``SELECTION_COLUMNS`` of every tagged shard (Parquet column projection: no text
is read here), decides for every row whether it is kept (split and output position) or excluded
(stage and reason), and records that as a *plan*: one small table per tagged shard, row by row in
shard order, so that each write task streams its shards without any lookup (``shards.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa

from geocorpus.finalize.balance import BalanceConfig, balance
from geocorpus.finalize.exact_dedup import exact_dedup
from geocorpus.finalize.shards import PLAN_SCHEMA, open_shard
from geocorpus.paths import SPLITS

SELECTION_COLUMNS = [
    "id",
    "url_normalized",
    "url_key",
    "text_hash",
    "source_file",
    "source_row",
    "country",
    "continent",
    "n_tokens",
]
#: Columns that name a row's place: index of its tagged shard, row within that shard.
_FILE, _ROW = "_file", "_row"
#: Columns with few distinct values, held as categoricals (a few bytes per row instead of a string).
_CATEGORICAL = ("source_file", "country", "continent")


def read_selection_columns(shards: Sequence[Path]) -> pl.DataFrame:
    """``SELECTION_COLUMNS`` of every shard, plus ``_file`` / ``_row`` (where each row sits)."""
    frames = []
    for index, path in enumerate(shards):
        table = open_shard(Path(path)).read(columns=SELECTION_COLUMNS)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        frames.append(
            frame.with_columns(
                *(pl.col(c).cast(pl.Categorical) for c in _CATEGORICAL),
                pl.lit(index, pl.UInt32).alias(_FILE),
                pl.int_range(pl.len(), dtype=pl.UInt32).alias(_ROW),
            )
        )
    if not frames:
        return pl.DataFrame(
            schema={
                "id": pl.String,
                "url_normalized": pl.String,
                "url_key": pl.String,
                "text_hash": pl.String,
                "source_file": pl.Categorical,
                "source_row": pl.Int64,
                "country": pl.Categorical,
                "continent": pl.Categorical,
                "n_tokens": pl.Int64,
                _FILE: pl.UInt32,
                _ROW: pl.UInt32,
            }
        )
    return pl.concat(frames, rechunk=True)


@dataclass
class Selection:
    """``plan``: _file, _row, split, position, stage, reason (every input row exactly once);
    ``rows``: rows kept per split; ``balance``: the balancing report per region."""

    plan: pl.DataFrame
    rows: dict[str, int]
    balance: dict[str, dict]

    def file_plan(self, file_index: int) -> pa.Table:
        """The plan of one tagged shard, row by row (PLAN_SCHEMA)."""
        rows = self.plan.filter(pl.col(_FILE) == file_index).sort(_ROW)
        return rows.select(PLAN_SCHEMA.names).to_arrow().cast(PLAN_SCHEMA)


def select_rows(frame: pl.DataFrame, exact: bool, config: BalanceConfig) -> Selection:
    """Exact dedup (when ``exact``), then balancing and the split; every row ends kept or excluded."""
    excluded = [pl.DataFrame(schema={"id": pl.String, "stage": pl.String, "reason": pl.String})]
    candidates = frame
    if exact and frame.height:
        dedup = exact_dedup(frame.with_columns(pl.col("source_file").cast(pl.String)))
        excluded.append(dedup.excluded.select("id", pl.lit("exact_dedup").alias("stage"), "reason"))
        candidates = frame.join(dedup.kept.select("id"), on="id", how="semi")
    result = balance(candidates.with_columns(pl.col(c).cast(pl.String) for c in ("country", "continent")), config)
    excluded.append(result.excluded.select("id", pl.lit("balance").alias("stage"), "reason"))
    # ``selected`` comes sorted by split then order: number each split's rows from 0.
    kept = result.selected.select(
        "id", "split", pl.int_range(pl.len(), dtype=pl.Int64).over("split").alias("position")
    )
    plan = (
        frame.select("id", _FILE, _ROW)
        .join(kept, on="id", how="left")
        .join(pl.concat(excluded), on="id", how="left")
        .sort(_FILE, _ROW)
    )
    fates = plan.select(
        (pl.col("position").is_not_null().cast(pl.Int8) + pl.col("stage").is_not_null().cast(pl.Int8)).alias("n")
    )["n"]
    if plan.height != frame.height or (fates != 1).any():
        bad = plan.filter(fates != 1)["id"].head(5).to_list()
        raise RuntimeError(f"finalize: rows kept and excluded do not partition the input (e.g. {bad})")
    rows = {split: int(n) for split, n in kept.group_by("split").len().iter_rows()}
    return Selection(plan=plan.drop("id"), rows={s: rows.get(s, 0) for s in SPLITS}, balance=result.report)
