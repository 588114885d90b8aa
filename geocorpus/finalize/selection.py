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

from geocorpus.finalize.balance import BalanceConfig, assign_split, balance, rank_hashes
from geocorpus.finalize.exact_dedup import DEDUP_COLUMNS, exact_dedup
from geocorpus.finalize.shards import open_shard
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
#: Keys only compared for equality, held as hashes: the URL key as 128 bits (16 bytes instead of a
#: ~100-character URL), the text hash (already a 64-bit xxhash, in hex) as 64 bits, which about doubles
#: the chance that two different texts are taken for one (xxhash's own, ~n**2 / 2**65 for n texts).
_EQUALITY_KEYS = {"url_key": 128, "text_hash": 64}
_SPLIT = pl.Enum(list(SPLITS))
#: Columns only exact dedup reads.
_DEDUP_ONLY = ("url_key", "text_hash", "source_file", "source_row")


def _hash_key(column: str, bits: int) -> pl.Expr:
    """A seeded 64-bit hash, or two as one u128; null stays null. Equality within this process is all
    that is asked of it (polars' hash may change between versions; nothing is stored)."""
    col = pl.col(column)
    combined = col.hash(seed=0x5EED)
    if bits == 128:
        combined = combined.cast(pl.UInt128) * (1 << 64) + col.hash(seed=0xC0FFEE).cast(pl.UInt128)
    return pl.when(col.is_not_null()).then(combined).alias(column)


def read_selection_columns(
    shards: Sequence[Path], config: BalanceConfig | None = None, hash_ids: bool = True
) -> pl.DataFrame:
    """``SELECTION_COLUMNS`` of every shard, compacted, plus ``_file`` / ``_row`` (where each row sits).

    Shard by shard, the eval split is assigned (:func:`assign_split` with ``config``'s seed and
    fraction) so the URL itself is not kept; ``url_key`` and ``text_hash`` become hashes
    (``_EQUALITY_KEYS``) and low-cardinality strings categoricals; ``rank_hash`` is balancing's seeded
    hash of the id. With ``hash_ids`` that hash also stands for the id (``id`` is the u64 ``rank_hash``,
    not held twice): the id strings, ~60 bytes a document, were the largest column held, and every sort
    and join of dedup and balancing copied them. Callers check that the hashes are unique
    (:func:`selection_columns`). What stays per document: ~70 bytes, or the id plus ~75 bytes.
    """
    config = config or BalanceConfig()
    frames = []
    for index, path in enumerate(shards):
        table = open_shard(Path(path)).read(columns=SELECTION_COLUMNS)
        frame = assign_split(pl.DataFrame(table), config.eval_fraction, config.seed)
        rank = rank_hashes(frame["id"], config.seed)
        frames.append(
            frame.select(
                *((rank.alias("id"),) if hash_ids else (pl.col("id"), rank)),
                *(_hash_key(c, bits) for c, bits in _EQUALITY_KEYS.items()),
                *(pl.col(c).cast(pl.Categorical) for c in _CATEGORICAL),
                "source_row",
                "n_tokens",
                pl.col("split").cast(_SPLIT),
                pl.lit(index, pl.UInt32).alias(_FILE),
                pl.int_range(pl.len(), dtype=pl.UInt32).alias(_ROW),
            )
        )
        del table, frame
        pa.default_memory_pool().release_unused()  # the shard's strings: Arrow's allocator kept their pages
    if not frames:
        return pl.DataFrame(
            schema={
                **({"id": pl.UInt64} if hash_ids else {"id": pl.String, "rank_hash": pl.UInt64}),
                **{c: pl.UInt128 if bits == 128 else pl.UInt64 for c, bits in _EQUALITY_KEYS.items()},
                **dict.fromkeys(_CATEGORICAL, pl.Categorical),
                "source_row": pl.Int64,
                "n_tokens": pl.Int64,
                "split": _SPLIT,
                _FILE: pl.UInt32,
                _ROW: pl.UInt32,
            }
        )
    return pl.concat(frames, rechunk=False)


def selection_columns(shards: Sequence[Path], config: BalanceConfig | None = None) -> pl.DataFrame:
    """:func:`read_selection_columns` with ids held as their 64-bit hash when those are unique; else (a
    hash collision, ~n**2 / 2**65 for n documents, or ids that really repeat) with the ids themselves,
    so that dedup and balancing see the real ids (and name any that repeat)."""
    frame = read_selection_columns(shards, config)
    if frame["id"].n_unique() == frame.height:
        return frame
    del frame
    return read_selection_columns(shards, config, hash_ids=False)


def _exclusions(rows: pl.DataFrame, stage: str) -> pl.DataFrame:
    """Excluded rows (id, reason) as plan fates: stage and reason as categoricals, 4 bytes a row instead
    of a 16-byte string view (strings again in the plan files)."""
    return rows.select("id", pl.lit(stage, dtype=pl.Categorical).alias("stage"), pl.col("reason").cast(pl.Categorical))


def _lexical_rank(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A categorical column as the rank of its values in string order (u32): sorts like the strings."""
    values = frame.select(pl.col(column).unique().drop_nulls()).to_series()
    order = sorted(values.cast(pl.String).to_list())
    rank = {name: i for i, name in enumerate(order)}
    physical = dict(zip(values.to_physical().to_list(), (rank[v] for v in values.cast(pl.String).to_list())))
    return pl.col(column).to_physical().replace_strict(physical, default=None, return_dtype=pl.UInt32).alias(column)


@dataclass
class Selection:
    """``plan``: _file, _row, split, position, stage, reason (every input row exactly once, in the
    frame's order: shard, then row);
    ``rows``: rows kept per split; ``balance``: the balancing report per region."""

    plan: pl.DataFrame
    rows: dict[str, int]
    balance: dict[str, dict]


def select_rows(frame: pl.DataFrame, exact: bool, config: BalanceConfig) -> Selection:
    """Exact dedup (when ``exact``), then balancing; every row of ``frame`` (from
    :func:`read_selection_columns` with the same ``config``) ends kept or excluded.

    Consumes ``frame``: once dedup is done its keys (``_DEDUP_ONLY``, about half of what it holds per row)
    are dropped from it in place, and once balancing is done all but ``id``, ``_file`` and ``_row``, so
    that neither balancing nor the plan is built beside columns no longer read.
    """
    excluded = [pl.DataFrame(schema={"id": frame.schema["id"], "stage": pl.Categorical, "reason": pl.Categorical})]
    # only the columns balancing reads go on (a join copies every column it is given)
    rank = pl.col("rank_hash") if "rank_hash" in frame.columns else pl.col("id").alias("rank_hash")  # hashed ids
    # lazy over these columns only: balancing materializes it once, inside, and no copy is held beside
    # its rows
    candidates = frame.select("id", rank, "split", "n_tokens", "country", "continent").lazy()
    if exact and frame.height:
        # the survivor order (source_file, source_row, id) needs source_file in string order; with hashed
        # ids the last tie (one file and row read by two inputs) goes by the id's hash, not its spelling
        dedup = exact_dedup(frame.select(*DEDUP_COLUMNS).with_columns(_lexical_rank(frame, "source_file")))
        excluded.append(_exclusions(dedup.excluded, "exact_dedup"))
        if dedup.excluded.height:
            candidates = candidates.join(dedup.excluded.lazy().select("id"), on="id", how="anti")
        del dedup
    for column in _DEDUP_ONLY:
        if column in frame.columns:
            frame.drop_in_place(column)
    result = balance(candidates, config, given_split=True)
    del candidates
    for column in [c for c in frame.columns if c not in ("id", _FILE, _ROW)]:
        frame.drop_in_place(column)  # the plan needs only these
    excluded.append(_exclusions(result.excluded, "balance"))
    # ``selected`` comes sorted by split (train first) then order: number each split's rows from 0, an
    # eval row's position being its index less the train rows (no window over split)
    trains = int((result.selected["split"] == "train").sum())
    kept = result.selected.select(
        "id",
        pl.col("split").cast(pl.Categorical),
        (pl.int_range(pl.len(), dtype=pl.Int64) - pl.when(pl.col("split") == "train").then(0).otherwise(trains)).alias(
            "position"
        ),
    )
    report = result.report
    del result  # its excluded ids and reasons as strings: most rows, when balancing caps
    # one join, in the frame's order (shard, row): no second join and no sort of the whole plan
    fates = pl.concat([kept, *excluded], how="diagonal")
    del excluded
    plan = frame.select("id", _FILE, _ROW).join(fates, on="id", how="left", maintain_order="left")
    del fates
    count = plan.select(
        (pl.col("position").is_not_null().cast(pl.Int8) + pl.col("stage").is_not_null().cast(pl.Int8)).alias("n")
    )["n"]
    if plan.height != frame.height or (count != 1).any():
        bad = plan.filter(count != 1)["id"].head(5).to_list()
        raise RuntimeError(f"finalize: rows kept and excluded do not partition the input (e.g. {bad})")
    rows = {split: int(n) for split, n in kept.group_by("split").len().iter_rows()}
    return Selection(plan=plan.drop("id"), rows={s: rows.get(s, 0) for s in SPLITS}, balance=report)
