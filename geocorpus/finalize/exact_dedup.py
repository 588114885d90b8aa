"""Exact deduplication of the tagged corpus (finalize stage), on the small metadata columns only.

It never touches the texts, so it runs in one process over millions of rows. Which copy survives
must not depend on how the corpus was sharded, so the survivor of every duplicate group is the copy
with the smallest ``(source_file, source_row, id)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from geocorpus.urls import url_key

DEDUP_COLUMNS = ["id", "url_key", "text_hash", "source_file", "source_row"]
#: The order that decides which copy of a duplicate group survives (smallest wins).
SURVIVOR_ORDER = ["source_file", "source_row", "id"]


@dataclass
class DedupResult:
    """Ids excluded with ``reason`` and the id of the copy kept instead (``duplicate_of``); ``ids``: every
    input id (the frame's own column, not a copy), so ``kept`` is the rest."""

    ids: pl.Series
    excluded: pl.DataFrame

    @property
    def kept(self) -> pl.DataFrame:
        """The ids kept, sorted."""
        return self.ids.to_frame("id").join(self.excluded.select("id"), on="id", how="anti").sort("id")


def exact_dedup(frame: pl.DataFrame | pl.LazyFrame) -> DedupResult:
    """Drop exact duplicates: first same ``url_key``, then same ``text_hash`` among the rest.

    ``url_key`` (:func:`geocorpus.urls.url_key`) folds the spellings of one URL (http/https, ``www.``,
    a trailing slash, query parameter order), so one article read under two spellings survives once;
    ``url_normalized`` stays as read. A null ``url_key`` (or ``text_hash``) never matches anything. Each group keeps the copy with
    the smallest ``(source_file, source_row, id)``, so row order and shard count do not matter.
    ``duplicate_of`` always names a kept id (a url duplicate of a copy that later lost on text points
    to that text group's survivor).

    Only rows whose key repeats are copied, sorted and grouped: a corpus is mostly unique rows, and
    sorting every row by the survivor order copied all five columns.
    """
    rows = _dedup_input(frame)
    by_url = _mark_duplicates(rows.filter(_repeated(rows["url_key"])), "url_key", "duplicate_url")
    # a text repeats among the url survivors only if it repeats among all rows: look only at those
    texts = rows.filter(_repeated(rows["text_hash"])).join(by_url.select("id"), on="id", how="anti")
    by_text = _mark_duplicates(texts, "text_hash", "duplicate_text")  # a text left alone marks nothing
    del texts
    # A url survivor may itself lose on text; point its url duplicates at the copy actually kept.
    text_keeper = by_text.select(pl.col("id").alias("duplicate_of"), pl.col("duplicate_of").alias("text_keeper"))
    by_url = by_url.join(text_keeper, on="duplicate_of", how="left").select(
        "id", "reason", pl.coalesce("text_keeper", "duplicate_of").alias("duplicate_of")
    )
    return DedupResult(ids=rows["id"], excluded=pl.concat([by_url, by_text]).sort("id"))


def _dedup_input(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    lazy = frame.lazy()
    names = lazy.collect_schema().names()
    if "url_key" not in names and "url_normalized" in names:  # a frame from before url_key existed
        lazy = lazy.with_columns(
            pl.col("url_normalized").map_elements(url_key, return_dtype=pl.String).alias("url_key")
        )
    missing = [c for c in DEDUP_COLUMNS if c not in lazy.collect_schema().names()]
    if missing:
        raise ValueError(f"exact_dedup: input frame lacks column(s) {missing}; needs {DEDUP_COLUMNS}")
    rows = lazy.select(DEDUP_COLUMNS).collect()
    if rows["id"].null_count():
        raise ValueError("exact_dedup: column 'id' has null values")
    if rows["id"].n_unique() != rows.height:
        dupes = rows.filter(pl.col("id").is_duplicated())["id"].unique().sort().head(5).to_list()
        raise ValueError(f"exact_dedup: ids must be unique; repeated ids include {dupes}")
    return rows


def _mark_duplicates(rows: pl.DataFrame, key: str, reason: str) -> pl.DataFrame:
    """Rows that repeat ``key`` after its first occurrence in the survivor order. ``rows``: those whose key
    may repeat (found by :func:`_repeated`: grouping every row, by a window or ``is_duplicated``, holds
    ~150 bytes a row at a million rows)."""
    return (
        rows.sort(SURVIVOR_ORDER, nulls_last=True)
        .with_columns(pl.col("id").first().over(key).alias("duplicate_of"))
        .filter(pl.col("id") != pl.col("duplicate_of"))
        .select("id", pl.lit(reason).alias("reason"), "duplicate_of")
    )


def _repeated(keys: pl.Series) -> np.ndarray:
    """Whether each row's key occurs on another row too (a null never does).

    The non-null keys sorted (the one copy of the column made), the values equal to their neighbour
    (few: the duplicated ones), then a membership test. A 128-bit key (finalize holds URL keys so) is first
    screened on its high 64 bits, and only the rows whose high half repeats are compared whole. An arg
    sort and a gather of every key, as before, held ~4x the column.
    """
    if keys.dtype == pl.UInt128:
        high = keys.to_frame("key").select((pl.col("key") // (1 << 64)).cast(pl.UInt64)).to_series()
        index = np.flatnonzero(_repeated(high))
        del high
        repeated = np.zeros(len(keys), bool)
        repeated[index[keys.gather(index).is_duplicated().to_numpy()]] = True
        return repeated
    ordered = keys.drop_nulls().sort()
    if len(ordered) < 2:
        return np.zeros(len(keys), bool)
    same = ordered.slice(1) == ordered.slice(0, len(ordered) - 1)
    values = ordered.slice(1).filter(same).unique()
    del ordered, same
    return keys.is_in(values.implode()).fill_null(False).to_numpy()
