"""Remote locations are checked offline (issue 16): a scheme fsspec does not know, or whose implementation
is not installed, exits 2 naming it; an ``hf://`` input is not contacted by ``validate``; an ``s3://``
output without s3fs is refused with one line instead of becoming a local folder named ``s3:``. Remote
outputs that can be reached are tested end to end in test_remote_paths.py (``memory://``).
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest
import yaml
from support.curation_runs import curation_config
from typer.testing import CliRunner

from pipelines.cli import app


def _run(tmp_path: Path, command: str, output: str, input_path: str):
    raw = curation_config(Path(output), [{"name": "news", "format": "jsonl", "path": input_path}])
    raw["output"] = output
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return CliRunner().invoke(app, [command, str(config)])


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network used: {args[:1]}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_an_hf_input_is_checked_without_network(tmp_path, no_network):
    result = _run(tmp_path, "validate", str(tmp_path / "out"), "hf://datasets/someone/news/data.jsonl")
    assert result.exit_code == 0, result.output
    assert "remote, not contacted" in result.output and "Traceback" not in result.output


def test_an_unknown_scheme_exits_2_naming_it(tmp_path, no_network):
    result = _run(tmp_path, "validate", str(tmp_path / "out"), "foo://bucket/news.jsonl")
    assert result.exit_code == 2
    assert "unknown scheme foo://" in " ".join(result.output.split())


@pytest.mark.parametrize("command", ["validate", "curate"])
def test_an_s3_output_without_s3fs_is_refused_before_any_folder_is_made(
    shared_data, tmp_path, no_network, command, monkeypatch
):
    if importlib.util.find_spec("s3fs") is not None:
        pytest.skip("s3fs is installed: the scheme check passes (reaching the bucket is the run's business)")
    monkeypatch.chdir(tmp_path)
    source = shared_data / "news" / "fundus" / "fundus_articles.jsonl"
    result = _run(tmp_path, command, "s3://bucket/out", str(source))
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "Install s3fs" in message
    assert not (tmp_path / "s3:").exists()
