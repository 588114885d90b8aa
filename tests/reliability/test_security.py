"""Security of inputs: configs are read with a safe YAML loader, and nothing taken from the data (or an
input's name) can place a file outside the output folder. URLs are never fetched: see
test_network.py.

Where data values could reach a path: datatrove writers expand ``${key}`` in output file names from
document metadata; geocorpus names its files by rank, stage and input name only. These tests feed
hostile values to every one of those places and then look at every file on disk.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from support.curation_runs import curation_config
from typer.testing import CliRunner

from geocorpus.config import ConfigError, load_config, parse_config
from pipelines.cli import app
from pipelines.curate import run_curation

ESCAPE = "../../../escaped"

UNSAFE_YAML = {
    "apply_os_system": "!!python/object/apply:os.system ['touch {marker}']",
    "new_popen": "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "name_os_system": "!!python/name:os.system",
    "module_os": "!!python/module:os",
}


@pytest.mark.parametrize("payload", list(UNSAFE_YAML.values()), ids=list(UNSAFE_YAML))
def test_yaml_with_python_tags_is_rejected_and_nothing_runs(tmp_path, payload):
    marker = tmp_path / "PWNED"
    config = tmp_path / "evil.yaml"
    config.write_text(f"output: {tmp_path / 'out'}\ninputs: []\nname: {payload.format(marker=marker)}\n")
    with pytest.raises(ConfigError, match="evil.yaml"):
        load_config(config)
    result = CliRunner().invoke(app, ["curate", str(config)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["../../escaped", "a/b", "/abs", ""])
def test_input_names_that_are_paths_are_rejected(tmp_path, name):
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"url": "https://www.dawn.com/news/1", "text": "A story."}) + "\n")
    raw = curation_config(tmp_path / "out", [{"name": name, "format": "jsonl", "path": str(data)}])
    with pytest.raises(ConfigError, match=r"inputs\[0\]"):
        parse_config(raw)


def _hostile_warc(path: Path, urls: list[str]) -> None:
    """One page per URL; empty bodies, so HTML extraction excludes them (the writer with a name template)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=False)
        headers = [("Content-Type", "text/html; charset=utf-8")]
        for n, url in enumerate(urls):
            body = b"<html><head><title>../../../escaped</title></head><body></body></html>"
            if n % 2:  # every other page has text, so it travels through the whole pipeline
                body = body.replace(
                    b"<body>",
                    b"<body><article><p>" + b"The council met to agree the budget. " * 20 + b"</p></article>",
                )
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
            )


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_crafted_metadata_writes_nothing_outside_the_output_folder(tmp_path):
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    records = [
        {
            "url": "https://www.dawn.com/news/" + ESCAPE,
            "text": "A story about the budget. " * 5,
            "title": ESCAPE,
            "country": ESCAPE,
            "source_file": ESCAPE,
            "source_row": ESCAPE,
            "id": ESCAPE,
            "shard": ESCAPE,
        },
        {
            "url": "https://www.thehindu.com/news/x",
            "text": "A story about the monsoon. " * 5,
            "title": "${rank}",
            "country": "IN",
            "input_name": ESCAPE,
            "stage": ESCAPE,
        },
        {"url": "file:///etc/passwd", "text": "Not a news page at all, but a local file. " * 3, "country": "../x"},
    ]
    (work / "in.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    _hostile_warc(work / "pages.warc", ["https://evil.example/" + ESCAPE, "https://www.dawn.com/" + ESCAPE + "/story"])
    inputs = [
        {
            "name": "..",
            "format": "jsonl",
            "path": str(work / "in.jsonl"),
            "fields": {"url": "url", "text": "text", "title": "title", "country": "country"},
        },
        {"name": "...", "format": "warc", "path": str(work / "pages.warc")},
    ]
    out = work / "out"
    # An input name is used in ids and exclusion folder names: path-like names are refused up front.
    with pytest.raises(ConfigError, match="name"):
        parse_config(curation_config(out, inputs, min_words=1))
    inputs[0]["name"] = "dotdot"
    before = _files(tmp_path)
    report = run_curation(parse_config(curation_config(out, inputs, min_words=1)), show_progress=False)
    assert report["reconcile"]["ok"], report["reconcile"]["line"]
    assert report["reconcile"]["input"] == len(records) + 2
    new = _files(tmp_path) - before
    outside = sorted(str(p) for p in new if not p.resolve().is_relative_to(out.resolve()))
    assert outside == [], f"files written outside {out}: {outside}"
    assert not any(p.is_symlink() for p in new)
    assert not list(tmp_path.rglob("escaped*"))


def test_input_name_cannot_let_document_metadata_choose_a_path(tmp_path):
    _hostile_warc(tmp_path / "pages.warc", ["https://evil.example/" + "../" * 12 + "escaped"])
    raw = curation_config(
        tmp_path / "out", [{"name": "w${url}", "format": "warc", "path": str(tmp_path / "pages.warc")}]
    )
    try:
        config = parse_config(raw)
    except ConfigError:
        return  # rejecting such a name up front is a fix too
    report = run_curation(config, show_progress=False)
    assert report["reconcile"]["ok"]
    assert not list(tmp_path.rglob("escaped*"))


def test_a_rank_field_in_the_data_cannot_choose_the_shard_path(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text(
        json.dumps({"url": "https://www.dawn.com/news/1", "text": "A story. " * 10, "rank": ESCAPE}) + "\n"
    )
    raw = curation_config(tmp_path / "out", [{"name": "x", "format": "jsonl", "path": str(data)}], min_words=1)
    report = run_curation(parse_config(raw), show_progress=False)
    assert report["reconcile"]["ok"] and not list(tmp_path.rglob("escaped*"))
