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

import numpy as np
import polars as pl
import pyarrow as pa

from geocorpus.finalize.balance import BalanceConfig, assign_split, balanced_rows, rank_hashes
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

    Consumes ``frame``: once dedup is done its keys (``_DEDUP_ONLY``) are dropped, and balancing takes
    the columns it reads out of it, so that no column is held twice. Rows go through balancing with
    their index in ``frame``, and each fate is written at that index into two arrays (a fate code and
    a position): the plan is built from them and ``frame``'s ``_file`` and ``_row``, without a join.
    """
    n = frame.height
    fates = _Fates(n)
    keep: pl.Series | None = None
    if exact and n:
        # the survivor order (source_file, source_row, id) needs source_file in string order; with hashed
        # ids the last tie (one file and row read by two inputs) goes by the id's hash, not its spelling
        dedup = exact_dedup(frame.select(*DEDUP_COLUMNS).with_columns(_lexical_rank(frame, "source_file")))
        if dedup.excluded.height:
            hit = frame["id"].is_in(dedup.excluded["id"].implode())
            index = np.flatnonzero(hit.to_numpy())
            found = pl.DataFrame({"id": frame["id"].gather(index)}).join(
                dedup.excluded.select("id", "reason"), on="id", how="left", maintain_order="left"
            )
            fates.exclude(index, "exact_dedup", found["reason"])
            keep = ~hit
            del hit, index, found
        del dedup
    for column in _DEDUP_ONLY:
        if column in frame.columns:
            frame.drop_in_place(column)
    # balancing takes its columns out of ``frame`` (and only the rows dedup kept), one at a time
    hashed = "rank_hash" not in frame.columns
    taken = ["id", *(() if hashed else ("rank_hash",)), "split", "n_tokens", "country", "continent"]
    columns = [pl.Series(_INDEX, np.arange(n, dtype=np.uint32 if n < 1 << 32 else np.uint64))]
    columns += [frame.drop_in_place(column) for column in taken]
    if keep is not None:
        for i in range(len(columns)):
            columns[i] = columns[i].filter(keep)  # one column at a time: each unfiltered one is freed at once
    candidates = pl.DataFrame(columns)
    del columns, keep
    result = balanced_rows(
        candidates, config, given_split=True, ids_are_rank_hashes=hashed, carry=(_INDEX,), consume=True
    )
    del candidates
    rows = result.rows
    excluded = rows.lazy().filter(pl.col("reason").is_not_null()).select(_INDEX, "reason").collect()
    fates.exclude(excluded[_INDEX].to_numpy(), "balance", excluded["reason"])
    del excluded
    for split in SPLITS:
        kept = rows.lazy().filter(pl.col("reason").is_null() & (pl.col("split") == split)).select(_INDEX, "order")
        chosen = kept.collect()
        fates.keep(chosen[_INDEX].to_numpy(), split, chosen["order"].to_numpy())
    del rows
    plan = fates.plan(frame.select(_FILE, _ROW))
    return Selection(plan=plan, rows=fates.kept, balance=result.report)


#: Column that carries a row's index in the selection frame through balancing.
_INDEX = "_index"


class _Fates:
    """Every row's fate, written at its index: a code (0: none yet; then one per split kept; then one per
    (stage, reason) excluded) and, when kept, its output position. 9 bytes a row."""

    def __init__(self, rows: int) -> None:
        self.codes = np.zeros(rows, np.uint8)
        self.positions = np.zeros(rows, np.int64)
        self.names: list[tuple[str, str | None]] = [(split, None) for split in SPLITS]
        self.kept = dict.fromkeys(SPLITS, 0)

    def _code(self, name: tuple[str, str | None]) -> int:
        if name not in self.names:
            self.names.append(name)
        code = self.names.index(name) + 1
        if code > np.iinfo(self.codes.dtype).max:
            raise RuntimeError("finalize: more exclusion reasons than the plan can number")
        return code

    def _claim(self, index: np.ndarray, code: np.ndarray | int) -> None:
        if (self.codes[index] != 0).any():
            raise RuntimeError("finalize: rows kept and excluded do not partition the input (a row given two fates)")
        self.codes[index] = code

    def exclude(self, index: np.ndarray, stage: str, reasons: pl.Series) -> None:
        """Rows at ``index`` excluded by ``stage`` for ``reasons`` (one per row)."""
        values = reasons.cast(pl.String)
        names = values.unique().drop_nulls().sort().to_list()
        if values.null_count():
            raise RuntimeError(f"finalize: {stage} excluded rows without a reason")
        codes = values.replace_strict({name: self._code((stage, name)) for name in names}, return_dtype=pl.UInt8)
        self._claim(index, codes.to_numpy())

    def keep(self, index: np.ndarray, split: str, order: np.ndarray) -> None:
        """Rows at ``index`` kept in ``split`` at output positions ``order`` (0 .. n - 1, each once)."""
        seen = np.zeros(len(index), bool)
        if len(index) and (order.min() < 0 or order.max() >= len(index)):
            raise RuntimeError(f"finalize: the {split} positions are not 0 .. {len(index) - 1}")
        seen[order] = True
        if not seen.all():
            raise RuntimeError(f"finalize: the {split} positions are not 0 .. {len(index) - 1}, each once")
        self._claim(index, self._code((split, None)))
        self.positions[index] = order
        self.kept[split] += len(index)

    def plan(self, where: pl.DataFrame) -> pl.DataFrame:
        """``where`` (_file, _row) beside split, position, stage and reason, from the codes."""
        if (self.codes == 0).any():
            first = int(np.flatnonzero(self.codes == 0)[0])
            raise RuntimeError(
                f"finalize: rows kept and excluded do not partition the input (row {first} has no fate)"
            )
        codes = pl.Series(self.codes)
        splits = {i + 1: name for i, (name, reason) in enumerate(self.names) if reason is None}
        stages = {i + 1: name for i, (name, reason) in enumerate(self.names) if reason is not None}
        reasons = {i + 1: reason for i, (_, reason) in enumerate(self.names) if reason is not None}
        kept = codes.is_in(list(splits))

        def named(names: dict[int, str]) -> pl.Series:
            dtype = pl.Enum(sorted(set(names.values())))
            return codes.replace_strict(names, default=None, return_dtype=dtype)

        return where.with_columns(
            named(splits).alias("split"),
            pl.when(kept).then(pl.Series(self.positions)).alias("position"),
            named(stages).alias("stage"),
            named(reasons).alias("reason"),
        )
