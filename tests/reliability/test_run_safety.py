"""Runs never silently lose or mix data (issue 11): fingerprint, output-folder rules, lock.

Real ``geocorpus curate`` runs (CLI subprocesses, tasks=1) on synthetic English news with real URLs:
a rerun with other settings or inputs is refused naming the change, ``--overwrite`` redoes it, the same
fingerprint resumes or, when finished, does nothing and says so; a folder geocorpus did not create, an
output inside an input (or the reverse), ``""`` and ``/`` are refused; a second run on a folder in use
exits 2 naming the pid of the first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from support.curation_runs import curation_config, jsonl_input, write_english_corpus

from geocorpus.config import ConfigError, parse_config
from geocorpus.run_guard import LOCK_NAME, MARKER_NAME, RunFolderError
from pipelines.curate import run_curation

REPO = Path(__file__).resolve().parents[2]
GEOCORPUS = REPO / ".venv" / "bin" / "geocorpus"


def _cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(GEOCORPUS), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=_env()
    )


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200"}  # messages on one line


def _write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture()
def news(shared_data, tmp_path):
    """An input folder of 2 JSONL files x 60 documents and a config writing to tmp/out."""
    write_english_corpus(tmp_path / "in", shared_data, files=2, docs_per_file=60)
    raw = curation_config(tmp_path / "out", [jsonl_input("news", tmp_path / "in")], tasks=1, workers=1)
    return tmp_path, raw


def _mtimes(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != LOCK_NAME}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_changed_setting_is_refused_then_overwritten(news):
    tmp, raw = news
    config = _write_config(tmp / "a.yaml", raw)
    first = _cli("curate", str(config), "--no-progress")
    assert first.returncode == 0, first.stderr[-3000:]
    before = _mtimes(tmp / "out")
    kept_before = json.loads((tmp / "out" / "report.json").read_text())["reconcile"]["kept"]
    raw["filters"]["min_words"] = 110  # the case: 50 -> 500 used to mix both settings
    changed = _write_config(tmp / "b.yaml", raw)
    refused = _cli("curate", str(changed), "--no-progress")
    assert refused.returncode == 2
    assert "filters.min_words: 5 -> 110" in refused.stderr and "--overwrite" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _mtimes(tmp / "out") == before, "a refused run changed files"
    redone = _cli("curate", str(changed), "--no-progress", "--overwrite")
    assert redone.returncode == 0, redone.stderr[-3000:]
    manifest = json.loads((tmp / "out" / "manifest.json").read_text())
    assert manifest["config"]["filters"]["min_words"] == 110
    report = json.loads((tmp / "out" / "report.json").read_text())
    assert report["reconcile"]["ok"] and 0 < report["reconcile"]["kept"] < kept_before  # texts have 60-160 words


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_finished_run_is_a_noop_that_says_so_and_a_new_input_file_is_refused(news):
    tmp, raw = news
    config = _write_config(tmp / "a.yaml", raw)
    assert _cli("curate", str(config), "--no-progress").returncode == 0
    before = _mtimes(tmp / "out")
    again = _cli("curate", str(config), "--no-progress")
    assert again.returncode == 0, again.stderr[-3000:]
    said = again.stdout + again.stderr  # stderr since --json (issue 16) keeps stdout for the JSON summary
    assert "nothing to do" in said and "same fingerprint" in said
    assert _mtimes(tmp / "out") == before
    # the case: a file added to the input folder was never read while reconcile said OK
    (tmp / "in" / "part-9.jsonl").write_text((tmp / "in" / "part-0.jsonl").read_text())
    added = _cli("curate", str(config), "--no-progress")
    assert added.returncode == 2
    assert "input file added:" in added.stderr and "part-9.jsonl" in added.stderr


def test_the_same_fingerprint_resumes_an_unfinished_run(news):
    """In-process: the finalize marker and report removed (as after a kill in finalize) -> only finalize reruns."""
    tmp, raw = news
    config = parse_config(raw)
    first = run_curation(config, show_progress=False)
    out = tmp / "out"
    tagged = {p: p.stat().st_mtime_ns for p in (out / "stages" / "tagged").rglob("*.parquet")}
    for marker in (out / "logs" / "finalize" / "completions").iterdir():
        marker.unlink()
    (out / "report.json").unlink()
    again = run_curation(parse_config(raw), show_progress=False)
    assert again["reconcile"] == first["reconcile"]
    assert {p: p.stat().st_mtime_ns for p in tagged} == tagged, "the finished tag stage ran again"


def test_a_folder_geocorpus_did_not_create_is_never_written(news):
    tmp, raw = news
    out = tmp / "out"
    out.mkdir()
    (out / "README.md").write_text("my notes\n")
    (out / "data").mkdir()
    (out / "data" / "mine.parquet").write_bytes(b"not geocorpus's")
    for overwrite in (False, True):
        with pytest.raises(RunFolderError, match="not created by geocorpus"):
            run_curation(parse_config(raw), show_progress=False, overwrite=overwrite)
    assert (out / "README.md").read_text() == "my notes\n"
    assert (out / "data" / "mine.parquet").read_bytes() == b"not geocorpus's"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data"]


def test_overwrite_deletes_only_what_geocorpus_wrote(news):
    tmp, raw = news
    run_curation(parse_config(raw), show_progress=False)
    out = tmp / "out"
    assert (out / MARKER_NAME).is_file()
    (out / "notes.txt").write_text("mine\n")
    finished = (out / "report.json").stat().st_mtime_ns
    run_curation(parse_config(raw), show_progress=False, overwrite=True)  # same settings: run again, not a no-op
    assert (out / "report.json").stat().st_mtime_ns != finished
    raw["filters"]["min_words"] = 6
    run_curation(parse_config(raw), show_progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine\n"
    assert json.loads((out / "manifest.json").read_text())["config"]["filters"]["min_words"] == 6


@pytest.mark.parametrize(
    "where, message",
    [
        ("inside_input", "lies inside input path"),
        ("holds_input", "lies inside the output folder"),
        ("empty", "output: is empty"),
        ("root", "filesystem root"),
    ],
)
def test_output_paths_that_would_lose_data_are_config_errors(news, where, message):
    """The issue's cases: finalize deleted an input living in OUT/data; ``output: ""`` overwrote a README."""
    tmp, raw = news
    if where == "inside_input":
        raw["output"] = str(tmp / "in" / "out")
    elif where == "holds_input":
        (tmp / "out" / "data").mkdir(parents=True)
        (tmp / "out" / "data" / "part-0.jsonl").write_text((tmp / "in" / "part-0.jsonl").read_text())
        raw["inputs"] = [jsonl_input("news", tmp / "out" / "data")]
    elif where == "empty":
        raw["output"] = ""
    else:
        raw["output"] = "/"
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)
    config = _write_config(tmp / "bad.yaml", raw)
    result = _cli("validate", str(config))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    if where == "holds_input":
        assert (tmp / "out" / "data" / "part-0.jsonl").is_file()


def test_output_override_is_checked_too(news):
    tmp, raw = news
    config = _write_config(tmp / "a.yaml", raw)
    result = _cli("curate", str(config), "--output", str(tmp / "in" / "x"), "--no-progress")
    assert (
        result.returncode == 2 and "--output: output:" in result.stderr and "lies inside input path" in result.stderr
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_second_run_on_a_folder_in_use_exits_2_naming_the_pid(news):
    tmp, raw = news
    config = _write_config(tmp / "a.yaml", raw)
    first = subprocess.Popen(
        [str(GEOCORPUS), "curate", str(config), "--no-progress"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_env(),
        start_new_session=True,
    )
    lock = tmp / "out" / LOCK_NAME
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text().strip() == str(first.pid)):
        assert first.poll() is None, first.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.01)
    os.killpg(first.pid, signal.SIGSTOP)  # hold it mid-run, lock taken
    try:
        second = _cli("curate", str(config), "--no-progress")
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    assert second.returncode == 2
    assert f"in use by pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    output, _ = first.communicate(timeout=400)
    assert first.returncode == 0, output.decode()[-3000:]
    assert json.loads((tmp / "out" / "report.json").read_text())["reconcile"]["ok"]
