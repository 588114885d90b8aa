"""Speed of the finalize-stage logic on synthetic data, as ratios to simple baselines run alongside.

    .venv/bin/python benchmarks/bench_balance.py [--rows 1000000] [--write-rows 100000]

Baselines: one polars group-by over the same frame (the least a per-region pass costs) for
balance/exact_dedup, and a plain pyarrow read + rewrite of the same shards for write_selection.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from geocorpus.finalize.balance import BalanceConfig, balance
from geocorpus.finalize.exact_dedup import exact_dedup
from geocorpus.finalize.shards import write_selection
from geocorpus.schema import CORPUS_SCHEMA

COUNTRIES = {
    "NG": "Africa",
    "ZA": "Africa",
    "KE": "Africa",
    "US": "America",
    "CA": "America",
    "IN": "Asia",
    "PK": "Asia",
    "PH": "Asia",
    "GB": "Europe",
    "IE": "Europe",
}


def synthetic_frame(n: int, seed: int = 0) -> pl.DataFrame:
    rng = random.Random(seed)
    countries = list(COUNTRIES)
    weights = [3, 2, 1, 20, 4, 15, 3, 2, 8, 1]
    picked = rng.choices(countries, weights=weights, k=n)
    return pl.DataFrame(
        {
            "id": [f"doc-{i}" for i in range(n)],
            "url_normalized": [f"https://{c.lower()}.news/{rng.randrange(n)}" for c in picked],
            "country": picked,
            "continent": [COUNTRIES[c] for c in picked],
            "n_tokens": [rng.randrange(50, 2000) for _ in range(n)],
            "text_hash": [f"{rng.randrange(n):x}" for _ in range(n)],
            "source_file": [f"shard-{i % 16}" for i in range(n)],
            "source_row": list(range(n)),
        }
    )


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_frame_logic(rows: int):
    frame = synthetic_frame(rows)
    baseline = timed(lambda: frame.group_by("continent").agg(pl.len(), pl.col("n_tokens").sum()))
    print(f"{rows:,} rows; baseline (one group-by): {baseline:.3f} s")
    configs = {
        "none + 5% eval": BalanceConfig(eval_fraction=0.05),
        "cap docs": BalanceConfig(method="cap", caps={"default": rows // 20}),
        "cap tokens": BalanceConfig(method="cap", unit="tokens", caps={"default": rows * 50}),
        "temperature 0.3": BalanceConfig(method="temperature", temperature=0.3, by="country"),
        "paper_interleave": BalanceConfig(method="paper_interleave", eval_fraction=0.05, eval_max_per_region=500),
    }
    for name, config in configs.items():
        seconds = timed(lambda config=config: balance(frame, config))
        print(f"  balance {name:<18} {seconds:7.2f} s  ({seconds / baseline:6.0f}x baseline)")
    seconds = timed(lambda: exact_dedup(frame))
    print(f"  exact_dedup                {seconds:7.2f} s  ({seconds / baseline:6.0f}x baseline)")


def bench_write(rows: int):
    frame = synthetic_frame(rows, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shards = []
        text = "word " * 400  # ~2 KB per document
        table = pa.Table.from_pylist(
            [
                {
                    **dict.fromkeys(CORPUS_SCHEMA.names),
                    **{k: r[k] for k in ("id", "url_normalized", "country", "continent", "n_tokens")},
                    "text": text,
                }
                for r in frame.iter_rows(named=True)
            ],
            schema=CORPUS_SCHEMA,
        )
        for i in range(4):
            path = tmp / f"tagged-{i}.parquet"
            pq.write_table(table.slice(i * rows // 4, rows // 4 + 1), path, compression="zstd")
            shards.append(path)

        def copy_shards():
            for i, path in enumerate(shards):
                pq.write_table(pq.read_table(path), tmp / f"copy-{i}.parquet", compression="zstd")

        baseline = timed(copy_shards)
        result = balance(frame, BalanceConfig(method="paper_interleave", eval_fraction=0.05))
        seconds = timed(lambda: write_selection(shards, result.selected, tmp / "data", rows_per_shard=50_000))
        print(
            f"write_selection of {result.selected.height:,} of {rows:,} docs (~2 KB each): {seconds:.2f} s; "
            f"baseline read+rewrite of all shards: {baseline:.2f} s ({seconds / baseline:.1f}x)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--write-rows", type=int, default=100_000)
    args = parser.parse_args()
    bench_frame_logic(args.rows)
    bench_write(args.write_rows)
