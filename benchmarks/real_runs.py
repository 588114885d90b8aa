"""End-to-end real runs of ``geocorpus curate`` on the shared data, recorded as docs/real_runs.md.

Every run goes through the CLI exactly as a user would type it (a YAML config, then
``geocorpus curate CONFIG --output OUT``), and the record is read back from what the run wrote:
``report.json`` (per-country counts, exclusions, reconcile line) and the exclusion Parquet files
(which reason, which file and row each dropped document names). Runs:

a. fundus articles JSONL (country claimed by the input)
b. masakhanews BBC TSV as it is (relative URLs), and resolved with ``url_prefix`` (the bundled
   ``pipelines/configs/masakhanews_resolved.yaml``)
c. a WARC built with warcio from the real fundus HTML pages, language filter on
d. bad inputs, one per config input: a JSONL with a broken line, records without url / text,
   invalid UTF-8, a truncated .gz, a corrupt Parquet file, the ClueWeb09 quirk WARC

    .venv/bin/python benchmarks/real_runs.py [--work /tmp/geocorpus_real_runs] [--doc docs/real_runs.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # build_fundus_warc lives with the shared fixture builders

CLI = [str(REPO / ".venv" / "bin" / "geocorpus")]
TABLE_ROWS = 8


def build_bad_inputs(shared: Path, folder: Path) -> list[dict]:
    """One small input per kind of damage, each made from real fundus records; returns config inputs."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = (shared / "news/fundus/fundus_articles.jsonl").read_text(encoding="utf-8").splitlines()[:6]
    fields = {"date": "publishing_date", "country": "fundus_country_dir"}

    broken = folder / "broken_line.jsonl"  # line 2 (0-based) cut in half
    broken.write_text(
        "\n".join([lines[0], lines[1], lines[2][: len(lines[2]) // 2], lines[3]]) + "\n", encoding="utf-8"
    )

    missing = folder / "missing_fields.jsonl"  # row 0 intact, row 1 without url, row 2 without text
    no_url = {k: v for k, v in json.loads(lines[1]).items() if k != "url"}
    no_text = {k: v for k, v in json.loads(lines[2]).items() if k != "text"}
    missing.write_text("\n".join([lines[0], json.dumps(no_url), json.dumps(no_text)]) + "\n", encoding="utf-8")

    bad_utf8 = folder / "invalid_utf8.jsonl"  # row 1 gets a lone 0xff byte inside its text
    raw = [line.encode("utf-8") for line in lines[:3]]
    raw[1] = raw[1].replace(b'"text": "', b'"text": "\xff', 1)
    bad_utf8.write_bytes(b"\n".join(raw) + b"\n")

    truncated = folder / "truncated.jsonl.gz"  # a gzip stream cut off part way
    full = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"))
    truncated.write_bytes(full[: len(full) * 2 // 3])

    corrupt = folder / "corrupt.parquet"  # a real Parquet file with its middle overwritten
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [json.loads(line) for line in lines]
    table = pa.table({k: [str(r.get(k)) for r in records] for k in ("url", "text", "title", "fundus_country_dir")})
    pq.write_table(table, corrupt)
    data = bytearray(corrupt.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\x00" * 64
    corrupt.write_bytes(bytes(data))

    return [
        {"name": "broken_line", "format": "jsonl", "path": str(broken), "fields": fields},
        {"name": "missing_fields", "format": "jsonl", "path": str(missing), "fields": fields},
        {"name": "invalid_utf8", "format": "jsonl", "path": str(bad_utf8), "fields": fields},
        {"name": "truncated_gz", "format": "jsonl", "path": str(truncated), "fields": fields},
        {
            "name": "corrupt_parquet",
            "format": "parquet",
            "path": str(corrupt),
            "fields": {"country": "fundus_country_dir"},
        },
        {"name": "clueweb_quirk", "format": "warc", "path": str(shared / "warc/resiliparse-clueweb-quirk.warc.gz")},
    ]


def run_configs(shared: Path, work: Path) -> list[dict]:
    """(title, note, config) for every run."""
    from support.input_files import build_fundus_warc

    fundus = {
        "name": "fundus",
        "format": "jsonl",
        "path": str(shared / "news/fundus/fundus_articles.jsonl"),
        "fields": {
            "url": "url",
            "text": "text",
            "title": "title",
            "date": "publishing_date",
            "country": "fundus_country_dir",
        },
    }
    masakhane = {
        "name": "masakhanews",
        "format": "tsv",
        "path": str(shared / "news/masakhanews_eng"),
        "glob": "*.tsv",
        "fields": {"url": "url", "text": "text", "title": "headline"},
    }
    warc_path = work / "inputs" / "fundus_pages.warc.gz"
    warc_path.parent.mkdir(parents=True, exist_ok=True)
    pages = build_fundus_warc(shared, warc_path)
    common = {
        "balance": {"by": "country", "method": "none", "eval_fraction": 0.1, "seed": 0},
        "executor": {"type": "local", "tasks": 1, "workers": 1},
    }
    resolved = yaml.safe_load((REPO / "pipelines/configs/masakhanews_resolved.yaml").read_text(encoding="utf-8"))
    return [
        {
            "key": "a_fundus",
            "title": "(a) fundus articles JSONL",
            "note": "258 real article pages, 41 countries, several languages; country claimed by `fundus_country_dir`; "
            "no language filter, `min_words: 50`.",
            "config": {
                "name": "real-fundus",
                "inputs": [fundus],
                "filters": {"language": None, "min_words": 50},
                **common,
            },
        },
        {
            "key": "b1_masakhanews_as_is",
            "title": "(b1) masakhanews BBC TSV as it is",
            "note": "dev + test TSVs; URLs are relative (`/news/...`) and no `url_prefix` is given.",
            "config": {
                "name": "real-masakhanews-as-is",
                "inputs": [masakhane],
                "filters": {"language": None, "min_words": 50},
                **common,
            },
        },
        {
            "key": "b2_masakhanews_resolved",
            "title": "(b2) masakhanews resolved (`pipelines/configs/masakhanews_resolved.yaml`)",
            "note": "the bundled config unchanged except `output` (`url_prefix: https://www.bbc.com`, default tagging "
            "and language filter, 2 tasks).",
            "config": resolved,
        },
        {
            "key": "c_fundus_warc",
            "title": "(c) WARC of the real fundus HTML pages, language filter on",
            "note": f"{pages} HTTP 200 response records built with warcio (`tests/support/input_files.py:build_fundus_warc`); "
            "trafilatura extraction; `language: {languages: [en], min_score: 0.5}`; no input country, so "
            "tags come from registry/ccTLD; `require_country: true`.",
            "config": {
                "name": "real-fundus-warc",
                "inputs": [{"name": "fundus_warc", "format": "warc", "path": str(warc_path)}],
                "filters": {"language": {"languages": ["en"], "min_score": 0.5}, "min_words": 50},
                **common,
            },
        },
        {
            "key": "d_bad_inputs",
            "title": "(d) bad inputs, one config input each",
            "note": "each file is made from the first real fundus records, then damaged; the ClueWeb09 WARC is used as it is. "
            "No filters, no exact dedup (the files share records), `require_country: false`, so every drop below "
            "is caused by the damage itself.",
            "config": {
                "name": "real-bad-inputs",
                "inputs": build_bad_inputs(shared, work / "inputs" / "bad"),
                "tagging": {"require_country": False},
                "dedup": {"exact": False},
                "filters": {"language": None, "min_words": 0},
                **common,
            },
        },
    ]


def run_cli(run: dict, work: Path) -> dict:
    folder = work / run["key"]
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(run["config"], sort_keys=False), encoding="utf-8")
    out = folder / "out"
    command = [*CLI, "curate", str(config_path), "--output", str(out), "--no-progress"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    report_path = out / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else None
    return {
        "rc": proc.returncode,
        "seconds": seconds,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "report": report,
        "out": out,
        "command": " ".join(["geocorpus", *command[1:]]),
    }


def exclusion_rows(out: Path) -> list[dict]:
    """Every excluded document's stage, reason, input, file and row (the detail for read errors)."""
    import duckdb

    files = sorted(str(p) for p in (out / "exclusions").rglob("*.parquet"))
    if not files:
        return []
    rows = (
        duckdb.connect()
        .execute(
            "select stage, reason, id, source_file, source_row, metadata_json from read_parquet(?, union_by_name=true) "
            "order by id",
            [files],
        )
        .fetchall()
    )
    found = []
    for stage, reason, doc_id, source_file, source_row, meta_json in rows:
        meta = json.loads(meta_json) if meta_json else {}
        found.append(
            {
                "stage": stage,
                "reason": reason,
                "id": doc_id,
                "source_file": source_file,
                "source_row": source_row,
                "input": meta.get("input_name") or doc_id.split("/", 1)[0],
                "detail": meta.get("read_error_detail") or meta.get("url") or "",
            }
        )
    return found


def country_table(report: dict) -> list[str]:
    per: dict[str, dict] = {}
    for row in report["stats"]["countries"]:
        entry = per.setdefault(
            row["country"] or "none", {"continent": row["continent"], "train": 0, "eval": 0, "tokens": 0}
        )
        entry[row["split"] or "train"] = entry.get(row["split"] or "train", 0) + row["documents"]
        entry["tokens"] += row["tokens"]
    ranked = sorted(per.items(), key=lambda kv: -(kv[1]["train"] + kv[1]["eval"]))
    lines = ["| country | continent | train | eval | tokens |", "| --- | --- | ---: | ---: | ---: |"]
    lines += [
        f"| {c} | {e['continent']} | {e['train']} | {e['eval']} | {e['tokens']:,} |" for c, e in ranked[:TABLE_ROWS]
    ]
    if len(ranked) > TABLE_ROWS:
        rest = ranked[TABLE_ROWS:]
        lines.append(
            f"| ... {len(rest)} more | | {sum(e['train'] for _, e in rest)} | {sum(e['eval'] for _, e in rest)} | |"
        )
    return lines


def section(run: dict, result: dict) -> list[str]:
    lines = [
        f"## {run['title']}",
        "",
        run["note"],
        "",
        f"`{result['command']}` -> exit {result['rc']}, {result['seconds']:.1f} s wall",
        "",
    ]
    report = result["report"]
    if report is None:
        tail = (result["stderr"] or result["stdout"]).strip().splitlines()[-15:]
        return lines + ["No report was written. Last lines of output:", "", "```", *tail, "```", ""]
    lines += [
        f"**reconcile:** `{report['reconcile']['line']}` -> {'OK' if report['reconcile']['ok'] else 'MISMATCH'}",
        "",
    ]
    if report["stats"]["countries"]:
        lines += ["Per country (first rows):", "", *country_table(report), ""]
    else:
        lines += ["No document was kept.", ""]
    sources = ", ".join(f"{r['tag_source']} {r['documents']}" for r in report["stats"]["tag_sources"])
    if sources:
        lines += [f"Tag sources: {sources}; with tag_conflict: {report['stats']['conflicts']}.", ""]
    exclusions = report["stats"]["exclusions"]
    if exclusions:
        lines += ["| stage | reason | documents |", "| --- | --- | ---: |"]
        lines += [f"| {e['stage']} | {e['reason']} | {e['documents']} |" for e in exclusions]
        lines.append("")
    return lines


def bad_input_section(result: dict, inputs: list[dict]) -> list[str]:
    rows = exclusion_rows(result["out"])
    lines = [
        "What each bad input produced (every excluded document, from the exclusion files):",
        "",
        "| input | stage | reason | source_file | source_row | detail |",
        "| --- | --- | --- | --- | ---: | --- |",
    ]
    for row in rows:
        detail = str(row["detail"]).replace("|", "\\|").replace("\n", " ")[:160]
        lines.append(
            f"| {row['input']} | {row['stage']} | {row['reason']} | {row['source_file']} | "
            f"{row['source_row']} | {detail} |"
        )
    kept = {}
    report = result["report"]
    if report is not None:
        import duckdb

        data = sorted(str(p) for p in (result["out"] / "data").rglob("*.parquet"))
        if data:
            for (doc_id,) in duckdb.connect().execute("select id from read_parquet(?)", [data]).fetchall():
                kept[doc_id.split("/", 1)[0]] = kept.get(doc_id.split("/", 1)[0], 0) + 1
    lines += ["", "Kept per input: " + ", ".join(f"{spec['name']} {kept.get(spec['name'], 0)}" for spec in inputs), ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    from geocorpus.paths import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/geocorpus_real_runs"))
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "real_runs.md")
    parser.add_argument("--only", nargs="*", help="run keys to run (default: all)")
    args = parser.parse_args(argv)
    shared = shared_data_dir()
    if shared is None:
        print("shared data folder not found (set GEOCORPUS_SHARED)", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    runs = [r for r in run_configs(shared, args.work) if not args.only or r["key"] in args.only]
    body: list[str] = []
    for run in runs:
        run["config"]["output"] = str(args.work / run["key"] / "out")
        result = run_cli(run, args.work)
        print(f"{run['key']}: exit {result['rc']} in {result['seconds']:.1f} s")
        body += section(run, result)
        if run["key"] == "d_bad_inputs":
            body += bad_input_section(result, run["config"]["inputs"])
    header = [
        "# Real runs of `geocorpus curate` on the shared data",
        "",
        f"Measured {dt.date.today():%Y-%m-%d} on {platform.node() or 'this machine'} "
        f"({platform.machine()}, Python {platform.python_version()}), regenerated by "
        "`.venv/bin/python benchmarks/real_runs.py` (configs and outputs under `--work`, default "
        "`/tmp/geocorpus_real_runs`). Facts as measured; nothing here is edited by hand.",
        "",
    ]
    args.doc.write_text("\n".join(header + body), encoding="utf-8")
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
