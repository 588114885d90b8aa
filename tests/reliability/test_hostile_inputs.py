"""Hostile records become exclusions naming file and row, never a dead run (issue 11).

One curation run (in-process, tasks=1) reads every hostile file beside the others: JSON nested 1,000 deep
and past the parser's limit, a WARC page whose UTF-7 decodes to a lone surrogate, a record over the text
cap, a gzip expanding to one line over the line cap, a truncated ``.warc.gz``, a CSV with a stray quote,
and gzip / zstd bytes in files named ``.jsonl``. Each test checks its own input's fate. A subprocess then
shows that a 512 MiB line costs a reader no more than the cap in memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from support.curation_runs import curation_config
from support.hostile_inputs import (
    real_articles,
    write_compressed_named_plain,
    write_cut_warc,
    write_deep_json,
    write_giant_line_gzip,
    write_oversized_record,
    write_stray_quote_csv,
    write_utf7_warc,
)

from geocorpus.config import parse_config
from geocorpus.readers.base import MAX_LINE_BYTES, MAX_TEXT_CHARS
from pipelines.curate import run_curation


@pytest.fixture(scope="module")
def hostile_run(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    files = {
        "deep": ("jsonl", "deep.jsonl", write_deep_json),
        "utf7": ("warc", "utf7.warc.gz", write_utf7_warc),
        "cutwarc": ("warc", "cut.warc.gz", write_cut_warc),
        "stray": ("csv", "stray.csv", write_stray_quote_csv),
        "gzplain": ("jsonl", "gz_as_plain.jsonl", lambda p, s: write_compressed_named_plain(p, s, "gzip")),
        "zstplain": ("jsonl", "zst_as_plain.jsonl", lambda p, s: write_compressed_named_plain(p, s, "zstd")),
        "big": ("jsonl", "big.jsonl", lambda p, s: write_oversized_record(p, s, MAX_TEXT_CHARS + 1)),
        "longline": (
            "jsonl",
            "longline.jsonl.gz",
            lambda p, s: write_giant_line_gzip(p, s, MAX_LINE_BYTES + (8 << 20)),
        ),
    }
    expected, inputs = {}, []
    for name, (fmt, file_name, build) in files.items():
        folder = tmp / name
        folder.mkdir()
        expected[name] = build(folder / file_name, shared_data)
        inputs.append({"name": name, "format": fmt, "path": str(folder / file_name)})
    raw = curation_config(tmp / "out", inputs, tasks=1, workers=1, min_words=1)
    raw["tagging"] = {"require_country": False}  # keep every readable document: only hostile input is dropped
    report = run_curation(parse_config(raw), show_progress=False)
    out = tmp / "out"
    excluded = pl.read_parquet(sorted((out / "exclusions").rglob("*.parquet")))
    kept = pl.read_parquet(out / "data" / "*.parquet")
    return report, excluded, kept, expected


def _of(frame: pl.DataFrame, input_name: str) -> pl.DataFrame:
    return frame.filter(pl.col("id").str.starts_with(f"{input_name}/"))


def _read_errors(excluded: pl.DataFrame, input_name: str) -> list[dict]:
    rows = _of(excluded, input_name).filter(pl.col("stage") == "read").sort("source_row").to_dicts()
    for row in rows:
        row["detail"] = json.loads(row["metadata_json"]).get("read_error_detail", "")
    return rows


def _documents(kept: pl.DataFrame, excluded: pl.DataFrame, input_name: str) -> int:
    """Records that became documents: kept, or dropped after the read stage."""
    return _of(kept, input_name).height + _of(excluded, input_name).filter(pl.col("stage") != "read").height


def test_the_run_survives_and_reconciles(hostile_run):
    report, excluded, kept, _ = hostile_run
    assert report["reconcile"]["ok"], report["reconcile"]["line"]
    assert kept.height + excluded.height == report["reconcile"]["input"]


def test_json_nested_1000_deep_is_an_exclusion_naming_file_and_row(hostile_run):
    _, excluded, kept, expected = hostile_run
    errors = _read_errors(excluded, "deep")
    assert [(e["source_row"], e["reason"]) for e in errors] == sorted(expected["deep"]["errors"].items())
    assert all("deep.jsonl" in e["detail"] and f"row {e['source_row']}" in e["detail"] for e in errors)
    assert _documents(kept, excluded, "deep") == expected["deep"]["documents"]


def test_a_lone_surrogate_from_utf7_is_an_exclusion_not_a_writer_crash(hostile_run):
    _, excluded, kept, expected = hostile_run
    errors = _read_errors(excluded, "utf7")
    assert [(e["source_row"], e["reason"]) for e in errors] == [(expected["utf7"]["bad_index"], "invalid_unicode")]
    assert "utf7.warc.gz" in errors[0]["detail"] and "U+D800" in errors[0]["detail"]
    assert _documents(kept, excluded, "utf7") == expected["utf7"]["documents"]


def test_a_record_over_the_text_cap_is_excluded(hostile_run):
    _, excluded, kept, expected = hostile_run
    errors = _read_errors(excluded, "big")
    assert [(e["source_row"], e["reason"]) for e in errors] == [(expected["big"]["bad_row"], "record_too_large")]
    assert "max_text_chars" in errors[0]["detail"]
    assert _documents(kept, excluded, "big") == expected["big"]["documents"]


def test_a_line_over_the_cap_is_excluded_and_reading_goes_on(hostile_run):
    _, excluded, kept, expected = hostile_run
    errors = _read_errors(excluded, "longline")
    assert [(e["source_row"], e["reason"]) for e in errors] == [(expected["longline"]["bad_row"], "line_too_long")]
    assert "max_line_bytes" in errors[0]["detail"]
    assert _documents(kept, excluded, "longline") == expected["longline"]["documents"]


def test_a_truncated_warc_keeps_every_complete_record_and_names_the_break(hostile_run):
    """The issue's case: a 3-record .warc.gz cut by 200 bytes read as 'input 0', exit 0."""
    _, excluded, kept, expected = hostile_run
    errors = _read_errors(excluded, "cutwarc")
    complete = expected["cutwarc"]["complete"]
    assert [(e["source_row"], e["reason"]) for e in errors] == [(complete, "truncated_warc")]
    assert "cut.warc.gz" in errors[0]["detail"] and "offset" in errors[0]["detail"]
    assert json.loads(errors[0]["metadata_json"])["offset"] > 0
    assert _documents(kept, excluded, "cutwarc") == complete


def test_a_stray_csv_quote_costs_only_its_row(hostile_run):
    _, excluded, kept, expected = hostile_run
    info = expected["stray"]
    errors = _read_errors(excluded, "stray")
    assert [(e["source_row"], e["reason"]) for e in errors] == [(info["bad_row"], "malformed_row")]
    rows = pl.concat(
        [
            _of(kept, "stray").select("url", "text"),
            _of(excluded, "stray").filter(pl.col("stage") != "read").select("url", "text"),
        ]
    )
    assert sorted(rows["url"].to_list()) == sorted(u for i, u in enumerate(info["urls"]) if i != info["bad_row"])
    for url, text in rows.iter_rows():
        others = [u for u in info["urls"] if u != url]
        assert not any(other in text for other in others), f"row of {url} swallowed another row"


@pytest.mark.parametrize("name", ["gzplain", "zstplain"])
def test_compressed_bytes_in_a_plain_jsonl_are_one_exclusion(hostile_run, name):
    _, excluded, kept, _ = hostile_run
    errors = _read_errors(excluded, name)
    assert [e["reason"] for e in errors] == ["compressed_content"]
    assert "rename" in errors[0]["detail"]
    assert _of(excluded, name).height == 1 and _of(kept, name).height == 0


_MEMORY_PROBE = """
import resource, sys
from geocorpus.readers import RecordJsonlReader
reader = RecordJsonlReader(sys.argv[1], "probe", single_file=sys.argv[2])
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
docs = list(reader.run())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print([d.metadata.get("read_error") for d in docs], (peak - baseline) // 1024)
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_giant_line_costs_a_reader_no_more_than_the_cap(shared_data, tmp_path):
    """A ~0.5 MB gzip holding one 512 MiB line: the line is excluded and the reader's peak memory grows by
    far less than the line (it grew by ~3.5x the line before: 2 GB line, 7.3 GB RSS)."""
    path = tmp_path / "giant.jsonl.gz"
    write_giant_line_gzip(path, shared_data, 512 << 20)
    assert path.stat().st_size < 4 << 20
    probe = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(tmp_path), path.name],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    codes, grown_mb = probe.stdout.strip().rsplit(" ", 1)
    assert codes == "[None, 'line_too_long', None]"
    assert int(grown_mb) < 3 * (MAX_LINE_BYTES >> 20), f"peak RSS grew by {grown_mb} MB for a 512 MiB line"


def test_default_caps_are_documented_values(shared_data):
    """10 MB of text per record (the issue's default) and a line cap that fits such a text escaped as JSON."""
    assert MAX_TEXT_CHARS == 10_000_000
    assert MAX_LINE_BYTES >= 6 * MAX_TEXT_CHARS
    assert real_articles(shared_data, 3)  # the builders find real English articles
