"""Finalize as separate tasks: select on metadata columns, scatter, write; the bytes never depend on how.

Real fundus articles (copied three times, each copy a unique document) stand in for tagged shards.
The finalize tasks run in this process with 1 or 3 tasks, over 1 or 5 tagged shards, with the
default piece size or a tiny one that cuts the shuffle into hundreds of pieces: the final shards must
be byte-identical every time, in the order balancing chose, and every row kept or excluded once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.curation_runs import curation_config, jsonl_input, write_english_corpus
from support.finalize_inputs import (
    BALANCE,
    finalize_config,
    run_finalize_tasks,
    unique_fundus_rows,
    write_tagged_shards,
)

from geocorpus.config import parse_config
from geocorpus.finalize import shards as shards_module
from geocorpus.finalize.balance import BalanceConfig, balance
from geocorpus.finalize.exact_dedup import exact_dedup
from geocorpus.finalize.stage import scatter_task, select_task, write_task
from geocorpus.schema import CORPUS_SCHEMA
from pipelines.curate import run_curation


@pytest.fixture(scope="module")
def tagged_rows(shared_data) -> list[dict]:
    return unique_fundus_rows(shared_data)


def digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "data").glob("*.parquet"))}


def test_the_shuffle_bytes_do_not_depend_on_tasks_pieces_or_tagged_sharding(tagged_rows, tmp_path, monkeypatch):
    runs = {}
    for name, n_shards, tasks, piece_bytes in [
        ("one", 1, 1, None),
        ("many", 5, 3, None),
        ("tiny_pieces", 5, 3, 20_000),
    ]:
        if piece_bytes:
            monkeypatch.setattr(shards_module, "PIECE_BYTES", piece_bytes)
        tagged = write_tagged_shards(tagged_rows, tmp_path / name / "tagged", n_shards)
        config = finalize_config(tmp_path / name / "out", tmp_path / name, tasks)
        runs[name] = (config, run_finalize_tasks(config, tagged))
        monkeypatch.undo()

    reference = digests(tmp_path / "one" / "out")
    assert len(reference) >= 4, reference  # several train shards and an eval shard
    assert digests(tmp_path / "many" / "out") == reference
    assert digests(tmp_path / "tiny_pieces" / "out") == reference
    # the tiny pieces really cut the shuffle up: many pieces per output shard, many row groups per scatter file
    layout = runs["tiny_pieces"][1]["layout"]
    assert layout["piece_rows"] < 20 <= layout["rows_per_shard"]
    index = json.loads((tmp_path / "tiny_pieces/out/stages/finalize/scatter/00001.json").read_text())
    assert len(index["pieces"]) > 20

    # rows: exactly balancing's choice, in its order; every other row excluded once, with its reason
    frame = pl.DataFrame(pa.Table.from_pylist(tagged_rows, schema=CORPUS_SCHEMA))
    dedup = exact_dedup(frame)
    expected = balance(frame.join(dedup.kept, on="id", how="semi"), BalanceConfig(**BALANCE))
    out = tmp_path / "many" / "out"
    for split in ("train", "eval"):
        ids = pl.read_parquet(sorted((out / "data").glob(f"{split}-*.parquet")))["id"].to_list()
        assert ids == expected.selected.filter(pl.col("split") == split)["id"].to_list()
    excluded = pl.read_parquet(out / "exclusions" / "finalize" / "*.parquet")
    assert excluded["id"].n_unique() == excluded.height == len(tagged_rows) - expected.selected.height
    assert set(excluded.filter(pl.col("stage") == "exact_dedup")["id"]) == set(dedup.excluded["id"])
    assert set(excluded.filter(pl.col("stage") == "balance")["reason"]) == {"over_cap"}
    text_of = {r["id"]: r["text"] for r in tagged_rows}
    assert all(text_of[i] == t for i, t in excluded.select("id", "text").iter_rows())


def test_long_texts_cut_smaller_row_groups_with_the_same_rows(tagged_rows, tmp_path, monkeypatch):
    tagged = write_tagged_shards(tagged_rows, tmp_path / "tagged", 2)
    plain = finalize_config(tmp_path / "plain", tmp_path, 2, rows_per_shard=400)
    run_finalize_tasks(plain, tagged)
    monkeypatch.setattr(shards_module, "ROW_GROUP_TEXT_BYTES", 50_000)
    small = finalize_config(tmp_path / "small", tmp_path, 2, rows_per_shard=400)
    run_finalize_tasks(small, tagged)
    for path in sorted((tmp_path / "small" / "data").glob("*.parquet")):
        meta = pq.ParquetFile(path).metadata
        assert meta.num_row_groups > 1
        for group in range(meta.num_row_groups):
            texts = pq.ParquetFile(path).read_row_group(group, columns=["text"]).column("text").to_pylist()
            sizes = [len(t.encode()) for t in texts]
            assert sum(sizes[:-1]) < 50_000  # cut at the first row that reaches the limit
        assert pq.read_table(path).equals(pq.read_table(tmp_path / "plain" / "data" / path.name))


def test_a_scatter_piece_gone_missing_is_an_error_not_a_short_shard(tagged_rows, tmp_path):
    tagged = write_tagged_shards(tagged_rows, tmp_path / "tagged", 2)
    config = finalize_config(tmp_path / "out", tmp_path, 2)
    select_task(config, tagged)
    for rank in range(2):
        scatter_task(config, rank, 2)
    index_path = tmp_path / "out" / "stages" / "finalize" / "scatter" / "00000.json"
    index = json.loads(index_path.read_text())
    index["pieces"].pop(next(iter(index["pieces"])))
    index_path.write_text(json.dumps(index))
    with pytest.raises(ValueError, match="a scatter task did not finish or ran twice"):
        write_task(config, 0, 2)


def test_tagged_shards_changed_after_selection_are_refused(tagged_rows, tmp_path):
    tagged = write_tagged_shards(tagged_rows, tmp_path / "tagged", 2)
    config = finalize_config(tmp_path / "out", tmp_path, 1)
    select_task(config, tagged)
    shard = sorted(tagged.glob("*.parquet"))[0]
    pq.write_table(pq.read_table(shard).slice(1), shard)
    with pytest.raises(ValueError, match=f"{shard.name}: .* changed after finalize selected"):
        scatter_task(config, 0, 1)


def test_the_task_count_must_match_the_plan(tagged_rows, tmp_path):
    tagged = write_tagged_shards(tagged_rows, tmp_path / "tagged", 2)
    config = finalize_config(tmp_path / "out", tmp_path, 2)
    select_task(config, tagged)
    with pytest.raises(RuntimeError, match="3 tasks but the plan was made for 2"):
        scatter_task(config, 0, 3)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_tagged_shards_rotate_by_size_and_the_corpus_does_not_change(shared_data, tmp_path, monkeypatch):
    import pipelines.curate as curate

    write_english_corpus(tmp_path / "in", shared_data, files=1, docs_per_file=2600, duplicates=0)
    inputs = [jsonl_input("news", tmp_path / "in")]
    whole = run_curation(parse_config(curation_config(tmp_path / "whole", inputs)), show_progress=False)
    monkeypatch.setattr(curate, "TAGGED_SHARD_BYTES", 1)  # every flushed batch of 1,000 documents rotates
    rotated = run_curation(parse_config(curation_config(tmp_path / "rotated", inputs)), show_progress=False)
    assert len(list((tmp_path / "whole/stages/tagged").glob("*.parquet"))) == 1
    shard_rows = [pq.ParquetFile(p).metadata.num_rows for p in sorted((tmp_path / "rotated/stages/tagged").glob("*"))]
    assert len(shard_rows) >= 3 and max(shard_rows) <= 1000, shard_rows
    assert whole["reconcile"] == rotated["reconcile"] and whole["reconcile"]["ok"]
    assert digests(tmp_path / "whole") == digests(tmp_path / "rotated")
