"""Self-contained outputs: every checkpoint and the final model/ folder load on their own (tokenizer
included), the card says what the model saw, evaluation takes a run folder or a checkpoint, and a run
shows progress and ends with one JSON line."""

from __future__ import annotations

import json

import pytest
import yaml
from support.tagged_corpus import fundus_rows, write_tagged_corpus
from typer.testing import CliRunner

from pipelines.cli import app
from trainer_plugin.checkpoints import resolve_model_dir
from trainer_plugin.tokenizer import load_tokenizer
from trainer_plugin.train import main


@pytest.fixture(scope="module")
def news(shared_data, tmp_path_factory):
    return write_tagged_corpus(fundus_rows(shared_data), tmp_path_factory.mktemp("news"), shards=2, row_group_size=30)


@pytest.fixture(scope="module")
def trained(news, tiny_tokenizer_dir, tmp_path_factory):
    """One tiny run through the command line: (run folder, stdout, stderr)."""
    import torch

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run")
    config = {
        "output_dir": str(out / "run"),
        "tokenizer": str(tiny_tokenizer_dir),
        "data": {"train": str(news), "seq_len": 96},
        "condition": "url_country_continent",
        "model": {"hidden_size": 32, "num_layers": 2, "num_heads": 4},
        "training": {"max_steps": 8, "per_device_batch_size": 4, "logging_steps": 2, "save_steps": 4},
    }
    path = out / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 0, result.output
    return out / "run", result.stdout, result.stderr


def test_checkpoints_and_the_model_folder_hold_their_tokenizer_and_card(trained, tiny_tokenizer_dir):
    run, _, _ = trained
    vocab = load_tokenizer(tiny_tokenizer_dir).get_vocab()
    for folder in (run / "checkpoint-4", run / "checkpoint-8", run / "model"):
        assert load_tokenizer(folder).get_vocab() == vocab, folder
    assert resolve_model_dir(run) == run / "model"
    card = (run / "model" / "README.md").read_text()
    summary = json.loads((run / "model" / "training_summary.json").read_text())
    assert summary["global_step"] == 8 and summary["tokens_seen"] == 8 * 4 * 96
    assert summary["condition"] == "url_country_continent" and len(summary["corpus_fingerprint"]) == 16
    for needle in ("url_country_continent", summary["corpus_fingerprint"], "| steps | 8 |", "3,072 (384 per step"):
        assert needle in card, needle
    assert json.loads((run / "model" / "config.json").read_text())["use_cache"] is True  # generation-ready


def test_a_run_prints_progress_and_ends_with_one_json_line(trained):
    run, stdout, stderr = trained
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["model_dir"] == str(run / "model") and summary["global_step"] == 8
    assert summary["tokens_seen"] == 3072 and summary["tokens_per_second"] > 0 and "losses" not in summary
    assert "train: 100%" in stderr and "8/8" in stderr and "tok/s" in stderr and "loss=" in stderr


def test_evaluation_takes_a_run_folder_or_a_checkpoint(trained, news, tmp_path):
    run, _, _ = trained
    runner = CliRunner()
    ppl = runner.invoke(app, ["eval", "ppl", "--model", str(run), "--corpus", str(news), "--out", str(tmp_path / "p")])
    assert ppl.exit_code == 0, ppl.output
    cross = runner.invoke(
        app,
        [
            "eval",
            "cross",
            "--model",
            f"early={run / 'checkpoint-4'}",
            "--model",
            f"final={run}",
            "--corpus",
            str(news),
            "--out",
            str(tmp_path / "c"),
            "--n-boot",
            "10",
        ],
    )
    assert cross.exit_code == 0, cross.output  # checkpoints used to lack the tokenizer: a 157-line traceback
    # results.json hashes the weights and tokenizer actually loaded (they were empty for a run folder)
    results = json.loads((tmp_path / "c" / "results.json").read_text())
    final, early = results["models"]["final"], results["models"]["early"]
    assert final["path"] == str(run.resolve()) and final["loaded"] == str((run / "model").resolve())
    assert list(final["weights"]) == ["model.safetensors"] and list(early["weights"]) == ["model.safetensors"]
    assert "loaded" not in early and final["weights"] != early["weights"]
    ppl_results = json.loads((tmp_path / "p" / "results.json").read_text())
    assert "tokenizer.json" in ppl_results["tokenizer"]["files"]
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = runner.invoke(
        app, ["eval", "ppl", "--model", str(empty), "--corpus", str(news), "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code == 2 and "holds no model" in " ".join(bad.output.split())


def test_python_module_entry_point_prints_the_same_summary(news, tiny_tokenizer_dir, tmp_path, capsys, one_thread):
    config = {
        "output_dir": str(tmp_path / "run"),
        "tokenizer": str(tiny_tokenizer_dir),
        "data": {"train": str(news), "seq_len": 64},
        "model": {"hidden_size": 32, "num_layers": 1, "num_heads": 4},
        "training": {"max_steps": 2, "per_device_batch_size": 2, "save_steps": 2},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and json.loads(out[0])["global_step"] == 2  # stdout holds the summary only


def test_merging_a_global_and_a_regional_run_by_their_run_folders(trained, news, tiny_tokenizer_dir, tmp_path):
    """GG-EZ's merge: both models share a base (the regional run's initial/ = the global weights)."""
    from trainer_plugin.train import train

    run, _, _ = trained
    regional = train(
        {
            "output_dir": str(tmp_path / "regional"),
            "tokenizer": str(tiny_tokenizer_dir),
            "init_from": str(run),
            "data": {"train": str(news), "seq_len": 96},
            "condition": {"name": "regional", "include_regions": ["Europe"]},
            "training": {"max_steps": 2, "per_device_batch_size": 4, "save_steps": 2, "save_initial_state": True},
        }
    )
    merged = CliRunner().invoke(
        app,
        [
            "eval",
            "merge",
            "--global",
            str(run),
            "--regional",
            regional["output_dir"],
            "--base",
            str(tmp_path / "regional" / "initial"),
            "--out",
            str(tmp_path / "merged"),
        ],
    )
    assert merged.exit_code == 0, merged.output
    assert load_tokenizer(tmp_path / "merged").get_vocab() == load_tokenizer(tiny_tokenizer_dir).get_vocab()
