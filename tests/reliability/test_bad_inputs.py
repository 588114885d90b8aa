"""Bad inputs: each one ends as an exclusion with a reason naming its file and row, or as a clear CLI
error (exit code 2, the key or file named, no traceback) — never as a crash deep inside a library.

All bad data inputs go through one curation run (in-process, tasks=1); each test then checks its own
input's fate, so a failure names the input that broke.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import polars as pl
import pytest
import yaml
from support.curation_runs import curation_config
from support.input_files import (
    write_broken_jsonl,
    write_corrupt_parquet,
    write_not_parquet,
    write_truncated_gzip,
    write_warc_with_bad_record,
)
from typer.testing import CliRunner

from geocorpus.config import parse_config
from pipelines.cli import app
from pipelines.curate import run_curation

FIELD_TROUBLE = [  # (record, expected reason, stage)
    ({"title": "Only a title"}, "missing_text", "read"),
    ({"url": "https://www.dawn.com/news/1", "text": 42}, "invalid_field_type", "read"),
    ({"url": "https://www.dawn.com/news/2", "text": ["a", "list"]}, "invalid_field_type", "read"),
    ({"text": "A story with no URL field at all, about the budget."}, "missing_url", "verify_url"),
    ({"url": None, "text": "A story whose URL is null, about the council."}, "missing_url", "verify_url"),
]


def whatwg_failures(shared: Path) -> list[str]:
    cases = json.loads((shared / "url_tests" / "whatwg_wpt_urltestdata.json").read_text(encoding="utf-8"))
    return [case["input"] for case in cases if isinstance(case, dict) and case.get("failure")]


@pytest.fixture(scope="module")
def bad_run(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_inputs")
    expected = {
        "broken": write_broken_jsonl(tmp / "broken.jsonl"),
        "truncated": write_truncated_gzip(tmp / "truncated.jsonl.gz", records=120),
        "corrupt": write_corrupt_parquet(tmp / "corrupt.parquet"),
        "not_parquet": write_not_parquet(tmp / "not.parquet"),
        "bad_warc": write_warc_with_bad_record(tmp / "bad_record.warc"),
    }
    (tmp / "fields.jsonl").write_text("\n".join(json.dumps(r) for r, _, _ in FIELD_TROUBLE) + "\n")
    failures = whatwg_failures(shared_data)
    with open(tmp / "whatwg.jsonl", "w", encoding="utf-8") as fh:
        for url in failures:
            fh.write(json.dumps({"url": url, "text": "The council met on Monday to discuss the budget."}) + "\n")
    expected["whatwg"] = {"documents": len(failures)}
    inputs = [
        {"name": "broken", "format": "jsonl", "path": str(tmp / "broken.jsonl")},
        {"name": "fields", "format": "jsonl", "path": str(tmp / "fields.jsonl")},
        {"name": "truncated", "format": "jsonl", "path": str(tmp / "truncated.jsonl.gz")},
        {"name": "corrupt", "format": "parquet", "path": str(tmp / "corrupt.parquet")},
        {"name": "not_parquet", "format": "parquet", "path": str(tmp / "not.parquet")},
        {"name": "bad_warc", "format": "warc", "path": str(tmp / "bad_record.warc")},
        {"name": "quirk", "format": "warc", "path": str(shared_data / "warc" / "resiliparse-clueweb-quirk.warc.gz")},
        {"name": "whatwg", "format": "jsonl", "path": str(tmp / "whatwg.jsonl")},
    ]
    raw = curation_config(tmp / "out", inputs, tasks=1, workers=1, min_words=1)
    raw["tagging"] = {"require_country": False}  # keep every readable document: only bad input is dropped
    report = run_curation(parse_config(raw), show_progress=False)
    out = tmp / "out"
    excluded = pl.read_parquet(sorted((out / "exclusions").rglob("*.parquet")))
    kept = pl.read_parquet(out / "data" / "*.parquet")
    return report, excluded, kept, expected


def _of(frame: pl.DataFrame, input_name: str) -> pl.DataFrame:
    return frame.filter(pl.col("id").str.starts_with(f"{input_name}/"))


def _detail(row: dict) -> str:
    return json.loads(row["metadata_json"]).get("read_error_detail", "")


def test_the_run_survives_and_reconciles(bad_run):
    report, excluded, kept, _ = bad_run
    rec = report["reconcile"]
    assert rec["ok"], rec["line"]
    assert kept.height + excluded.height == rec["input"]
    assert excluded["reason"].null_count() == 0 and (excluded["reason"] != "unspecified").all()


def _broken_jsonl_errors() -> list[tuple[int, str]]:
    """The builder's {row: reason} at collection time (it is computed from what it writes)."""
    with tempfile.TemporaryDirectory() as folder:
        return sorted(write_broken_jsonl(Path(folder) / "broken.jsonl")["errors"].items())


@pytest.mark.parametrize("row, reason", _broken_jsonl_errors())
def test_broken_json_lines_name_file_and_row(bad_run, row, reason):
    """Broken JSON, invalid UTF-8, a non-object line, an empty text: one parametrized case each."""
    _, excluded, _, _ = bad_run
    hits = _of(excluded, "broken").filter(pl.col("source_row") == row).to_dicts()
    assert [h["reason"] for h in hits] == [reason]
    assert hits[0]["source_file"] == "broken.jsonl" and hits[0]["stage"] == "read"
    assert "broken.jsonl" in _detail(hits[0]) and f"row {row}" in _detail(hits[0])


@pytest.mark.parametrize("index", range(len(FIELD_TROUBLE)))
def test_missing_or_mistyped_fields_are_excluded_with_a_reason(bad_run, index):
    _, excluded, kept, _ = bad_run
    _, reason, stage = FIELD_TROUBLE[index]
    hits = _of(excluded, "fields").filter(pl.col("source_row") == index).to_dicts()
    assert [(h["stage"], h["reason"]) for h in hits] == [(stage, reason)]
    assert hits[0]["source_file"] == "fields.jsonl"
    assert _of(kept, "fields").height == 0


def test_truncated_gzip_keeps_complete_lines_and_names_the_cut(bad_run):
    _, excluded, kept, expected = bad_run
    exp = expected["truncated"]
    assert _of(kept, "truncated").height == exp["documents"]
    hits = _of(excluded, "truncated").to_dicts()
    assert [(h["reason"], h["source_row"]) for h in hits] == [("truncated_gzip", exp["error_row"])]
    assert "truncated.jsonl.gz" in _detail(hits[0])


def test_corrupt_parquet_keeps_readable_row_groups(bad_run):
    _, excluded, kept, expected = bad_run
    exp = expected["corrupt"]
    assert _of(kept, "corrupt").height == exp["documents"]
    hits = _of(excluded, "corrupt").to_dicts()
    assert [(h["reason"], h["source_row"]) for h in hits] == [("corrupt_parquet", exp["error_row"])]
    assert "corrupt.parquet" in _detail(hits[0])


def test_a_file_that_is_not_parquet_is_one_exclusion(bad_run):
    _, excluded, kept, _ = bad_run
    assert _of(kept, "not_parquet").height == 0
    hits = _of(excluded, "not_parquet").to_dicts()
    assert len(hits) == 1 and hits[0]["reason"] in ("corrupt_parquet", "unreadable_file")
    assert "not.parquet" in _detail(hits[0])


def test_warc_with_a_bad_record_keeps_the_good_pages(bad_run):
    _, excluded, kept, expected = bad_run
    good = set(expected["bad_warc"]["good_urls"])
    assert set(_of(kept, "bad_warc")["url"]) == good
    hits = _of(excluded, "bad_warc").to_dicts()
    assert [h["reason"] for h in hits] == ["warc_format_error"]
    assert "bad_record.warc" in _detail(hits[0])


def test_quirky_clueweb_warc_is_read_without_crashing(bad_run):
    report, excluded, kept, _ = bad_run
    n_input = report["inputs"]["quirk"]
    assert n_input > 0 and _of(kept, "quirk").height > 0
    assert _of(kept, "quirk").height + _of(excluded, "quirk").height == n_input
    assert _of(excluded, "quirk")["reason"].null_count() == 0


def test_every_whatwg_failure_url_is_rejected_with_a_reason(bad_run):
    _, excluded, kept, expected = bad_run
    assert _of(kept, "whatwg").height == 0, _of(kept, "whatwg")["url"].to_list()
    hits = _of(excluded, "whatwg")
    assert hits.height == expected["whatwg"]["documents"]
    assert set(hits["stage"]) == {"verify_url"} and hits["reason"].null_count() == 0
    assert hits["reason"].n_unique() >= 5  # specific reasons, not one catch-all


def test_a_rank_field_in_two_files_loses_nothing(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for part in range(2):
        rows = [
            {"url": f"https://www.dawn.com/news/{part}-{n}", "text": f"Story {part} {n} about the budget.", "rank": 1}
            for n in range(3)
        ]
        (folder / f"part-{part}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    raw = curation_config(
        tmp_path / "out", [{"name": "ranked", "format": "jsonl", "path": str(folder)}], tasks=2, workers=1, min_words=1
    )
    raw["tagging"] = {"require_country": False}
    report = run_curation(parse_config(raw), show_progress=False)
    assert report["reconcile"]["ok"] and report["reconcile"]["kept"] == 6


# --- config errors through the CLI ------------------------------------------------------------------
def _cli(tmp_path: Path, config: dict | str) -> tuple[int, str]:
    path = tmp_path / "cfg.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["curate", str(path), "--no-progress"])
    return result.exit_code, result.output


def _good(tmp_path: Path) -> dict:
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"url": "https://www.dawn.com/news/1", "text": "A story."}) + "\n")
    return curation_config(tmp_path / "out", [{"name": "x", "format": "jsonl", "path": str(data)}])


@pytest.mark.parametrize(
    "patch, named",
    [
        ({"filters": {"min_words": 5, "languagee": None}}, "filters.languagee"),
        ({"executor": {"type": "local", "tasks": "four"}}, "executor.tasks"),
        ({"filters": {"min_words": 5.5}}, "filters.min_words"),
        ({"inputs": [{"name": "x", "format": "jsonl", "path": "/tmp/in.jsonl", "colour": "red"}]}, "colour"),
        ({"inputs": [{"name": "x", "format": "jsonl", "path": 17}]}, "path"),
    ],
    ids=["unknown_key", "wrong_type", "float_for_int", "unknown_input_key", "wrong_input_type"],
)
def test_config_errors_exit_2_naming_the_key(tmp_path, patch, named):
    code, output = _cli(tmp_path, {**_good(tmp_path), **patch})
    assert code == 2, output
    assert named in output and "Traceback" not in output
    assert not (tmp_path / "out").exists(), "nothing may run before the config is valid"


def test_missing_config_file_exits_2_naming_it(tmp_path):
    result = CliRunner().invoke(app, ["curate", str(tmp_path / "nowhere.yaml")])
    assert result.exit_code == 2 and "nowhere.yaml" in result.output and "Traceback" not in result.output


def test_yaml_syntax_error_exits_2_naming_the_file(tmp_path):
    code, output = _cli(tmp_path, "output: [unclosed\ninputs: {")
    assert code == 2 and "cfg.yaml" in output and "Traceback" not in output


def test_input_path_that_does_not_exist_exits_2_naming_it(tmp_path):
    config = _good(tmp_path)
    config["inputs"][0]["path"] = str(tmp_path / "missing" / "news.jsonl")
    code, output = _cli(tmp_path, config)
    assert code == 2, output
    assert "missing/news.jsonl" in output and "Traceback" not in output
