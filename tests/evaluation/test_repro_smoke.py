"""The mini-reproduction's moving parts: design rules, seed-level statistics, verdicts, report.

Findings are checked on document-score tables built with a known effect per seed, so each verdict is
known in advance; the design rules run on small frames and on the real headline file.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.repro import design, findings, report, stats, training  # noqa: E402
from benchmarks.repro.evaluation import swapped, variants  # noqa: E402
from benchmarks.repro.headlines import HeadlinesError, headlines_to_jsonl  # noqa: E402

REGIONS = ["America", "Europe"]
CONTROL_REGIONS = ["Pseudo1", "Pseudo2"]


# ---------------------------------------------------------------- design


def frame(rows: list[tuple[str, str, str, int]]) -> pl.DataFrame:
    """(id, continent, input, n_words) rows with a text of that many words."""
    return pl.DataFrame(
        {
            "id": [r[0] for r in rows],
            "continent": [r[1] for r in rows],
            "input": [r[2] for r in rows],
            "n_words": [r[3] for r in rows],
            "text": [" ".join(["word"] * r[3]) for r in rows],
        }
    )


def test_title_once_drops_a_title_that_is_the_whole_text():
    docs = pl.DataFrame(
        {"title": ["Storm hits coast", "Budget passed", None], "text": ["Storm hits coast ", "x y", "z"]}
    )
    out, count = design.title_once(docs)
    assert count == 1
    assert out["title"].to_list() == [None, "Budget passed", None]


def test_slug_overlap_and_stripping():
    url = "https://www.example.com/2020/05/world/storm-hits-the-coast-again.html?ref=x"
    assert design.slug_overlap(url, "Storm hits the coast") == 1.0
    stripped = design.strip_slug(url)
    assert stripped == "https://www.example.com/2020/05/world"
    assert design.slug_overlap(stripped, "Storm hits the coast") == 0.0
    assert design.strip_slug("https://bbc.com/news/uk-politics-123") == "https://bbc.com/news/uk-politics-123"
    assert design.slug_overlap(url, None) is None


def test_split_regions_holds_out_words_per_region_and_drops_thin_regions():
    rows = [(f"a{i}", "America", "h", 100) for i in range(50)] + [(f"e{i}", "Europe", "b", 100) for i in range(5)]
    settings = design.DesignSettings(eval_words=1000)
    out, notes = design.split_regions(frame(rows), settings, "continent")
    assert set(out["continent"]) == {"America"}
    assert len(notes) == 1 and notes[0].startswith("Europe: dropped")
    held = out.filter(pl.col("split") == "eval")["n_words"].sum()
    assert 1000 <= held <= 1100  # documents until the target is reached


def test_cap_train_shares_keeps_every_region_under_the_cap():
    rows = [(f"a{i}", "America", "h", 10) for i in range(100)]
    rows += [(f"e{i}", "Europe", "b", 10) for i in range(400)]
    rows += [(f"k{i}", "Asia", "x", 10) for i in range(50)]
    split = frame(rows).with_columns(pl.lit("train").alias("split"))
    out, cap = design.cap_train_shares(split, design.DesignSettings(max_share=0.35), "continent")
    words = dict(out.group_by("continent").agg(pl.col("n_words").sum()).iter_rows())
    total = sum(words.values())
    assert cap == pytest.approx(0.35)  # three regions: 35% is reachable
    assert max(words.values()) / total <= cap + 0.01
    assert words["Asia"] == 500  # the small region keeps everything


def test_pseudo_regions_spell_by_region_and_the_negative_control_breaks_the_link():
    texts = ["people would think about energy"] * 40
    docs = pl.DataFrame(
        {
            "id": [f"d{i}" for i in range(40)],
            "input": ["bbc"] * 40,
            "n_words": [5] * 40,
            "text": texts,
            "url_normalized": [f"https://bbc.com/news/a-{i}" for i in range(40)],
            "country": ["GB"] * 40,
            "continent": ["Europe"] * 40,
            "title": [None] * 40,
        }
    )
    positive, negative, facts = design.pseudo_regions(docs, design.DesignSettings(pseudo_regions=2, variant_words=3))
    assert len(facts["variant_words"]) == 3
    for text, region in zip(positive["text"], positive["continent"]):
        suffix = facts["suffixes"][int(region.removeprefix("Pseudo")) - 1]
        assert all(f"{w}{suffix}" in text for w in facts["variant_words"])
    hosts = {url.split("/")[2] for url in positive["url_normalized"]}
    assert hosts == {"www.region1.example", "www.region2.example"}
    assert negative["text"].to_list() == positive["text"].to_list()
    agree = (negative["continent"] == positive["continent"]).mean()
    assert agree < 0.9  # tags were moved to other documents


# ---------------------------------------------------------------- statistics


def test_t_interval_over_seeds_matches_the_textbook_formula():
    interval = stats.Interval.over_seeds([1.0, 2.0, 3.0])
    half = 4.303 * 1.0 / math.sqrt(3)
    assert interval.mean == pytest.approx(2.0)
    assert (interval.low, interval.high) == pytest.approx((2.0 - half, 2.0 + half))
    assert stats.Interval.over_seeds([5.0]).low == -math.inf


def test_bootstrap_weights_resample_every_document_count():
    weights = stats.bootstrap_weights(10, 7, 0)
    assert weights.shape == (7, 10)
    assert (weights.sum(axis=1) == 10).all()


# ---------------------------------------------------------------- findings


def scores_table(effects: dict[tuple[str, str, str], float], seeds=(0, 1, 2), noise=0.0) -> pl.DataFrame:
    """Document scores: 20 docs per region, NLL per token = 4 + effect + seed noise."""
    rng = np.random.default_rng(0)
    rows = []
    models = [
        ("real", "none", "without"),
        ("real", "url", "with"),
        ("real_noslug", "url", "with"),
        ("real", "full", "with"),
        ("real", "full", "without"),
        ("real", "full", "swap"),
        ("real", "loo", "with"),
        ("real", "regional:America", "without"),
        ("real", "regional:Europe", "without"),
        ("control_pos", "full", "with"),
        ("control_pos", "full", "without"),
        ("control_pos", "full", "swap"),
        ("control_neg", "full", "with"),
        ("control_neg", "full", "without"),
        ("control_neg", "full", "swap"),
    ]
    for seed in seeds:
        seed_shift = rng.normal(0, noise)
        for study, label, variant in models:
            regions = CONTROL_REGIONS if study.startswith("control") else REGIONS
            for region in regions:
                if label.startswith("regional:") and label.partition(":")[2] != region:
                    continue
                if label == "loo" and region != "Europe":  # scored on the left-out region only
                    continue
                for d in range(20):
                    effect = effects.get((study, label.partition(":")[0], variant), 0.0)
                    per_token = 4.0 + effect + seed_shift + 0.01 * d + rng.normal(0, 0.001)
                    rows.append(
                        {
                            "model": f"{study}/{label}@{seed}",
                            "study": study,
                            "label": label,
                            "seed": seed,
                            "variant": variant,
                            "id": f"{region}-{d}",
                            "region": region,
                            "nll": per_token * 50,
                            "n_tokens": 50,
                        }
                    )
    return pl.DataFrame(rows)


KNOWN = {
    ("real", "full", "with"): -0.10,
    ("real", "url", "with"): -0.08,
    ("real_noslug", "url", "with"): -0.02,
    ("real", "loo", "with"): 0.05,
    ("real", "regional", "without"): -0.12,
    ("real", "full", "swap"): -0.02,
    ("control_pos", "full", "with"): -0.2,
    ("control_pos", "full", "swap"): 0.1,
}


def results_by_key(scores: pl.DataFrame, mcq: pl.DataFrame | None = None) -> dict[str, dict]:
    regions = {"real": REGIONS, "control": CONTROL_REGIONS}
    return {r["finding"].key: r for r in findings.compute(scores, mcq, [0, 1, 2], regions, "Europe", 50)}


def test_findings_recover_known_effects_with_the_right_verdicts():
    results = results_by_key(scores_table(KNOWN, noise=0.002))
    assert results["a"]["interval"].mean == pytest.approx(0.10, abs=1e-3)
    assert results["a"]["verdict"] == "shown"
    assert results["b"]["verdict"] == "shown"  # the full model is better everywhere
    assert results["c"]["interval"].mean == pytest.approx(0.8, abs=0.02) and results["c"]["verdict"] == "shown"
    assert results["c_noslug"]["interval"].mean == pytest.approx(0.2, abs=0.02)
    assert results["c_noslug"]["verdict"] == "not shown"
    assert results["d"]["interval"].mean == pytest.approx(0.15, abs=1e-3) and results["d"]["verdict"] == "shown"
    assert results["e"]["interval"].mean == pytest.approx(0.10 / 0.12, abs=0.02)
    assert results["swap"]["interval"].mean == pytest.approx(0.08, abs=1e-3)
    assert results["control_pos"]["verdict"] == "shown"
    assert results["control_neg"]["verdict"] == "behaved"


def test_seed_noise_makes_a_small_effect_inconclusive_and_a_reversed_one_not_shown():
    noisy = {("real", "full", "with"): -0.002, ("control_neg", "full", "swap"): 0.0}
    # a seed shift moves every model of the seed together, so it cancels in paired differences;
    # per-model noise does not: make the full model's effect differ by seed
    table = scores_table(noisy, noise=0.0)
    shift = pl.when(pl.col("label") == "full").then(pl.col("seed").replace_strict({0: 0.3, 1: -0.3, 2: 0.05}))
    table = table.with_columns((pl.col("nll") + shift.otherwise(0.0) * pl.col("n_tokens")).alias("nll"))
    assert results_by_key(table)["a"]["verdict"] == "inconclusive"
    reversed_effect = scores_table({("real", "full", "with"): 0.05})
    assert results_by_key(reversed_effect)["a"]["verdict"] == "not shown"
    assert results_by_key(reversed_effect)["b"]["verdict"] == "not shown"


def test_a_failed_negative_control_is_reported():
    results = results_by_key(scores_table({("control_neg", "full", "swap"): 0.05}))
    assert results["control_neg"]["verdict"] == "failed"


def test_shares_are_inconclusive_when_the_reference_gain_is_not_shown():
    results = results_by_key(scores_table({("real", "url", "with"): -0.05}))
    assert results["a"]["verdict"] != "shown"
    assert results["c"]["verdict"] == "inconclusive"


def test_mcq_difference_is_paired_per_seed():
    mcq = pl.DataFrame(
        [
            {
                "id": f"q{q}",
                "continent": "asia",
                "correct": float(label == "full" and q < 10 or q < 5),
                "n_options": 4,
                "label": label,
                "seed": seed,
            }  # fmt: skip
            for seed in (0, 1, 2)
            for label in ("none", "full")
            for q in range(40)
        ]
    )
    results = results_by_key(scores_table(KNOWN), mcq)
    assert results["f"]["interval"].mean == pytest.approx(5 / 40)
    assert results["f"]["per_seed"][0]["acc_none"] == pytest.approx(5 / 40)


# ---------------------------------------------------------------- scoring variants and training plan


def test_swap_gives_each_document_another_regions_metadata_and_keeps_its_body():
    docs = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "continent": ["America", "Europe", "America"],
            "country": ["US", "GB", "CA"],
            "url_normalized": ["https://us.example/1", "https://gb.example/2", "https://ca.example/3"],
            "text": ["one", "two", "three"],
        }
    )
    out = swapped(docs)
    assert (out["continent"] != docs["continent"]).all()
    assert out["text"].to_list() == docs["text"].to_list()


def test_model_plan_bases_regional_models_on_the_same_seeds_global_model(tmp_path):
    specs = training.model_specs([3], ["America", "Europe"], "Europe", regional_steps=7)
    regional = [s for s in specs if s.label.startswith("regional:")]
    assert [s.label for s in regional] == ["regional:America", "regional:Europe"]
    settings = {
        "model": {"hidden_size": 8, "num_layers": 1, "num_heads": 2},
        "training": {"max_steps": 20, "seq_len": 64, "per_device_batch_size": 2},
    }
    config = training.train_config(regional[0], tmp_path, tmp_path / "tok", settings)
    assert config["init_from"].endswith("real__none__seed3")
    assert config["model"] == {} and config["training"]["max_steps"] == 7 and config["seed"] == 3
    loo = next(s for s in specs if s.label == "loo")
    assert loo.condition == {"name": "leave_one_out", "exclude_regions": ["Europe"]}
    docs = pl.DataFrame({"continent": ["America", "Europe"], "id": ["a", "b"]})
    assert variants(loo, docs, "Europe")["with"][1]["id"].to_list() == ["b"]


# ---------------------------------------------------------------- report


def test_report_puts_the_noise_floor_first_and_docs_keep_other_settings(tmp_path):
    results = findings.compute(
        scores_table(KNOWN, noise=0.002), None, [0, 1, 2], {"real": REGIONS, "control": CONTROL_REGIONS}, "Europe", 20
    )
    facts = {
        "regions": REGIONS,
        "region_notes": ["Asia: dropped"],
        "present_paper_countries": ["GB", "US"],
        "missing_countries": ["KE"],
        "titles_dropped": 3,
        "slug_overlap_mean": 0.5,
        "slug_overlap_after_strip": 0.0,
        "cap": 0.5,
        "summary": [{"continent": "Europe", "split": "eval", "docs": 3, "words": 100, "slug_overlap": 0.1}],
        "control": {"source": "bbc", "documents": 10, "variant_words": ["people"], "suffixes": ["aa"]},
        "control_regions": CONTROL_REGIONS,
    }
    meta = {
        "setting": "unit",
        "date": "today",
        "machine": "test",
        "total_s": 1.0,
        "timings_s": {"x": 1.0},
        "n_models": 3,
        "model": "m",
        "steps": "s",
        "seeds": [0, 1, 2],
        "noise": findings.noise_floor(scores_table(KNOWN, noise=0.002), [0, 1, 2], REGIONS),
        "design": facts,
        "left_out": "Europe",
        "left_out_reason": "smallest",
        "eval_tokens": {"Europe": 20000},
    }
    path = report.write_report(tmp_path, results, meta)
    text = path.read_text()
    assert text.index("Noise floor") < text.index("Controls") < text.index("Findings")
    assert "Both controls behaved" in text and "SHOWN" in text
    assert (tmp_path / "findings.png").stat().st_size > 1000
    doc = tmp_path / "docs" / "repro.md"
    doc.parent.mkdir()
    doc.write_text("# Intro\n\n## Results: `--setting gpu`\n\ngpu numbers\n")
    report.write_docs(doc, path, tmp_path)
    report.write_docs(doc, path, tmp_path)  # idempotent: the section is replaced, not appended
    page = doc.read_text()
    assert page.count("## Results: `--setting unit`") == 1 and "gpu numbers" in page
    assert (doc.parent / "images" / "repro_mini_unit.png").exists()


# ---------------------------------------------------------------- headline input (real file)


def test_headlines_convert_from_the_real_file(shared_data, tmp_path):
    written = headlines_to_jsonl(shared_data / "urls" / "fwd_news_headlines" / "headlines.json", tmp_path / "h.jsonl")
    assert written > 9000
    first = pl.read_ndjson(tmp_path / "h.jsonl").row(0, named=True)
    assert first["url"].startswith("http") and first["text"]


def test_headlines_reject_a_non_array(tmp_path):
    source = tmp_path / "bad.json"
    source.write_text('{"title": "x"}')
    with pytest.raises(HeadlinesError, match="expected a JSON array"):
        headlines_to_jsonl(source, tmp_path / "out.jsonl")
