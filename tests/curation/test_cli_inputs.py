"""Input-schema checks, --version, python -m geocorpus and untruncated tables in logs (issue 16).

Before, a Parquet input whose URL column is ``link`` validated "OK" and curated to 0 documents, and a
mapping typo (``country: fundus_country``) silently changed the tags. ``validate`` and ``curate`` now read
each input's schema or first records first and exit 2 naming file, field, columns and the fix.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from rich.console import Console
from support.curation_runs import curation_config
from typer.testing import CliRunner

from geocorpus.report import print_stats
from pipelines.cli import app

REPO = Path(__file__).resolve().parents[2]


def _fundus_rows(shared: Path, n: int = 20) -> list[dict]:
    with (shared / "news" / "fundus" / "fundus_articles.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for _, line in zip(range(n), f)]


def _validate(tmp_path: Path, inputs: list[dict]):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(curation_config(tmp_path / "out", inputs)), encoding="utf-8")
    return CliRunner().invoke(app, ["validate", str(config)])


def test_a_parquet_url_column_named_link_is_refused_before_any_work(shared_data, tmp_path):
    rows = _fundus_rows(shared_data)
    table = pa.table({"link": [r["url"] for r in rows], "text": [r["text"] for r in rows]})
    pq.write_table(table, tmp_path / "news.parquet")
    result = _validate(tmp_path, [{"name": "news", "format": "parquet", "path": str(tmp_path / "news.parquet")}])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "news.parquet" in message and "field 'url'" in message
    assert "columns present: ['link', 'text']" in message
    assert "fields: {url: link}" in message
    assert not (tmp_path / "out").exists()


def test_a_mapping_typo_is_refused_with_the_closest_column(shared_data, tmp_path):
    path = tmp_path / "fundus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _fundus_rows(shared_data)), encoding="utf-8")
    spec = {
        "name": "fundus",
        "format": "jsonl",
        "path": str(path),
        "fields": {"url": "url", "text": "text", "country": "fundus_country"},
    }
    result = _validate(tmp_path, [spec])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "field 'country' is mapped to column 'fundus_country'" in message
    assert "fields: {country: fundus_country_dir}" in message
    spec["fields"]["country"] = "fundus_country_dir"
    fixed = _validate(tmp_path, [spec])
    assert fixed.exit_code == 0, fixed.output
    assert "config OK" in fixed.output


def test_a_tsv_header_without_the_text_column_is_refused(shared_data, tmp_path):
    rows = _fundus_rows(shared_data, 5)
    lines = ["url\tbody"] + [f"{r['url']}\t{' '.join(r['text'].split())}" for r in rows]
    (tmp_path / "news.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _validate(tmp_path, [{"name": "news", "format": "tsv", "path": str(tmp_path / "news.tsv")}])
    assert result.exit_code == 2, result.output
    assert "fields: {text: body}" in " ".join(result.output.split())


def test_version_and_python_dash_m():
    for command in ([str(REPO / ".venv" / "bin" / "geocorpus")], [sys.executable, "-m", "geocorpus"]):
        done = subprocess.run([*command, "--version"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("geocorpus ") and done.stdout.strip() != "geocorpus", done.stdout


def test_tables_are_markdown_and_whole_when_stdout_is_not_a_terminal():
    stats = {
        "countries": [
            {
                "country": "ZA",
                "country_name": "South Africa",
                "continent": "Africa",
                "split": s,
                "documents": d,
                "tokens": 9,
            }
            for s, d in (("train", 12345), ("validation", 7))
        ],
        "continents": [],
        "tag_sources": [{"tag_source": "input", "documents": 12352}],
        "exclusions": [{"stage": "verify_url", "reason": "missing_url", "documents": 3}],
        "splits": {"train": 12345, "validation": 7},
        "conflicts": 0,
    }
    out = io.StringIO()
    print_stats(stats, console=Console(file=out, width=20), reconcile=None)
    text = out.getvalue()
    assert "| country | name | continent | docs train | docs validation | tokens |" in text
    assert "| ZA | South Africa | Africa | 12345 | 7 | 18 |" in text
    assert "…" not in text
