"""Mini-reproduction of the paper's findings with seeds, controls and verdicts by written rules.

    .venv/bin/python benchmarks/repro_mini.py --setting small            # 2-core CPU, <= 15 min
    python benchmarks/repro_mini.py --setting gpu                       # one GPU, 5 seeds at once
    .venv/bin/python benchmarks/repro_mini.py --setting smoke --out /tmp/repro_smoke

Steps: curate real news (``pipelines.curate``), build the study corpora (``repro.design``: regions
with enough text, title once, slug-stripped URLs, capped shares, positive and negative controls),
train a BPE, train every model of every seed (``repro.training``), score them (``repro.evaluation``),
and judge each finding from per-seed paired differences (``repro.findings``). Settings live in
``benchmarks/configs/repro_<setting>.yaml``. Finished steps are reused on a re-run (a seed's scores,
a model's final checkpoint, the design), so a run folder prepared on one machine can be trained and
scored on another (``--train-only`` skips nothing; curation needs the shared data, training does not).
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import datetime as dt
import json
import multiprocessing
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import polars as pl  # noqa: E402
import yaml  # noqa: E402
from rich.console import Console  # noqa: E402

CONFIGS = REPO / "benchmarks" / "configs"
console = Console()


def load_settings(setting: str) -> dict:
    """The setting YAML by name (``small``) or path."""
    path = Path(setting) if setting.endswith((".yaml", ".yml")) else CONFIGS / f"repro_{setting}.yaml"
    if not path.is_file():
        known = sorted(p.stem.removeprefix("repro_") for p in CONFIGS.glob("repro_*.yaml"))
        raise SystemExit(f"unknown setting {setting!r}: no file {path}; known: {known}")
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("name", "seeds", "curation", "design", "tokenizer", "model", "training", "evaluation"):
        if key not in settings:
            raise SystemExit(f"{path}: missing key {key!r}")
    settings["_path"] = str(path)
    return settings


def choose_left_out(design: dict[str, Any]) -> tuple[str, str]:
    """The region with the fewest training words after balancing (the paper left out its smallest, Africa)."""
    train = {r["continent"]: r["words"] for r in design["summary"] if r["split"] == "train"}
    left = min(sorted(train), key=lambda r: train[r])
    ranked = ", ".join(f"{r} {w:,}" for r, w in sorted(train.items(), key=lambda kv: kv[1]))
    return left, f"fewest training words after balancing ({ranked})"


def machine() -> str:
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}, torch {torch.__version__}, load {load:.1f}"


def prepare(out: Path, settings: dict) -> dict[str, Any]:
    """Curation, design and tokenizer (reused when ``out/design.json`` exists)."""
    facts_path = out / "design.json"
    if facts_path.exists():
        return json.loads(facts_path.read_text(encoding="utf-8"))
    from benchmarks.repro import curation, design

    t = time.time()
    console.print("[bold]curation[/bold] (pipelines.curate.run_curation on the shared real news)")
    curated = curation.run(out, settings["name"], settings["curation"])
    (out / "curation_config.yaml").write_text(yaml.safe_dump(curated["config"], sort_keys=False))
    curation_s = time.time() - t
    t = time.time()
    console.print("[bold]design[/bold] (regions, title once, slug-stripped URLs, capped shares, controls)")
    facts = design.build(
        out / "corpus" / "data", out / "study", design.DesignSettings.from_mapping(settings["design"])
    )
    facts["left_out"], facts["left_out_reason"] = choose_left_out(facts)
    if settings["evaluation"].get("mcq"):  # the run folder carries its inputs: scoring needs no shared data
        shutil.copyfile(curation.require_shared_data() / settings["evaluation"]["mcq"], out / "inputs" / "mcq.jsonl")
    console.print("[bold]tokenizer[/bold] (BPE on the train splits, rendered with the full prefix)")
    facts["eval_tokens"] = train_tokenizer(out, int(settings["tokenizer"]["vocab_size"]))
    facts["timings_s"] = {"curation": curation_s, "design+tokenizer": time.time() - t}
    minimum = int(settings["design"].get("min_eval_tokens", 20_000))
    short = {r: n for r, n in facts["eval_tokens"].items() if n < minimum}
    if short:
        raise SystemExit(f"eval body tokens below {minimum:,} in {short}: raise design.eval_words in the setting")
    facts_path.write_text(json.dumps(facts, indent=1, default=str), encoding="utf-8")
    return facts


def train_tokenizer(out: Path, vocab_size: int) -> dict[str, int]:
    """One BPE for every model (trained on the real and control train splits); returns the real
    eval set's body tokens per region."""
    from trainer_plugin.template import PAPER_TEMPLATE, MetadataTemplate
    from trainer_plugin.tokenizer import load_tokenizer, train_bpe_tokenizer

    folder = out / "tokenizer"
    if not (folder / "tokenizer.json").exists():
        train = pl.concat(
            [pl.read_parquet(out / "study" / s / "train-00000.parquet") for s in ("real", "control_pos")],
            how="vertical_relaxed",
        )
        train_bpe_tokenizer(
            ("".join(PAPER_TEMPLATE.render(d)) for d in train.iter_rows(named=True)), folder, vocab_size
        )
    tokenizer = load_tokenizer(str(folder), require_eos=True)
    bare = MetadataTemplate(fields=())
    counts: dict[str, int] = {}
    for doc in pl.read_parquet(out / "study" / "real" / "eval-00000.parquet").iter_rows(named=True):
        counts[doc["continent"]] = counts.get(doc["continent"], 0) + len(tokenizer(bare.body(doc))["input_ids"])
    return counts


def run_seed(seed: int, out: Path, settings: dict, facts: dict, device: str, jobs: int = 1) -> dict[str, Any]:
    """Train and score every model of one seed; writes ``scores/seed{N}.parquet`` (reused on re-run)."""
    import torch

    from benchmarks.repro import evaluation, training

    if jobs > 1:  # processes side by side: one BLAS pool each, sized to its share of the cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // jobs))

    target = out / "scores" / f"seed{seed}.parquet"
    mcq_target = out / "scores" / f"mcq_seed{seed}.parquet"
    if target.exists() and (mcq_target.exists() or not settings["evaluation"].get("mcq")):
        return json.loads((out / "scores" / f"seed{seed}.json").read_text(encoding="utf-8"))
    specs, training_settings = training.plan_models(settings, [seed], facts["regions"], facts["left_out"])
    started, checkpoints, summaries = time.time(), {}, {}
    for spec in specs:
        result = training.train_model(training.train_config(spec, out, out / "tokenizer", training_settings))
        checkpoints[spec.name], summaries[spec.name] = result["checkpoint"], result
        console.print(f"seed {seed}: trained {spec.name} ({result.get('wall_seconds', 'reused')} s)")
    train_s = time.time() - started
    batch = int(settings["evaluation"]["batch_size"])
    frames = [
        evaluation.score_model(
            spec,
            checkpoints[spec.name],
            out / "tokenizer",
            out / "study" / spec.study,
            facts["left_out"],
            batch,
            device,
        )
        for spec in specs
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    pl.concat(frames, how="vertical_relaxed").write_parquet(target)
    if settings["evaluation"].get("mcq"):
        path = out / "inputs" / "mcq.jsonl"
        chosen = [s for s in specs if s.study == "real" and s.label in ("none", "full")]
        evaluation.score_mcq_models(
            chosen,
            checkpoints,
            out / "tokenizer",
            path,
            batch,
            device,
            settings["evaluation"].get("mcq_limit"),
            lambda: None,
        ).write_parquet(mcq_target)
    info = {"seed": seed, "train_s": train_s, "score_s": time.time() - started - train_s, "models": summaries}
    (out / "scores" / f"seed{seed}.json").write_text(json.dumps(info, indent=1, default=str), encoding="utf-8")
    return info


def dry_run(out: Path, settings: dict, facts: dict) -> str:
    """Every model's trainer config, validated, with its parameters and token budget; written to
    ``out/plan.md`` (what ``--setting gpu`` will run, checked on a machine without one)."""
    from benchmarks.repro import training
    from trainer_plugin.config import load_config
    from trainer_plugin.plan import plan

    seeds = [int(s) for s in settings["seeds"]]
    specs, base = training.plan_models(settings, seeds, facts["regions"], facts["left_out"])
    lines = ["| model | parameters | non-embedding | steps | tokens |", "| --- | --- | --- | --- | --- |"]
    total = 0
    for spec in specs:
        config = training.train_config(spec, out, out / "tokenizer", base)
        if spec.init_from:  # the base is not trained in a dry run: plan it with the base's shape
            config = {**config, "init_from": None, "model": dict(settings["model"])}
        result = plan(load_config(config))
        steps = int(config["training"]["max_steps"])
        total += steps * result["tokens_per_step"]
        lines.append(
            f"| {spec.name} | {result['parameters']:,} | {result['non_embedding_parameters']:,} | {steps} | "
            f"{steps * result['tokens_per_step']:,} |"
        )
    lines.append(f"\n{len(specs)} models, {total:,} training tokens in all; seeds {settings['seeds']}.")
    text = "\n".join(lines)
    (out / "plan.md").write_text(text + "\n", encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--setting", default="small", help="small | gpu | smoke | a YAML path")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: runs/repro_mini/SETTING)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="seeds trained at once in processes (default: the setting's jobs, else 1)",
    )
    parser.add_argument("--prepare-only", action="store_true", help="stop after curation, design and tokenizer")
    parser.add_argument(
        "--dry-run", action="store_true", help="prepare, then validate and print every model's plan (no training)"
    )
    parser.add_argument("--device", default="auto", help="scoring device: auto | cpu | cuda")
    parser.add_argument("--docs", type=Path, default=None, help="also write the report to this Markdown file")
    args = parser.parse_args(argv)
    settings = load_settings(args.setting)
    out: Path = (args.out or Path("runs") / "repro_mini" / settings["name"]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    console.rule(f"repro_mini: setting {settings['name']} -> {out}")
    facts = prepare(out, settings)
    if args.prepare_only:
        console.print(f"prepared {out} (design.json, study/, tokenizer/)")
        return 0
    if args.dry_run:
        print(dry_run(out, settings, facts))
        return 0
    seeds = [int(s) for s in settings["seeds"]]
    t = time.time()
    jobs = min(len(seeds), int(args.jobs or settings.get("jobs", 1)))
    if jobs > 1:
        console.print(f"[bold]{len(seeds)} seeds[/bold], {jobs} at a time: train and score every model")
        context = multiprocessing.get_context("spawn")
        with futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            fixed = [(out, settings, facts, args.device, jobs)] * len(seeds)
            infos = list(pool.map(run_seed, seeds, *zip(*fixed)))
    else:
        infos = []
        for index, seed in enumerate(seeds):
            console.print(f"[bold]seed {seed}[/bold] ({index + 1}/{len(seeds)}): train and score every model")
            infos.append(run_seed(seed, out, settings, facts, args.device))
    models_s = time.time() - t
    from benchmarks.repro import findings, report

    t = time.time()
    scores = pl.concat([pl.read_parquet(out / "scores" / f"seed{s}.parquet") for s in seeds], how="vertical_relaxed")
    mcq_files = [out / "scores" / f"mcq_seed{s}.parquet" for s in seeds]
    mcq = pl.concat([pl.read_parquet(f) for f in mcq_files]) if all(f.exists() for f in mcq_files) else None
    regions = {"real": facts["regions"], "control": facts["control_regions"]}
    n_boot = int(settings["evaluation"]["n_boot"])
    results = findings.compute(scores, mcq, seeds, regions, facts["left_out"], n_boot)
    noise = findings.noise_floor(scores, seeds, facts["regions"])
    model, training = settings["model"], settings["training"]
    meta = {
        "setting": settings["name"],
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "total_s": time.time() - started + sum(facts.get("timings_s", {}).values()),
        "timings_s": {**facts.get("timings_s", {}), "train+score": models_s, "findings": time.time() - t},
        "n_models": sum(len(i["models"]) for i in infos),
        "model": f"Llama hidden {model['hidden_size']}, {model['num_layers']} layers",
        "steps": f"{training['max_steps']} steps x {training['per_device_batch_size']} x {training['seq_len']} tokens "
        f"(regional fine-tunes {training.get('regional_steps')})",
        "seeds": seeds,
        "noise": noise,
        "design": facts,
        "left_out": facts["left_out"],
        "left_out_reason": facts["left_out_reason"],
        "eval_tokens": facts["eval_tokens"],
    }
    path = report.write_report(out, results, meta)
    summary = {
        "meta": {k: v for k, v in meta.items() if k != "design"},
        "findings": [
            {
                "key": r["finding"].key,
                "verdict": r["verdict"],
                "mean": r["interval"].mean,
                "low": r["interval"].low,
                "high": r["interval"].high,
                "per_seed": r["per_seed"],
            }
            for r in results
        ],
    }
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    if args.docs:
        report.write_docs(args.docs, path, out)
    console.rule("verdicts")
    for row in results:
        console.print(report.verdict_text(row))
    console.print(f"report: {path}  total {meta['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
