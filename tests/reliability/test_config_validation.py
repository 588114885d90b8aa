"""Config values that would hang, lose data or blow up memory fail at ``geocorpus validate`` (issue 11).

Each case exits 2 naming the key, with no traceback, before anything runs: ``workers <= 0``,
``rows_per_shard: 0``, ``url.max_length: 0``, ``path: /dev/zero``, a glob matching nothing, a missing
fastText model file, a YAML alias tree under ``name`` (it took 13.8 GB and 203 s to refuse). A config of
1,000 inputs runs (it ended in RecursionError at ~500).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from support.curation_runs import curation_config
from support.hostile_inputs import real_articles
from typer.testing import CliRunner

from geocorpus.config import parse_config
from pipelines.cli import app
from pipelines.curate import run_curation


def _validate(tmp_path: Path, config: dict | str) -> tuple[int, str]:
    path = tmp_path / "cfg.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["validate", str(path)])
    return result.exit_code, result.output


def _good(tmp_path: Path) -> dict:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    (folder / "news.jsonl").write_text(json.dumps({"url": "https://www.dawn.com/news/1", "text": "A story."}) + "\n")
    return curation_config(tmp_path / "out", [{"name": "x", "format": "jsonl", "path": str(folder)}])


def test_the_good_config_validates(tmp_path):
    code, output = _validate(tmp_path, _good(tmp_path))
    assert code == 0, output


@pytest.mark.parametrize(
    "section, key, value, named",
    [
        ("executor", "workers", 0, "executor.workers"),
        ("executor", "workers", -2, "executor.workers"),
        ("output_options", "rows_per_shard", 0, "output_options.rows_per_shard"),
        ("url", "max_length", 0, "url.max_length"),
    ],
    ids=["workers_0", "workers_-2", "rows_per_shard_0", "url_max_length_0"],
)
def test_out_of_range_values_name_their_key(tmp_path, section, key, value, named):
    config = _good(tmp_path)
    config[section] = {**config.get(section, {}), key: value}
    code, output = _validate(tmp_path, config)
    assert code == 2, output
    assert named in output and "Traceback" not in output


def test_a_device_as_input_path_is_refused(tmp_path):
    config = _good(tmp_path)
    config["inputs"][0]["path"] = "/dev/zero"
    code, output = _validate(tmp_path, config)
    assert code == 2 and "inputs[0] (x).path" in output and "/dev/zero" in output, output


def test_a_glob_matching_nothing_is_refused(tmp_path):
    config = _good(tmp_path)
    config["inputs"][0]["glob"] = "**/*.ndjson"
    code, output = _validate(tmp_path, config)
    assert code == 2 and "inputs[0] (x).glob" in output and "**/*.ndjson" in output, output


def test_a_missing_fasttext_model_is_refused(tmp_path):
    config = _good(tmp_path)
    config["filters"]["language"] = {"languages": ["en"], "model": str(tmp_path / "lid.176.bin")}
    code, output = _validate(tmp_path, config)
    assert code == 2 and "filters.language.model" in output and "lid.176.bin" in output, output


def _alias_tree(indent: str) -> str:
    """~0.6 KB of YAML: 9 levels of 10 aliases each, 10^9 strings once expanded."""
    levels = [f"&a0 [{', '.join(['lol'] * 10)}]"] + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "".join(f"\n{indent}- {level}" for level in levels)


@pytest.mark.parametrize(
    "key, yaml_key",
    [("name", "name:"), ("tagging", "tagging:\n  countries:"), ("balance", "balance:\n  include:")],
    ids=["name", "tagging.countries", "balance.include"],
)
def test_a_yaml_alias_tree_is_refused_quickly_naming_the_key(tmp_path, key, yaml_key):
    config = {k: v for k, v in _good(tmp_path).items() if k not in (key, "name")}
    indent = "  " if yaml_key == "name:" else "    "
    text = f"{yaml_key}{_alias_tree(indent)}\n" + yaml.safe_dump(config)
    assert len(text.encode()) < 2048
    start = time.monotonic()
    code, output = _validate(tmp_path, text)
    took = time.monotonic() - start
    assert code == 2, output
    assert f"{key}: YAML aliases expand to more than" in output and "Traceback" not in output
    assert took < 10, f"refusing the alias tree took {took:.1f} s"


def test_a_self_referencing_alias_is_refused(tmp_path):
    config = {k: v for k, v in _good(tmp_path).items() if k != "name"}
    code, output = _validate(tmp_path, "name: &loop [*loop]\n" + yaml.safe_dump(config))
    assert code == 2 and "name: a YAML alias refers to a value that contains it" in output, output


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_thousand_inputs_run_and_reconcile(shared_data, tmp_path):
    articles = real_articles(shared_data, 20)
    folder = tmp_path / "in"
    folder.mkdir()
    inputs = []
    for index in range(1000):
        article = articles[index % len(articles)]
        record = {**article, "text": f"{article['text']} [copy {index}]"}  # unique per copy
        (folder / f"n{index:04d}.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
        inputs.append({"name": f"n{index:04d}", "format": "jsonl", "path": str(folder / f"n{index:04d}.jsonl")})
    raw = curation_config(tmp_path / "out", inputs, tasks=1, workers=1, min_words=1)
    report = run_curation(parse_config(raw), show_progress=False)
    assert report["reconcile"]["ok"] and report["reconcile"]["input"] == 1000, report["reconcile"]["line"]
    assert len(report["inputs"]) == 1000
