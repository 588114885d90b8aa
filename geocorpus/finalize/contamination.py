"""The ``decontamination`` key of a run's report: what was excluded where, and what the eval split shares with train.

Two questions a reader of a localized evaluation asks of its corpus:

* Did evaluation items leak into training? The ``decontamination`` stage (``geocorpus.decontaminate``)
  excluded such documents; this counts them per set, per country and per continent (a leak
  concentrated in one region biases exactly the per-region comparison), and says how many items of
  each set were long enough to be checked at all.
* Is the corpus's own eval split held out? With MinHash on, near duplicates are removed before the
  split, so none can straddle it. Either way, ``finalize_cross_split`` (``cross_split.py``) finds the
  eval documents that share a datatrove MinHash LSH bucket (the run's MinHash settings, or
  geocorpus's defaults) with a train document, exactly as datatrove's dedup would judge them; this
  module sums what its tasks found.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from geocorpus.decontaminate import DECONTAMINATION_STAGE, build_index
from geocorpus.finalize.cross_split import MAX_EXAMPLES, near_duplicate_pairs
from geocorpus.minhash import MinhashConfig
from geocorpus.paths import RunLayout

if TYPE_CHECKING:
    from geocorpus.config import CurateConfig

__all__ = ["cross_split_enabled", "cross_split_summary", "decontamination_report", "near_duplicate_pairs"]


def cross_split_enabled(config: CurateConfig) -> bool:
    """Whether finalize checks the eval split for near duplicates in train (on unless switched off)."""
    settings = config.decontamination
    return settings is None or settings.cross_split_check


def cross_split_summary(
    minhash: MinhashConfig | None,
    train_files: Sequence[Path],
    eval_files: Sequence[Path],
    results: Sequence[dict[str, Any]],
    hits: Sequence[np.ndarray],
) -> dict[str, Any]:
    """The report's ``cross_split`` numbers from the ``finalize_cross_split`` tasks: each task's pair count
    and smallest pairs (``results``) and which eval documents it hit (``hits``, by eval position).

    The tasks split the train documents, so no pair is counted twice.
    """
    settings = minhash or MinhashConfig()
    eval_docs = _rows(eval_files)
    hit = np.zeros(eval_docs, bool)
    for task_hits in hits:
        hit |= task_hits
    examples = sorted(tuple(pair) for result in results for pair in result["examples"])[:MAX_EXAMPLES]
    return {
        "minhash_on": minhash is not None,
        "method": "minhash_lsh",
        "n_grams": settings.n_grams,
        "num_buckets": settings.num_buckets,
        "hashes_per_bucket": settings.hashes_per_bucket,
        "eval_docs": eval_docs,
        "train_docs": _rows(train_files),
        "pairs": sum(int(result["pairs"]) for result in results),
        "eval_docs_with_train_near_duplicate": int(hit.sum()),
        "examples": [{"eval": e, "train": t} for e, t in examples],
    }


def _rows(files: Sequence[Path]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def excluded_by_region(layout: RunLayout) -> dict[str, dict[str, dict[str, int]]]:
    """set -> {"country": {ISO: n}, "continent": {name: n}} from the decontamination exclusion files.

    The region is the document's tag (kept in ``metadata_json``); ``none`` when it had none.
    """
    files = sorted(layout.exclusion_stage(DECONTAMINATION_STAGE).rglob("*.parquet"))
    if not files:
        return {}
    frame = pl.read_parquet(files, columns=["reason", "metadata_json"]).with_columns(
        pl.col("metadata_json").str.json_path_match("$.country").fill_null("none").alias("country"),
        pl.col("metadata_json").str.json_path_match("$.continent").fill_null("none").alias("continent"),
    )
    result: dict[str, dict[str, dict[str, int]]] = {}
    for level in ("country", "continent"):
        for reason, region, count in frame.group_by("reason", level).len().sort("reason", level).iter_rows():
            result.setdefault(reason, {"country": {}, "continent": {}})[level][region] = count
    return result


def decontamination_report(
    config: CurateConfig, layout: RunLayout, cross_split: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The report's ``decontamination`` section: per-set coverage and exclusions by region, and the
    cross-split near-duplicate check (``cross_split``, from :func:`cross_split_summary`; ``minhash_on``
    says whether MinHash ran)."""
    settings = config.decontamination
    report: dict[str, Any] = {"enabled": bool(settings is not None and settings.sets)}
    if settings is not None and settings.sets:
        by_region = excluded_by_region(layout)
        coverage = build_index(settings).coverage
        report["n_grams"] = settings.n_grams
        report["min_words"] = settings.min_words
        report["sets"] = {
            name: {
                **coverage[name],
                "excluded": sum(by_region.get(name, {}).get("country", {}).values()),
                "excluded_by_country": by_region.get(name, {}).get("country", {}),
                "excluded_by_continent": by_region.get(name, {}).get("continent", {}),
            }
            for name in coverage
        }
    if cross_split is not None:
        report["cross_split"] = cross_split
    return report
