"""``geocorpus eval``: perplexity, localized MCQ, locale switch and model merging from the shell.

Every command reads models and tokenizers from local folders only, writes CSV + Parquet tables and
PNG plots to ``--out``, prints a rich table, and shows rich progress bars while scoring.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from trainer_plugin.evaluation import plots
from trainer_plugin.evaluation.corpus import load_eval_documents
from trainer_plugin.evaluation.cross_matrix import cross_matrix
from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.locale_switch import score_locale_switch, switch_table
from trainer_plugin.evaluation.mcq import METRICS, RULES, accuracy_table, score_mcq
from trainer_plugin.evaluation.merge import merge_checkpoints
from trainer_plugin.evaluation.merge_sweep import merge_sweep
from trainer_plugin.evaluation.perplexity import gap_table, region_table, score_documents
from trainer_plugin.evaluation.progress import ProgressHook
from trainer_plugin.evaluation.qa_data import load_mcq, load_switch_items
from trainer_plugin.evaluation.question_metadata import DEFAULT_OUTLETS, QuestionMetadata
from trainer_plugin.evaluation.runtime import load_causal_lm
from trainer_plugin.evaluation.scoring import ScoringSettings
from trainer_plugin.evaluation.tables import show_table, with_intervals, write_table
from trainer_plugin.template import MetadataTemplate, TemplateError
from trainer_plugin.tokenizer import TokenizerError

eval_app = typer.Typer(
    help="Evaluate models per region: ppl | cross | mcq | switch | merge | merge-sweep.", no_args_is_help=True
)
console = Console(soft_wrap=True)  # error messages keep paths on one line

MODEL = typer.Option(..., "--model", help="Local model folder (nothing is downloaded).")
TOKENIZER = typer.Option(None, "--tokenizer", help="Local tokenizer folder; default: the model folder.")
DEVICE = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:1 | mps")
DTYPE = typer.Option("auto", "--dtype", help="auto (fp32 on CPU, bf16 elsewhere) | float32 | bfloat16 | float16")
OUT = typer.Option(Path("eval_out"), "--out", help="Folder for tables and PNGs.")
BATCH = typer.Option(8, "--batch-size", min=1)
MAX_LENGTH = typer.Option(None, "--max-length", help="Window in tokens; default: model limit, at most 2048.")
STRIDE = typer.Option(None, "--stride", help="Sliding-window stride; default: max_length // 2.")
N_BOOT = typer.Option(1000, "--n-boot", min=0, help="Bootstrap replicates for the 95% intervals.")
SEED = typer.Option(0, "--seed")


class RichProgress(ProgressHook):
    """Forwards scoring progress to a rich progress bar, one task per scoring pass."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def start(self, total: int, description: str = "") -> None:
        self.task = self.progress.add_task(description or "scoring", total=total)

    def advance(self, amount: int) -> None:
        if self.task is None:
            raise RuntimeError("RichProgress.advance() called before start()")
        self.progress.update(self.task, advance=amount)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _fields(text: str) -> tuple[str, ...]:
    """Comma-separated metadata fields; '' or 'none' means no prefix."""
    if text.strip().lower() in ("", "none"):
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _run(action: Callable[[], None]) -> None:
    """Run a command body; bad input ends with its message and exit code 2, not a traceback."""
    try:
        action()
    except (EvaluationError, TemplateError, TokenizerError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=2) from None


def _default_qa(name: str) -> Path:
    from geocorpus.paths import shared_data_dir

    folder = shared_data_dir()
    if folder is None:
        raise EvaluationError(f"no --data given and no shared data folder to find {name} in")
    return folder / "qa" / name


def _outlets(path: Path | None) -> dict[str, str]:
    if path is None:
        return dict(DEFAULT_OUTLETS)
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EvaluationError(f"outlet map {path}: {error}") from None
    if not isinstance(mapping, dict):
        raise EvaluationError(f"outlet map {path}: expected a JSON object of ISO code -> domain")
    return {str(k).upper(): str(v) for k, v in mapping.items()}


@eval_app.command("ppl")
def ppl_command(
    model: Path = MODEL,
    corpus: list[Path] = typer.Option(..., "--corpus", help="Tagged Parquet files or folders (repeatable)."),
    split: str = typer.Option("eval", "--split", help="Rows with this split; 'all' for every row."),
    fields: str = typer.Option("url,country,continent", "--fields", help="Metadata lines of the prefix."),
    tokenizer: Path | None = TOKENIZER,
    device: str = DEVICE,
    dtype: str = DTYPE,
    batch_size: int = BATCH,
    max_length: int | None = MAX_LENGTH,
    stride: int | None = STRIDE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    out: Path = OUT,
) -> None:
    """Per-region perplexity with and without the metadata prefix (body tokens only)."""

    def action() -> None:
        template = MetadataTemplate(fields=_fields(fields))
        documents = load_eval_documents(corpus, None if split == "all" else split, template)
        lm, tok = load_causal_lm(model, tokenizer, device, dtype)
        with _progress() as bar:
            scores = score_documents(
                lm, tok, documents, template, ScoringSettings(max_length, stride, batch_size), RichProgress(bar)
            )
        scores.write_parquet(_mkdir(out) / "ppl_documents.parquet")
        table, gaps = region_table(scores, n_boot, seed), gap_table(scores, n_boot, seed)
        write_table(table, out, "ppl_regions")
        write_table(gaps, out, "ppl_gap")
        plots.perplexity_heatmap(table, out / "ppl_heatmap.png")
        plots.gap_bars(gaps, out / "ppl_gap.png")
        show_table(
            gaps.select("level", "region", "n_docs", "ppl_without", "ppl_with", "gap", "gap_low", "gap_high"),
            f"Perplexity gain from metadata ({documents.height} documents)",
            console,
        )

    _run(action)


@eval_app.command("cross")
def cross_command(
    models: list[str] = typer.Option(
        ...,
        "--model",
        help="LABEL=PATH (repeatable); a label equal to a test region (IN, Africa) marks that cell in-region.",
    ),
    corpus: list[Path] = typer.Option(..., "--corpus"),
    split: str = typer.Option("eval", "--split"),
    level: str = typer.Option("country", "--level", help="country | continent"),
    fields: str = typer.Option("url,country,continent", "--fields"),
    device: str = DEVICE,
    dtype: str = DTYPE,
    batch_size: int = BATCH,
    max_length: int | None = MAX_LENGTH,
    stride: int | None = STRIDE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    out: Path = OUT,
) -> None:
    """Cross-matrix: several (regional) models x test regions, in-region vs out-of-region."""

    def action() -> None:
        if level not in ("country", "continent"):
            raise EvaluationError(f"--level must be country or continent, not {level!r}")
        named = {}
        for spec in models:
            label, sep, path = spec.partition("=")
            if not sep or not label or not path:
                raise EvaluationError(f"--model {spec!r}: expected LABEL=PATH")
            named[label] = Path(path)
        template = MetadataTemplate(fields=_fields(fields))
        documents = load_eval_documents(corpus, None if split == "all" else split, template)
        with _progress() as bar:
            cells = cross_matrix(
                named,
                documents,
                {k: k for k in named},
                level,
                template=template,
                settings=ScoringSettings(max_length, stride, batch_size),
                device=device,
                dtype=dtype,
                n_boot=n_boot,
                seed=seed,
                progress=RichProgress(bar),
            )
        write_table(cells, out, "cross_matrix")
        plots.cross_matrix_heatmap(cells, out / "cross_matrix.png")
        show_table(cells, "Cross-region perplexity", console)

    _run(action)


def _question_metadata(fields: str, outlets: Path | None) -> QuestionMetadata:
    return QuestionMetadata(fields=_fields(fields), outlets=_outlets(outlets))


@eval_app.command("mcq")
def mcq_command(
    model: Path = MODEL,
    data: Path | None = typer.Option(None, "--data", help="QA .jsonl or .parquet; default: the paper's 800 MCQs."),
    split_type: str | None = typer.Option(None, "--split-type", help="LocalNewsQA: explicit | ambiguous."),
    fields: str = typer.Option(
        "none", "--fields", help="Question prefix: none, or e.g. country,continent or url,country."
    ),
    outlets: Path | None = typer.Option(None, "--outlets", help="JSON {ISO: domain} for the url line."),
    limit: int | None = typer.Option(None, "--limit", help="Score only the first N questions."),
    metric: str = typer.Option("acc_norm", "--plot-metric", help="acc | acc_norm | acc_norm_tokens"),
    tokenizer: Path | None = TOKENIZER,
    device: str = DEVICE,
    dtype: str = DTYPE,
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    n_boot: int = N_BOOT,
    seed: int = SEED,
    out: Path = OUT,
) -> None:
    """Localized MCQ accuracy per country and continent (acc, acc_norm by bytes, by tokens)."""

    def action() -> None:
        items = load_mcq(data or _default_qa("localized_news_mcq_800.jsonl"), split_type, limit)
        lm, tok = load_causal_lm(model, tokenizer, device, dtype)
        with _progress() as bar:
            per_question = score_mcq(
                lm,
                tok,
                items,
                _question_metadata(fields, outlets),
                ScoringSettings(batch_size=batch_size),
                RichProgress(bar),
            )
        per_question.write_parquet(_mkdir(out) / "mcq_questions.parquet")
        table = accuracy_table(per_question, n_boot, seed)
        write_table(table, out, "mcq_accuracy")
        plots.accuracy_bars(table, out / "mcq_accuracy.png", metric)
        show_table(
            with_intervals(table, list(METRICS), ["level", "region", "n"]),
            f"Localized MCQ ({len(items)} questions, prefix fields: {fields})",
            console,
        )

    _run(action)


@eval_app.command("switch")
def switch_command(
    model: Path = MODEL,
    data: Path | None = typer.Option(None, "--data", help="Default: LocalNewsQA's ambiguous split."),
    fields: str = typer.Option("country,continent", "--fields"),
    outlets: Path | None = typer.Option(None, "--outlets"),
    rule: str = typer.Option("chars", "--rule", help=f"Which option is preferred: {', '.join(RULES)}."),
    limit: int | None = typer.Option(None, "--limit"),
    tokenizer: Path | None = TOKENIZER,
    device: str = DEVICE,
    dtype: str = DTYPE,
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    n_boot: int = N_BOOT,
    seed: int = SEED,
    out: Path = OUT,
) -> None:
    """Locale switch rate: does the preferred answer follow target vs contrast metadata?"""

    def action() -> None:
        items = load_switch_items(data or _default_qa("localnewsqa_gold_20260516.parquet"), "ambiguous", limit)
        lm, tok = load_causal_lm(model, tokenizer, device, dtype)
        with _progress() as bar:
            per_question = score_locale_switch(
                lm,
                tok,
                items,
                _question_metadata(fields, outlets),
                rule,
                ScoringSettings(batch_size=batch_size),
                RichProgress(bar),
            )
        per_question.write_parquet(_mkdir(out) / "switch_questions.parquet")
        table = switch_table(per_question, n_boot, seed)
        write_table(table, out, "switch_pairs")
        plots.switch_bars(table, out / "switch.png")
        shown = with_intervals(table, ["switch_rate"], ["pair", "n"]).join(
            table.select("pair", "follows_target", "follows_contrast", "changed"), on="pair", maintain_order="left"
        )
        show_table(shown, f"Locale switch ({len(items)} ambiguous questions, rule {rule})", console)

    _run(action)


@eval_app.command("merge")
def merge_command(
    global_model: Path = typer.Option(..., "--global", help="Global model folder."),
    regional_model: Path = typer.Option(..., "--regional", help="Regional model folder."),
    out: Path = typer.Option(..., "--out", help="Folder for the merged checkpoint."),
    alpha: float | None = typer.Option(None, "--alpha", help="Linear: (1-alpha)*global + alpha*regional."),
    base: Path | None = typer.Option(None, "--base", help="Shared base: switches to task arithmetic."),
    lam: float = typer.Option(1.0, "--lam", help="Task arithmetic weight of (regional - base)."),
    mu: float = typer.Option(1.0, "--mu", help="Task arithmetic weight of (global - base)."),
    tokenizer: Path | None = TOKENIZER,
) -> None:
    """Merge a regional model into a global one and save it with save_pretrained."""
    _run(
        lambda: console.print(
            f"merged checkpoint: {merge_checkpoints(out, global_model, regional_model, alpha, base, lam, mu, tokenizer)}"
        )
    )


@eval_app.command("merge-sweep")
def merge_sweep_command(
    global_model: Path = typer.Option(..., "--global"),
    regional_model: Path = typer.Option(..., "--regional"),
    corpus: list[Path] = typer.Option(..., "--corpus"),
    region: str = typer.Option(..., "--region", help="Country code or continent of the regional model."),
    alphas: str = typer.Option("0,0.25,0.5,0.75,1", "--alphas"),
    split: str = typer.Option("eval", "--split"),
    fields: str = typer.Option("url,country,continent", "--fields"),
    save_checkpoints: Path | None = typer.Option(None, "--save-checkpoints", help="Also save each merge here."),
    tokenizer: Path | None = TOKENIZER,
    device: str = DEVICE,
    batch_size: int = BATCH,
    max_length: int | None = MAX_LENGTH,
    stride: int | None = STRIDE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    out: Path = OUT,
) -> None:
    """Linear merges over an alpha grid: in-region vs global perplexity, and the trade-off plot."""

    def action() -> None:
        try:
            grid = [float(a) for a in alphas.split(",") if a.strip()]
        except ValueError:
            raise EvaluationError(f"--alphas {alphas!r}: expected comma-separated numbers") from None
        template = MetadataTemplate(fields=_fields(fields))
        documents = load_eval_documents(corpus, None if split == "all" else split, template)
        with _progress() as bar:
            sweep = merge_sweep(
                global_model,
                regional_model,
                grid,
                documents,
                region,
                template,
                ScoringSettings(max_length, stride, batch_size),
                device,
                tokenizer,
                save_checkpoints,
                n_boot,
                seed,
                RichProgress(bar),
            )
        write_table(sweep, out, "merge_sweep")
        plots.merge_tradeoff(sweep, out / "merge_tradeoff.png")
        show_table(sweep, f"Merge sweep, region {region}", console)

    _run(action)


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder
