"""Region balancing and the held-out eval split of the tagged corpus (finalize stage).

Everything here works on the small metadata columns (id, url_normalized, country, continent,
n_tokens); texts are only touched by :func:`geocorpus.finalize.shards.write_selection`, which streams them. Every random
choice is a rank by a seeded xxh64 hash of a document's own key, never of its row position, so the
same config gives the same selection whatever the input order or shard count. Semantics and a
worked example: docs/balancing.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import xxhash

from geocorpus.typed_config import from_mapping

BALANCE_COLUMNS = ["id", "url_normalized", "country", "continent", "n_tokens"]
#: Every reason balancing gives. Held as an enum (and split as one, the region as a categorical):
#: a few bytes a row instead of a 16-byte string view, in every copy that sorting and marking make.
_REASON = pl.Enum(
    [
        "region_not_included",
        "region_excluded",
        "eval_over_cap",
        "over_cap",
        "temperature_sample",
        "region_unknown",
        "interleave_truncated",
    ]
)
_SPLIT = pl.Enum(["train", "eval"])
REGION_COLUMNS = ("country", "continent")
UNITS = ("documents", "tokens")
METHODS = ("none", "cap", "temperature", "paper_interleave")
#: Region name for documents whose country/continent tag is null.
UNKNOWN_REGION = "unknown"
#: Salt that keeps the within-region ranking independent of the split hash.
_RANK_SALT = 0x9E3779B97F4A7C15
_HASH_SPACE = 1 << 64
_HASH_SLICE = 1 << 16


# --------------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------------


@dataclass
class BalanceConfig:
    """How the finalize stage picks and splits documents per region (see docs/balancing.md)."""

    by: str = "continent"
    unit: str = "documents"
    method: str = "none"
    caps: dict[str, int] = field(default_factory=dict)
    targets: dict[str, int] = field(default_factory=dict)
    temperature: float = 1.0
    total: int | None = None
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    eval_fraction: float = 0.0
    eval_max_per_region: int | None = None
    seed: int = 0
    #: a local tokenizer (``tokenizer.json`` or a folder holding one): ``n_tokens`` then counts its tokens, so
    #: ``unit: tokens`` balances in the tokens the model will train on (default: whitespace words)
    tokenizer: str | None = None

    def __post_init__(self) -> None:
        """Value checks; types are checked by the config validator (:mod:`geocorpus.typed_config`)."""
        _check_choice("by", self.by, REGION_COLUMNS)
        _check_choice("unit", self.unit, UNITS)
        _check_choice("method", self.method, METHODS)
        for name in ("caps", "targets"):
            for region, value in getattr(self, name).items():
                _check_int(f"{name}.{region}", value, minimum=0)
        if self.temperature < 0:
            raise ValueError(f"balance.temperature: must be >= 0, got {self.temperature}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"balance.eval_fraction: must be in [0, 1), got {self.eval_fraction}")
        if self.total is not None:
            _check_int("total", self.total, minimum=1)
        if self.eval_max_per_region is not None:
            _check_int("eval_max_per_region", self.eval_max_per_region, minimum=0)
        _check_int("seed", self.seed, minimum=0)
        if self.tokenizer is not None:
            tokenizer_file(self.tokenizer)  # raises naming the key
        if self.method == "paper_interleave" and self.unit != "documents":
            raise ValueError("balance.unit: paper_interleave alternates documents, so unit must be 'documents'")

    @classmethod
    def from_dict(cls, data: dict) -> BalanceConfig:
        """Build from a config mapping; unknown keys or wrong types raise ConfigError naming the key."""
        return from_mapping(cls, data, "balance")


def tokenizer_file(path: str) -> Path:
    """The ``tokenizer.json`` that ``balance.tokenizer`` names (the file, or a folder holding it)."""
    found = Path(path).expanduser()
    if found.is_dir():
        found = found / "tokenizer.json"
    if not found.is_file():
        raise ValueError(
            f"balance.tokenizer: {path} is neither a tokenizer.json file nor a folder holding one "
            "(a local Hugging Face tokenizer folder; nothing is downloaded)"
        )
    return found


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"balance.{name}: expected one of {list(choices)}, got {value!r}")


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"balance.{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"balance.{name}: must be >= {minimum}, got {value}")


def _check_number(name: str, value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"balance.{name}: expected a finite number, got {value!r}")


# --------------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------------


def _stable_hash(values: pl.Series, seed: int) -> pl.Series:
    """xxh64 of each string: unlike polars' hash, stable across library versions and platforms.

    Hashed in slices straight into a uint64 array, so millions of ids never become one Python list.
    """
    hashes = np.empty(len(values), dtype=np.uint64)
    for start in range(0, len(values), _HASH_SLICE):
        chunk = values.slice(start, _HASH_SLICE).to_list()
        hashes[start : start + len(chunk)] = np.fromiter(
            (xxhash.xxh64_intdigest(v, seed) for v in chunk), dtype=np.uint64, count=len(chunk)
        )
    return pl.Series(hashes, dtype=pl.UInt64)


def rank_hashes(ids: pl.Series, seed: int) -> pl.Series:
    """The seeded hash that orders a region's documents for balancing (what :func:`balance` computes from
    ``id`` unless the frame brings a ``rank_hash`` column computed here, so ids need not be held)."""
    return _stable_hash(ids.cast(pl.String), (seed ^ _RANK_SALT) % _HASH_SPACE).alias("rank_hash")


def assign_split(frame: pl.DataFrame | pl.LazyFrame, eval_fraction: float, seed: int) -> pl.DataFrame:
    """Add ``split`` (train | eval) from a seeded hash of ``url_normalized`` (``id`` when it is null).

    Hashing the URL rather than drawing per row keeps every copy of one URL on the same side.
    """
    _check_number("eval_fraction", eval_fraction)
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError(f"assign_split: eval_fraction must be in [0, 1), got {eval_fraction}")
    _check_int("seed", seed, minimum=0)
    rows = frame.lazy().collect()
    for column in ("id", "url_normalized"):
        if column not in rows.columns:
            raise ValueError(f"assign_split: input frame lacks column {column!r}")
    keys = rows.select(
        pl.when(pl.col("url_normalized").is_not_null())
        .then(pl.lit("url:") + pl.col("url_normalized"))
        .otherwise(pl.lit("id:") + pl.col("id").cast(pl.String))
    ).to_series()
    threshold = int(eval_fraction * _HASH_SPACE)
    is_eval = _stable_hash(keys, seed) < threshold
    return rows.with_columns(pl.when(is_eval).then(pl.lit("eval")).otherwise(pl.lit("train")).alias("split"))


# --------------------------------------------------------------------------------------------------
# balance
# --------------------------------------------------------------------------------------------------


@dataclass
class BalanceResult:
    """``selected``: id, split, order (output position within its split); ``excluded``: id, reason;
    ``report``: per region, counts available / selected / dropped by reason, target and shortfall."""

    selected: pl.DataFrame
    excluded: pl.DataFrame
    report: dict[str, dict]


def balance(frame: pl.DataFrame | pl.LazyFrame, config: BalanceConfig, *, given_split: bool = False) -> BalanceResult:
    """Split, then filter regions, cap eval per region, and balance the train split by ``config.method``.

    With ``given_split`` the frame's ``split`` column (from :func:`assign_split` with the same seed and
    fraction) is used as is and ``url_normalized`` is not needed. A ``rank_hash`` column (from
    :func:`rank_hashes` of the ids, same seed) is used as is; ``id`` then only needs to be unique.
    """
    balanced = balanced_rows(frame, config, given_split=given_split)
    rows = balanced.rows.lazy()
    kept = pl.col("reason").is_null()
    selected = (
        rows.filter(kept)
        .select("id", "split", "order")
        .sort(pl.col("split") != "train", "order")
        .with_columns(pl.col("split").cast(pl.String))
        .collect()
    )
    excluded = rows.filter(~kept).select("id", pl.col("reason").cast(pl.String)).sort("id").collect()
    return BalanceResult(selected=selected, excluded=excluded, report=balanced.report)


@dataclass
class BalancedRows:
    """Every input row with its fate: ``reason`` (null: kept) and ``order`` (a kept row's output position
    within its split, null when excluded), beside ``id``, ``split``, ``region``, ``rank_hash``,
    ``n_tokens`` and the columns carried, in no particular order; ``report`` as :class:`BalanceResult`'s."""

    rows: pl.DataFrame
    report: dict[str, dict]


def balanced_rows(
    frame: pl.DataFrame | pl.LazyFrame,
    config: BalanceConfig,
    *,
    given_split: bool = False,
    ids_are_rank_hashes: bool = False,
    carry: tuple[str, ...] = (),
    consume: bool = False,
) -> BalancedRows:
    """What :func:`balance` decides, row by row, without its two tables (finalize turns the rows straight
    into its plan).

    ``ids_are_rank_hashes``: ``id`` already is :func:`rank_hashes` of the ids (finalize holds them so):
    no second column of it is made. ``carry``: more columns kept on every row. ``consume``: ``frame`` is a
    DataFrame the caller no longer needs; its columns are taken out of it, so that sorting the rows frees
    each unsorted column as it goes instead of copying them all beside the caller's.
    """
    rows = _prepare(frame, config, given_split, ids_are_rank_hashes, carry, consume)
    rows = _mark_region_filters(rows, config)
    rows = rows.drop([c for c in REGION_COLUMNS if c in rows.columns])  # ``region`` stands for them now
    rows = _mark_eval_cap(rows, config)
    rows, targets = _BALANCERS[config.method](rows, config)
    rows = _assign_order(rows, interleave=config.method == "paper_interleave")
    return BalancedRows(rows=rows, report=_report(rows, targets, config))


def _prepare(
    frame: pl.DataFrame | pl.LazyFrame,
    config: BalanceConfig,
    given_split: bool,
    ids_are_rank_hashes: bool = False,
    carry: tuple[str, ...] = (),
    consume: bool = False,
) -> pl.DataFrame:
    lazy = frame.lazy()
    names = lazy.collect_schema().names()
    # ``given_split``: the frame's ``split`` column is taken as is. Finalize assigns it shard by shard
    # with assign_split (same seed and fraction), so the URLs need not be held for the whole corpus.
    needed = [c for c in BALANCE_COLUMNS if not (given_split and c == "url_normalized")]
    missing = [c for c in [*needed, *carry] if c not in names]
    if missing:
        raise ValueError(f"balance: input frame lacks column(s) {missing}; needs {BALANCE_COLUMNS}")
    given_rank = "rank_hash" in names and not ids_are_rank_hashes
    wanted = needed + (["split"] if given_split else []) + (["rank_hash"] if given_rank else []) + list(carry)
    rows = lazy.select(wanted).collect()
    del lazy
    if consume and isinstance(frame, pl.DataFrame):
        for name in frame.columns:  # ``rows`` holds the only reference to each column from here
            frame.drop_in_place(name)
    if rows["id"].null_count() or (not ids_are_rank_hashes and rows["id"].n_unique() != rows.height):
        _repeated_ids(rows)  # (hashes are checked once sorted, below: a hash set of them held ~50 bytes a row)
    if config.unit == "tokens":
        bad = rows.filter(pl.col("n_tokens").is_null() | (pl.col("n_tokens") < 0))
        if bad.height:
            raise ValueError(
                f"balance: unit='tokens' needs n_tokens >= 0 on every row; {bad.height} row(s) fail, "
                f"e.g. id {bad['id'][0]!r} has n_tokens={bad['n_tokens'][0]!r}"
            )
    if given_split:
        if rows.schema["split"] != _SPLIT:  # finalize hands the enum over; strings are checked here
            rows = rows.with_columns(pl.col("split").cast(pl.String))
            if rows.filter(~pl.col("split").is_in(["train", "eval"])).height:
                raise ValueError("balance: a given split column must be 'train' or 'eval' on every row")
        if rows["split"].null_count():
            raise ValueError("balance: a given split column must be 'train' or 'eval' on every row")
    else:
        rows = assign_split(rows, config.eval_fraction, config.seed)
    rows = rows.with_columns(pl.col("split").cast(_SPLIT))
    rank_hash = (
        None if ids_are_rank_hashes else pl.col("rank_hash") if given_rank else rank_hashes(rows["id"], config.seed)
    )
    region = pl.col(config.by)
    if rows.schema[config.by] != pl.Categorical:  # finalize hands categoricals over: no string copy of them
        region = region.cast(pl.String).cast(pl.Categorical)
    rows = rows.with_columns(
        region.fill_null(pl.lit(UNKNOWN_REGION, dtype=pl.Categorical)).alias("region"),
        pl.lit(None, dtype=_REASON).alias("reason"),
        *(() if rank_hash is None else (rank_hash.alias("rank_hash"),)),
    )
    del rank_hash
    # One global order: the seeded hash (id breaks the astronomically rare tie), so that each region's
    # rows, and each split's, come in that order (every window below runs in it). Gathered a column at a
    # time, so that the sorted rows are not built beside the unsorted ones. Unique hashes (finalize's
    # ids) are sorted by numpy's in-place index sort: 8 bytes a row, where a polars arg sort held ~32.
    if ids_are_rank_hashes:
        order = pl.Series(np.argsort(rows["id"].to_numpy()).astype(np.uint32 if rows.height < 1 << 32 else np.uint64))
    else:
        order = rows.select(pl.arg_sort_by("rank_hash", "id")).to_series()
    for index, name in enumerate(rows.columns):
        rows.replace_column(index, rows[name].gather(order))
    del order
    if ids_are_rank_hashes:
        if rows.height > 1 and (rows["id"].slice(1) == rows["id"].slice(0, rows.height - 1)).any():
            _repeated_ids(rows)
        rows = rows.with_columns(pl.col("id").alias("rank_hash"))  # one buffer under both names
    return rows


def _repeated_ids(rows: pl.DataFrame) -> None:
    dupes = rows.filter(pl.col("id").is_duplicated())["id"].unique().sort().head(5).to_list()
    raise ValueError(f"balance: ids must be unique and non-null; repeated ids include {dupes}")


def _set_reason(rows: pl.DataFrame, condition: pl.Expr, reason: str) -> pl.DataFrame:
    """Exclude rows still selected that meet ``condition``; the first reason given sticks."""
    hit = pl.col("reason").is_null() & condition.fill_null(False)
    reason_value = pl.lit(reason, dtype=_REASON)
    return rows.with_columns(pl.when(hit).then(reason_value).otherwise(pl.col("reason")).alias("reason"))


def _matches_any(names: list[str]) -> pl.Expr:
    """A document matches a name if it equals its country or its continent (case-insensitive)."""
    wanted = [n.lower() for n in names]
    country, continent = (pl.col(c).cast(pl.String).str.to_lowercase() for c in ("country", "continent"))
    return country.is_in(wanted).fill_null(False) | continent.is_in(wanted).fill_null(False)


def _mark_region_filters(rows: pl.DataFrame, config: BalanceConfig) -> pl.DataFrame:
    if config.include:
        rows = _set_reason(rows, ~_matches_any(config.include), "region_not_included")
    if config.exclude:
        rows = _set_reason(rows, _matches_any(config.exclude), "region_excluded")
    return rows


def _alive(split: str) -> pl.Expr:
    return pl.col("reason").is_null() & (pl.col("split") == split)


def _position(split: str) -> pl.Expr:
    """0-based position of a still-selected row of ``split`` within its region (rows are pre-sorted).

    A running count over one key: a window over (region, selected, split) groups by all three, which
    held ~45 bytes a row at a million rows, against ~24 for this one."""
    alive = _alive(split)
    return pl.when(alive).then(alive.cast(pl.Int64).cum_sum().over("region") - 1)


def _running_tokens(split: str) -> pl.Expr:
    """Tokens of the still-selected rows of ``split`` in its region up to this one (included)."""
    alive = _alive(split)
    return pl.when(alive).then(pl.when(alive).then(pl.col("n_tokens")).otherwise(0).cum_sum().over("region"))


def _mark_eval_cap(rows: pl.DataFrame, config: BalanceConfig) -> pl.DataFrame:
    if config.eval_max_per_region is None:
        return rows
    return _set_reason(rows, _position("eval") >= config.eval_max_per_region, "eval_over_cap")


def _train_amounts(rows: pl.DataFrame, config: BalanceConfig) -> dict[str, int]:
    """Still-selected train documents (or tokens) per region."""
    amount = pl.len() if config.unit == "documents" else pl.col("n_tokens").sum()
    # lazy: only the columns read are filtered (an eager filter copies every column)
    grouped = rows.lazy().filter(_alive("train")).group_by("region").agg(amount.alias("amount")).collect()
    return {r: int(a) for r, a in grouped.iter_rows()}


def _apply_limits(rows: pl.DataFrame, limits: dict[str, int], config: BalanceConfig, reason: str) -> pl.DataFrame:
    """Keep the first train rows of each region (in seeded-hash order) up to its limit in ``unit``."""
    if not limits:
        return rows
    limit = pl.col("region").replace_strict(limits, default=None, return_dtype=pl.Int64)
    if config.unit == "documents":
        over = _position("train") >= limit
    else:
        over = _running_tokens("train") > limit
    return _set_reason(rows, over, reason)


def _balance_none(rows: pl.DataFrame, config: BalanceConfig) -> tuple[pl.DataFrame, dict[str, int]]:
    return rows, {}


def _balance_cap(rows: pl.DataFrame, config: BalanceConfig) -> tuple[pl.DataFrame, dict[str, int]]:
    """Caps (``default`` for unnamed regions) and exact targets; a region gets the smaller of both."""
    limits: dict[str, int] = {}
    for region in _train_amounts(rows, config):
        candidates = [config.caps[k] for k in (region, "default") if k in config.caps][:1]
        if region in config.targets:
            candidates.append(config.targets[region])
        if candidates:
            limits[region] = min(candidates)
    return _apply_limits(rows, limits, config, "over_cap"), dict(config.targets)


def _temperature_quotas(amounts: dict[str, int], alpha: float, total: int | None) -> dict[str, int]:
    """Quotas with p ∝ n^alpha summing to ``total`` (largest remainder rounding).

    Without a total, the largest total that no region falls short of: min over regions of n / p.
    """
    present = {r: n for r, n in amounts.items() if n > 0}
    if not present:
        return {}
    weights = {r: float(n) ** alpha for r, n in present.items()}
    norm = sum(weights.values())
    shares = {r: w / norm for r, w in weights.items()}
    derived = total is None
    if derived:
        total = math.floor(min(present[r] / shares[r] for r in present) + 1e-9)
    exact = {r: total * p for r, p in shares.items()}
    quotas = {r: math.floor(x) for r, x in exact.items()}
    leftover = total - sum(quotas.values())
    for r in sorted(exact, key=lambda r: (quotas[r] - exact[r], r))[:leftover]:
        quotas[r] += 1
    if derived:
        quotas = {r: min(q, present[r]) for r, q in quotas.items()}
    return quotas


def _balance_temperature(rows: pl.DataFrame, config: BalanceConfig) -> tuple[pl.DataFrame, dict[str, int]]:
    quotas = _temperature_quotas(_train_amounts(rows, config), config.temperature, config.total)
    return _apply_limits(rows, quotas, config, "temperature_sample"), quotas


def _balance_paper_interleave(rows: pl.DataFrame, config: BalanceConfig) -> tuple[pl.DataFrame, dict[str, int]]:
    """Equal documents per region (the smallest region's count); order set in :func:`_assign_order`."""
    rows = _set_reason(rows, (pl.col("split") == "train") & (pl.col("region") == UNKNOWN_REGION), "region_unknown")
    amounts = _train_amounts(rows, config)
    smallest = min(amounts.values(), default=0)
    limits = dict.fromkeys(amounts, smallest)
    return _apply_limits(rows, limits, config, "interleave_truncated"), limits


_BALANCERS = {
    "none": _balance_none,
    "cap": _balance_cap,
    "temperature": _balance_temperature,
    "paper_interleave": _balance_paper_interleave,
}


def _assign_order(rows: pl.DataFrame, interleave: bool) -> pl.DataFrame:
    """Output position within each split: the seeded-hash order, or for paper_interleave train a
    round robin over regions (position p of the i-th region, by name, goes to p * n_regions + i)."""
    kept = pl.col("reason").is_null()
    # rows come in seeded-hash order: a kept row's order is the count of kept rows of its split before it,
    # computed on every row and kept where selected (no copy of the selected rows beside the others)
    order = pl.lit(None, dtype=pl.Int64)
    for split in _SPLIT.categories:
        here = pl.col("split") == split
        order = pl.when(here).then((kept & here).cast(pl.Int64).cum_sum() - 1).otherwise(order)
    if interleave:
        trains = rows.lazy().filter(_alive("train")).select(pl.col("region").unique()).collect()
        regions = sorted(trains["region"].cast(pl.String).to_list())
        index = {r: i for i, r in enumerate(regions)}
        region_index = pl.col("region").cast(pl.String).replace_strict(index, default=0, return_dtype=pl.Int64)
        order = (
            pl.when(pl.col("split") == "train").then(_position("train") * len(regions) + region_index).otherwise(order)
        )
    return rows.with_columns(pl.when(kept).then(order).alias("order"))


#: The figures of a region's report, in the order they are written.
_REPORT_COUNTS = (
    "available",
    "available_tokens",
    "available_train",
    "available_eval",
    "selected_train",
    "selected_eval",
    "selected_train_tokens",
    "selected_eval_tokens",
)


def _report(rows: pl.DataFrame, targets: dict[str, int], config: BalanceConfig) -> dict[str, dict]:
    """Per region: what was there, what was kept in each split, what was dropped and why."""
    # one small table of (region, split, reason) groups, summed here: an aggregation per figure over every
    # row held a filtered copy of a column for each
    groups = (
        rows.lazy()
        .group_by("region", "split", "reason")
        .agg(pl.len().alias("n"), pl.col("n_tokens").sum().alias("tokens"))
        .with_columns(pl.col("region", "split", "reason").cast(pl.String))
        .collect()
    )
    report: dict[str, dict] = {}
    # names in string order (a categorical or an enum sorts by its codes in some polars versions)
    for region in sorted(set(groups["region"].to_list())):
        counts = dict.fromkeys(_REPORT_COUNTS, 0)
        dropped: dict[str, int] = {}
        for _, split, reason, n, tokens in groups.filter(pl.col("region") == region).sort("reason").iter_rows():
            counts["available"] += n
            counts["available_tokens"] += tokens or 0
            counts[f"available_{split}"] += n
            if reason is None:
                counts[f"selected_{split}"] += n
                counts[f"selected_{split}_tokens"] += tokens or 0
            else:
                dropped[reason] = dropped.get(reason, 0) + n
        report[region] = {**counts, "dropped": dropped}
    for region, target in sorted(targets.items()):
        entry = report.setdefault(
            region, {"available": 0, "selected_train": 0, "selected_train_tokens": 0, "dropped": {}}
        )
        got = entry["selected_train"] if config.unit == "documents" else entry["selected_train_tokens"]
        entry["target"] = int(target)
        entry["shortfall"] = max(0, int(target) - got)
    return report
