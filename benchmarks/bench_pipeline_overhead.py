"""Issue 4: what the geocorpus tagging stage costs over a bare datatrove read -> write pass.

One JSONL input of >= 50k documents is built from real article texts (fundus + masakhanews BBC,
repeated) paired with real news URLs (``benchmarks/real_urls.py``, repeated); the output says so.
In the same run, both with ``LocalPipelineExecutor`` (tasks=1, workers=1):

* baseline: datatrove ``JsonlReader`` -> ``ParquetWriter`` (zstd, like the corpus writer)
* geocorpus read->verify->tag->write: the issue's path, i.e. the stage below without TextStats
* geocorpus: the real stage-1 steps from ``pipelines.curate.tag_stage_steps`` for a config with
  no filters (reader -> count -> read errors -> VerifyURL -> TagRegion -> TextStats -> CorpusWriter,
  plus the exclusion writers), then the same with the py3langid language filter on, whose extra
  cost is printed on its own (on the first ``--langid-docs`` documents, one round: py3langid on
  full article texts is ~100x slower than everything else together).

Each variant runs ``--rounds`` times, interleaved; the best wall time counts (least disturbed).
Target: geocorpus / baseline <= 1.15. ``--profile`` adds a cProfile of the geocorpus steps run
in-process (no executor) and prints the top functions by own time.

    .venv/bin/python benchmarks/bench_pipeline_overhead.py [--docs 50000] [--rounds 2] [--profile]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from itertools import cycle
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_RATIO = 1.15


def real_texts(shared: Path) -> list[dict]:
    """(title, text) of every real article: fundus JSONL and both masakhanews BBC TSVs."""
    texts = []
    with (shared / "news/fundus/fundus_articles.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append({"title": record.get("title"), "text": record["text"]})
    csv.field_size_limit(sys.maxsize)
    for path in sorted((shared / "news/masakhanews_eng").glob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                texts.append({"title": row["headline"], "text": row["text"]})
    return texts


def build_input(shared: Path, path: Path, docs: int) -> None:
    from benchmarks.real_urls import load_real_urls

    texts = real_texts(shared)
    urls = load_real_urls(shared, min_count=docs)
    print(f"real texts: {len(texts):,} (fundus + masakhanews), cycled to {docs:,} documents")
    with path.open("w", encoding="utf-8") as out:
        for index, (article, url) in enumerate(zip(cycle(texts), urls)):
            if index == docs:
                break
            out.write(
                json.dumps({"id": str(index), "url": url, "title": article["title"], "text": article["text"]}) + "\n"
            )
    print(f"input: {path.stat().st_size / 1e6:.1f} MB JSONL")


def baseline_steps(input_path: Path, out: Path) -> list:
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import ParquetWriter

    return [
        JsonlReader(str(input_path.parent), glob_pattern=input_path.name),
        ParquetWriter(str(out / "data"), compression="zstd"),
    ]


def geocorpus_config(input_path: Path, out: Path, language: bool):
    from geocorpus.config import parse_config

    return parse_config(
        {
            "name": "overhead-bench",
            "output": str(out),
            "inputs": [
                {
                    "name": "bench",
                    "format": "jsonl",
                    "path": str(input_path),
                    "fields": {"url": "url", "text": "text", "title": "title"},
                }
            ],
            "tagging": {"require_country": False},
            "filters": {"min_words": 0, "language": {"languages": ["en"]} if language else None},
            "executor": {"type": "local", "tasks": 1, "workers": 1},
        },
        source="bench_pipeline_overhead",
    )


def geocorpus_steps(input_path: Path, out: Path, language: bool) -> list:
    from pipelines.curate import tag_stage_steps

    return tag_stage_steps(geocorpus_config(input_path, out, language))


def read_verify_tag_write_steps(input_path: Path, out: Path) -> list:
    """The issue's path exactly (read -> verify -> tag -> write): the tag stage without TextStats,
    whose exact word count (for token balancing and min-length) is a separate, optional cost."""
    from geocorpus.steps import TextStats

    return [s for s in geocorpus_steps(input_path, out, language=False) if not isinstance(s, TextStats)]


VARIANTS = {
    "datatrove read->write": lambda inp, out: baseline_steps(inp, out),
    "geocorpus read->verify->tag->write": read_verify_tag_write_steps,
    "geocorpus tag stage": lambda inp, out: geocorpus_steps(inp, out, language=False),
}


def run_once(steps: list, out: Path, workers: int) -> float:
    from datatrove.executor import LocalPipelineExecutor

    executor = LocalPipelineExecutor(
        pipeline=steps, tasks=1, workers=workers, logging_dir=str(out / "logs"), skip_completed=False
    )
    start = time.perf_counter()
    executor.run()
    return time.perf_counter() - start


def rows_written(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.rglob("*.parquet"))


def langid_cost(input_path: Path, work: Path, docs: int, workers: int) -> None:
    """Tag stage with and without the language filter on the first ``docs`` documents."""
    subset = work / "langid_input" / "bench.jsonl"
    subset.parent.mkdir()
    with input_path.open(encoding="utf-8") as source, subset.open("w", encoding="utf-8") as out:
        for index, line in enumerate(source):
            if index == docs:
                break
            out.write(line)
    seconds = {}
    for language in (False, True):
        out = work / f"langid_{language}"
        seconds[language] = run_once(geocorpus_steps(subset, out, language=language), out, workers)
        shutil.rmtree(out)
    extra = seconds[True] - seconds[False]
    print(
        f"language-ID filter (py3langid) on {docs:,} docs: tag stage {seconds[False]:.2f} s, with filter "
        f"{seconds[True]:.2f} s -> +{extra:.2f} s ({extra / docs * 1e6:,.0f} us/doc, {seconds[True] / seconds[False]:.1f}x the stage)"
    )


def profile_in_process(input_path: Path, work: Path, top: int) -> None:
    """cProfile of the geocorpus steps chained by hand (what one executor task does, minus logging)."""
    import cProfile
    import pstats

    out = work / "profile"
    steps = geocorpus_steps(input_path, out, language=False)
    profiler = cProfile.Profile()
    profiler.enable()
    pipeline = None
    for step in steps:
        pipeline = step(pipeline, 0, 1)
    for _ in pipeline or ():
        pass
    profiler.disable()
    stats = pstats.Stats(profiler)
    print(f"\n== cProfile, geocorpus tag stage in-process: top {top} by own time ==")
    stats.sort_stats("tottime").print_stats(top)
    print(f"== top {top} by cumulative time ==")
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    from geocorpus.paths import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="LocalPipelineExecutor workers (tasks stay 1)")
    parser.add_argument("--langid-docs", type=int, default=5_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    shared = shared_data_dir()
    if shared is None:
        print("shared data folder not found (set GEOCORPUS_SHARED); nothing to measure", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        input_path = work / "input" / "bench.jsonl"
        input_path.parent.mkdir()
        build_input(shared, input_path, args.docs)
        best: dict[str, float] = {}
        rows: dict[str, tuple[int, int]] = {}
        for round_no in range(args.rounds):
            for name, make_steps in VARIANTS.items():
                out = work / f"out_{round_no}_{len(best)}_{abs(hash(name))}"
                elapsed = run_once(make_steps(input_path, out), out, args.workers)
                best[name] = min(best.get(name, float("inf")), elapsed)
                excluded = rows_written(out / "exclusions") if (out / "exclusions").exists() else 0
                tagged = (
                    rows_written(out / "stages" / "tagged")
                    if (out / "stages").exists()
                    else rows_written(out / "data")
                )
                rows[name] = (tagged, excluded)
                print(
                    f"round {round_no + 1}: {name:<36} {elapsed:7.2f} s  ({tagged:,} written, {excluded:,} excluded)"
                )
                shutil.rmtree(out)
        base = best["datatrove read->write"]
        stage = best["geocorpus tag stage"]
        print(f"\n== best of {args.rounds}, {args.docs:,} docs, tasks=1 workers={args.workers} ==")
        for name, seconds in best.items():
            print(f"{name:<36} {seconds:7.2f} s  {args.docs / seconds:9,.0f} docs/s  {seconds / base:5.2f}x baseline")
        core = best["geocorpus read->verify->tag->write"]
        for label, seconds in (
            ("read->verify->tag->write", core),
            ("full tag stage (+ word count, text hash)", stage),
        ):
            verdict = "meets" if seconds / base <= TARGET_RATIO else "MISSES"
            print(
                f"geocorpus {label} / datatrove read->write = {seconds / base:.2f}x ({verdict} target <= {TARGET_RATIO}x)"
            )
        langid_cost(input_path, work, args.langid_docs, args.workers)
        if args.profile:
            profile_in_process(input_path, work, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
