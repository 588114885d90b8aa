"""Determinism across processes: the same config run by two ``geocorpus curate`` processes with different
``PYTHONHASHSEED`` gives byte-identical data.

The in-process determinism tests run every curation in one interpreter, so anything keyed on Python's
salted ``hash()`` (or on set iteration order) is the same in both runs there. Here each run is its
own process tree, as on a user's machines, with a different hash seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.curation_runs import curation_config, jsonl_input, write_english_corpus

from geocorpus.paths import REPO_ROOT

SEEDS = ("1", "2024")


def _fundus_input(shared: Path) -> dict:
    spec = jsonl_input("fundus", shared / "news" / "fundus" / "fundus_articles.jsonl")
    spec["fields"] = {"url": "url", "text": "text", "title": "title", "country": "fundus_country_dir"}
    return spec


def _curate(config: Path, out: Path, seed: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    command = [sys.executable, "-m", "geocorpus", "curate", str(config), "--output", str(out), "--no-progress"]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=500)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


def test_python_hash_seed_really_differs_between_the_two_processes():
    def probe(seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        code = "print(hash('geocorpus'))"
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout

    assert probe(SEEDS[0]) != probe(SEEDS[1])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_processes_with_different_hash_seeds_write_identical_data(shared_data, tmp_path):
    write_english_corpus(tmp_path / "in", shared_data, files=2, docs_per_file=150, seed=11, duplicates=8)
    raw = curation_config(
        tmp_path / "unused", [_fundus_input(shared_data), jsonl_input("news", tmp_path / "in")], tasks=2, workers=2
    )
    raw["balance"] = {"by": "country", "method": "cap", "caps": {"US": 40, "GB": 40}, "eval_fraction": 0.2, "seed": 5}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))

    outs = []
    for seed in SEEDS:
        out = tmp_path / f"hashseed-{seed}"
        result = _curate(config, out, seed)
        assert result.returncode == 0, result.stderr[-3000:]
        outs.append(out)

    first, second = (_digests(out / "data") for out in outs)
    assert {"train-00000.parquet", "eval-00000.parquet"} <= set(first)
    assert first == second, "the data differ between processes with different PYTHONHASHSEED"
    reports = [json.loads((out / "report.json").read_text()) for out in outs]
    assert reports[0]["reconcile"]["ok"] and reports[0]["reconcile"] == reports[1]["reconcile"]
    assert reports[0]["write"]["rows"] == reports[1]["write"]["rows"]
    eval_rows = sum(v for k, v in reports[0]["write"]["rows"].items() if k.startswith("eval"))
    assert eval_rows > 0
