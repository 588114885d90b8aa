"""No network at run time: curation and a few training steps run under a guard that refuses and records
every socket connect and name lookup; the guard itself is shown to catch a deliberate attempt. A CLI
run with forkserver workers is guarded in every process through a ``sitecustomize`` module."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import polars as pl
import pytest
import yaml
from support.curation_runs import curation_config, jsonl_input

from geocorpus.config import parse_config
from geocorpus.netguard import NetGuard, NetworkBlockedError
from pipelines.curate import run_curation

REPO = Path(__file__).resolve().parents[2]


def test_guard_refuses_and_records_deliberate_connections():
    with NetGuard() as guard:
        with pytest.raises(NetworkBlockedError):
            socket.create_connection(("example.com", 80), timeout=1)
        with pytest.raises(NetworkBlockedError):
            socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("93.184.215.14", 443))
        with pytest.raises(OSError):  # urllib wraps it, but the attempt is still recorded
            urllib.request.urlopen("https://publicsuffix.org/list/public_suffix_list.dat", timeout=1)
    events = [a.event for a in guard.attempts]
    assert events.count("socket.getaddrinfo") >= 2 and "socket.connect" in events
    assert any("93.184.215.14" in a.target for a in guard.attempts)
    # outside the guard nothing is refused: a local socket pair still works
    left, right = socket.socketpair()
    left.sendall(b"ok")
    assert right.recv(2) == b"ok"
    left.close(), right.close()


@pytest.fixture(scope="module")
def curated(shared_data, tmp_path_factory):
    """Real fundus news curated in-process (tasks=1, workers=1) under the guard."""
    tmp = tmp_path_factory.mktemp("network")
    fundus = jsonl_input("fundus", shared_data / "news" / "fundus" / "fundus_articles.jsonl")
    fundus["fields"] = {"url": "url", "text": "text", "title": "title", "country": "fundus_country_dir"}
    realnews = jsonl_input("realnews", shared_data / "news" / "grover_realnews" / "realnews_tiny.jsonl")
    realnews["fields"] = {"url": "url", "text": "text", "title": "title"}
    raw = curation_config(tmp / "out", [fundus, realnews], tasks=1, workers=1, language=True)
    raw["tagging"] = {"precedence": ["input", "registry", "cctld"], "require_country": True}
    with NetGuard() as guard:
        report = run_curation(parse_config(raw), show_progress=False)
    return tmp, report, guard


def test_curation_never_touches_the_network(curated):
    tmp, report, guard = curated
    assert guard.attempts == []
    assert report["reconcile"]["ok"] and report["reconcile"]["kept"] > 20
    # URLs were split against the public suffix list and tagged from the registry/ccTLD: offline
    kept = pl.read_parquet(tmp / "out" / "data" / "*.parquet", columns=["domain", "suffix", "tag_source"])
    assert kept["domain"].null_count() == 0 and kept["suffix"].null_count() == 0
    assert kept.filter(pl.col("tag_source").is_in(["registry", "cctld"])).height >= 1


def test_training_steps_never_touch_the_network(curated, tiny_tokenizer_dir):
    from trainer_plugin.train import train

    tmp, _, _ = curated
    config = {
        "output_dir": str(tmp / "model"),
        "tokenizer": str(tiny_tokenizer_dir),
        "data": {"train": str(tmp / "out" / "data" / "train-*.parquet"), "seq_len": 64, "shuffle_buffer": 8},
        "model": {"hidden_size": 32, "num_layers": 1, "num_heads": 2},
        "training": {"max_steps": 3, "per_device_batch_size": 2, "logging_steps": 1, "save_steps": 3},
    }
    with NetGuard() as guard:
        result = train(config)
    assert guard.attempts == []
    assert result["global_step"] == 3 and len(result["losses"]) == 3


SITECUSTOMIZE = '''\
"""Installed by tests/reliability/test_network.py: every interpreter of the run is guarded from its start."""
import os
from pathlib import Path

from geocorpus.netguard import guard_this_process

_log = Path(os.environ["GEOCORPUS_NETGUARD_LOG"])
(_log.parent / f"started-{os.getpid()}").touch()
guard_this_process(_log)
# forked children (forkserver workers) inherit the hook and the active guard; mark them too
os.register_at_fork(after_in_child=lambda: (_log.parent / f"forked-{os.getpid()}").touch())
'''


def _guarded_env(tmp_path: Path) -> tuple[dict, Path]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "netguard" / "attempts.jsonl"
    log.parent.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(REPO)]), GEOCORPUS_NETGUARD_LOG=str(log))
    return env, log


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cli_run_with_forkserver_workers_never_touches_the_network(shared_data, tmp_path):
    """The whole CLI run, its forkserver and its worker processes (tasks=2, workers=2) guarded."""
    env, log = _guarded_env(tmp_path)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import socket\ntry: socket.create_connection(('example.com', 80), timeout=1)\n"
            "except ConnectionError as e: print(type(e).__name__)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == "NetworkBlockedError", probe.stderr
    assert "example.com" in log.read_text()  # the guard in a fresh interpreter records and refuses
    log.unlink()
    for marker in [*log.parent.glob("started-*"), *log.parent.glob("forked-*")]:
        marker.unlink()

    inputs = [
        jsonl_input("fundus", shared_data / "news" / "fundus" / "fundus_articles.jsonl"),
        jsonl_input("realnews", shared_data / "news" / "grover_realnews" / "realnews_tiny.jsonl"),
    ]
    inputs[0]["fields"] = {"url": "url", "text": "text", "title": "title", "country": "fundus_country_dir"}
    inputs[1]["fields"] = {"url": "url", "text": "text", "title": "title"}
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(curation_config(tmp_path / "out", inputs, tasks=2, workers=2, language=True)))
    run = subprocess.run(
        [str(REPO / ".venv" / "bin" / "geocorpus"), "curate", str(config), "--no-progress"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert not log.exists(), log.read_text()
    started, forked = list(log.parent.glob("started-*")), list(log.parent.glob("forked-*"))
    assert len(started) >= 2, "the CLI and the forkserver must both start guarded"
    assert len(forked) >= 2, "both tag workers must be forks of a guarded process"
