"""Tagged shards and configs for running finalize's tasks in-process (tests of ``geocorpus.finalize``).

- ``unique_fundus_rows``: real fundus articles three times over, each copy a unique document (id,
  URL, text), plus a few exact duplicates for dedup to remove;
- ``write_tagged_shards``: rows shuffled into N tagged shards, as the tag stage would leave them;
- ``finalize_config`` / ``run_finalize_tasks``: a config for a run folder and the select, scatter and
  write (and cross-split) tasks run one after another in this process.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from geocorpus.bucket_digests import Signer
from geocorpus.config import CurateConfig, parse_config
from geocorpus.finalize.stage import cross_split_task, scatter_task, select_task, write_task
from geocorpus.schema import CORPUS_SCHEMA, MINHASH_DIGESTS, TAGGED_SCHEMA
from support.curation_runs import curation_config, jsonl_input
from support.tagged_corpus import fundus_rows

#: Caps and an eval split, so that finalize both keeps and excludes rows.
BALANCE = {"by": "continent", "method": "cap", "caps": {"default": 120}, "eval_fraction": 0.15, "seed": 3}


def unique_fundus_rows(shared_data: Path, copies: int = 3, duplicates: int = 5) -> list[dict]:
    base = fundus_rows(shared_data)
    rows = []
    for copy in range(copies):
        for row in base:
            url = f"{row['url_normalized']}?copy={copy}"
            text = f"{row['text']} (copy {copy})"
            rows.append(
                row
                | {
                    "id": f"{row['id']}/{copy}",
                    "url": url,
                    "url_normalized": url,
                    "text": text,
                    "text_hash": hashlib.sha256(text.encode()).hexdigest()[:16],
                    "source_row": copy * len(base) + int(row["source_row"] or 0),
                    "split": None,
                }
            )
    rows += [dict(rows[i], id=f"dup-{i}", source_row=10_000 + i) for i in range(duplicates)]  # same URL and text
    return rows


def write_tagged_shards(rows: list[dict], folder: Path, n_shards: int, digests: bool = False) -> Path:
    """``rows`` shuffled into ``n_shards`` tagged shards (row groups of 37) in ``folder``; ``digests``: with
    the tag stage's MinHash digests column (default settings), else in CORPUS_SCHEMA only."""
    folder.mkdir(parents=True)
    rows = list(rows)
    random.Random(n_shards).shuffle(rows)
    if digests:
        signer = Signer()
        rows = [row | {MINHASH_DIGESTS: signer.text_digests(row["text"])} for row in rows]
    table = pa.Table.from_pylist(rows, schema=TAGGED_SCHEMA if digests else CORPUS_SCHEMA)
    size = -(-table.num_rows // n_shards)
    for i in range(n_shards):
        pq.write_table(table.slice(i * size, size), folder / f"{i:03d}_00000.parquet", row_group_size=37)
    return folder


def finalize_config(out: Path, tmp: Path, tasks: int, rows_per_shard: int = 100) -> CurateConfig:
    source = tmp / "input.jsonl"
    source.write_text('{"url": "https://example.com/a", "text": "x"}\n')
    raw = curation_config(out, [jsonl_input("in", source)], tasks=tasks, workers=1)
    raw["balance"] = BALANCE
    raw["output_options"] = {"rows_per_shard": rows_per_shard}
    return parse_config(raw)


def run_finalize_tasks(config: CurateConfig, tagged: Path) -> dict:
    """select, then every scatter, write and cross-split task; returns the plan info."""
    info = select_task(config, tagged)
    tasks = config.executor.tasks
    for rank in range(tasks):
        scatter_task(config, rank, tasks)
    for rank in range(tasks):
        write_task(config, rank, tasks)
    for rank in range(tasks):
        cross_split_task(config, rank, tasks)
    return info
