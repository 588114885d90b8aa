"""Issue 11: curation at scale. Memory and wall time of the full default pipeline vs input size.

Corpora of 0.5, 1, 2 and 4 GB of JSONL (and 10 GB with ``--max-gb 10``) are built from the real
shared texts: every fundus article (with its publisher country) and every masakhanews BBC article
(its relative URL resolved against https://www.bbc.com and the country claimed as GB, exactly as the
bundled ``pipelines/configs/masakhanews_resolved.yaml`` does), cycled; each copy is made unique by a
per-copy query parameter in the URL and a per-copy token at the end of the text, so exact dedup keeps
every copy and language ID sees the real text. Files are cut at ``--file-mb`` so both tag tasks work.

Each corpus runs through ``geocorpus curate`` (a subprocess, exactly what a user runs) with the
bundled default config (``pipelines/configs/default.yaml``: language ID on, min_words, exact dedup,
eval split), only the inputs, the output and ``tasks: 2, workers: 2`` replaced. The whole process tree
(CLI, forkserver, workers) is sampled every ``--sample`` seconds with psutil (sum of RSS: shared pages
counted once per process, an upper bound); the stage running is the last one whose datatrove
``executor.json`` exists. Printed per size and stage: wall time, docs/s and the peak tree RSS; then per
process: the CLI's peak, the largest task process's peak (a stage process or a pool worker: what one
node of a Slurm/Ray run holds) and the sum of the task processes' peaks. Then the RSS slopes per GB of
input (least squares over the sizes; whole tree and largest finalize task process), the select stage's
RSS slope per document, and ``meets``/``MISSES`` against the targets:

* peak RSS of the whole tree <= 4 GB at 10 GB of input (extrapolated from the slope if not run);
* finalize wall (all ``finalize*`` stages) <= 0.5x the tag stage's wall, at every size.

A PNG (RSS and wall vs input size) goes to ``--plot``. Work folders are deleted after each size.

    .venv/bin/python benchmarks/bench_scale.py [--max-gb 4] [--sizes 0.5,1,2,4] [--work DIR] [--plot PNG]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_RSS_GB_AT_10GB = 4.0
TARGET_FINALIZE_OVER_TAG = 0.5
GB = 1e9


def real_articles(shared: Path) -> list[dict]:
    """Every fundus article (publisher country) and masakhanews BBC article (GB, as the bundled
    ``masakhanews_resolved.yaml`` claims), with its URL."""
    articles = []
    with (shared / "news/fundus/fundus_articles.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record.get("text") and record.get("url"):
                articles.append(
                    {
                        "url": record["url"],
                        "title": record.get("title"),
                        "text": record["text"],
                        "country": record.get("fundus_country_dir"),
                    }
                )
    csv.field_size_limit(sys.maxsize)
    for path in sorted((shared / "news/masakhanews_eng").glob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                if row.get("text") and row.get("url"):
                    url = "https://www.bbc.com" + row["url"] if row["url"].startswith("/") else row["url"]
                    # the country claim of pipelines/configs/masakhanews_resolved.yaml (BBC UK pages)
                    articles.append({"url": url, "title": row["headline"], "text": row["text"], "country": "GB"})
    return articles


def build_corpus(folder: Path, target_bytes: float, articles: list[dict], file_bytes: float) -> dict:
    """JSONL files of ~``file_bytes`` until ``target_bytes``; every record unique (URL and text)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = records = 0
    part, handle, in_file = 0, None, 0.0
    try:
        while written < target_bytes:
            article = articles[records % len(articles)]
            copy = records // len(articles)
            sep = "&" if "?" in article["url"] else "?"
            line = (
                json.dumps(
                    {
                        "url": f"{article['url']}{sep}copy={copy}",
                        "title": article["title"],
                        "text": f"{article['text']}\n\n(copy {copy})",
                        "country": article["country"],
                    },
                    ensure_ascii=False,
                )
                + "\n"
            ).encode("utf-8")
            if handle is None or in_file >= file_bytes:
                if handle is not None:
                    handle.close()
                handle = (folder / f"part-{part:04d}.jsonl").open("wb")
                part, in_file = part + 1, 0.0
            handle.write(line)
            written += len(line)
            in_file += len(line)
            records += 1
    finally:
        if handle is not None:
            handle.close()
    return {"bytes": written, "records": records, "files": part}


def scale_config(corpus: Path, out: Path, overrides: tuple[str, ...] | list[str] = ()) -> dict:
    """The bundled default config with only inputs, output and executor replaced (and ``--set`` keys)."""
    raw = yaml.safe_load((REPO / "pipelines/configs/default.yaml").read_text(encoding="utf-8"))
    for item in overrides:
        key, _, value = item.partition("=")
        *parents, leaf = key.split(".")
        node = raw
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = yaml.safe_load(value)
    raw["name"] = "bench-scale"
    raw["output"] = str(out)
    raw["inputs"] = [
        {
            "name": "scale",
            "format": "jsonl",
            "path": str(corpus),
            "fields": {"url": "url", "text": "text", "title": "title", "country": "country"},
        }
    ]
    raw["executor"] = {"type": "local", "tasks": 2, "workers": 2}
    return raw


def process_rss(proc: psutil.Process) -> dict[int, int]:
    """RSS (bytes) of a process and of each of its descendants, by pid."""
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    rss = {}
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            rss[p.pid] = p.memory_info().rss
    return rss


def process_role(pid: int, root: int) -> str:
    """``cli`` (the ``geocorpus curate`` process), ``service`` (its direct children: the forkserver that
    starts the stages and the resource tracker) or ``task`` (a stage process, its pool's forkserver or a
    pool worker: the processes that run the stage)."""
    if pid == root:
        return "cli"
    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
        if psutil.Process(pid).ppid() == root:
            return "service"
    return "task"


def run_curate(config_path: Path, out: Path, sample: float) -> dict:
    """Run ``geocorpus curate`` and sample the tree: per stage, wall seconds and peak RSS."""
    cmd = [sys.executable, "-m", "geocorpus", "curate", str(config_path), "--no-progress"]
    log = (out.parent / "curate.log").open("wb")
    started = time.monotonic()
    # the code of this checkout (REPO), also when the benchmark runs from a copy of the repository
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    ps = psutil.Process(proc.pid)
    stages: dict[str, dict] = {}
    order: list[str] = []
    peak_total, last_note = 0, started
    roles: dict[int, str] = {}
    while proc.poll() is None:
        now = time.monotonic()
        logs = out / "logs"
        started_stages = (
            sorted(
                (p.parent.name for p in logs.glob("*/executor.json")),
                key=lambda s: (logs / s / "executor.json").stat().st_mtime,
            )
            if logs.is_dir()
            else []
        )
        for name in started_stages:
            if name not in stages:
                stages[name] = {"start": now, "peak_rss": 0, "processes": {}}
                order.append(name)
        by_pid = process_rss(ps)
        rss = sum(by_pid.values())
        peak_total = max(peak_total, rss)
        current = order[-1] if order else "start"
        if order:
            stage = stages[current]
            stage["peak_rss"] = max(stage["peak_rss"], rss)
            for pid, value in by_pid.items():
                if pid not in roles:
                    roles[pid] = process_role(pid, ps.pid)
                key = f"{roles[pid]}:{pid}"
                stage["processes"][key] = max(stage["processes"].get(key, 0), value)
        if now - last_note > 30:
            print(f"    ... {now - started:6.0f} s  stage {current:<17} tree RSS {rss / GB:.2f} GB", flush=True)
            last_note = now
        time.sleep(sample)
    ended = time.monotonic()
    log.close()
    if proc.returncode != 0:
        tail = (out.parent / "curate.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"geocorpus curate failed ({proc.returncode}):\n{tail}")
    for name, following in zip(order, [*order[1:], None]):
        stages[name]["wall"] = (stages[following]["start"] if following else ended) - stages[name]["start"]
    return {"total_wall": ended - started, "peak_rss": peak_total, "stages": {n: stages[n] for n in order}}


def measure(size_gb: float, articles: list[dict], work: Path, args: argparse.Namespace) -> dict:
    folder = work / f"{size_gb:g}GB"
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.monotonic()
    corpus = build_corpus(folder / "in", size_gb * GB, articles, args.file_mb * 1e6)
    print(
        f"  built {corpus['bytes'] / GB:.2f} GB: {corpus['records']:,} records in {corpus['files']} files "
        f"({time.monotonic() - t0:.0f} s)",
        flush=True,
    )
    config_path = folder / "config.yaml"
    out = folder / "out"
    config_path.write_text(yaml.safe_dump(scale_config(folder / "in", out, args.set)), encoding="utf-8")
    result = run_curate(config_path, out, args.sample)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    tagged = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "stages/tagged").glob("*.parquet"))
    tagged_files = len(list((out / "stages/tagged").glob("*.parquet")))
    result.update(
        size_gb=size_gb,
        input_bytes=corpus["bytes"],
        records=corpus["records"],
        tagged=tagged,
        tagged_files=tagged_files,
        reconcile=report["reconcile"],
        language_model=scale_config(folder / "in", out)["filters"]["language"].get("model", "(default)"),
        overrides=list(args.set),
    )
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def slope(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (slope, intercept); a single point gives slope 0."""
    if len(xs) < 2:
        return 0.0, ys[0] if ys else 0.0
    fit = np.polyfit(xs, ys, 1)
    return float(fit[0]), float(fit[1])


def finalize_wall(result: dict) -> float:
    return sum(s["wall"] for name, s in result["stages"].items() if name.startswith("finalize"))


def finalize_peak(result: dict) -> int:
    return max((s["peak_rss"] for name, s in result["stages"].items() if name.startswith("finalize")), default=0)


def role_peaks(stage: dict, role: str) -> list[int]:
    """Peak RSS of each process of ``role`` seen during ``stage`` (runs from before the per-process
    record have none)."""
    return [v for key, v in stage.get("processes", {}).items() if key.split(":")[0] == role]


def largest_task(result: dict, prefix: str = "finalize") -> int:
    """The largest peak RSS of one task process over the stages named ``prefix*``."""
    return max(
        (max(role_peaks(s, "task"), default=0) for n, s in result["stages"].items() if n.startswith(prefix)),
        default=0,
    )


def process_lines(results: list[dict], stage_names: list[str]) -> list[str]:
    """Per stage: the CLI process, the largest task process and the sum over task processes."""
    if not any(s.get("processes") for r in results for s in r["stages"].values()):
        return []
    lines = [
        "",
        "Per process (peak RSS of each process during the stage; a task process is a stage process, its "
        "pool's forkserver or a pool worker):",
        "",
        "| input GB | stage | cli GB | largest task process GB | task processes | sum of task peaks GB |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for name in stage_names:
            s = r["stages"].get(name)
            if s is None:
                continue
            tasks = role_peaks(s, "task")
            lines.append(
                f"| {r['input_bytes'] / GB:.2f} | {name} | {max(role_peaks(s, 'cli'), default=0) / GB:.2f} | "
                f"{max(tasks, default=0) / GB:.2f} | {len(tasks)} | {sum(tasks) / GB:.2f} |"
            )
    return lines


def report(results: list[dict], max_gb: float) -> list[str]:
    lines = []
    stage_names = list(dict.fromkeys(n for r in results for n in r["stages"]))
    lines.append(f"language ID: {results[0]['language_model']}; tasks=2 workers=2; RSS = sum over the process tree")
    for r in results:
        if r.get("overrides"):
            lines.append(f"{r['input_bytes'] / GB:.2f} GB run: default config with {', '.join(r['overrides'])}")
    lines.append("")
    lines.append("| input GB | records | kept | stage | wall s | docs/s | peak tree RSS GB |")
    lines.append("| ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for r in results:
        for name in stage_names:
            s = r["stages"].get(name)
            if s is None:
                continue
            docs = r["records"] if name == "tag" else r["tagged"]
            lines.append(
                f"| {r['input_bytes'] / GB:.2f} | {r['records']:,} | {r['reconcile']['kept']:,} | {name} | "
                f"{s['wall']:.1f} | {docs / max(s['wall'], 1e-9):,.0f} | {s['peak_rss'] / GB:.2f} |"
            )
        fin, tag = finalize_wall(r), r["stages"]["tag"]["wall"]
        lines.append(
            f"| {r['input_bytes'] / GB:.2f} | | | **all finalize / tag** | {fin:.1f} / {tag:.1f} = "
            f"{fin / tag:.2f}x | | **{r['peak_rss'] / GB:.2f}** (whole run) |"
        )
    lines += process_lines(results, stage_names)
    lines.append("")
    xs = [r["input_bytes"] / GB for r in results]
    for label, ys in (
        ("whole run", [r["peak_rss"] / GB for r in results]),
        ("tag stage", [r["stages"]["tag"]["peak_rss"] / GB for r in results]),
        ("finalize stages", [finalize_peak(r) / GB for r in results]),
        ("largest finalize task process", [largest_task(r) / GB for r in results]),
        ("largest finalize_write task process", [largest_task(r, "finalize_write") / GB for r in results]),
    ):
        if not any(ys):
            continue  # a run from before the per-process record
        k, b = slope(xs, ys)
        lines.append(
            f"peak RSS slope, {label}: {k * 1000:+.0f} MB per GB of input (intercept {b:.2f} GB; "
            f"{k * 10 + b:.2f} GB at 10 GB)"
        )
    sel = [r["stages"].get("finalize_select", {}).get("peak_rss", 0) for r in results]
    k, _ = slope([float(r["tagged"]) for r in results], [float(v) for v in sel])
    lines.append(f"select stage peak RSS slope: {k:.0f} bytes per tagged document (target <= ~100)")
    whole_k, whole_b = slope(xs, [r["peak_rss"] / GB for r in results])
    at_max = [r for r in results if r["input_bytes"] / GB >= max_gb * 0.95]
    if at_max:
        rss10, how = at_max[-1]["peak_rss"] / GB, "measured"
    else:
        rss10, how = whole_k * max(max_gb, 10) + whole_b, f"extrapolated from {xs[-1]:.1f} GB"
    if max_gb < 10:
        rss10, how = whole_k * 10 + whole_b, f"extrapolated from <= {xs[-1]:.1f} GB"
    verdict = "meets" if rss10 <= TARGET_RSS_GB_AT_10GB else "MISSES"
    lines.append(f"peak RSS at 10 GB input: {rss10:.2f} GB ({how}); target <= {TARGET_RSS_GB_AT_10GB} GB: {verdict}")
    worst = max(finalize_wall(r) / r["stages"]["tag"]["wall"] for r in results)
    verdict = "meets" if worst <= TARGET_FINALIZE_OVER_TAG else "MISSES"
    lines.append(
        f"finalize wall / tag wall, worst size: {worst:.2f}x; target <= {TARGET_FINALIZE_OVER_TAG}x: {verdict}"
    )
    # the selection and the shuffle-write on their own, and the cross-split near-duplicate check
    for names in (("finalize_select", "finalize_scatter", "finalize_write"), ("finalize_cross_split",)):
        if not any(n in r["stages"] for r in results for n in names):
            continue  # a run from before the stage existed
        part = max(
            sum(r["stages"].get(n, {}).get("wall", 0.0) for n in names) / r["stages"]["tag"]["wall"] for r in results
        )
        verdict = "meets" if part <= TARGET_FINALIZE_OVER_TAG else "MISSES"
        lines.append(
            f"{' + '.join(names)} / tag wall, worst size: {part:.2f}x; target <= {TARGET_FINALIZE_OVER_TAG}x: {verdict}"
        )
    return lines


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["input_bytes"] / GB for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(xs, [r["peak_rss"] / GB for r in results], "o-", label="whole run (process tree)")
    left.plot(xs, [r["stages"]["tag"]["peak_rss"] / GB for r in results], "s--", label="tag stage")
    left.plot(xs, [finalize_peak(r) / GB for r in results], "^--", label="finalize stages")
    left.axhline(TARGET_RSS_GB_AT_10GB, color="grey", linestyle=":", label="target at 10 GB")
    left.set_xlabel("input JSONL (GB)")
    left.set_ylabel("peak RSS (GB)")
    left.set_title("Peak memory vs input size")
    left.set_ylim(bottom=0)
    left.legend()
    right.plot(xs, [r["stages"]["tag"]["wall"] for r in results], "s-", label="tag stage")
    right.plot(xs, [finalize_wall(r) for r in results], "^-", label="finalize stages")
    right.plot(xs, [r["total_wall"] for r in results], "o:", label="whole run")
    right.set_xlabel("input JSONL (GB)")
    right.set_ylabel("wall time (s)")
    right.set_title("Wall time vs input size (tasks=2, workers=2)")
    right.set_ylim(bottom=0)
    right.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-gb", type=float, default=4.0, help="largest corpus (10 adds a 10 GB run)")
    parser.add_argument("--sizes", default=None, help="comma-separated GB sizes (default 0.5,1,2,4 up to --max-gb)")
    parser.add_argument("--file-mb", type=float, default=128.0, help="input JSONL file size (MB)")
    parser.add_argument("--sample", type=float, default=0.25, help="RSS sampling interval (s)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep each size's corpus and output")
    parser.add_argument("--plot", type=Path, default=REPO / "benchmarks/results/bench_scale.png")
    parser.add_argument("--json", type=Path, default=None, help="also write the measurements as JSON")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (dotted; YAML value)"
    )
    parser.add_argument("--from-json", type=Path, default=None, help="print the table and plot of a --json file")
    args = parser.parse_args()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        for line in report(results, args.max_gb):
            print(line)
        plot(results, args.plot)
        print(f"\nplot: {args.plot}")
        return

    from geocorpus.paths import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        sys.exit("the shared data folder (../shared/data or $GEOCORPUS_SHARED) is needed")
    if args.sizes:  # sizes named explicitly all run
        sizes = [float(s) for s in args.sizes.split(",")]
        args.max_gb = max(args.max_gb, *sizes)
    else:
        sizes = [s for s in (0.5, 1, 2, 4, 10) if s <= args.max_gb]
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(work).free / GB
    need = max(sizes) * 3  # input, tagged shards, shuffle scratch and data of one size at a time
    print(f"work folder {work}: {free:.0f} GB free; the largest size needs ~{need:.0f} GB at once")
    if free < need:
        sys.exit(f"not enough disk: {free:.0f} GB free, ~{need:.0f} GB needed")
    articles = real_articles(shared)
    print(f"real articles: {len(articles):,} (fundus + masakhanews BBC), cycled with a per-copy URL and token")
    results = []
    for size in sizes:
        print(f"\n== {size:g} GB", flush=True)
        result = measure(size, articles, work, args)
        print(
            f"  run {result['total_wall']:.0f} s, peak tree RSS {result['peak_rss'] / GB:.2f} GB, "
            f"reconcile: {result['reconcile']['line']} ({'OK' if result['reconcile']['ok'] else 'MISMATCH'})",
            flush=True,
        )
        results.append(result)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    print()
    for line in report(results, args.max_gb):
        print(line)
    plot(results, args.plot)
    print(f"\nplot: {args.plot}")
    if args.work is None and not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
