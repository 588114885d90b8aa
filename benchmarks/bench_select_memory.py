"""Peak memory of finalize_select per document: ids held as strings or as their 64-bit hash, with polars'
allocator as it comes or returning freed pages at once (what the ``geocorpus`` launcher sets).

    .venv/bin/python benchmarks/bench_select_memory.py [--rows 1000000] [--rows-per-shard 60000]

The selection columns of ``--rows`` documents are written as tagged shards: real news URLs from
``../shared/data/urls`` made unique per copy (``?copy=N``), ids in the readers' ``<input>/<file>/<row>``
form, a country per outlet host. Each variant then runs in a fresh process: read the columns as
``finalize_select`` does, exact dedup, balancing (caps, 5% eval) and the plan, while a thread samples the
process RSS. Figures are bytes of RSS per document above the process's start; the baseline is the first
row (ids as strings, allocator as it comes: what finalize_select did before). Those include what any
run costs once (modules imported and buffers first used while reading: ~55 MB), so each variant also
runs on a quarter of the documents, and the *marginal* peak, (peak - quarter's peak) / (rows - quarter's
rows), is what one more document costs: the figure the target (~100 bytes a document) is about. Both
sizes are written in shards of ``--rows-per-shard`` rows (a tagged shard rotates at 64 MiB of Parquet,
about 60,000 news documents), as a real run's are: with a fixed number of shards, the memory of reading
one shard grew with the corpus too, and was counted as a cost per document.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

#: (name, hash ids, allocator option)
VARIANTS = [
    ("ids as strings, allocator as it comes", False, None),
    ("ids as strings, freed pages returned", False, "dirty_decay_ms:0,muzzy_decay_ms:0"),
    ("ids hashed, allocator as it comes", True, None),
    ("ids hashed, freed pages returned (default)", True, "dirty_decay_ms:0,muzzy_decay_ms:0"),
]

_MEASURE = """
import json, sys, threading, time, psutil
from pathlib import Path
from geocorpus.finalize.balance import BalanceConfig
from geocorpus.finalize.selection import read_selection_columns, select_rows, selection_columns
process = psutil.Process()
peak = [0]
def sample():
    while True:
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.002)
base = process.memory_info().rss
threading.Thread(target=sample, daemon=True).start()
shards = sorted(Path(sys.argv[1]).glob("*.parquet"))
config = BalanceConfig(method="cap", caps={"default": int(sys.argv[3])}, eval_fraction=0.05, seed=3)
started = time.perf_counter()
# hashed ids: what finalize_select runs (the hashes checked unique)
hashed = sys.argv[2] == "1"
frame = selection_columns(shards, config) if hashed else read_selection_columns(shards, config, hash_ids=False)
time.sleep(0.05)
held = process.memory_info().rss
selection = select_rows(frame, True, config)
seconds = time.perf_counter() - started
time.sleep(0.05)
print(json.dumps({"rows": frame.height, "held": held - base, "peak": peak[0] - base, "seconds": seconds,
                  "kept": selection.rows}))
"""


def write_shards(folder: Path, rows: int, shards: int, urls: list[str]) -> None:
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    from geocorpus.schema import CORPUS_SCHEMA
    from geocorpus.urls import url_key

    hosts = sorted({u.split("/")[2].lower() for u in urls if u.count("/") >= 2})
    countries = ["NG", "ZA", "KE", "GH", "TZ", "US", "CA", "JM", "IN", "PK", "BD", "LK", "HK", "MY", "PH", "GB", "IE"]
    continent = {
        c: ("Africa" if i < 5 else "America" if i < 8 else "Asia" if i < 15 else "Europe")
        for i, c in enumerate(countries)
    }
    country_of = {h: countries[int(hashlib.md5(h.encode()).hexdigest(), 16) % len(countries)] for h in hosts}
    per_shard = -(-rows // shards)
    keys = [url_key(u) or u for u in urls]
    for s in range(shards):
        start, stop = s * per_shard, min(rows, (s + 1) * per_shard)
        if start >= stop:
            break
        index = range(start, stop)
        url = [f"{urls[i % len(urls)]}?copy={i // len(urls)}" for i in index]
        host = [
            urls[i % len(urls)].split("/")[2].lower() if urls[i % len(urls)].count("/") >= 2 else "" for i in index
        ]
        country = [country_of.get(h, "US") for h in host]
        # one document in 50 repeats an earlier URL (and so is an exact duplicate)
        key = [f"{keys[(i - 7) % len(keys)] if i % 50 == 0 else keys[i % len(keys)]}#{i // len(urls)}" for i in index]
        columns = pl.DataFrame(
            {
                "id": [f"news/part_{i // 20_000:05d}.jsonl/{i % 20_000}" for i in index],
                "url_normalized": url,
                "url_key": key,
                "text_hash": [hashlib.blake2b(str(i).encode(), digest_size=8).hexdigest() for i in index],
                "source_file": [f"part_{i // 20_000:05d}.jsonl" for i in index],
                "source_row": [i % 20_000 for i in index],
                "country": country,
                "continent": [continent[c] for c in country],
                "n_tokens": [200 + (i * 7919) % 1800 for i in index],
                "text": [""] * len(index),  # never read by finalize_select
            }
        ).to_arrow()
        table = pa.table(  # a tagged shard: the corpus schema, other columns empty
            [
                columns.column(f.name) if f.name in columns.column_names else pa.nulls(columns.num_rows, f.type)
                for f in CORPUS_SCHEMA
            ],
            names=CORPUS_SCHEMA.names,
        ).cast(CORPUS_SCHEMA)
        pq.write_table(table, folder / f"{s:05d}.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rows-per-shard", type=int, default=60_000)
    args = parser.parse_args()

    from real_urls import load_real_urls
    from targets import check

    from geocorpus.paths import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        sys.exit("the shared data folder (../shared/data or $GEOCORPUS_SHARED) is needed")
    urls = load_real_urls(shared, min_count=1)
    sizes = {"quarter": args.rows // 4, "full": args.rows}
    with tempfile.TemporaryDirectory(prefix="bench_select_") as tmp:
        for label, rows in sizes.items():
            (Path(tmp) / label).mkdir()
            write_shards(Path(tmp) / label, rows, -(-rows // args.rows_per_shard), urls)
        print(
            f"{args.rows:,} (and {sizes['quarter']:,}) documents in tagged shards of {args.rows_per_shard:,} rows "
            "(selection columns only)\n"
        )
        print("| variant | held B/doc | peak B/doc | peak / baseline | marginal peak B/doc | seconds |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        baseline = None
        for name, hashed, allocator in VARIANTS:
            env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
            if allocator:
                env["_RJEM_MALLOC_CONF"] = allocator
            results = {}
            for label, rows in sizes.items():
                done = subprocess.run(
                    [sys.executable, "-c", _MEASURE, str(Path(tmp) / label), "1" if hashed else "0", str(rows // 40)],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=REPO,
                )
                if done.returncode:
                    sys.exit(f"{name}: the measuring process failed:\n{done.stderr[-3000:]}")
                results[label] = json.loads(done.stdout.strip().splitlines()[-1])
            result, quarter = results["full"], results["quarter"]
            n = result["rows"]
            marginal = (result["peak"] - quarter["peak"]) / (n - quarter["rows"])
            baseline = baseline or result["peak"]
            print(
                f"| {name} | {result['held'] / n:.0f} | {result['peak'] / n:.0f} | "
                f"{result['peak'] / baseline:.2f}x | {marginal:.0f} | {result['seconds']:.1f} |"
            )
        print()
        check(
            "finalize_select marginal peak RSS per document, as geocorpus runs it",
            marginal,
            at_most=100,
            unit=" B",
            precision=0,
        )


if __name__ == "__main__":
    main()
