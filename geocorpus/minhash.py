"""Near-duplicate removal with datatrove's four MinHash stages, wired to the geocorpus schema.

The stages are datatrove's own, unchanged; this module only supplies the reader adapter for tagged
shards, a whitespace word tokenizer (datatrove's default English one needs spaCy), the CorpusWriter and
an ExclusionWriter that records ``near_duplicate``. Which copy datatrove keeps is described in
docs/balancing.md ("Near duplicates").

Syndicated copies: one wire story published by outlets of several countries is one MinHash cluster
whose members carry different countries. Dropping all but one would silently erase that the story
ran in those other countries, so a ``syndication`` stage (between clusters and filter) collects the
countries of every cluster, and the kept copy gets ``syndicated = true`` and the *other* countries in
``syndicated_countries`` (``"IN,US"``); kept documents of single-country clusters and unclustered ones
get ``syndicated = false``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashConfig as DatatroveMinhashConfig
from datatrove.pipeline.dedup.minhash import (
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers.base import BaseReader
from datatrove.pipeline.readers.parquet import ParquetReader
from datatrove.utils.word_tokenizers import WordTokenizer

from geocorpus.schema import TAGGED_METADATA_COLUMNS
from geocorpus.typed_config import from_mapping
from geocorpus.writers import FILTER_REASON_KEY, CorpusWriter, ExclusionWriter

MINHASH_STAGE = "minhash_dedup"
NEAR_DUPLICATE_REASON = "near_duplicate"


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

    def __post_init__(self) -> None:
        """Value checks; types are checked by the config validator (:mod:`geocorpus.typed_config`)."""
        for f in fields(self):
            if f.name != "seed" and getattr(self, f.name) < 1:
                raise ValueError(f"minhash.{f.name}: must be >= 1, got {getattr(self, f.name)}")

    @classmethod
    def from_dict(cls, data: dict) -> MinhashConfig:
        """Build from a config mapping; unknown keys or wrong types raise ConfigError naming the key."""
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
            "syndication": 1,
            "filter": self.tasks,
        }


def corpus_parquet_adapter(self: BaseReader, data: dict[str, Any], path: str, id_in_file: int | str) -> dict[str, Any]:
    """datatrove reader adapter: every TAGGED_SCHEMA column of a tagged shard lands in ``doc.metadata``."""
    for column in ("id", "text"):
        if column not in data:
            raise ValueError(f"{path} row {id_in_file}: missing column {column!r}; is this a tagged-corpus shard?")
    return {
        "id": data["id"],
        "text": data["text"],
        "metadata": {column: data.get(column) for column in TAGGED_METADATA_COLUMNS},
    }


class WhitespaceWordTokenizer(WordTokenizer):
    """Shingles from whitespace words of datatrove's simplified text (lower case, no punctuation).

    datatrove's default English tokenizer needs spaCy; whitespace words are what MinHash on news needs
    and work for every language the corpus holds that separates words by spaces.
    """

    def __init__(self) -> None:
        super().__init__(language=None)

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        start = 0
        for word in text.split():
            start = text.index(word, start)
            spans.append((start, start + len(word)))
            start += len(word)
        return spans


class NearDuplicateExclusionWriter(ExclusionWriter):
    """ExclusionWriter for the MinHash filter, which drops documents without setting a reason."""

    def write(self, document: Document, rank: int = 0, **kwargs: Any) -> None:
        document.metadata.setdefault(FILTER_REASON_KEY, NEAR_DUPLICATE_REASON)
        return super().write(document, rank, **kwargs)


def _corpus_reader(input_folder: str | Path) -> ParquetReader:
    return ParquetReader(str(input_folder), adapter=corpus_parquet_adapter, glob_pattern="*.parquet")


class RecordCountries(PipelineStep):
    """Signature stage: the country of every document, one line per document in the order the MinHash
    stages number them (``<rank>.countries``), so clusters can be mapped to countries later."""

    name = "🏳 Record countries"
    type = "🫂 - DEDUP"

    def __init__(self, output_folder: str | Path) -> None:
        super().__init__()
        self.output_folder = Path(output_folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.output_folder.mkdir(parents=True, exist_ok=True)
        countries: list[str] = []
        for doc in data:
            countries.append(doc.metadata.get("country") or "")
            yield doc
        (self.output_folder / f"{rank:06d}.countries").write_text("\n".join(countries), encoding="utf-8")


class SyndicationIndex(PipelineStep):
    """One task: cluster id -> the countries of its members, for clusters spanning several countries
    (from datatrove's ``.clusters`` files and :class:`RecordCountries`' lists)."""

    name = "📰 Syndication index"
    type = "🫂 - DEDUP"

    def __init__(self, clusters_folder: str | Path, countries_folder: str | Path, output_file: str | Path) -> None:
        super().__init__()
        self.clusters_folder = Path(clusters_folder)
        self.countries_folder = Path(countries_folder)
        self.output_file = Path(output_file)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        members: dict[int, set[str]] = {}
        for path in sorted(self.clusters_folder.glob("*.clusters")):
            countries_file = self.countries_folder / (path.stem + ".countries")
            countries = countries_file.read_text(encoding="utf-8").split("\n") if countries_file.exists() else []
            raw = path.read_bytes()
            for doc, cluster in struct.iter_unpack("<II", raw):
                country = countries[doc] if doc < len(countries) else ""
                if country:
                    members.setdefault(cluster, set()).add(country)
        spanning = {str(cluster): sorted(found) for cluster, found in members.items() if len(found) > 1}
        self.output_file.parent.mkdir(parents=True, exist_ok=True)
        self.output_file.write_text(json.dumps(spanning, sort_keys=True), encoding="utf-8")
        self.stat_update("clusters_several_countries", value=len(spanning))
        yield from data or ()


class MarkSyndicated(PipelineStep):
    """Filter stage, before datatrove's filter: ``syndicated`` and ``syndicated_countries`` from this rank's
    ``.clusters`` file (documents numbered as the signature stage did); the copies the filter then drops
    carry them into their exclusion record too."""

    name = "📰 Mark syndicated copies"
    type = "🫂 - DEDUP"

    def __init__(self, clusters_folder: str | Path, index_file: str | Path) -> None:
        super().__init__()
        self.clusters_folder = Path(clusters_folder)
        self.index_file = Path(index_file)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        spanning = json.loads(self.index_file.read_text(encoding="utf-8")) if self.index_file.exists() else {}
        clusters_file = self.clusters_folder / f"{rank:06d}.clusters"
        cluster_of = dict(struct.iter_unpack("<II", clusters_file.read_bytes())) if clusters_file.exists() else {}
        for index, doc in enumerate(data):
            meta = doc.metadata
            countries = spanning.get(str(cluster_of.get(index, -1)))
            others = [c for c in countries or () if c != meta.get("country")]
            meta["syndicated"] = bool(others)
            meta["syndicated_countries"] = ",".join(others) if others else None
            if others:
                self.stat_update("syndicated")
            yield doc


def minhash_pipelines(
    input_folder: str | Path,
    output_folder: str | Path,
    work_folder: str | Path,
    exclusion_folder: str | Path,
    config: MinhashConfig,
) -> dict[str, list[PipelineStep]]:
    """The MinHash stages over tagged Parquet shards, keyed by stage name: datatrove's four, plus
    ``syndication`` between clusters and filter (see the module docstring).

    Run them in order (signatures, buckets, clusters, syndication, filter) with ``config.stage_tasks()``
    tasks each. ``work_folder`` holds the intermediate signatures, duplicate pairs, removal lists and
    cluster countries. The filter stage writes kept documents to ``output_folder`` (TAGGED_SCHEMA) and
    dropped ones to ``exclusion_folder`` with stage ``minhash_dedup`` and reason ``near_duplicate``.
    """
    dt_config = config.to_datatrove()
    work = Path(work_folder)
    signatures, buckets, remove_ids = work / "signatures", work / "buckets", work / "remove_ids"
    countries, syndication = work / "countries", work / "syndication.json"
    return {
        "signatures": [
            _corpus_reader(input_folder),
            RecordCountries(countries),
            MinhashDedupSignature(output_folder=str(signatures), config=dt_config, language=WhitespaceWordTokenizer()),
        ],
        "buckets": [
            MinhashDedupBuckets(input_folder=str(signatures), output_folder=str(buckets), config=dt_config),
        ],
        "clusters": [
            MinhashDedupCluster(
                input_folder=str(buckets), output_folder=str(remove_ids), config=dt_config, save_cluster_id=True
            ),
        ],
        "syndication": [SyndicationIndex(remove_ids, countries, syndication)],
        "filter": [
            _corpus_reader(input_folder),
            MarkSyndicated(remove_ids, syndication),
            MinhashDedupFilter(
                input_folder=str(remove_ids),
                exclusion_writer=NearDuplicateExclusionWriter(str(exclusion_folder), stage=MINHASH_STAGE),
            ),
            CorpusWriter(str(output_folder)),
        ],
    }
