"""Every way the counts can disagree fails the run, and the manifest and report say so.

A finished run is copied, broken between the tag stage and finalize (a tagged shard, a count file or
an exclusion file lost, an input counted twice), and finalize is run again. ``input = kept + excluded``
must then fail: ``ReconcileError`` in process, exit code 2 with the reconcile line from the CLI, and
``ok: false`` in report.json and manifest.json. A refused resume must leave the run folder untouched.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.curation_runs import curation_config, jsonl_input, write_english_corpus

from geocorpus.config import parse_config
from geocorpus.finalize import ReconcileError
from geocorpus.paths import REPO_ROOT, RunLayout
from pipelines.curate import ResumeError, run_curation

TASKS = 2


@pytest.fixture(scope="module")
def finished(shared_data, tmp_path_factory) -> tuple[Path, dict, dict]:
    """A finished two-task run with exclusions of several stages: (folder, raw config, report).

    A pristine copy is kept beside it; each test restores the run from it at the same path (the run's
    fingerprint ties it to its folder and inputs) and breaks it in its own way.
    """
    tmp = tmp_path_factory.mktemp("reconcile")
    write_english_corpus(tmp / "in", shared_data, files=2, docs_per_file=60, seed=7, duplicates=4)
    fundus = jsonl_input("fundus", shared_data / "news" / "fundus" / "fundus_articles.jsonl")
    fundus["fields"] = {"url": "url", "text": "text", "title": "title", "country": "fundus_country_dir"}
    raw = curation_config(tmp / "run", [fundus, jsonl_input("news", tmp / "in")], tasks=TASKS, workers=1)
    report = run_curation(parse_config(raw), show_progress=False)
    assert report["reconcile"]["ok"] and report["reconcile"]["excluded"] > 0
    shutil.copytree(tmp / "run", tmp / "pristine")
    return tmp / "run", raw, report


def _before_finalize(finished) -> tuple[Path, dict]:
    """The finished run restored, as it stood after the tag stage: finalize has to run again."""
    out, raw, _ = finished
    shutil.rmtree(out)
    shutil.copytree(out.parent / "pristine", out)
    layout = RunLayout(out)
    # everything finalize writes goes: the folder is what a run stopped before finalize leaves
    for folder in [
        *out.glob("logs/finalize*"),
        layout.finalize_work,
        layout.data,
        layout.exclusion_stage("finalize"),
        layout.plots,
    ]:
        shutil.rmtree(folder, ignore_errors=True)
    for path in (layout.report, layout.manifest, layout.card):
        path.unlink(missing_ok=True)
    return out, copy.deepcopy(raw)


def _reconcile_records(out: Path) -> tuple[dict, dict]:
    layout = RunLayout(out)
    report = json.loads(layout.report.read_text())
    manifest = json.loads(layout.manifest.read_text())
    return report["reconcile"], manifest["counts"]["reconcile"]


def _lose_tagged_shard(layout: RunLayout) -> int:
    shard = sorted(layout.tagged.glob("*.parquet"))[-1]
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(shard).metadata.num_rows
    shard.unlink()
    return rows  # its documents were counted as input, but are now neither kept nor excluded


def _lose_count_file(layout: RunLayout) -> int:
    count = sorted(layout.counts.glob("news-*.json"))[0]
    documents = json.loads(count.read_text())["documents"]
    count.unlink()
    return -documents  # the input looks smaller than what was kept + excluded


def _count_an_input_twice(layout: RunLayout) -> int:
    count = sorted(layout.counts.glob("fundus-*.json"))[0]
    record = json.loads(count.read_text())
    (layout.counts / "fundus-copy-00000.json").write_text(json.dumps(record))
    return record["documents"]


def _lose_exclusion_file(layout: RunLayout) -> int:
    import pyarrow.parquet as pq

    files = [
        p
        for p in sorted(layout.exclusions.rglob("*.parquet"))
        if "finalize" not in p.relative_to(layout.exclusions).parts
    ]
    victim = max(files, key=lambda p: pq.ParquetFile(p).metadata.num_rows)
    rows = pq.ParquetFile(victim).metadata.num_rows
    victim.unlink()
    return rows


BREAKS = {
    "tagged_shard_lost": _lose_tagged_shard,
    "count_file_lost": _lose_count_file,
    "input_counted_twice": _count_an_input_twice,
    "exclusion_file_lost": _lose_exclusion_file,
}


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(BREAKS))
def test_counts_that_do_not_reconcile_fail_the_run(finished, name):
    out, raw = _before_finalize(finished)
    expected_gap = BREAKS[name](RunLayout(out))
    assert expected_gap != 0
    with pytest.raises(ReconcileError, match="counts do not reconcile: input"):
        run_curation(parse_config(raw), show_progress=False)
    report, manifest = _reconcile_records(out)
    assert report == manifest
    assert report["ok"] is False
    assert report["input"] - report["kept"] - report["excluded"] == expected_gap, report["line"]


@pytest.fixture(scope="module")
def cli_failure(finished, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``geocorpus curate`` on the run with a count file lost: (result, run folder)."""
    out, raw = _before_finalize(finished)
    _lose_count_file(RunLayout(out))
    config = tmp_path_factory.mktemp("cli") / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    command = [sys.executable, "-m", "geocorpus", "curate", str(config), "--no-progress"]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=500)
    return result, out


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_cli_exits_2_with_the_reconcile_line(cli_failure):
    result, out = cli_failure
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: counts do not reconcile: input"), last
    assert _reconcile_records(out)[0]["ok"] is False


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_cli_reconcile_error_comes_without_a_traceback(cli_failure):
    result, _ = cli_failure
    assert result.returncode == 2
    assert "Traceback" not in result.stderr, "a traceback precedes the one-line error"  # pipelines/cli.py's promise


def test_a_finished_run_reconciles_and_says_so(finished):
    out, _, report = finished
    on_disk, manifest = _reconcile_records(out.parent / "pristine")
    assert on_disk == manifest == report["reconcile"]
    assert on_disk["ok"] is True and on_disk["input"] == on_disk["kept"] + on_disk["excluded"]


def test_resuming_with_another_task_count_is_refused_and_changes_nothing(finished, tmp_path):
    out, raw = _before_finalize(finished)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    raw["executor"] = {**raw["executor"], "tasks": TASKS + 1}
    with pytest.raises(ResumeError, match=rf"stage 'tag' used {TASKS} tasks; this run asks for {TASKS + 1}"):
        run_curation(parse_config(raw), show_progress=False)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before, "a refused resume changed the run folder"


def test_the_cli_refuses_another_task_count_with_exit_2(finished, tmp_path):
    out, raw = _before_finalize(finished)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    command = [sys.executable, "-m", "geocorpus", "curate", str(config), "--no-progress", "--tasks", str(TASKS + 3)]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"--tasks {TASKS}" in result.stderr and "Traceback" not in result.stderr
