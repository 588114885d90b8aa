"""Mini-reproduction of the paper's findings: curate real news, train tiny models per condition, score.

    .venv/bin/python benchmarks/repro_mini.py --setting small --out runs/repro_small

Settings live in ``benchmarks/configs/repro_<setting>.yaml`` (``small``: a 2-core CPU in <= 15 min;
``gpu``: one GPU; ``smoke``: a few steps of everything). Finished steps are reused on a re-run
(curation resumes by datatrove markers, a trained condition by its final checkpoint). Writes
``OUT/report.md`` with the verdicts on findings (a)-(d), the tables and two PNGs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import polars as pl  # noqa: E402
import yaml  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

CONFIGS = REPO / "benchmarks" / "configs"
console = Console()


def load_settings(setting: str) -> dict:
    """The setting YAML by name (``small``) or path."""
    path = Path(setting) if setting.endswith((".yaml", ".yml")) else CONFIGS / f"repro_{setting}.yaml"
    if not path.is_file():
        known = sorted(p.stem.removeprefix("repro_") for p in CONFIGS.glob("repro_*.yaml"))
        raise SystemExit(f"unknown setting {setting!r}: no file {path}; known: {known}")
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("name", "conditions", "curation", "tokenizer", "model", "training", "evaluation"):
        if key not in settings:
            raise SystemExit(f"{path}: missing key {key!r}")
    settings["_path"], settings["_yaml"] = str(path), path.read_text(encoding="utf-8")
    return settings


def choose_left_out(documents: pl.DataFrame) -> tuple[str, str]:
    """The continent with the most eval documents after the biggest one: enough documents for an
    interval, without removing the corpus' dominant region (which would change the whole model)."""
    counts = documents.group_by("continent").len().sort(["len", "continent"], descending=[True, False])
    if counts.height < 2:
        raise SystemExit(f"leave_one_out needs at least two continents in the eval split, got {counts.height}")
    ranked = ", ".join(f"{r} {n}" for r, n in counts.iter_rows())
    left_out = counts["continent"][1]
    return left_out, f"second-most eval documents after {counts['continent'][0]} (eval docs: {ranked})"


def corpus_summary(corpus_data: Path) -> str:
    frame = pl.read_parquet(corpus_data / "*.parquet", columns=["id", "split", "continent", "n_tokens"])
    frame = frame.with_columns(pl.col("id").str.split("/").list.first().alias("input"))
    table = frame.group_by("split", "continent").agg(pl.len().alias("docs"), pl.col("n_tokens").sum().alias("words"))
    inputs = frame.group_by("input").len().sort("input")
    lines = ["| split | continent | docs | words |", "| --- | --- | --- | --- |"]
    lines += [f"| {s} | {c} | {d} | {w} |" for s, c, d, w in table.sort("split", "continent").iter_rows()]
    kept = ", ".join(f"{name} {n}" for name, n in inputs.iter_rows())
    return "\n".join(lines) + f"\n\nKept documents per input: {kept}."


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return (
        f"{platform.platform()}, {os.cpu_count()} CPU cores, {device}, torch {torch.__version__}, "
        f"load average at start {load:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setting", default="small", help="small | gpu | smoke | a YAML path")
    parser.add_argument(
        "--out", type=Path, default=None, help="run folder, reused on a re-run (default: runs/repro_mini/SETTING)"
    )
    args = parser.parse_args(argv)
    if args.out is None:  # the README's command runs as written
        args.out = Path("runs") / "repro_mini" / Path(args.setting).stem

    from benchmarks.repro import curation, evaluation, findings, report, tokenizer, training
    from trainer_plugin.evaluation.perplexity import gap_table, region_table

    settings = load_settings(args.setting)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started, timings = time.time(), {}
    meta = {
        "setting": settings["name"],
        "machine": machine(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    console.rule(f"repro_mini: setting {settings['name']} -> {out}")

    t = time.time()
    console.print("[bold]1/4 curation[/bold] (pipelines.curate.run_curation)")
    curated = curation.run(out, settings["name"], settings["curation"])
    (out / "curation_config.yaml").write_text(yaml.safe_dump(curated["config"], sort_keys=False))
    corpus_data = out / "corpus" / "data"
    timings["curation"] = time.time() - t

    t = time.time()
    console.print("[bold]2/4 tokenizer[/bold] (BPE on the train split)")
    tokenizer_dir = tokenizer.train_tokenizer(corpus_data, out / "tokenizer", int(settings["tokenizer"]["vocab_size"]))
    documents = evaluation.eval_documents(corpus_data)
    left_out, left_out_reason = choose_left_out(documents)
    timings["tokenizer"] = time.time() - t

    t = time.time()
    models = list(settings["conditions"])
    noise_model = None
    if settings.get("noise_seed") is not None:
        noise_model = f"none@seed{int(settings['noise_seed'])}"
        models.append(noise_model)
    checkpoints, train_results = {}, {}
    progress_columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*progress_columns, console=console) as progress:
        bar = progress.add_task("3/4 training conditions", total=len(models))
        for condition in models:
            progress.update(bar, description=f"3/4 training {condition}")
            config = training.train_config(condition, left_out, out, tokenizer_dir, settings)
            result = training.train_condition(config)
            checkpoints[condition] = result["checkpoint"]
            train_results[condition] = {k: v for k, v in result.items() if k != "losses"}
            train_results[condition]["last_loss"] = result["losses"][-1][1] if result.get("losses") else None
            progress.advance(bar)
    timings["training"] = time.time() - t

    t = time.time()
    ev = settings["evaluation"]
    with Progress(*progress_columns, console=console) as progress:
        doc_scores = evaluation.score_models(
            checkpoints, tokenizer_dir, documents, left_out, int(ev["batch_size"]), progress
        )
    n_boot, seed = int(ev["n_boot"]), int(settings.get("seed", 0))
    regions = pl.concat(
        [
            region_table(doc_scores.filter(pl.col("model") == m), n_boot, seed).with_columns(pl.lit(m).alias("model"))
            for m in checkpoints
        ]
    )
    gaps = pl.concat(
        [
            gap_table(doc_scores.filter(pl.col("model") == m), n_boot, seed).with_columns(pl.lit(m).alias("model"))
            for m in checkpoints
        ]
    )
    continents = sorted(documents["continent"].unique().to_list())
    rows = findings.compute_findings(doc_scores, ["all", *continents], left_out, n_boot, seed, noise_model)
    comparisons = findings.comparisons_frame(rows)
    verdicts = findings.verdicts(rows, left_out)
    timings["scoring"] = time.time() - t

    doc_scores.write_parquet(out / "doc_scores.parquet")
    for name, frame in (("regions", regions), ("gaps", gaps), ("comparisons", comparisons)):
        frame.write_csv(out / f"{name}.csv")
    m, tr = settings["model"], settings["training"]
    meta |= {
        "total_s": time.time() - started,
        "timings_s": timings,
        "left_out": left_out,
        "left_out_reason": left_out_reason,
        "corpus_summary": corpus_summary(corpus_data),
        "model": f"Llama, hidden {m['hidden_size']}, {m['num_layers']} layers, vocab {settings['tokenizer']['vocab_size']}",
        "steps": f"{tr['max_steps']} (batch {tr['per_device_batch_size']} x seq {tr['seq_len']}, seed {settings.get('seed', 0)})",
        "min_country_docs": int(ev["min_country_docs"]),
        "noise_model": noise_model,
        "settings_yaml": settings["_yaml"].strip(),
    }
    path = report.write_report(out, regions, gaps, comparisons, verdicts, meta)
    (out / "results.json").write_text(
        json.dumps(
            {
                "meta": {k: v for k, v in meta.items() if k != "settings_yaml"},
                "verdicts": verdicts,
                "training": train_results,
            },
            indent=2,
            default=str,
        )
    )
    console.rule("verdicts")
    for key, text in verdicts.items():
        console.print(f"({key}) {text}")
    console.print(f"report: {path}  total {meta['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
