"""The ``decontamination`` key of a run's report: what was excluded where, and what the eval split shares with train.

Two questions a reader of a localized evaluation asks of its corpus:

* Did evaluation items leak into training? The ``decontamination`` stage (``geocorpus.decontaminate``)
  excluded such documents; this counts them per set, per country and per continent (a leak
  concentrated in one region biases exactly the per-region comparison), and says how many items of
  each set were long enough to be checked at all.
* Is the corpus's own eval split held out? With MinHash on, near duplicates are removed before the
  split, so none can straddle it. With MinHash off, a cheap in-memory check finds them: datatrove's
  MinHash signatures (the run's MinHash settings, or geocorpus's defaults) of every eval document are
  put in LSH buckets, and every train document is streamed past them; an eval document that shares a
  bucket with a train document is a near duplicate, exactly as datatrove's dedup would judge it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow.parquet as pq

from geocorpus.decontaminate import DECONTAMINATION_STAGE, build_index
from geocorpus.minhash import MinhashConfig, WhitespaceWordTokenizer
from geocorpus.paths import RunLayout

if TYPE_CHECKING:
    from geocorpus.config import CurateConfig

#: Pairs listed in the report (the count covers all).
MAX_EXAMPLES = 10


def _documents(files: Sequence[Path]) -> Iterator[tuple[str, str]]:
    """(id, text) of every row, streamed by record batch."""
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(columns=["id", "text"], batch_size=2048):
            yield from zip(batch.column("id").to_pylist(), batch.column("text").to_pylist())


def near_duplicate_pairs(
    train_files: Sequence[Path], eval_files: Sequence[Path], minhash: MinhashConfig | None = None
) -> set[tuple[str, str]]:
    """(eval id, train id) of every eval document that shares a MinHash LSH bucket with a train document."""
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

    settings = minhash or MinhashConfig()
    with tempfile.TemporaryDirectory(prefix="geocorpus-cross-split-") as scratch:
        signer = MinhashDedupSignature(scratch, config=settings.to_datatrove(), language=WhitespaceWordTokenizer())

        def buckets(text: str) -> list[tuple[int, tuple[int, ...]]]:
            shingles = signer.get_shingles(text or "")
            if shingles.size == 0:  # shorter than one shingle: datatrove's dedup skips it too
                return []
            return [(i, tuple(values)) for i, values in enumerate(signer.get_signature(shingles))]

        index: dict[tuple[int, tuple[int, ...]], list[str]] = {}
        for doc_id, text in _documents(eval_files):
            for key in buckets(text):
                index.setdefault(key, []).append(doc_id)
        pairs: set[tuple[str, str]] = set()
        if index:
            for doc_id, text in _documents(train_files):
                for key in buckets(text):
                    pairs.update((eval_id, doc_id) for eval_id in index.get(key, ()))
    return pairs


def cross_split_near_duplicates(
    train_files: Sequence[Path], eval_files: Sequence[Path], minhash: MinhashConfig | None = None
) -> dict[str, Any]:
    """The report's ``cross_split`` numbers: documents compared, pairs, eval documents affected, examples."""
    settings = minhash or MinhashConfig()
    pairs = near_duplicate_pairs(train_files, eval_files, settings)
    return {
        "method": "minhash_lsh",
        "n_grams": settings.n_grams,
        "num_buckets": settings.num_buckets,
        "hashes_per_bucket": settings.hashes_per_bucket,
        "eval_docs": _rows(eval_files),
        "train_docs": _rows(train_files),
        "pairs": len(pairs),
        "eval_docs_with_train_near_duplicate": len({e for e, _ in pairs}),
        "examples": [{"eval": e, "train": t} for e, t in sorted(pairs)[:MAX_EXAMPLES]],
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


def decontamination_report(config: CurateConfig, layout: RunLayout) -> dict[str, Any]:
    """The report's ``decontamination`` section: per-set coverage and exclusions by region, and the
    cross-split near-duplicate check (``cross_split``: ``minhash_on`` says whether MinHash ran)."""
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
    if settings is None or settings.cross_split_check:
        minhash = config.dedup.minhash
        check = cross_split_near_duplicates(layout.split_files("train"), layout.split_files("eval"), minhash)
        report["cross_split"] = {"minhash_on": minhash is not None, **check}
    return report
