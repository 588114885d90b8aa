"""Record readers (JSONL, CSV/TSV, Parquet), InputSpec and ExcludeReadErrors: every record is accounted for."""

from __future__ import annotations

import json
from collections import Counter

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from support.input_files import (
    write_broken_jsonl,
    write_broken_tsv,
    write_corrupt_parquet,
    write_not_parquet,
    write_truncated_gzip,
)

from geocorpus.readers import ExcludeReadErrors, InputSpec, build_reader_steps, is_read_error
from geocorpus.writers import INPUT_COUNTRY_KEY


def read_all(spec: dict, rank: int = 0, world_size: int = 1) -> list:
    (reader,) = build_reader_steps(InputSpec.from_dict(spec))
    return list(reader.run(None, rank, world_size))


def split(documents: list) -> tuple[list, list]:
    errors = [d for d in documents if is_read_error(d)]
    return [d for d in documents if not is_read_error(d)], errors


def assert_reconciles(documents: list, expected: dict, file_name: str) -> None:
    """Good documents, error codes per row, and error details naming file and row."""
    good, errors = split(documents)
    assert len(good) == expected["documents"]
    assert {d.metadata["source_row"]: d.metadata["read_error"] for d in errors} == expected["errors"]
    for error in errors:
        assert error.text == ""
        assert file_name in error.metadata["read_error_detail"]
        assert f"row {error.metadata['source_row']}" in error.metadata["read_error_detail"]
        assert error.metadata["source_file"] == file_name
    assert len({d.id for d in documents}) == len(documents)


# ---- InputSpec --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "config, message",
    [
        ({"name": "a", "format": "jsonl", "path": ".", "colour": "red"}, "unknown key \"input 'a'.colour\""),
        ({"name": "a", "format": "xml", "path": "."}, "key 'format'"),
        ({"name": "a", "format": "jsonl", "path": ".", "limit": "10"}, "input 'a'.limit: expected int, got '10'"),
        ({"name": "a", "format": "jsonl"}, "missing required key \"input 'a'.path\""),
        ({"name": "a", "format": "jsonl", "path": ".", "fields": {"body": "x"}}, "unknown field(s) ['body']"),
        ({"name": "a", "format": "warc", "path": ".", "fields": {"url": "u"}}, "does not apply"),
        ({"name": "a/b", "format": "jsonl", "path": "."}, "letters, digits"),
        ({"name": "a", "format": "now", "path": ".", "now_gaps": "fill"}, "key 'now_gaps'"),
    ],
)
def test_spec_rejects_bad_config_naming_input_and_key(config, message):
    with pytest.raises(ValueError) as err:
        InputSpec.from_dict(config)
    assert message in str(err.value)
    assert repr(config["name"]) in str(err.value)


def test_spec_rejects_missing_path(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        build_reader_steps(InputSpec.from_dict({"name": "a", "format": "jsonl", "path": str(tmp_path / "nope")}))


# ---- real data --------------------------------------------------------------------------------------
def test_fundus_jsonl_every_line_becomes_a_document(shared_data):
    path = shared_data / "news" / "fundus" / "fundus_articles.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    docs = read_all(
        {
            "name": "fundus",
            "format": "jsonl",
            "path": str(path),
            "fields": {"date": "publishing_date", "country": "fundus_country_dir"},
        }
    )
    good, errors = split(docs)
    assert errors == [] and len(good) == len(records)
    for doc, record in zip(good, records):
        assert doc.text == record["text"]
        assert doc.metadata["url"] == record["url"]
        assert doc.metadata["title"] == record["title"]
        assert doc.metadata[INPUT_COUNTRY_KEY] == record["fundus_country_dir"]
        assert doc.metadata["publisher_class"] == record["publisher_class"]  # other fields kept as-is
        assert doc.metadata["input_name"] == "fundus"
    assert [d.metadata["source_row"] for d in good] == list(range(len(records)))
    assert good[0].id == "fundus/fundus_articles.jsonl/0"


def test_masakhanews_tsv_multiline_values_and_relative_urls(shared_data):
    folder = shared_data / "news" / "masakhanews_eng"
    expected_rows = sum(pl.read_csv(p, separator="\t").height for p in sorted(folder.glob("*.tsv")))
    docs = read_all({"name": "masakha", "format": "tsv", "path": str(folder), "fields": {"title": "headline"}})
    good, errors = split(docs)
    assert errors == [] and len(good) == expected_rows
    assert any("\n" in d.text for d in good)  # embedded newlines survive
    assert all(d.metadata["url"].startswith("/") for d in good)  # relative, as in the input
    assert {d.metadata["source_file"] for d in good} == {"dev.tsv", "test.tsv"}
    assert len({d.id for d in good}) == len(good)

    resolved = read_all(
        {
            "name": "masakha",
            "format": "tsv",
            "path": str(folder / "dev.tsv"),
            "fields": {"title": "headline"},
            "url_prefix": "https://www.bbc.com",
            "country": "GB",
        }
    )
    assert all(d.metadata["url"] == "https://www.bbc.com" + d.metadata["url_as_input"] for d in resolved)
    assert {d.metadata[INPUT_COUNTRY_KEY] for d in resolved} == {"GB"}


# ---- bad inputs -------------------------------------------------------------------------------------
def test_broken_jsonl_reconciles(tmp_path):
    expected = write_broken_jsonl(tmp_path / "broken.jsonl")
    docs = read_all({"name": "bad", "format": "jsonl", "path": str(tmp_path / "broken.jsonl")})
    assert len(docs) == expected["records"]
    assert_reconciles(docs, expected, "broken.jsonl")
    no_url = [d for d in docs if not is_read_error(d) and d.metadata["url"] is None]
    assert len(no_url) == 1  # a missing url is for VerifyURL to reject, not a read error
    invalid = next(d for d in docs if d.metadata.get("read_error") == "invalid_utf8")
    assert "caf" in invalid.metadata["raw"]


def test_broken_tsv_reconciles(tmp_path):
    expected = write_broken_tsv(tmp_path / "broken.tsv")
    docs = read_all(
        {"name": "bad", "format": "tsv", "path": str(tmp_path / "broken.tsv"), "fields": {"title": "headline"}}
    )
    assert len(docs) == expected["records"]
    assert_reconciles(docs, expected, "broken.tsv")
    assert docs[0].text.count("\n") == 1 and '"quote"' in docs[0].text


def test_truncated_gzip_keeps_complete_lines_and_reports_the_cut(tmp_path):
    expected = write_truncated_gzip(tmp_path / "cut.jsonl.gz")
    docs = read_all({"name": "cut", "format": "jsonl", "path": str(tmp_path / "cut.jsonl.gz")})
    good, errors = split(docs)
    assert len(good) == expected["documents"] > 0
    assert [(e.metadata["read_error"], e.metadata["source_row"]) for e in errors] == [
        ("truncated_gzip", expected["error_row"])
    ]
    assert "cut.jsonl.gz" in errors[0].metadata["read_error_detail"]


def test_zstd_jsonl_and_truncated_zstd(tmp_path):
    lines = [json.dumps({"url": f"https://www.geo.tv/{n}", "text": f"story {n} " * 30}) for n in range(50)]
    blob = zstandard.ZstdCompressor().compress(("\n".join(lines) + "\n").encode())
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.jsonl.zst").write_bytes(blob)
    good, errors = split(read_all({"name": "z", "format": "jsonl", "path": str(tmp_path / "ok")}))
    assert len(good) == 50 and errors == []
    (tmp_path / "cut.jsonl.zst").write_bytes(blob[: len(blob) // 2])
    good, errors = split(read_all({"name": "z", "format": "jsonl", "path": str(tmp_path / "cut.jsonl.zst")}))
    assert [e.metadata["read_error"] for e in errors] == ["truncated_gzip"]
    assert errors[0].metadata["source_row"] == len(good) < 50


def test_corrupt_parquet_yields_rows_before_the_damage_plus_one_error(tmp_path):
    expected = write_corrupt_parquet(tmp_path / "damaged.parquet")
    docs = read_all({"name": "pq", "format": "parquet", "path": str(tmp_path / "damaged.parquet")})
    good, errors = split(docs)
    assert len(good) == expected["documents"]
    assert [(e.metadata["read_error"], e.metadata["source_row"]) for e in errors] == [
        ("corrupt_parquet", expected["error_row"])
    ]
    assert "damaged.parquet" in errors[0].metadata["read_error_detail"]


def test_not_parquet_is_one_error_naming_the_file(tmp_path):
    expected = write_not_parquet(tmp_path / "fake.parquet")
    good, errors = split(read_all({"name": "pq", "format": "parquet", "path": str(tmp_path / "fake.parquet")}))
    assert len(good) == expected["documents"] and len(errors) == expected["errors"]
    assert errors[0].metadata["read_error"] == "corrupt_parquet"
    assert "fake.parquet" in errors[0].metadata["read_error_detail"]


def test_parquet_row_groups_fields_and_reserved_columns(tmp_path):
    rows = [
        {
            "link": f"https://www.thestar.com.my/news/{n}",
            "body": f"Story {n}",
            "headline": f"H{n}",
            "country": "MY",
            "continent": "Asia",
            "published": None,
        }
        for n in range(25)
    ]
    rows[3]["body"] = None
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet", row_group_size=10)
    docs = read_all(
        {
            "name": "pq",
            "format": "parquet",
            "path": str(tmp_path / "in.parquet"),
            "fields": {"url": "link", "text": "body", "title": "headline", "date": "published"},
        }
    )
    good, errors = split(docs)
    assert len(good) == 24 and [(e.metadata["source_row"], e.metadata["read_error"]) for e in errors] == [
        (3, "missing_text")
    ]
    assert good[0].metadata["url"] == rows[0]["link"] and good[0].metadata["title"] == "H0"
    assert good[0].metadata[INPUT_COUNTRY_KEY] == "MY"
    # a column named like a corpus column must not pre-empt the tagger: it is kept under orig_
    assert good[0].metadata["orig_continent"] == "Asia" and "continent" not in good[0].metadata


# ---- chaining, sharding, exclusion, executor --------------------------------------------------------
def test_readers_chain_and_shard_without_overlap(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    for part in range(3):
        (folder / f"p{part}.jsonl").write_text(
            "".join(json.dumps({"url": f"https://x.ng/{part}/{n}", "text": "t"}) + "\n" for n in range(4))
        )
    seen = []
    for rank in range(2):
        first = build_reader_steps(InputSpec.from_dict({"name": "one", "format": "jsonl", "path": str(folder)}))[0]
        second = build_reader_steps(
            InputSpec.from_dict({"name": "two", "format": "jsonl", "path": str(folder / "p0.jsonl")})
        )[0]
        seen += [d.id for d in second.run(first.run(None, rank, 2), rank, 2)]
    assert len(seen) == len(set(seen)) == 3 * 4 + 4
    assert Counter(i.split("/")[0] for i in seen) == {"one": 12, "two": 4}


def test_exclude_read_errors_writes_reasons(tmp_path):
    from geocorpus.writers import ExclusionWriter

    expected = write_broken_jsonl(tmp_path / "broken.jsonl")
    docs = read_all({"name": "bad", "format": "jsonl", "path": str(tmp_path / "broken.jsonl")})
    step = ExcludeReadErrors(exclusion_writer=ExclusionWriter(str(tmp_path / "excl"), stage="read"))
    kept = list(step.run(iter(docs), 0, 1))
    assert len(kept) == expected["documents"]
    table = pl.read_parquet(tmp_path / "excl" / "*.parquet").to_dicts()
    assert {r["source_row"]: r["reason"] for r in table} == expected["errors"]
    assert {r["stage"] for r in table} == {"read"}
    assert all("broken.jsonl" in json.loads(r["metadata_json"])["read_error_detail"] for r in table)


def test_local_pipeline_executor_two_tasks_reconciles(tmp_path, shared_data):
    """Four inputs of four formats through a real LocalPipelineExecutor (tasks=2, workers=1 runs here)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.writers import JsonlWriter
    from support.input_files import build_now_fixture, write_warc_with_bad_record

    from geocorpus.writers import ExclusionWriter

    (tmp_path / "bad").mkdir()
    expected_bad = write_broken_jsonl(tmp_path / "bad" / "broken.jsonl")
    expected_now = build_now_fixture(tmp_path / "now")
    expected_warc = write_warc_with_bad_record(tmp_path / "crawl.warc")
    tsv = shared_data / "news" / "masakhanews_eng" / "dev.tsv"
    tsv_rows = pl.read_csv(tsv, separator="\t").height
    inputs = [
        {"name": "bad", "format": "jsonl", "path": str(tmp_path / "bad")},
        {"name": "bbc", "format": "tsv", "path": str(tsv), "fields": {"title": "headline"}},
        {"name": "now", "format": "now", "path": str(tmp_path / "now")},
        {"name": "crawl", "format": "warc", "path": str(tmp_path / "crawl.warc")},
    ]
    steps = [
        step for spec in inputs for step in build_reader_steps(InputSpec.from_dict(spec), str(tmp_path / "excluded"))
    ]
    steps += [
        ExcludeReadErrors(exclusion_writer=ExclusionWriter(str(tmp_path / "excluded" / "read"), stage="read")),
        JsonlWriter(str(tmp_path / "kept"), compression=None),
    ]
    LocalPipelineExecutor(steps, tasks=2, workers=1, logging_dir=str(tmp_path / "logs")).run()
    kept = [
        json.loads(line) for f in sorted((tmp_path / "kept").glob("*.jsonl")) for line in f.read_text().splitlines()
    ]
    read_errors = pl.read_parquet(tmp_path / "excluded" / "read" / "*.parquet")
    extraction = list((tmp_path / "excluded" / "extract_html").rglob("*.parquet"))
    extract_dropped = pl.read_parquet(extraction).height if extraction else 0
    records = (
        expected_bad["records"]
        + tsv_rows
        + expected_now["entries"]
        + expected_warc["documents"]
        + expected_warc["errors"]
    )
    assert len(kept) + read_errors.height + extract_dropped == records
    assert sorted(read_errors["reason"].to_list()) == sorted(
        [*expected_bad["errors"].values(), "missing_source_row", "warc_format_error"]
    )
    assert len({d["id"] for d in kept}) == len(kept)
    assert {d["metadata"]["input_name"] for d in kept} == {"bad", "bbc", "now", "crawl"}


def test_byte_order_marks_are_not_errors(tmp_path):
    (tmp_path / "bom.jsonl").write_bytes(
        b"\xef\xbb\xbf" + json.dumps({"url": "https://a.gh/1", "text": "t"}).encode() + b"\n"
    )
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfurl,text\nhttps://a.gh/2,t\n")
    for name, fmt in (("bom.jsonl", "jsonl"), ("bom.csv", "csv")):
        (doc,) = read_all({"name": "bom", "format": fmt, "path": str(tmp_path / name)})
        assert not is_read_error(doc) and doc.metadata["url"].startswith("https://a.gh/")
