"""Determinism: the same input and config give byte-identical final Parquet, whatever the task count.

Finalize orders rows itself (dedup keeps a deterministic representative, balancing and the eval split
are seeded), so the number of tag tasks, and the order in which their shards were written, must not
show in OUT/data. The manifest differs only in its timestamps.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from support.curation_runs import curation_config, jsonl_input, write_english_corpus

from geocorpus.config import parse_config
from pipelines.curate import run_curation

TIMESTAMP_KEYS = {"created_unix", "finished_unix"}


def _inputs(shared: Path, tmp: Path) -> list[dict]:
    write_english_corpus(tmp / "in", shared, files=3, docs_per_file=150, seed=3, duplicates=10)
    fundus = jsonl_input("fundus", shared / "news" / "fundus" / "fundus_articles.jsonl")
    fundus["fields"] = {
        "url": "url",
        "text": "text",
        "title": "title",
        "date": "publishing_date",
        "country": "fundus_country_dir",
    }
    return [fundus, jsonl_input("news", tmp / "in")]


def _run(inputs: list[dict], out: Path, tasks: int) -> dict:
    raw = curation_config(out, inputs, tasks=tasks, workers=1, language=True)
    return run_curation(parse_config(raw), show_progress=False)


def _digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "data").glob("*.parquet"))}


@pytest.fixture(scope="module")
def runs(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("determinism")
    inputs = _inputs(shared_data, tmp)
    return {
        name: (tmp / name, _run(inputs, tmp / name, tasks))
        for name, tasks in [("first", 1), ("second", 1), ("three_tasks", 3)]
    }


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_same_input_and_config_twice_gives_byte_identical_data(runs):
    first, second = _digests(runs["first"][0]), _digests(runs["second"][0])
    assert first and set(first) >= {"train-00000.parquet", "eval-00000.parquet"}
    assert first == second


def test_task_count_does_not_change_the_data(runs):
    one_task, three_tasks = runs["first"][0], runs["three_tasks"][0]
    # the three-task run really did split the work (the synthetic input is three files)
    assert len(list((three_tasks / "stages" / "tagged").glob("*.parquet"))) >= 2
    rows_one = pl.read_parquet(one_task / "data" / "*.parquet")
    rows_three = pl.read_parquet(three_tasks / "data" / "*.parquet")
    assert rows_one.equals(rows_three), "the rows or their order differ with the task count"
    assert _digests(one_task) == _digests(three_tasks)
    assert runs["first"][1]["reconcile"] == runs["three_tasks"][1]["reconcile"]


def test_exclusions_and_manifest_agree_apart_from_timestamps(runs):
    def excluded(out: Path) -> pl.DataFrame:
        files = sorted((out / "exclusions").rglob("*.parquet"))
        return pl.read_parquet(files, columns=["id", "stage", "reason"]).sort("id")

    assert excluded(runs["first"][0]).equals(excluded(runs["three_tasks"][0]))

    def manifest(out: Path, tasks_key: bool) -> dict:
        data = json.loads((out / "manifest.json").read_text())
        for key in TIMESTAMP_KEYS:
            assert isinstance(data.pop(key), float)
        data["config"].pop("output")
        if tasks_key:
            data["config"].pop("executor")
        return data

    assert manifest(runs["first"][0], False) == manifest(runs["second"][0], False)
    assert manifest(runs["first"][0], True) == manifest(runs["three_tasks"][0], True)
