"""Remote paths end to end on fsspec's real ``memory://`` filesystem (issue 16, item 3): inputs read through
datatrove's DataFolder, a remote output (curated in a local work folder, then the finished dataset uploaded
through fsspec) and the trainer's dataset reading the uploaded corpus. Nothing of geocorpus is mocked.

``memory://`` lives in one process: its inputs are read by stages run in the ``geocorpus`` process itself
(pipelines.curate.reads_process_local); S3/GCS/Hub inputs are read by the stage processes as usual.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest
import yaml
from support.curation_runs import curation_config, jsonl_input, write_english_corpus
from typer.testing import CliRunner

from geocorpus import remote_paths
from pipelines.cli import app
from trainer_plugin.dataset import PackedDataset
from trainer_plugin.shards import expand_paths, files_fingerprint
from trainer_plugin.tokenizer import load_tokenizer

#: Two whole curation runs happen in the module fixture, inside whichever test comes first; on a loaded
#: machine they can pass the default 120 s timeout (measured here: 20 s idle, 150 s at load average 9).
E2E_TIMEOUT = pytest.mark.timeout(600)


@contextlib.contextmanager
def _memory_folder():
    root = f"memory://geocorpus-test-{uuid.uuid4().hex[:8]}"
    try:
        yield root
    finally:  # the filesystem is shared by the whole process: leave nothing behind
        fs, path = fsspec.core.url_to_fs(root)
        if fs.exists(path):
            fs.rm(path, recursive=True)


@pytest.fixture
def memory_root():
    """A fresh memory:// folder, removed afterwards."""
    with _memory_folder() as root:
        yield root


def _config(tmp_path: Path, name: str, output: str, input_path: str) -> Path:
    raw = curation_config(Path(output), [jsonl_input("news", Path(input_path))], tasks=2, workers=1)
    raw["output"] = output  # a URL must stay a string (a Path would collapse memory:// to memory:/)
    raw["inputs"][0]["path"] = input_path
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return config


def _table(path: str):
    with remote_paths.open_binary(path) as handle:
        return pq.read_table(handle)


@pytest.fixture(scope="module")
def local_and_memory_runs(shared_data, tmp_path_factory):
    """The same two input files curated twice: local -> local, and memory:// -> memory:// (once per module;
    the rerun test puts the remote folder back as it found it)."""
    tmp_path = tmp_path_factory.mktemp("remote")
    with _memory_folder() as memory_root, pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(tmp_path)  # a URL mistaken for a path would show up here as a folder 'memory:'
        yield _curate_both(shared_data, tmp_path, memory_root)


def _curate_both(shared_data: Path, tmp_path: Path, memory_root: str) -> dict:
    corpus = write_english_corpus(tmp_path / "inputs", shared_data, files=2, docs_per_file=40, duplicates=3)
    fs = fsspec.filesystem("memory")
    for name in corpus["files"]:
        fs.pipe_file(f"{memory_root}/inputs/{name}", (tmp_path / "inputs" / name).read_bytes())
    local_cfg = _config(tmp_path, "local", str(tmp_path / "local_out"), str(tmp_path / "inputs"))
    remote_out = f"{memory_root}/out"
    remote_cfg = _config(tmp_path, "remote", remote_out, f"{memory_root}/inputs")
    runner = CliRunner()
    local = runner.invoke(app, ["curate", str(local_cfg), "--quiet"])
    assert local.exit_code == 0, local.output
    work = tmp_path / "work"
    remote = runner.invoke(app, ["curate", str(remote_cfg), "--work-dir", str(work), "--json"])
    assert remote.exit_code == 0, remote.output + repr(remote.exception)
    return {
        "tmp": tmp_path,
        "local_out": tmp_path / "local_out",
        "remote_out": remote_out,
        "remote_cfg": remote_cfg,
        "work": work,
        "report": json.loads(remote.stdout),
        "records": corpus["records"],
    }


@E2E_TIMEOUT
def test_memory_inputs_and_output_give_the_local_runs_dataset(local_and_memory_runs):
    run = local_and_memory_runs
    out, report = run["remote_out"], run["report"]
    assert report["reconcile"]["ok"] and report["reconcile"]["input"] == run["records"]
    uploaded = sorted(report["upload"]["files"])
    assert report["upload"]["output"] == out and report["upload"]["work_folder"] == str(run["work"])
    fs, root = fsspec.core.url_to_fs(out)
    names = sorted(p[len(root) + 1 :] for p in fs.find(root))
    local_data = sorted(p.name for p in (run["local_out"] / "data").glob("*.parquet"))
    assert [n for n in names if n.startswith("data/")] == [f"data/{n}" for n in local_data]
    assert {"README.md", "manifest.json", "report.json", remote_paths.UPLOAD_MARKER} <= set(names)
    assert not any(n.startswith(("stages/", "logs/", "exclusions/")) for n in names)  # work files stay local
    assert len(uploaded) == len(names) - 1  # every file but the marker, each as a full memory:// URL
    assert all(u.startswith("memory://") for u in uploaded)
    marker = json.loads(fs.cat_file(f"{root}/{remote_paths.UPLOAD_MARKER}"))
    assert marker["complete"] and "README.md" in marker["files"]
    for name in local_data:  # the same rows, read through DataFolder from memory:// and uploaded back
        remote_rows = _table(f"{out}/data/{name}").select(["id", "text", "url", "country", "split"])
        local_rows = pq.read_table(run["local_out"] / "data" / name).select(["id", "text", "url", "country", "split"])
        assert remote_rows.equals(local_rows), name
    assert not (run["tmp"] / "memory:").exists()


@E2E_TIMEOUT
def test_the_trainer_reads_a_memory_corpus(local_and_memory_runs, tiny_tokenizer_dir):
    run = local_and_memory_runs
    files = expand_paths(run["remote_out"], "train")  # a run folder URL: its data/train-* shards
    assert files and all(f.startswith("memory://") and "/data/train-" in f for f in files)
    local_files = expand_paths(str(run["local_out"]), "train")
    assert files_fingerprint(files) == files_fingerprint(local_files)  # names, sizes and footers agree
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    remote = PackedDataset(run["remote_out"], tokenizer, seq_len=64, shuffle_buffer=1)
    local = PackedDataset(str(run["local_out"]), tokenizer, seq_len=64, shuffle_buffer=1)
    assert remote.num_documents == local.num_documents > 0
    assert [d["id"] for d in remote.documents()] == [d["id"] for d in local.documents()]
    assert [s["input_ids"].tolist() for s in remote] == [s["input_ids"].tolist() for s in local]


@E2E_TIMEOUT
def test_a_rerun_resumes_and_uploads_again_without_touching_other_files(local_and_memory_runs):
    run = local_and_memory_runs
    fs, root = fsspec.core.url_to_fs(run["remote_out"])
    before = {p: fs.cat_file(p) for p in fs.find(root) if not p.endswith(remote_paths.UPLOAD_MARKER)}
    fs.pipe_file(f"{root}/data/train-09999.parquet", b"stale shard of an earlier upload")
    marker = json.loads(fs.cat_file(f"{root}/{remote_paths.UPLOAD_MARKER}"))
    marker["files"].append("data/train-09999.parquet")
    fs.pipe_file(f"{root}/{remote_paths.UPLOAD_MARKER}", json.dumps(marker).encode())
    fs.pipe_file(f"{root}/notes.txt", b"a user's file beside the dataset")
    again = CliRunner().invoke(app, ["curate", str(run["remote_cfg"]), "--work-dir", str(run["work"])])
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output and "uploaded:" in again.output
    after = {p: fs.cat_file(p) for p in fs.find(root) if not p.endswith(remote_paths.UPLOAD_MARKER)}
    assert not fs.exists(f"{root}/data/train-09999.parquet")  # on geocorpus's record: removed
    assert after.pop(f"{root}/notes.txt") == b"a user's file beside the dataset"  # not on it: kept
    assert after == before
    fs.rm_file(f"{root}/notes.txt")


def _small_input(shared_data: Path, tmp_path: Path) -> str:
    write_english_corpus(tmp_path / "small", shared_data, files=1, docs_per_file=5, duplicates=0)
    return str(tmp_path / "small" / "part-0.jsonl")


def test_a_remote_output_holding_other_files_is_refused_before_any_work(shared_data, tmp_path, memory_root):
    source = _small_input(shared_data, tmp_path)
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"{memory_root}/out/theirs.parquet", b"not ours")
    config = _config(tmp_path, "taken", f"{memory_root}/out", str(source))
    result = CliRunner().invoke(app, ["curate", str(config), "--work-dir", str(tmp_path / "work")])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "is not empty (theirs.parquet)" in message and remote_paths.UPLOAD_MARKER in message
    assert not (tmp_path / "work").exists()
    assert fs.cat_file(f"{memory_root}/out/theirs.parquet") == b"not ours"


def test_validate_names_the_work_folder_of_a_remote_output(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOCORPUS_HOME", str(tmp_path / "home"))
    source = _small_input(shared_data, tmp_path)
    config = _config(tmp_path, "validate", "memory://bucket/out", str(source))
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    work = remote_paths.work_folder("memory://bucket/out")
    assert work.parent == tmp_path / "home" / "runs" and work == remote_paths.work_folder("memory://bucket/out/")
    assert work != remote_paths.work_folder("memory://bucket/other")
    assert f"output 'memory://bucket/out': remote, not contacted; curate works in {work}" in " ".join(
        result.output.split()
    )
    assert not work.exists()  # validate runs nothing and creates nothing
