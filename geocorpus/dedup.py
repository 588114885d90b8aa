"""Deduplication of the tagged corpus: exact (finalize stage) and near-duplicate MinHash (datatrove).

Exact dedup works on the small metadata columns only (never the texts), so it runs in one process
over millions of rows. Which copy survives must not depend on how the corpus was sharded, so the
survivor of every duplicate group is the copy with the smallest ``(source_file, source_row, id)``.

Near-duplicate dedup reuses datatrove's four MinHash stages unchanged; this module only wires them to
the geocorpus schema (reader adapter, CorpusWriter, ExclusionWriter). Which copy datatrove keeps is
described in docs/balancing.md ("Near duplicates").
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import polars as pl
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashConfig as DatatroveMinhashConfig
from datatrove.pipeline.dedup.minhash import (
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers.parquet import ParquetReader
from datatrove.utils.word_tokenizers import WordTokenizer

from geocorpus.schema import METADATA_COLUMNS
from geocorpus.writers import FILTER_REASON_KEY, CorpusWriter, ExclusionWriter

DEDUP_COLUMNS = ["id", "url_normalized", "text_hash", "source_file", "source_row"]
#: The order that decides which copy of a duplicate group survives (smallest wins).
SURVIVOR_ORDER = ["source_file", "source_row", "id"]
MINHASH_STAGE = "minhash_dedup"
NEAR_DUPLICATE_REASON = "near_duplicate"


# --------------------------------------------------------------------------------------------------
# exact dedup
# --------------------------------------------------------------------------------------------------


@dataclass
class DedupResult:
    """Ids kept, and ids excluded with ``reason`` and the id of the copy kept instead (``duplicate_of``)."""

    kept: pl.DataFrame
    excluded: pl.DataFrame


def exact_dedup(frame: pl.DataFrame | pl.LazyFrame) -> DedupResult:
    """Drop exact duplicates: first same ``url_normalized``, then same ``text_hash`` among the rest.

    A null ``url_normalized`` (or ``text_hash``) never matches anything. Each group keeps the copy with
    the smallest ``(source_file, source_row, id)``, so row order and shard count do not matter.
    ``duplicate_of`` always names a kept id (a url duplicate of a copy that later lost on text points
    to that text group's survivor).
    """
    rows = _dedup_input(frame)
    by_url = _mark_duplicates(rows, "url_normalized", "duplicate_url")
    url_survivors = rows.join(by_url.select("id"), on="id", how="anti")
    by_text = _mark_duplicates(url_survivors, "text_hash", "duplicate_text")
    # A url survivor may itself lose on text; point its url duplicates at the copy actually kept.
    text_keeper = by_text.select(pl.col("id").alias("duplicate_of"), pl.col("duplicate_of").alias("text_keeper"))
    by_url = by_url.join(text_keeper, on="duplicate_of", how="left").select(
        "id", "reason", pl.coalesce("text_keeper", "duplicate_of").alias("duplicate_of")
    )
    excluded = pl.concat([by_url, by_text]).sort("id")
    kept = url_survivors.join(by_text.select("id"), on="id", how="anti").select("id").sort("id")
    return DedupResult(kept=kept, excluded=excluded)


def _dedup_input(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    lazy = frame.lazy()
    missing = [c for c in DEDUP_COLUMNS if c not in lazy.collect_schema().names()]
    if missing:
        raise ValueError(f"exact_dedup: input frame lacks column(s) {missing}; needs {DEDUP_COLUMNS}")
    rows = lazy.select(DEDUP_COLUMNS).collect()
    if rows["id"].null_count():
        raise ValueError("exact_dedup: column 'id' has null values")
    if rows["id"].n_unique() != rows.height:
        dupes = rows.filter(pl.col("id").is_duplicated())["id"].unique().sort().head(5).to_list()
        raise ValueError(f"exact_dedup: ids must be unique; repeated ids include {dupes}")
    return rows.sort(SURVIVOR_ORDER, nulls_last=True)


def _mark_duplicates(rows: pl.DataFrame, key: str, reason: str) -> pl.DataFrame:
    """Rows that repeat ``key`` after its first (smallest-order) occurrence; ``rows`` is sorted."""
    return (
        rows.filter(pl.col(key).is_not_null())
        .with_columns(pl.col("id").first().over(key).alias("duplicate_of"))
        .filter(pl.col("id") != pl.col("duplicate_of"))
        .select("id", pl.lit(reason).alias("reason"), "duplicate_of")
    )


# --------------------------------------------------------------------------------------------------
# MinHash near-duplicate dedup (datatrove stages)
# --------------------------------------------------------------------------------------------------


@dataclass
class MinhashConfig:
    """MinHash LSH settings plus the task counts the stages must agree on.

    ``tasks`` is used by both the signature and the filter stage: datatrove's filter finds the
    documents to drop by (rank, index in that rank's input), so both must read identical shards.
    """

    num_buckets: int = 14
    hashes_per_bucket: int = 8
    n_grams: int = 5
    tasks: int = 1
    workers_per_bucket: int = 1
    seed: int = 1

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"minhash.{f.name}: expected an integer, got {value!r}")
            if f.name != "seed" and value < 1:
                raise ValueError(f"minhash.{f.name}: must be >= 1, got {value}")

    @classmethod
    def from_dict(cls, data: dict) -> MinhashConfig:
        """Build from a config mapping; unknown keys or wrong types raise ValueError naming the key."""
        from geocorpus.config import from_mapping

        return from_mapping(cls, data, "minhash")

    def to_datatrove(self) -> DatatroveMinhashConfig:
        return DatatroveMinhashConfig(
            n_grams=self.n_grams,
            num_buckets=self.num_buckets,
            hashes_per_bucket=self.hashes_per_bucket,
            seed=self.seed,
        )

    def stage_tasks(self) -> dict[str, int]:
        """How many tasks each stage of :func:`minhash_pipelines` must run with."""
        return {
            "signatures": self.tasks,
            "buckets": self.num_buckets * self.workers_per_bucket,
            "clusters": 1,
            "filter": self.tasks,
        }


def corpus_parquet_adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
    """datatrove reader adapter: every CORPUS_SCHEMA column of a tagged shard lands in ``doc.metadata``."""
    for column in ("id", "text"):
        if column not in data:
            raise ValueError(f"{path} row {id_in_file}: missing column {column!r}; is this a tagged-corpus shard?")
    return {
        "id": data["id"],
        "text": data["text"],
        "metadata": {column: data.get(column) for column in METADATA_COLUMNS},
    }


class WhitespaceWordTokenizer(WordTokenizer):
    """Shingles from whitespace words of datatrove's simplified text (lower case, no punctuation).

    datatrove's default English tokenizer needs spaCy; whitespace words are what MinHash on news needs
    and work for every language the corpus holds that separates words by spaces.
    """

    def __init__(self):
        super().__init__(language=None)

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        spans, start = [], 0
        for word in text.split():
            start = text.index(word, start)
            spans.append((start, start + len(word)))
            start += len(word)
        return spans


class NearDuplicateExclusionWriter(ExclusionWriter):
    """ExclusionWriter for the MinHash filter, which drops documents without setting a reason."""

    def write(self, document: Document, rank: int = 0, **kwargs):
        document.metadata.setdefault(FILTER_REASON_KEY, NEAR_DUPLICATE_REASON)
        return super().write(document, rank, **kwargs)


def _corpus_reader(input_folder) -> ParquetReader:
    return ParquetReader(str(input_folder), adapter=corpus_parquet_adapter, glob_pattern="*.parquet")


def minhash_pipelines(
    input_folder: str | Path,
    output_folder: str | Path,
    work_folder: str | Path,
    exclusion_folder: str | Path,
    config: MinhashConfig,
) -> dict[str, list[PipelineStep]]:
    """The four datatrove MinHash stages over tagged Parquet shards, keyed by stage name.

    Run them in order (signatures, buckets, clusters, filter) with ``config.stage_tasks()`` tasks each.
    ``work_folder`` holds the intermediate signatures, duplicate pairs and removal lists. The filter
    stage writes kept documents to ``output_folder`` (CORPUS_SCHEMA) and dropped ones to
    ``exclusion_folder`` with stage ``minhash_dedup`` and reason ``near_duplicate``.
    """
    dt_config = config.to_datatrove()
    work = Path(work_folder)
    signatures, buckets, remove_ids = work / "signatures", work / "buckets", work / "remove_ids"
    return {
        "signatures": [
            _corpus_reader(input_folder),
            MinhashDedupSignature(
                output_folder=str(signatures), config=dt_config, language=WhitespaceWordTokenizer()
            ),
        ],
        "buckets": [
            MinhashDedupBuckets(input_folder=str(signatures), output_folder=str(buckets), config=dt_config),
        ],
        "clusters": [
            MinhashDedupCluster(input_folder=str(buckets), output_folder=str(remove_ids), config=dt_config),
        ],
        "filter": [
            _corpus_reader(input_folder),
            MinhashDedupFilter(
                input_folder=str(remove_ids),
                exclusion_writer=NearDuplicateExclusionWriter(str(exclusion_folder), stage=MINHASH_STAGE),
            ),
            CorpusWriter(str(output_folder)),
        ],
    }
