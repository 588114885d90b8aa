"""Smoke tests of the mini-reproduction's moving parts: findings, verdicts, report, headline input.

The findings are checked on a small document-score table built with a known effect, so each
verdict's direction is known in advance; the headline converter runs on the real file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.repro.findings import comparisons_frame, compute_findings, verdicts  # noqa: E402
from benchmarks.repro.headlines import HeadlinesError, headlines_to_jsonl  # noqa: E402
from benchmarks.repro.report import write_report  # noqa: E402
from trainer_plugin.evaluation.perplexity import gap_table, region_table  # noqa: E402

CONTINENT_OF = {"US": "America", "GB": "Europe", "KE": "Africa"}
# Mean per-token NLL of (model, scored condition) per continent; Africa is left out of leave_one_out.
BASE = 5.0
EFFECT = {
    ("none", "with_metadata"): 0.0,
    ("none", "without_metadata"): 0.0,
    ("url", "with_metadata"): -0.25,
    ("url", "without_metadata"): 0.0,
    ("url_country_continent", "with_metadata"): -0.3,
    ("url_country_continent", "without_metadata"): 0.01,
    ("leave_one_out", "with_metadata"): -0.3,
    ("leave_one_out", "without_metadata"): 0.01,
    ("none@seed1", "with_metadata"): 0.002,
    ("none@seed1", "without_metadata"): 0.002,
}


def fake_doc_scores(docs_per_country: int = 40, seed: int = 0) -> pl.DataFrame:
    """Scores where metadata helps, the URL gives most of it and leave_one_out loses Africa."""
    rng = np.random.default_rng(seed)
    rows = []
    for country, continent in CONTINENT_OF.items():
        for i in range(docs_per_country):
            doc_id, tokens = f"{country}-{i}", int(rng.integers(20, 200))
            doc_noise = rng.normal(0, 0.05)
            for (model, condition), effect in EFFECT.items():
                if model == "leave_one_out" and continent == "Africa":
                    effect = 0.4
                nll_per_token = BASE + effect + doc_noise + rng.normal(0, 0.01)
                rows.append(
                    {
                        "id": doc_id,
                        "country": country,
                        "continent": continent,
                        "condition": condition,
                        "nll": nll_per_token * tokens,
                        "n_tokens": tokens,
                        "model": model,
                    }
                )
    return pl.DataFrame(rows)


def test_findings_recover_a_known_effect_and_report_is_written(tmp_path):
    scores = fake_doc_scores()
    rows = compute_findings(
        scores, ["all", "Africa", "America", "Europe"], "Africa", n_boot=200, seed=0, noise_model="none@seed1"
    )
    by = {(c.finding, c.kind, c.region): c for c in rows}
    assert by[("a", "cross", "all")].estimate > 0 and by[("a", "cross", "all")].excludes_zero
    assert by[("a", "within", "all")].estimate > 0  # the same model gains from its prefix
    assert 0 < by[("b", "cross", "all")].estimate < 0.05  # about exp(0.01) - 1
    share = by[("c", "share", "all")]
    assert 0.7 < share.estimate < 0.9  # (1 - e^-0.25) / (1 - e^-0.3) ~ 0.85
    assert by[("d", "cross", "Africa")].estimate > 0 and by[("d", "cross", "Africa")].excludes_zero
    assert abs(by[("d", "cross", "Europe")].estimate) < 5  # the other regions are trained alike
    assert 0 < by[("noise", "noise_rel", "all")].estimate < 0.01  # about exp(0.002) - 1
    text = verdicts(rows, "Africa")
    assert text["a"].startswith("direction held, CI excludes zero") and "clears it" in text["a"]
    assert text["b"].startswith("held")
    assert text["c"].startswith("direction held, CI above 50%")
    assert text["d"].startswith("direction held, CI excludes zero") and "Africa" in text["d"]

    regions = pl.concat(
        [
            region_table(scores.filter(pl.col("model") == m), 100).with_columns(pl.lit(m).alias("model"))
            for m in scores["model"].unique(maintain_order=True)
        ]
    )
    gaps = pl.concat(
        [
            gap_table(scores.filter(pl.col("model") == m), 100).with_columns(pl.lit(m).alias("model"))
            for m in scores["model"].unique(maintain_order=True)
        ]
    )
    meta = {
        "setting": "test",
        "date": "today",
        "machine": "here",
        "total_s": 1.0,
        "timings_s": {"x": 1.0},
        "left_out": "Africa",
        "left_out_reason": "test",
        "corpus_summary": "-",
        "model": "none",
        "steps": "0",
        "min_country_docs": 10,
        "settings_yaml": "name: test",
        "noise_model": "none@seed1",
    }
    path = write_report(tmp_path, regions, gaps, comparisons_frame(rows), text, meta)
    report = path.read_text()
    assert "| continent | Africa | 40 |" in report and "url_country_continent with" in report
    assert "direction held, CI excludes zero" in report
    for png in ("perplexity_by_condition.png", "metadata_gap.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def test_a_reversed_effect_is_reported_as_not_held():
    scores = fake_doc_scores().with_columns(
        pl.when((pl.col("model") == "url_country_continent") & (pl.col("condition") == "with_metadata"))
        .then(pl.col("nll") * 1.1)
        .otherwise(pl.col("nll"))
        .alias("nll")
    )
    text = verdicts(compute_findings(scores, ["all"], None, n_boot=100), None)
    assert text["a"].startswith("direction did NOT hold")
    assert text["c"].startswith("did NOT hold") and "d" not in text
    assert "no seed noise floor measured" in text["a"]


def test_a_difference_inside_the_seed_noise_floor_is_flagged():
    scores = fake_doc_scores().with_columns(  # the second seed of `none` is as far off as the effect
        pl.when(pl.col("model") == "none@seed1").then(pl.col("nll") * 0.9).otherwise(pl.col("nll")).alias("nll")
    )
    text = verdicts(compute_findings(scores, ["all"], None, n_boot=100, noise_model="none@seed1"), None)
    assert "does NOT clear it" in text["a"]


def test_headlines_convert_from_the_real_file(shared_data, tmp_path):
    source = shared_data / "urls" / "fwd_news_headlines" / "headlines.json"
    records = json.loads(source.read_text(encoding="utf-8"))
    usable = [r for r in records if str(r.get("title") or "").strip() and str(r.get("link") or "").strip()]
    target = tmp_path / "headlines.jsonl"
    assert headlines_to_jsonl(source, target) == len(usable)
    first = json.loads(target.read_text(encoding="utf-8").splitlines()[0])
    assert first["url"] == usable[0]["link"].strip() and first["text"].startswith(usable[0]["title"].strip())


def test_headlines_reject_a_non_array(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"title": "x"}')
    with pytest.raises(HeadlinesError, match="expected a JSON array"):
        headlines_to_jsonl(bad, tmp_path / "out.jsonl")
    bad.write_text('[{"title": "a", "link": "https://x.org/"}, 3]')
    with pytest.raises(HeadlinesError, match="record 1"):
        headlines_to_jsonl(bad, tmp_path / "out.jsonl")
