"""CLI smoke test on real shared data: every command writes its tables and PNGs."""

from __future__ import annotations

import json

import polars as pl
import pytest
import yaml
from support.tiny_models import build_eval_cli_setup
from typer.testing import CliRunner

from trainer_plugin.evaluation import plots
from trainer_plugin.evaluation.cli import eval_app

runner = CliRunner()


def _ok(args):
    result = runner.invoke(eval_app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def setup(shared_data, tiny_tokenizer_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return build_eval_cli_setup(shared_data, tiny_tokenizer_dir, root, per_country=2, max_chars=200)


def test_ppl_cross_and_merge_sweep(setup):
    out = setup["root"] / "out"
    common = ["--corpus", setup["corpus"], "--device", "cpu", "--n-boot", "50", "--out", out]
    _ok(["ppl", "--model", setup["global"], *common])
    assert _is_png(out / "ppl_heatmap.png") and _is_png(out / "ppl_gap.png")
    regions = pl.read_csv(out / "ppl_regions.csv")
    assert {"level", "region", "condition", "ppl", "ppl_low", "ppl_high", "small_n"} <= set(regions.columns)
    assert pl.read_parquet(out / "ppl_gap.parquet").height == regions.height // 2
    assert regions["small_n"].all()  # 2 documents per country: every region is below --min-n 30
    results = json.loads((out / "results.json").read_text())
    assert results["command"] == "ppl" and results["settings"]["paper_compat"] is False
    assert list(results["models"]["model"]["weights"]) == ["model.safetensors"]
    assert results["data"][0]["xxh64"] and results["versions"]["torch"]
    assert {r["region"] for r in results["metrics"]["gap"]} == set(regions["region"])
    limited = setup["root"] / "limited"
    _ok(["ppl", "--model", setup["global"], *common[:-1], limited, "--limit", "3", "--paper-compat", "--min-n", "2"])
    assert json.loads((limited / "results.json").read_text())["settings"]["n_documents"] == 3
    assert pl.read_csv(limited / "ppl_gap.csv").filter(pl.col("level") == "all")["small_n"][0] is False
    _ok(["cross", "--model", f"US={setup['regional']}", "--model", f"global={setup['global']}", *common])
    cells = pl.read_csv(out / "cross_matrix.csv")
    assert cells.filter(pl.col("in_region"))[["model", "test_region"]].rows() == [("US", "US")]
    assert _is_png(out / "cross_matrix.png")
    _ok(
        [
            "merge-sweep",
            "--global",
            setup["global"],
            "--regional",
            setup["regional"],
            "--region",
            "GB",
            "--alphas",
            "0,1",
            *common,
        ]
    )
    sweep = pl.read_csv(out / "merge_sweep.csv")
    assert _is_png(out / "merge_tradeoff.png")
    at_zero = sweep.filter(
        (pl.col("alpha") == 0) & (pl.col("subset") == "global") & (pl.col("condition") == "with_metadata")
    )
    overall = regions.filter((pl.col("level") == "all") & (pl.col("condition") == "with_metadata"))
    assert at_zero["ppl"][0] == pytest.approx(overall["ppl"][0], rel=1e-5)  # alpha 0 is the global model


def test_mcq_switch_and_merge(setup, monkeypatch):
    out = setup["root"] / "qa_out"
    titles = []
    switch_bars = plots.switch_bars
    monkeypatch.setattr(plots, "switch_bars", lambda *a, **k: titles.append(k["title_note"]) or switch_bars(*a, **k))
    _ok(
        [
            "mcq",
            "--model",
            setup["global"],
            "--data",
            setup["qa"] / "localized_news_mcq_800.jsonl",
            "--limit",
            "12",
            "--protocol",
            "letter",
            "--device",
            "cpu",
            "--n-boot",
            "50",
            "--out",
            out,
        ]
    )
    assert _is_png(out / "mcq_accuracy.png")
    accuracy = pl.read_csv(out / "mcq_accuracy.csv")
    assert accuracy.filter(pl.col("level") == "all")["n"][0] == 12
    assert {"first_option", "first_option_low", "chance", "small_n"} <= set(accuracy.columns)
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["protocol"] == "letter" and results["settings"]["question_metadata"] == "full"
    assert results["settings"]["shuffle_seed"] == 42 and results["settings"]["limit"] == 12
    assert results["metrics"]["primary_rule"] == "acc"
    _ok(
        [
            "switch",
            "--model",
            setup["global"],
            "--data",
            setup["qa"] / "localnewsqa_gold_20260516.parquet",
            "--limit",
            "6",
            "--seeds",
            "41,42",
            "--device",
            "cpu",
            "--n-boot",
            "50",
            "--out",
            out,
        ]
    )
    assert _is_png(out / "switch.png")
    assert titles == ["protocol paper, metadata full, options shuffled with seeds 41, 42 (averaged per question)"]
    pairs = pl.read_csv(out / "switch_pairs.csv")
    assert pairs["pair"][0] == "all" and pairs["n"][0] == 6 and pairs["n_seeds"][0] == 2
    assert {"margin_switch", "margin_switch_low", "exact_pair", "exact_pair_high"} <= set(pairs.columns)
    assert pl.read_parquet(out / "switch_questions.parquet").height == 12  # 6 questions x 2 seeds
    assert json.loads((out / "results.json").read_text())["settings"]["seeds"] == [41, 42]
    merged = setup["root"] / "merged"
    _ok(["merge", "--global", setup["global"], "--regional", setup["regional"], "--alpha", "0.3", "--out", merged])
    assert (merged / "config.json").is_file() and (merged / "tokenizer.json").is_file()
    recipe = yaml.safe_load((merged / "merge_recipe.yaml").read_text())
    assert recipe["merge_method"] == "linear"
    assert [m["parameters"]["weight"] for m in recipe["models"]] == pytest.approx([0.7, 0.3])
    assert "init_from" in (merged / "README.md").read_text()
    merge_results = json.loads((merged / "results.json").read_text())
    assert merge_results["metrics"]["merged_weights"]["model.safetensors"]
    assert merge_results["settings"] == {"method": "linear", "alpha": 0.3}  # no TIES density on a linear merge


def test_bad_input_exits_with_message(setup, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "options": ["a", "b"], "correct_answer": "a", "country": "Narnia"}\n')
    result = runner.invoke(
        eval_app, ["mcq", "--model", str(setup["global"]), "--data", str(bad), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "unknown country 'Narnia'" in " ".join(result.output.split())
    result = runner.invoke(eval_app, ["ppl", "--model", str(tmp_path / "nope"), "--corpus", str(setup["corpus"])])
    assert result.exit_code == 2 and "is not a local folder" in " ".join(result.output.split())
