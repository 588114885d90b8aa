"""Reader throughput: geocorpus readers against datatrove's own readers on the same files, same run.

Inputs are built in a temp folder from the real shared data (fundus articles repeated to a few
thousand rows as JSONL, JSONL.gz, CSV and Parquet; the fundus HTML pages as a WARC.gz). Prints
docs/s per format and the ratio geocorpus / datatrove (>1 means faster). WARC HTML extraction
(trafilatura) is timed separately since it dominates any WARC pipeline.

    .venv/bin/python benchmarks/bench_readers.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the shared fixture builders


def timed(make_reader, rounds: int = 3) -> tuple[int, float]:
    """(documents, best seconds) over a few rounds: the best round is the least disturbed one."""
    best, count = float("inf"), 0
    for _ in range(rounds):
        reader = make_reader()
        start = time.perf_counter()
        count = sum(1 for _ in reader.run(None, 0, 1))
        best = min(best, time.perf_counter() - start)
    return count, best


def build_inputs(shared: Path, folder: Path, repeat: int) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from support.input_files import build_fundus_warc

    records = [json.loads(line) for line in (shared / "news/fundus/fundus_articles.jsonl").open(encoding="utf-8")]
    rows = [
        {
            "url": r["url"],
            "title": r["title"],
            "text": r["text"],
            "date": r["publishing_date"],
            "country": r["fundus_country_dir"],
        }
        for _ in range(repeat)
        for r in records
    ]
    paths = {fmt: folder / fmt for fmt in ("jsonl", "jsonl.gz", "csv", "parquet", "warc")}
    for p in paths.values():
        p.mkdir()
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    (paths["jsonl"] / "a.jsonl").write_bytes(lines)
    (paths["jsonl.gz"] / "a.jsonl.gz").write_bytes(gzip.compress(lines))
    with open(paths["csv"] / "a.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), paths["parquet"] / "a.parquet", row_group_size=1000)
    build_fundus_warc(shared, paths["warc"] / "a.warc.gz")
    return paths


def main() -> None:
    from datatrove.pipeline.readers import CSVReader, JsonlReader, ParquetReader, WarcReader

    from geocorpus.paths import shared_data_dir
    from geocorpus.readers import InputSpec, build_reader_steps

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20, help="copies of the 258 fundus articles")
    args = parser.parse_args()
    shared = shared_data_dir()
    if shared is None:
        sys.exit("shared data folder not found (set GEOCORPUS_SHARED)")
    from datatrove.utils.logging import logger

    logger.remove()  # per-file INFO lines would dominate the timing of small files

    with tempfile.TemporaryDirectory() as tmp:
        paths = build_inputs(shared, Path(tmp), args.repeat)
        cases = [
            ("jsonl", "jsonl", lambda p: JsonlReader(str(p))),
            ("jsonl.gz", "jsonl", lambda p: JsonlReader(str(p))),
            ("csv", "csv", lambda p: CSVReader(str(p))),
            ("parquet", "parquet", lambda p: ParquetReader(str(p))),
            ("warc", "warc", lambda p: WarcReader(str(p))),
        ]
        print(f"{'input':<10} {'docs':>7} {'geocorpus docs/s':>17} {'datatrove docs/s':>17} {'ratio':>7}")
        for label, fmt, baseline in cases:
            path = paths[label]
            spec = InputSpec.from_dict({"name": "b", "format": fmt, "path": str(path)})
            ours = build_reader_steps(spec)[0]
            n_ours, t_ours = timed(ours)
            n_base, t_base = timed(lambda baseline=baseline, path=path: baseline(path))
            note = "" if n_ours == n_base else f"  (datatrove read {n_base})"
            print(
                f"{label:<10} {n_ours:>7} {n_ours / t_ours:>17,.0f} {n_base / t_base:>17,.0f} "
                f"{(n_ours / t_ours) / (n_base / t_base):>7.2f}{note}"
            )
        reader, extract = build_reader_steps(
            InputSpec.from_dict({"name": "b", "format": "warc", "path": str(paths["warc"])})
        )
        docs = list(reader.run(None, 0, 1))
        start = time.perf_counter()
        kept = sum(1 for _ in extract.run(iter(docs), 0, 1))
        seconds = time.perf_counter() - start
        print(f"ExtractHTML (trafilatura): {len(docs)} pages, {kept} kept, {len(docs) / seconds:,.1f} docs/s")


if __name__ == "__main__":
    main()
