"""Ctrl-C stops a whole run within seconds, says so in one line, exits 130, and a rerun resumes (issue 16).

Before, SIGINT to the process group (what a terminal's Ctrl-C sends) could leave a worker traceback, a bare
KeyboardInterrupt traceback, or the parent still alive a minute later. A real ``geocorpus curate`` run in
its own session gets SIGINT to its group at a given point (a tag task running; the finalize stages
running); every process of the group must be gone within seconds, stderr must carry exactly the one line,
and the same command again must finish with a reconciled corpus.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml
from support.curation_runs import curation_config, jsonl_input, write_english_corpus

REPO = Path(__file__).resolve().parents[2]
GEOCORPUS = REPO / ".venv" / "bin" / "geocorpus"
GONE_WITHIN_SECONDS = 10
LINE = "interrupted; rerun the same command to resume"


def _group(pgid: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def _interrupt_when(config: Path, ready, timeout: float = 400) -> tuple[int, str, float, int]:
    """Start the run, wait until ``ready()``, SIGINT its process group; (exit code, stderr, seconds, group size)."""
    cli = subprocess.Popen(
        [str(GEOCORPUS), "curate", str(config), "--no-progress"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert cli.poll() is None, f"run ended before the interrupt point:\n{cli.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "interrupt point not reached in time"
            time.sleep(0.05)
        size = len(_group(cli.pid))
        sent = time.monotonic()
        os.killpg(cli.pid, signal.SIGINT)
        _, stderr = cli.communicate(timeout=60)
        while _group(cli.pid) and time.monotonic() - sent < GONE_WITHIN_SECONDS:
            time.sleep(0.1)
        took = time.monotonic() - sent
        left = _group(cli.pid)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait()
    assert not left, f"processes of the interrupted run still running {took:.1f} s later: {[p.pid for p in left]}"
    return cli.returncode, stderr, took, size


def _config(tmp_path: Path, shared_data: Path) -> Path:
    write_english_corpus(tmp_path / "in", shared_data, files=2, docs_per_file=3000)
    raw = curation_config(tmp_path / "out", [jsonl_input("news", tmp_path / "in")], tasks=2, workers=2, language=True)
    raw["filters"]["language"]["model"] = "py3langid"  # ~1.5 ms a document: each tag task runs for seconds
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return config


def _rerun_reconciles(config: Path, out: Path, records: int) -> None:
    again = subprocess.run(
        [str(GEOCORPUS), "curate", str(config), "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["reconcile"]["ok"] and report["reconcile"]["input"] == records, report["reconcile"]["line"]


def _check_interrupted(code: int, stderr: str, took: float, size: int) -> None:
    print(f"group of {size} processes gone {took:.1f} s after SIGINT")
    assert code == 130, stderr[-3000:]
    assert stderr.strip() == LINE, stderr[-3000:]
    assert took < GONE_WITHIN_SECONDS
    assert size >= 3, "SIGINT was sent before the stage processes started"


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("point", ["tag", "finalize"])
def test_sigint_stops_the_whole_group_in_seconds_and_a_rerun_resumes(shared_data, tmp_path, point):
    config = _config(tmp_path, shared_data)
    out = tmp_path / "out"
    if point == "tag":
        marker = out / "logs" / "tag" / "logs" / "task_00000.log"

        def ready() -> bool:  # a tag task is running and not finished
            return marker.is_file() and not (out / "logs" / "tag" / "completions" / "00000").exists()
    else:
        marker = out / "logs" / "finalize_select" / "completions"

        def ready() -> bool:  # the tag stage finished; finalize's stages are under way
            return marker.is_dir() and any(marker.iterdir()) or (out / "logs" / "finalize_scatter").is_dir()

    _check_interrupted(*_interrupt_when(config, ready))
    assert not (out / "report.json").exists(), "the run finished before the interrupt"
    _rerun_reconciles(config, out, 6000)
