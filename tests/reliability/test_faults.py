"""Nothing is lost under faults: a curation run killed with SIGKILL mid-stage resumes to the same corpus.

The run is a real ``geocorpus curate`` subprocess (tasks=4, workers=1: tasks run one after another in the CLI process); it is killed
as a process group as soon as the first tag task has finished, then the same command is run again.
datatrove's completion markers make the second run redo only unfinished tasks; the finalize stage
rebuilds the data from the tagged shards. A clean in-process run is the reference.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from support.curation_runs import curation_config, jsonl_input, write_english_corpus

from geocorpus.config import parse_config
from pipelines.curate import run_curation

REPO = Path(__file__).resolve().parents[2]
GEOCORPUS = REPO / ".venv" / "bin" / "geocorpus"
FILES, DOCS_PER_FILE = 4, 1000


def _all_ids(out: Path) -> tuple[list[str], list[str]]:
    kept = pl.read_parquet(out / "data" / "*.parquet", columns=["id"])["id"].to_list()
    excluded = pl.read_parquet(sorted((out / "exclusions").rglob("*.parquet")), columns=["id"])["id"].to_list()
    return kept, excluded


def _curate(config_path: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [str(GEOCORPUS), "curate", str(config_path), "--no-progress"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **popen,
    )


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    info = write_english_corpus(tmp / "in", shared_data, files=FILES, docs_per_file=DOCS_PER_FILE)
    expected = {f"news/{name}/{row}" for name in info["files"] for row in range(info["rows"][name])}
    return tmp, expected


@pytest.fixture(scope="module")
def clean_run(corpus):
    tmp, _ = corpus
    raw = curation_config(tmp / "clean", [jsonl_input("news", tmp / "in")], tasks=1, workers=1, language=True)
    report = run_curation(parse_config(raw), show_progress=False)
    return tmp / "clean", report


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkill_mid_run_then_rerun_keeps_every_document_exactly_once(corpus, clean_run):
    tmp, expected = corpus
    out = tmp / "killed"
    config_path = tmp / "killed.yaml"
    raw = curation_config(out, [jsonl_input("news", tmp / "in")], tasks=4, workers=1, language=True)
    config_path.write_text(yaml.safe_dump(raw))

    proc = _curate(config_path)
    completions = out / "logs" / "tag" / "completions"
    deadline = time.monotonic() + 120
    while not (completions.is_dir() and any(completions.iterdir())):
        assert proc.poll() is None, f"run ended before it could be killed:\n{proc.stdout.read().decode()}"
        assert time.monotonic() < deadline, "no tag task finished within 120 s"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and anything it started
    proc.wait()
    done_at_kill = sorted(p.name for p in completions.iterdir())
    assert len(done_at_kill) < FILES, "every tag task finished before the kill: the fault was not mid-run"
    assert not (out / "report.json").exists() and not (out / "logs" / "finalize" / "completions").exists()

    again = _curate(config_path)
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output.decode()
    assert sorted(p.name for p in completions.iterdir()) == [f"{r:05d}" for r in range(FILES)]
    report = json.loads((out / "report.json").read_text())
    rec = report["reconcile"]
    assert rec["ok"] and rec["input"] == len(expected) == rec["kept"] + rec["excluded"], rec["line"]
    kept, excluded = _all_ids(out)
    assert len(kept) == len(set(kept)), "a document was written twice"
    assert len(excluded) == len(set(excluded)), "a document was excluded twice"
    assert set(kept).isdisjoint(excluded)
    assert set(kept) | set(excluded) == expected, "a document went missing"
    clean_kept, clean_excluded = _all_ids(clean_run[0])
    assert set(kept) == set(clean_kept) and set(excluded) == set(clean_excluded)
    assert rec == clean_run[1]["reconcile"]


def test_rerunning_a_finished_run_redoes_nothing(corpus, clean_run):
    tmp, _ = corpus
    out, report = clean_run
    watched = [p for p in out.rglob("*") if p.is_file() and p.parent.name != "plots"]
    watched = [p for p in watched if p.suffix == ".parquet" or "completions" in p.parts or p.parent.name == "counts"]
    before = {p: p.stat().st_mtime_ns for p in watched}
    assert any("completions" in p.parts for p in before) and any(p.parent.name == "data" for p in before)
    raw = curation_config(out, [jsonl_input("news", tmp / "in")], tasks=1, workers=1, language=True)
    again = run_curation(parse_config(raw), show_progress=False)
    assert again["reconcile"] == report["reconcile"]
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p in before}
    assert after == before, "a finished run's files were rewritten"
    tag_log = (out / "logs" / "tag" / "logs").glob("task_*.log")
    assert all(log.read_text().count("Launching pipeline") == 1 for log in tag_log), "a finished tag task ran again"


def _forget_ranks(out: Path, ranks: range) -> None:
    """Leave ``out`` as a kill right after rank 0 finished leaves it: no later rank's files, no finalize."""
    for rank in ranks:
        suffix = f"{rank:05d}"
        for path in [*out.glob("stages/**/*"), *out.glob("exclusions/**/*"), *out.glob("logs/tag/completions/*")]:
            if path.is_file() and path.stem.endswith(suffix):
                path.unlink()
    finalize = [*out.glob("logs/finalize*"), out / "stages" / "finalize", out / "exclusions" / "finalize"]
    for path in [out / "data", *finalize]:
        shutil.rmtree(path, ignore_errors=True)
    (out / "report.json").unlink()


def test_resuming_with_another_task_count_loses_nothing_or_refuses(shared_data, tmp_path):
    info = write_english_corpus(tmp_path / "in", shared_data, files=4, docs_per_file=40)
    expected = {f"news/{name}/{row}" for name in info["files"] for row in range(info["rows"][name])}
    raw = curation_config(tmp_path / "out", [jsonl_input("news", tmp_path / "in")], tasks=4, workers=1)
    run_curation(parse_config(raw), show_progress=False)
    _forget_ranks(tmp_path / "out", range(1, 4))
    raw["executor"]["tasks"] = 2
    try:
        report = run_curation(parse_config(raw), show_progress=False)
    except Exception as exc:  # refusing is fine if the message says why
        assert "tasks" in str(exc), f"refused without saying why: {exc}"
        return
    kept, excluded = _all_ids(tmp_path / "out")
    assert set(kept) | set(excluded) == expected, f"{len(expected - set(kept) - set(excluded))} documents lost"
    assert report["reconcile"]["ok"]


def test_a_finalize_stage_killed_half_way_is_redone_from_scratch(corpus, clean_run, tmp_path):
    """The state kills inside finalize's scatter and write stages leave: a truncated data shard, a partial
    exclusion file, unsealed written-file records, no marker for those and the last stage, no report. The re-run must rebuild
    byte-identical data, deleting only files finalize itself wrote: a user's file is left alone."""
    tmp, _ = corpus
    clean_out, report = clean_run
    out = tmp_path / "out"
    shutil.copytree(clean_out, out)
    for stage in ("finalize_scatter", "finalize_write", "finalize"):
        shutil.rmtree(out / "logs" / stage)
    (out / "report.json").unlink()
    train = out / "data" / "train-00000.parquet"
    train.write_bytes(train.read_bytes()[: train.stat().st_size // 2])
    (out / "exclusions" / "finalize" / "00000.parquet").write_bytes(b"PAR1 partial")
    # killed before they sealed their records: a record lists the files created with their inodes (the
    # copy's, as copytree made new files), without size and mtime
    for stage in ("finalize_scatter", "finalize_write"):
        record = out / "stages" / "finalize" / "written" / f"{stage}-00000.txt"
        unsealed = []
        for line in record.read_text(encoding="utf-8").splitlines():
            name, *known = line.split("\t")
            if not known:
                unsealed.append(name)
            elif len(known) == 1 and (out / name).exists():
                unsealed.append(f"{name}\t{(out / name).stat().st_ino}")
        record.write_text("".join(f"{line}\n" for line in unsealed), encoding="utf-8")
    users = out / "data" / "my_notes.parquet"
    users.write_bytes(b"not geocorpus's")
    raw = curation_config(out, [jsonl_input("news", tmp / "in")], tasks=1, workers=1, language=True)
    again = run_curation(parse_config(raw), show_progress=False)
    assert again["reconcile"] == report["reconcile"]
    names = sorted(p.name for p in (out / "data").iterdir())
    assert names == sorted([users.name, *(p.name for p in (clean_out / "data").iterdir())])
    assert all(
        (out / "data" / n).read_bytes() == (clean_out / "data" / n).read_bytes() for n in names if n != users.name
    )
    assert users.read_bytes() == b"not geocorpus's"
