"""``tagging.require_country: false``: documents no evidence could place are kept with ``country = null``
and balanced as the region ``unknown``; with the default (true) they are excluded as ``no_country``."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest

from geocorpus.config import parse_config
from geocorpus.paths import RunLayout
from geocorpus.tagging import RegionTagger
from geocorpus.urls import verify_url
from pipelines.curate import run_curation
from tests.support.curation_runs import curation_config, english_text, jsonl_input, real_news_urls


def _real_urls_by_tag(shared_data, placed: int, unplaced: int) -> tuple[list[str], list[str]]:
    """Real r/worldnews URLs the default tagger places (registry/ccTLD) and ones it cannot place."""
    tagger = RegionTagger()
    known, unknown = [], []
    for url in real_news_urls(shared_data, 3000):
        result = verify_url(url)
        if not result.ok:
            continue
        tag = tagger.tag(result.host, result.domain, result.suffix, url=result.url)
        (known if tag.country else unknown).append(url)
    assert len(known) >= placed and len(unknown) >= unplaced
    return known[:placed], unknown[:unplaced]


def _run(shared_data, tmp_path, require_country: bool, caps: dict | None = None) -> RunLayout:
    known, unknown = _real_urls_by_tag(shared_data, 12, 8)
    rng = random.Random(7)
    records = [{"url": url, "title": "t", "text": english_text(rng, 70)} for url in known + unknown]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    raw = curation_config(tmp_path / "out", [jsonl_input("news", path)])
    raw["inputs"][0]["fields"].pop("country")
    raw["tagging"] = {"require_country": require_country}
    if caps is not None:
        raw["balance"] = {"by": "continent", "method": "cap", "caps": caps, "eval_fraction": 0.0, "seed": 0}
    config = parse_config(raw)
    report = run_curation(config, show_progress=False)
    assert report["reconcile"]["ok"], report["reconcile"]
    return RunLayout(config.output)


def _kept(layout: RunLayout) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for split in ("train", "eval") for f in layout.split_files(split)])


@pytest.mark.timeout(300)
def test_untagged_documents_are_kept_as_unknown_when_asked(shared_data, tmp_path):
    layout = _run(shared_data, tmp_path, require_country=False, caps={"unknown": 5})
    kept = _kept(layout)
    untagged = kept.filter(pl.col("country").is_null())
    assert untagged.height == 5  # 8 untagged documents, capped as the region "unknown"
    assert set(untagged["tag_source"]) == {"none"} and untagged["continent"].null_count() == 5
    assert kept.filter(pl.col("country").is_not_null()).height == 12
    report = json.loads(layout.report.read_text())
    assert report["balance"]["unknown"]["available"] == 8
    assert report["exclusions"] == {"balance": {"over_cap": 3}}


@pytest.mark.timeout(300)
def test_untagged_documents_are_excluded_by_default(shared_data, tmp_path):
    layout = _run(shared_data, tmp_path, require_country=True)
    kept = _kept(layout)
    assert kept.height == 12 and kept["country"].null_count() == 0
    report = json.loads(layout.report.read_text())
    assert report["exclusions"] == {"tag_region": {"no_country": 8}}
