"""``--json`` on every eval command: stdout holds one JSON object (results.json's content) and nothing else;
progress bars and errors go to stderr (issue 16, item 5). Run on seeded tiny models and real shared data.
"""

from __future__ import annotations

import json

import pytest
from support.tiny_models import build_eval_cli_setup
from typer.testing import CliRunner

from trainer_plugin.evaluation.cli import eval_app

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(shared_data, tiny_tokenizer_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_json")
    return build_eval_cli_setup(shared_data, tiny_tokenizer_dir, root, per_country=1, max_chars=120)


def _commands(setup):
    model, corpus, qa = str(setup["global"]), str(setup["corpus"]), setup["qa"]
    scoring = ["--device", "cpu", "--n-boot", "20"]
    pair = ["--global", model, "--regional", str(setup["regional"])]
    return {
        "ppl": ["ppl", "--model", model, "--corpus", corpus, "--limit", "3", *scoring],
        "cross": ["cross", "--model", f"US={setup['regional']}", "--corpus", corpus, "--limit", "3", *scoring],
        "mcq": ["mcq", "--model", model, "--data", str(qa / "localized_news_mcq_800.jsonl"), "--limit", "4", *scoring],
        "switch": [
            "switch",
            "--model",
            model,
            "--data",
            str(qa / "localnewsqa_gold_20260516.parquet"),
            "--limit",
            "2",
            "--seeds",
            "41",
            *scoring,
        ],
        "merge": ["merge", *pair, "--alpha", "0.5"],
        "merge-sweep": ["merge-sweep", *pair, "--corpus", corpus, "--region", "GB", "--alphas", "0,1"] + scoring,
    }


@pytest.mark.parametrize("name", ["ppl", "cross", "mcq", "switch", "merge", "merge-sweep"])
def test_json_is_the_only_thing_on_stdout(setup, name):
    out = setup["root"] / f"out_{name}"
    args = [*_commands(setup)[name], "--out", str(out)]
    result = runner.invoke(eval_app, [*args, "--json"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert result.stdout.count("\n") == 1, result.stdout[:500]  # one line: one object, no table, no bar
    printed = json.loads(result.stdout)
    written = json.loads((out / "results.json").read_text())
    assert printed == written and printed["command"] == name
    assert printed["metrics"] and printed["settings"]
    plain = runner.invoke(eval_app, args)  # without --json the same command prints its table/line on stdout
    assert plain.exit_code == 0, plain.output
    with pytest.raises(json.JSONDecodeError):
        json.loads(plain.stdout)


def test_an_error_under_json_leaves_stdout_empty(setup, tmp_path):
    result = runner.invoke(
        eval_app, ["ppl", "--model", str(tmp_path / "nope"), "--corpus", str(setup["corpus"]), "--json"]
    )
    assert result.exit_code == 2 and result.stdout == ""
    assert "is not a local folder" in " ".join(result.stderr.split())
