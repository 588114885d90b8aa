"""Syndicated copies: one wire story MinHash finds under several countries keeps one copy that carries
``syndicated = true`` and the other countries; the report counts them per country pair."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geocorpus.config import parse_config
from geocorpus.minhash import MinhashConfig, minhash_pipelines
from geocorpus.schema import CORPUS_SCHEMA
from pipelines.curate import run_curation
from tests.support.curation_runs import curation_config, jsonl_input
from tests.support.tagged_corpus import tagged_row


def _real_texts(shared_data, count: int) -> list[str]:
    """Distinct long real article texts (fundus), cut to 300 words."""
    texts = []
    for line in (shared_data / "news/fundus/fundus_articles.jsonl").read_text(encoding="utf-8").splitlines():
        words = json.loads(line)["text"].split()
        if len(words) >= 300:
            texts.append(" ".join(words[:300]))
    assert len(texts) >= count
    return texts[:count]


def _copy(text: str, rng: random.Random) -> str:
    """The same story as another outlet runs it: a different last sentence."""
    return text + " " + " ".join(rng.choice(["Reporting", "by", "our", "desk", "staff", "agencies"]) for _ in range(6))


def _row(doc_id: str, text: str, country: str, row: int) -> dict:
    return tagged_row(doc_id, text, f"https://news.example/{doc_id}", country, source_file="in.jsonl", source_row=row)


def test_minhash_marks_the_kept_copy_of_a_story_run_in_several_countries(shared_data, tmp_path):
    from datatrove.executor import LocalPipelineExecutor

    rng = random.Random(3)
    texts = _real_texts(shared_data, 10)
    wire, local = texts[0], texts[1]
    shard_a = [_row("wire-gb", wire, "GB", 0), _row("local-de", local, "DE", 1)]
    shard_a += [_row(f"other{i}", t, "KE", 10 + i) for i, t in enumerate(texts[2:6])]
    shard_b = [_row("wire-in", _copy(wire, rng), "IN", 2), _row("wire-us", _copy(wire, rng), "US", 3)]
    shard_b += [_row("local-de-2", _copy(local, rng), "DE", 4)]
    shard_b += [_row(f"more{i}", t, "NG", 20 + i) for i, t in enumerate(texts[6:])]
    tagged = tmp_path / "tagged"
    tagged.mkdir()
    for name, rows in (("00000.parquet", shard_a), ("00001.parquet", shard_b)):
        pq.write_table(pa.Table.from_pylist(rows, schema=CORPUS_SCHEMA), tagged / name)
    config = MinhashConfig(tasks=2)
    out, exclusions = tmp_path / "minhash", tmp_path / "excl"
    for name, steps in minhash_pipelines(tagged, out, tmp_path / "work", exclusions, config).items():
        tasks = config.stage_tasks()[name]
        LocalPipelineExecutor(steps, tasks=tasks, workers=1, logging_dir=str(tmp_path / "logs" / name)).run()
    kept = {r["id"]: r for p in sorted(out.glob("*.parquet")) for r in pq.read_table(p).to_pylist()}
    dropped = {r["id"] for p in sorted(exclusions.glob("*.parquet")) for r in pq.read_table(p).to_pylist()}
    assert dropped == {"wire-in", "wire-us", "local-de-2"}  # across the two shards (ranks)
    assert (kept["wire-gb"]["syndicated"], kept["wire-gb"]["syndicated_countries"]) == (True, "IN,US")
    assert (kept["local-de"]["syndicated"], kept["local-de"]["syndicated_countries"]) == (False, None)
    assert all(kept[i]["syndicated"] is False for i in kept if i.startswith(("other", "more")))


@pytest.mark.timeout(400)
def test_report_counts_syndicated_copies_per_country_pair(shared_data, tmp_path):
    rng = random.Random(5)
    texts = _real_texts(shared_data, 12)
    records = [
        {"url": f"https://www.nation.co.ke/news/story-{i}", "text": t, "title": "t", "country": "KE"}
        for i, t in enumerate(texts[2:])
    ]
    records += [
        {"url": "https://www.bbc.co.uk/news/world-1", "text": texts[0], "title": "w", "country": "GB"},
        {"url": "https://www.thehindu.com/news/w1", "text": _copy(texts[0], rng), "title": "w", "country": "IN"},
        {"url": "https://www.dawn.com/news/w1", "text": _copy(texts[0], rng), "title": "w", "country": "PK"},
        {"url": "https://www.bbc.co.uk/news/world-2", "text": texts[1], "title": "w", "country": "GB"},
        {"url": "https://www.thehindu.com/news/w2", "text": _copy(texts[1], rng), "title": "w", "country": "IN"},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    raw = curation_config(tmp_path / "out", [jsonl_input("news", path)])
    raw["dedup"] = {"exact": True, "minhash": {}}
    report = run_curation(parse_config(raw), show_progress=False)
    assert report["reconcile"]["ok"], report["reconcile"]
    pairs = {(r["country"], r["other_country"]): r["documents"] for r in report["stats"]["syndicated"]}
    assert pairs == {("GB", "IN"): 2, ("GB", "PK"): 1}
    assert report["exclusions"]["minhash_dedup"] == {"near_duplicate": 3}
