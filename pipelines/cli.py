"""geocorpus: curate a region-tagged corpus, inspect it, build the registry, train, evaluate.

Errors a user can fix (a bad config key, a missing file, counts that do not reconcile) are printed
as one clear message with exit code 2, not as a traceback from deep inside a library.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from geocorpus.config import ConfigError, CurateConfig, load_config
from geocorpus.paths import RunLayout
from geocorpus.registry import DEFAULT_SOURCES as DEFAULT_REGISTRY_SOURCES

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
registry_app = typer.Typer(no_args_is_help=True, help="Build or inspect the outlet registry.")
app.add_typer(registry_app, name="registry")
console = Console(stderr=True, soft_wrap=True)  # never split a path or key across lines


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)


def _load(config_path: Path) -> CurateConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        _fail(str(exc))


@app.command()
def curate(
    config: Path = typer.Argument(..., help="Curation config (YAML)."),
    output: Path | None = typer.Option(None, help="Override the config's output folder."),
    tasks: int | None = typer.Option(None, help="Override executor.tasks."),
    workers: int | None = typer.Option(None, help="Override executor.workers."),
    progress: bool = typer.Option(True, help="Show a progress bar per stage."),
    overwrite: bool = typer.Option(
        False, help="Discard a previous run of other settings in the output folder (only files geocorpus wrote)."
    ),
) -> None:
    """Run the curation pipeline: read, verify, tag, filter, dedup, balance, write tagged Parquet."""
    from geocorpus.finalize import ReconcileError
    from geocorpus.report import print_stats
    from geocorpus.run_guard import RunFolderError
    from geocorpus.watchdog import WorkerDiedError
    from pipelines.curate import ResumeError, run_curation

    cfg = _load(config)
    if output is not None:
        try:
            cfg = cfg.with_output(str(output))
        except ConfigError as exc:
            _fail(f"--output: {exc}")
    overrides = {k: v for k, v in (("tasks", tasks), ("workers", workers)) if v is not None}
    if overrides:
        try:
            cfg = cfg.with_executor(**overrides)
        except ConfigError as exc:
            _fail(f"{config}: {exc}")
    try:
        report = run_curation(cfg, show_progress=progress, overwrite=overwrite)
    except (ReconcileError, ResumeError, RunFolderError, WorkerDiedError) as exc:
        _fail(str(exc))
    if report is None:
        console.print(f"submitted to {cfg.executor.type}; run `geocorpus stats {cfg.output}` when it finishes")
        return
    print_stats(report["stats"], console=Console(), reconcile=report["reconcile"])
    console.print(
        f"[green]done:[/] {cfg.output_dir}/data  (report: {cfg.output_dir}/report.json, plots: {cfg.output_dir}/plots)"
    )


@app.command()
def validate(config: Path = typer.Argument(..., help="Curation config (YAML).")) -> None:
    """Check a config and build its pipelines without running anything."""
    from pipelines.curate import build_stages, make_executors

    cfg = _load(config)
    stages = build_stages(cfg)
    make_executors(cfg, stages)
    for stage in stages:
        console.print(
            f"[bold]{stage.name}[/] ({stage.tasks} tasks): " + " -> ".join(type(s).__name__ for s in stage.steps)
        )
    console.print(f"[green]config OK[/] ({cfg.executor.type} executor)")


@app.command()
def stats(
    out_dir: Path = typer.Argument(..., help="A finished run's output folder."),
    plots: Path | None = typer.Option(None, help="Where to write PNG charts (default OUT/plots)."),
) -> None:
    """Per-country/continent documents and tokens, tag sources and exclusions: table and PNG charts."""
    import json

    from geocorpus.report import collect_stats, print_stats, write_plots

    if not out_dir.is_dir():
        _fail(f"not a folder: {out_dir}")
    layout = RunLayout(out_dir)
    if not layout.data.is_dir():
        _fail(f"{out_dir} has no data/ folder: is it a finished geocorpus run?")
    result = collect_stats(out_dir)
    reconcile = None
    report_path = layout.report
    if report_path.exists():
        reconcile = json.loads(report_path.read_text()).get("reconcile")
    print_stats(result, console=Console(), reconcile=reconcile)
    written = write_plots(result, plots or layout.plots)
    console.print("plots: " + ", ".join(str(p) for p in written))


@registry_app.command("build")
def registry_build(
    shared: Path | None = typer.Option(None, help="Real-data folder (default: $GEOCORPUS_SHARED or ../shared/data)."),
    out: Path | None = typer.Option(
        None,
        help="Registry TSV to write (default: $GEOCORPUS_HOME/outlet_registry.tsv or "
        "~/.local/share/geocorpus/outlet_registry.tsv; never the installed package).",
    ),
    conflicts: Path | None = typer.Option(None, help="Conflicts TSV to write (default: beside --out)."),
    sources: str = typer.Option(
        ",".join(DEFAULT_REGISTRY_SOURCES), help="Comma-separated outlet lists to build from."
    ),
    rule: str = typer.Option(
        "v2", help="Which rows count as evidence: v2 (default) or v1 (the old rule, to compare)."
    ),
) -> None:
    """Build the outlet registry (domain -> country) from the outlet lists; writes the conflicts file too.

    Use the result with ``tagging.registry: PATH`` in a curation config."""
    from geocorpus import registry
    from geocorpus.paths import shared_data_dir

    shared = shared or shared_data_dir()
    if shared is None or not shared.is_dir():
        _fail("real-data folder not found: pass --shared DIR or set GEOCORPUS_SHARED")
    target = out or registry.default_build_path()
    try:
        report = registry.build_registry(
            shared, target, tuple(s for s in sources.split(",") if s), conflicts, rule=rule
        )
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    console.print(report.summary())
    console.print(f"use it with `tagging.registry: {target}` in a curation config")


@app.command()
def train(
    config: Path = typer.Argument(..., help="Training config (YAML): model, tokenizer, data, condition."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Build the model on the meta device; print sizes and tokens."
    ),
    world_size: int | None = typer.Option(None, help="Ranks to plan for with --dry-run (default $WORLD_SIZE or 1)."),
    vocab_size: int | None = typer.Option(None, help="Vocabulary for --dry-run when the tokenizer is not here."),
) -> None:
    """Train a Llama-style model for one experimental condition (trainer_plugin); one JSON line on stdout at the end."""
    from trainer_plugin.train import summary_line
    from trainer_plugin.train import train as run_training

    if not config.is_file():
        _fail(f"training config not found: {config}")
    try:
        if dry_run:
            from trainer_plugin.config import load_config as load_train_config
            from trainer_plugin.plan import format_plan, plan

            result = plan(load_train_config(config), world_size, vocab_size)
            console.print(format_plan(result))
        else:
            result = run_training(config)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    print(summary_line(result))


@app.command()
def tokenizer(
    data: Path = typer.Argument(..., help="Tagged Parquet: a run's data/ folder or shard files."),
    out: Path = typer.Option(Path("tokenizers/news-bpe"), help="Folder to save the tokenizer in."),
    vocab_size: int = typer.Option(8000, help="BPE vocabulary size."),
) -> None:
    """Train a byte-level BPE tokenizer on a curated corpus's train split (offline, seconds)."""
    from trainer_plugin.tokenizer import corpus_texts, train_bpe_tokenizer

    try:
        saved = train_bpe_tokenizer(corpus_texts([data]), out, vocab_size=vocab_size)
    except FileNotFoundError as exc:
        _fail(str(exc))
    console.print(f"[green]tokenizer saved:[/] {saved}")


@app.command()
def tokenize(
    corpus: list[Path] = typer.Argument(..., help="Tagged Parquet: a run folder, its data/ folder or shard files."),
    tokenizer: Path = typer.Option(..., "--tokenizer", help="Tokenizer folder (the one training will use)."),
    out: Path = typer.Option(..., "--out", help="Folder for the token store (new, or one this command wrote)."),
    split: str = typer.Option("train", help="Which split's shards to tokenize."),
    batch: int = typer.Option(512, min=1, help="Documents per tokenizer call."),
) -> None:
    """Pre-tokenize a corpus once for every condition: token shards + a document index (prefix lines apart)."""
    from rich.progress import Progress

    from trainer_plugin.tokenized import tokenize_corpus
    from trainer_plugin.tokenizer import load_tokenizer

    try:
        tok = load_tokenizer(tokenizer, require_eos=True)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("tokenize", total=None)
            manifest = tokenize_corpus(
                [str(c) for c in corpus],
                tok,
                out,
                split=split,
                batch=batch,
                tokenizer_name=str(tokenizer),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    rate = manifest["tokens"] / manifest["seconds"] if manifest["seconds"] else 0.0
    console.print(
        f"[green]tokenized:[/] {manifest['documents']:,} documents, {manifest['tokens']:,} tokens in "
        f"{len(manifest['shards'])} shard(s), {rate:,.0f} tokens/s -> {out} (train with data.train: {out})"
    )


def _mount_eval() -> None:
    """Evaluation commands live in trainer_plugin.evaluation; mounted as `geocorpus eval ...`."""
    try:
        from trainer_plugin.evaluation.cli import eval_app
    except ImportError as exc:  # a broken optional install should not take curation down with it
        console.print(f"[yellow]geocorpus eval unavailable: {exc}[/]")
        return
    app.add_typer(eval_app, name="eval", help="Evaluate models: ppl | mcq | cross | switch | merge | merge-sweep.")


_mount_eval()


def main() -> None:
    """The ``geocorpus`` command (also ``python -m geocorpus``)."""
    app(prog_name="geocorpus")


if __name__ == "__main__":
    main()
