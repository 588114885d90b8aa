"""No network at run time: curation and a few training steps run under a guard that refuses and records
every socket connect and name lookup; the guard itself is shown to catch a deliberate attempt."""

from __future__ import annotations

import socket
import urllib.request

import polars as pl
import pytest

from reliability_builders import curation_config, jsonl_input
from geocorpus.config import parse_config
from geocorpus.netguard import NetGuard, NetworkBlockedError
from pipelines.curate import run_curation


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
