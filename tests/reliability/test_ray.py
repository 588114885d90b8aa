"""The whole pipeline on a real local Ray cluster, through datatrove's ``RayPipelineExecutor``.

The module starts a 2-CPU Ray cluster (``ray.init``) and stops it at the end. The same input and
config run on the local executor give the reference: tag stage, the four MinHash stages and the
finalize stages must produce byte-identical final shards on Ray. ``executor.ray_address`` is checked
in a separate process, which must join this module's cluster rather than start its own.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from support.curation_runs import curation_config, jsonl_input, write_english_corpus

from geocorpus.config import parse_config
from pipelines.curate import build_stages, run_curation

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster with 2 CPUs for this module; yields its GCS address."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def inputs(shared_data, tmp_path_factory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("ray_inputs")
    write_english_corpus(tmp / "in", shared_data, files=3, docs_per_file=120, seed=5, duplicates=8)
    fundus = jsonl_input("fundus", shared_data / "news" / "fundus" / "fundus_articles.jsonl")
    fundus["fields"] = {"url": "url", "text": "text", "title": "title", "country": "fundus_country_dir"}
    return [fundus, jsonl_input("news", tmp / "in")]


def _config(out: Path, inputs: list[dict], executor: dict) -> dict:
    raw = curation_config(out, inputs, tasks=2, workers=2, language=True)
    raw["dedup"] = {"exact": True, "minhash": {"num_buckets": 2, "hashes_per_bucket": 4, "tasks": 2}}
    raw["output_options"] = {"rows_per_shard": 150}  # several output shards, so both write tasks write
    raw["executor"] = {"tasks": 2, "workers": 2, **executor}
    return raw


def _digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "data").glob("*.parquet"))}


def _exclusions(out: Path) -> pl.DataFrame:
    files = sorted((out / "exclusions").rglob("*.parquet"))
    return pl.read_parquet(files, columns=["id", "stage", "reason"]).sort("id")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_whole_pipeline_on_ray_is_byte_identical_to_the_local_executor(ray_cluster, inputs, tmp_path):
    local = run_curation(parse_config(_config(tmp_path / "local", inputs, {"type": "local"})), show_progress=False)
    ray_config = parse_config(_config(tmp_path / "ray", inputs, {"type": "ray", "ray_address": ray_cluster}))
    on_ray = run_curation(ray_config, show_progress=False)

    assert on_ray is not None and local is not None
    assert on_ray["reconcile"]["ok"] and on_ray["reconcile"] == local["reconcile"]
    assert on_ray["exclusions"].get("minhash_dedup", {}).get("near_duplicate", 0) > 0, "MinHash removed nothing"
    # every stage really ran on Ray, all of its tasks
    for stage in build_stages(ray_config):
        logs = tmp_path / "ray" / "logs" / stage.name
        assert "ray_remote_kwargs" in json.loads((logs / "executor.json").read_text()), stage.name  # Ray's own
        assert len(list((logs / "completions").iterdir())) == stage.tasks, stage.name
    ray_files, local_files = _digests(tmp_path / "ray"), _digests(tmp_path / "local")
    assert len([n for n in ray_files if n.startswith("train-")]) >= 2
    assert ray_files == local_files
    assert _exclusions(tmp_path / "ray").equals(_exclusions(tmp_path / "local"))


def _gcs_address_of(address: str | None) -> str:
    """The cluster a fresh process joins through ``pipelines.curate._connect_ray(address)``."""
    code = (
        "import ray\nfrom pipelines.curate import _connect_ray\n"
        f"_connect_ray({address!r})\nprint('GCS', ray.get_runtime_context().gcs_address)\nray.shutdown()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("GCS "))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_executor_ray_address_is_honoured(ray_cluster):
    assert _gcs_address_of(ray_cluster) == ray_cluster
    # without an address a process starts a cluster of its own: the check above can tell the two apart
    assert _gcs_address_of(None) != ray_cluster


def test_an_unreachable_ray_address_fails_within_seconds():
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from pipelines.curate import _connect_ray\n_connect_ray('127.0.0.1:{port}')\n"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=100)
    assert done.returncode != 0 and time.monotonic() - started < 60
    assert f"executor.ray_address: cannot reach a Ray cluster at '127.0.0.1:{port}'" in done.stderr
