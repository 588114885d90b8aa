"""geocorpus: curate a region-tagged corpus, inspect it, build the registry, train, evaluate.

Errors a user can fix (a bad config key, a missing file, counts that do not reconcile) are printed
as one clear message with exit code 2, not as a traceback from deep inside a library.
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from geocorpus.config import ConfigError, CurateConfig, load_config
from geocorpus.paths import RunLayout
from geocorpus.registry import DEFAULT_SOURCES as DEFAULT_REGISTRY_SOURCES


class _Commands(TyperGroup):
    """The root command group: typer's, plus ``geocorpus eval``, imported only when it is named or listed.

    The evaluation commands import torch, transformers and matplotlib: ~3-5 s and ~300 MB that
    ``geocorpus curate`` paid for nothing, for the whole run (its CLI process held 0.40 GB of RSS).
    """

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return names if "eval" in names else [*names, "eval"]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name == "eval" and "eval" not in self.commands:
            try:
                from trainer_plugin.evaluation.cli import eval_app
            except ImportError as exc:  # a broken optional install should not take curation down with it
                console.print(f"[yellow]geocorpus eval unavailable: {exc}[/]")
                return None
            group = typer.main.get_group(eval_app)
            group.name = "eval"
            self.add_command(group)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0], cls=_Commands)
registry_app = typer.Typer(no_args_is_help=True, help="Build or inspect the outlet registry.")
app.add_typer(registry_app, name="registry")
classifier_app = typer.Typer(no_args_is_help=True, help="Train the fastText country classifier.")
app.add_typer(classifier_app, name="classifier")
console = Console(stderr=True, soft_wrap=True)  # never split a path or key across lines


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)


#: The one line Ctrl-C prints (and its exit code, 128 + SIGINT, as a shell reports it).
INTERRUPTED = "interrupted; rerun the same command to resume"
INTERRUPTED_EXIT = 130


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Turn Ctrl-C into one line and exit 130, after the run's processes are stopped.

    The first SIGINT raises KeyboardInterrupt here (the stage processes ignore it; the watchdog kills
    their tree while the exception unwinds) and further ones are ignored, so a second Ctrl-C cannot cut
    that cleanup short and leave workers running.
    """

    def first_interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        console.print(INTERRUPTED, highlight=False)
        raise typer.Exit(code=INTERRUPTED_EXIT) from None
    finally:
        signal.signal(signal.SIGINT, previous)


def _load(config_path: Path) -> CurateConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        _fail(str(exc))


QUIET_HELP = "Print only errors (and --json's object): no progress bars, no tables."
JSON_HELP = "Print one JSON object on stdout (the report); everything else goes to stderr."


def _json_out(obj: object) -> None:
    """One JSON object on stdout: the only thing a ``--json`` command writes there."""
    print(json.dumps(obj, sort_keys=True, default=str))


def _check_locations(cfg: CurateConfig) -> None:
    """Schemes of the inputs and the output: known, their fsspec implementation importable (no network).

    Inputs on ``memory://`` exist only in this process, so only the local executor (run in process) can
    read them."""
    from geocorpus.remote_paths import RemotePathError, check_location, process_local

    try:
        for spec in cfg.inputs:
            check_location(spec.path, f"input {spec.name!r}")
            if process_local(spec.path) and cfg.executor.type != "local":
                raise RemotePathError(
                    f"input {spec.name!r}: {spec.path!r} exists only in this process; the {cfg.executor.type} "
                    "executor's tasks run elsewhere and cannot read it (use executor.type: local)"
                )
        check_location(cfg.output, "output")
    except RemotePathError as exc:
        _fail(str(exc))


WORK_DIR_HELP = (
    "Local folder a remote output is curated in before the finished dataset is uploaded (default: "
    "$GEOCORPUS_HOME/runs/... or ~/.cache/geocorpus/runs/..., the same for the same URL, so a rerun resumes)."
)


def _local_run(cfg: CurateConfig, work_dir: Path | None) -> tuple[CurateConfig, str | None]:
    """The config to run and the remote URL to upload to afterwards (None for a local output).

    A run folder needs a lock, resume markers and finalize's disk shuffle, which object stores do not
    give; so a remote output is curated in a local work folder and uploaded when finished."""
    from geocorpus.remote_paths import is_remote, work_folder

    if not is_remote(cfg.output):
        if work_dir is not None:
            _fail(f"--work-dir is for a remote output; output {cfg.output!r} is local")
        return cfg, None
    local = work_dir or work_folder(cfg.output)
    try:
        return cfg.with_output(str(local)), cfg.output
    except ConfigError as exc:
        _fail(f"--work-dir: {exc}")


def _check_inputs(cfg: CurateConfig, network: bool = True) -> list[str]:
    """Read each input's schema or first records; a field its mapping needs but the file lacks exits 2.

    ``network=False`` (validate) leaves remote inputs unread: their scheme is checked, not their files."""
    from geocorpus.readers.schema_check import InputSchemaError, check_inputs
    from geocorpus.remote_paths import is_remote

    _check_locations(cfg)
    remote = [spec for spec in cfg.inputs if is_remote(spec.path)]
    local = [spec for spec in cfg.inputs if not is_remote(spec.path)]
    try:
        lines = check_inputs(local if not network else cfg.inputs)
    except (InputSchemaError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    if not network:
        lines += [
            f"input {s.name!r}: {s.path}: remote, not contacted (columns are checked when curate starts)"
            for s in remote
        ]
    return lines


def _top_exclusions(stats: dict, limit: int = 5) -> str:
    rows = sorted(stats.get("exclusions", []), key=lambda r: -r["documents"])[:limit]
    return ", ".join(f"{r['stage']}/{r['reason']}: {r['documents']}" for r in rows) or "none recorded"


@app.command()
def curate(
    config: Path = typer.Argument(..., help="Curation config (YAML)."),
    output: str | None = typer.Option(None, help="Override the config's output folder (a path or fsspec URL)."),
    tasks: int | None = typer.Option(None, help="Override executor.tasks."),
    workers: int | None = typer.Option(None, help="Override executor.workers."),
    progress: bool = typer.Option(True, help="Show a progress bar per stage (on stderr)."),
    overwrite: bool = typer.Option(
        False, help="Discard a previous run of other settings in the output folder (only files geocorpus wrote)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    work_dir: Path | None = typer.Option(None, "--work-dir", help=WORK_DIR_HELP),
) -> None:
    """Run the curation pipeline: read, verify, tag, filter, dedup, balance, write tagged Parquet.

    The output may be an fsspec URL (s3://, gs://, hf://): the run works in a local folder and uploads the
    finished dataset there. Ctrl-C stops every process of the run and exits 130; the same command resumes."""
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
    _check_inputs(cfg)
    cfg, upload_to = _local_run(cfg, work_dir)
    if upload_to is not None:
        _check_remote_output(upload_to)
    try:
        with _interruptible():
            report = run_curation(cfg, show_progress=progress and not quiet and not as_json, overwrite=overwrite)
    except (ReconcileError, ResumeError, RunFolderError, WorkerDiedError) as exc:
        _fail(str(exc))
    if report is not None and upload_to is not None and report["reconcile"].get("kept"):
        report = {**report, "upload": _upload(cfg, upload_to, quiet or as_json)}
    if report is None:
        if as_json:
            _json_out({"submitted": cfg.executor.type, "output": str(cfg.output)})
        elif not quiet:
            console.print(f"submitted to {cfg.executor.type}; run `geocorpus stats {cfg.output}` when it finishes")
        return
    if as_json:
        _json_out(report)
    elif not quiet:
        print_stats(report["stats"], console=Console(), reconcile=report["reconcile"])
    if not report["reconcile"].get("kept"):
        _fail(
            f"the run kept 0 of {report['reconcile'].get('input', 0)} documents; top exclusion reasons: "
            f"{_top_exclusions(report['stats'])}. See {cfg.output_dir}/exclusions/ (and `fields:` of each input)."
        )
    if not quiet and not as_json:
        console.print(
            f"[green]done:[/] {cfg.output_dir}/data  (report: {cfg.output_dir}/report.json, "
            f"plots: {cfg.output_dir}/plots)"
        )
        if upload_to is not None:
            console.print(
                f"[green]uploaded:[/] {len(report['upload']['files'])} files to {upload_to}", highlight=False
            )


def _check_remote_output(url: str) -> None:
    """Before any work: the remote output is reachable and empty, missing, or geocorpus's own upload."""
    from geocorpus.remote_paths import RemotePathError, check_output_writable

    try:
        check_output_writable(url)
    except RemotePathError as exc:
        _fail(str(exc))
    except Exception as exc:  # credentials, network, permissions: one line, not a traceback
        _fail(f"output {url!r}: cannot be reached: {type(exc).__name__}: {exc}")


def _upload(cfg: CurateConfig, url: str, quiet: bool) -> dict:
    """Upload the finished dataset (the files `geocorpus push` publishes) from the work folder to ``url``."""
    from geocorpus.hub import PushError, files_to_push
    from geocorpus.remote_paths import RemotePathError, upload_run

    try:
        files = files_to_push(cfg.output_dir)
        if not quiet:
            console.print(f"uploading {len(files)} files from {cfg.output_dir} to {url}", highlight=False)
        uploaded = upload_run(cfg.output_dir, url, files)
    except (PushError, RemotePathError) as exc:
        _fail(str(exc))
    except Exception as exc:  # network, credentials: the local run is finished; the same command retries
        _fail(
            f"upload to {url!r} failed: {type(exc).__name__}: {exc}. The finished run is in {cfg.output_dir}; "
            "run the same command again to retry the upload"
        )
    return {"output": url, "work_folder": str(cfg.output_dir), "files": uploaded}


@app.command()
def validate(
    config: Path = typer.Argument(..., help="Curation config (YAML)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors."),
) -> None:
    """Check a config, each input's columns against its `fields:` mapping, and build the pipelines; run nothing."""
    from geocorpus.remote_paths import is_remote
    from pipelines.curate import build_stages, make_executors

    cfg = _load(config)
    checked = _check_inputs(cfg, network=False)
    remote_output = cfg.output if is_remote(cfg.output) else None
    cfg, _ = _local_run(cfg, None)
    if remote_output is not None:
        checked.append(
            f"output {remote_output!r}: remote, not contacted; curate works in {cfg.output_dir} and uploads "
            "the finished dataset there"
        )
    offline = any(is_remote(spec.path) for spec in cfg.inputs)
    stages = [] if offline else build_stages(cfg)  # building the readers would list remote files
    make_executors(cfg, stages)
    if quiet:
        return
    for line in checked:
        console.print(line, highlight=False)
    if offline:
        console.print("pipelines not built: remote inputs are listed only when curate starts")
    for stage in stages:
        console.print(
            f"[bold]{stage.name}[/] ({stage.tasks} tasks): " + " -> ".join(type(s).__name__ for s in stage.steps)
        )
    console.print(f"[green]config OK[/] ({cfg.executor.type} executor)")


@app.command()
def stats(
    out_dir: Path = typer.Argument(..., help="A finished run's output folder."),
    plots: Path | None = typer.Option(None, help="Where to write PNG charts (default OUT/plots)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout: stats and reconcile."),
) -> None:
    """Per-country/continent documents and tokens, tag sources and exclusions: table and PNG charts."""
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
    written = write_plots(result, plots or layout.plots)
    if as_json:
        _json_out({"stats": result, "reconcile": reconcile, "plots": [str(p) for p in written]})
        return
    if quiet:
        return
    print_stats(result, console=Console(), reconcile=reconcile)
    console.print("plots: " + ", ".join(str(p) for p in written))


@app.command()
def push(
    out_dir: Path = typer.Argument(..., help="A finished run's output folder (its card, data/, manifest, report)."),
    repo_id: str = typer.Argument(..., help="Hub dataset repository, e.g. my-org/news-geo."),
    private: bool = typer.Option(False, "--private", help="Create the repository as private (when it is new)."),
    revision: str | None = typer.Option(None, help="Branch to commit to (created if missing; default main)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the files the commit would add; send nothing."),
) -> None:
    """Upload a finished run to the Hugging Face Hub as a dataset (one commit; token from `hf auth login`)."""
    from geocorpus.hub import PushError, commit_operations, push_to_hub

    try:
        operations = commit_operations(out_dir)
    except PushError as exc:
        _fail(str(exc))
    if dry_run:
        for op in operations:
            print(op.path_in_repo)
        return
    try:
        info = push_to_hub(out_dir, repo_id, private=private, revision=revision)
    except Exception as exc:  # network, auth, permissions: one line, not a traceback
        _fail(f"push to {repo_id} failed: {type(exc).__name__}: {exc}")
    console.print(f"[green]pushed[/] {len(operations)} files: {info.commit_url}")


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


@classifier_app.command("train")
def classifier_train(
    corpus: list[Path] = typer.Argument(..., help="Tagged Parquet: a run folder, its data/ folder, or shard files."),
    out: Path = typer.Option(..., help="Model file to write (its threshold and figures go to OUT.json)."),
    features: str = typer.Option("url+text", help="Features: url, text or url+text."),
    target_precision: float = typer.Option(0.98, help="Precision the threshold must reach on held-out outlets."),
    sources: str = typer.Option("input,registry", help="Tag sources whose country the model learns from."),
    seed: int = typer.Option(0, help="Seed of the outlet split and of fastText."),
    page_evidence: Path | None = typer.Option(
        None,
        help="Also measure the corpus's page signals against its registry-tagged documents and write the "
        "signals that reach the target precision here (for tagging.page_evidence).",
    ),
) -> None:
    """Train a country classifier on documents of known country; print precision/coverage per country
    on held-out outlets. Use it with ``tagging.classifier: OUT`` in a curation config."""
    from geocorpus.country_classifier import ClassifierError, corpus_docs, train_classifier
    from geocorpus.page_evidence import PageEvidence, corpus_signal_pairs

    try:
        report = train_classifier(
            corpus_docs(corpus, tuple(s for s in sources.split(",") if s)),
            out,
            feature_set=features,
            target_precision=target_precision,
            seed=seed,
        )
    except ClassifierError as exc:
        _fail(str(exc))
    console.print(report.summary(), highlight=False)
    console.print(f"use it with `tagging.classifier: {out}` in a curation config")
    if page_evidence is not None:
        try:
            calibration, measured = PageEvidence.calibrate(corpus_signal_pairs(corpus), target_precision)
        except ClassifierError as exc:
            _fail(str(exc))
        calibration.save(page_evidence, measured)
        console.print(
            f"page signals measured: {len(measured)} (signal=country), trusted at >= {target_precision:.2f}: "
            + (", ".join(f"{k} {v:.3f}" for k, v in sorted(calibration.trusted.items())) or "none")
        )
        console.print(f"use it with `tagging.page_evidence: {page_evidence}` in a curation config")


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


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"geocorpus {version('geocorpus')}")
        except PackageNotFoundError:
            print("geocorpus (not installed: run `pip install -e .`)")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """geocorpus: curate a region-tagged corpus, inspect it, build the registry, train, evaluate."""


def main() -> None:
    """The ``geocorpus`` command (also ``python -m geocorpus``)."""
    app(prog_name="geocorpus")


if __name__ == "__main__":
    main()
