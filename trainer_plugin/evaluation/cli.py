"""``geocorpus eval``: perplexity, localized MCQ, locale switch and model merging from the shell.

Every command reads models and tokenizers from local folders only, writes CSV + Parquet tables, PNG
plots and ``results.json`` (settings, model/tokenizer/data hashes, versions, metrics) to ``--out``,
prints a rich table on stdout, and shows rich progress bars on stderr while scoring. ``--json`` prints
``results.json``'s content as one JSON object on stdout instead of the table (for scripts); errors always
go to stderr. On a CPU shared with other work, set ``OMP_NUM_THREADS=1``: small models lose more to
thread contention than they gain from threads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from trainer_plugin.evaluation import plots
from trainer_plugin.evaluation.corpus import load_eval_documents
from trainer_plugin.evaluation.cross_matrix import cross_matrix
from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.locale_switch import PAPER_SWITCH_SEEDS, score_locale_switch, switch_table
from trainer_plugin.evaluation.mcq import DEFAULT_MIN_N, METRICS, RULES, accuracy_table, score_mcq
from trainer_plugin.evaluation.merge import RECIPE_FILE, MergeSpec, merge_checkpoints
from trainer_plugin.evaluation.merge_sweep import merge_sweep
from trainer_plugin.evaluation.perplexity import gap_table, region_table, score_documents
from trainer_plugin.evaluation.progress import ProgressHook
from trainer_plugin.evaluation.protocols import PAPER_SHUFFLE_SEED, Protocol
from trainer_plugin.evaluation.qa_data import load_mcq, load_switch_items
from trainer_plugin.evaluation.question_metadata import DEFAULT_OUTLETS, PAPER_BASE_URL, QuestionMetadata
from trainer_plugin.evaluation.results import model_record, table_records, tokenizer_record, write_results
from trainer_plugin.evaluation.runtime import load_causal_lm
from trainer_plugin.evaluation.scoring import ScoringSettings
from trainer_plugin.evaluation.tables import show_table, with_intervals, write_table
from trainer_plugin.template import MetadataTemplate, TemplateError
from trainer_plugin.tokenizer import TokenizerError

eval_app = typer.Typer(
    help="Evaluate models per region: ppl | cross | mcq | switch | merge | merge-sweep.", no_args_is_help=True
)
console = Console(soft_wrap=True)  # tables (stdout); soft_wrap: paths stay on one line
err_console = Console(stderr=True, soft_wrap=True)  # progress bars and errors: never mixed into --json

MODEL = typer.Option(..., "--model", help="Local model folder (nothing is downloaded).")
TOKENIZER = typer.Option(None, "--tokenizer", help="Local tokenizer folder; default: the model folder.")
DEVICE = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:1 | mps")
DTYPE = typer.Option("auto", "--dtype", help="auto (fp32 on CPU, bf16 elsewhere) | float32 | bfloat16 | float16")
OUT = typer.Option(Path("eval_out"), "--out", help="Folder for tables and PNGs.")
BATCH = typer.Option(8, "--batch-size", min=1, help="Windows scored per forward pass.")
MAX_LENGTH = typer.Option(None, "--max-length", help="Window in tokens; default: model limit, at most 2048.")
STRIDE = typer.Option(None, "--stride", help="Sliding-window stride; default: max_length // 2.")
N_BOOT = typer.Option(1000, "--n-boot", min=0, help="Bootstrap replicates for the 95% intervals.")
SEED = typer.Option(0, "--seed", help="Seed of the bootstrap resampling.")
LIMIT = typer.Option(None, "--limit", min=1, help="Score only the first N items (documents or questions).")
SPLIT = typer.Option("eval", "--split", help="Corpus rows with this split (eval = held-out); 'all' for every row.")
FIELDS = typer.Option(
    "url,country,continent", "--fields", help="Metadata lines of the prefix, comma-separated; 'none' = no prefix."
)
CORPUS = typer.Option(..., "--corpus", help="Tagged Parquet files or folders, a run folder included (repeatable).")
JSON_OUT = typer.Option(
    False, "--json", help="Print results.json's content as one JSON object on stdout instead of the table."
)
MCQ_BATCH = typer.Option(32, "--batch-size", min=1, help="Prompt + option sequences scored per forward pass.")


PROTOCOL = typer.Option("paper", "--protocol", help="paper | letter | cloze (see docs/evaluation.md).")
METADATA = typer.Option(
    "full", "--metadata", help="Question metadata: none | country | continent | full (URL + COUNTRY + CONTINENT)."
)
BASE_URL = typer.Option(PAPER_BASE_URL, "--base-url", help="URL line: {base-url}/{cc} (the paper's default).")
OUTLETS = typer.Option(None, "--outlets", help="JSON {ISO: domain}: URL line https://www.<domain>/ instead.")
ANSWER_CUE = typer.Option(
    "answer_colon", "--answer-cue", help="paper/letter: none | answer_colon | final_answer_colon"
)
EXACT_TEXT = typer.Option(False, "--exact-option-text", help="paper: 'Answer with the exact text of ...'.")
SHUFFLE_SEED = typer.Option(PAPER_SHUFFLE_SEED, "--shuffle-seed", help="Seed of the paper's option shuffle.")
NO_SHUFFLE = typer.Option(False, "--no-shuffle", help="Keep the file's option order (first option is often right).")
LENGTH_ALPHA = typer.Option(1.0, "--length-alpha", help="Token rule: loglik / n_tokens**alpha (paper 1B: 1.25).")
CALIBRATION = typer.Option(
    "none", "--calibration", help="none | question_masked | question_masked_no_metadata (null-question prompt)."
)
CALIBRATION_BETA = typer.Option(1.0, "--calibration-beta", help="Weight of the null-question score.")
START_TOKEN = typer.Option(True, "--start-token/--no-start-token", help="Open every prompt with BOS (else EOS).")
MIN_N = typer.Option(DEFAULT_MIN_N, "--min-n", min=1, help="Flag regions with fewer scored items than this.")


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
        console=err_console,
        transient=False,
    )


def _fields(text: str) -> tuple[str, ...]:
    """Comma-separated metadata fields; '' or 'none' means no prefix."""
    if text.strip().lower() in ("", "none"):
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _run(action: Callable[[], None]) -> None:
    """Run a command body; bad input ends with its message (stderr) and exit code 2, not a traceback."""
    try:
        action()
    except (EvaluationError, TemplateError, TokenizerError) as error:
        err_console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=2) from None


def _report(results: Path, as_json: bool, show: Callable[[], None]) -> None:
    """``--json``: ``results.json`` as one compact JSON object, the only thing on stdout; else the table."""
    if as_json:
        print(json.dumps(json.loads(results.read_text(encoding="utf-8")), sort_keys=False))
    else:
        show()


def _default_qa(name: str) -> Path:
    from geocorpus.paths import shared_data_dir

    folder = shared_data_dir()
    if folder is None:
        raise EvaluationError(f"no --data given and no shared data folder to find {name} in")
    return folder / "qa" / name


def _outlets(path: Path | None) -> dict[str, str] | None:
    """None: the paper's URL; 'default': geocorpus's outlet per paper country; else a JSON file."""
    if path is None:
        return None
    if str(path) == "default":
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
    corpus: list[Path] = CORPUS,
    split: str = SPLIT,
    fields: str = FIELDS,
    paper_compat: bool = typer.Option(
        False, "--paper-compat", help="Score as 18_perplexity_eval.py: truncate at 1024 tokens incl. the prefix."
    ),
    limit: int | None = LIMIT,
    tokenizer: Path | None = TOKENIZER,
    device: str = DEVICE,
    dtype: str = DTYPE,
    batch_size: int = BATCH,
    max_length: int | None = MAX_LENGTH,
    stride: int | None = STRIDE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    min_n: int = MIN_N,
    out: Path = OUT,
    as_json: bool = JSON_OUT,
) -> None:
    """Per-region perplexity with and without the metadata prefix (body tokens only)."""

    def action() -> None:
        template = MetadataTemplate(fields=_fields(fields))
        documents = load_eval_documents(corpus, None if split == "all" else split, template, limit)
        lm, tok = load_causal_lm(model, tokenizer, device, dtype)
        settings = ScoringSettings(max_length, stride, batch_size)
        with _progress() as bar:
            scores = score_documents(lm, tok, documents, template, settings, RichProgress(bar), paper_compat)
        scores.write_parquet(_mkdir(out) / "ppl_documents.parquet")
        table, gaps = (
            region_table(scores, n_boot, seed, min_docs=min_n),
            gap_table(scores, n_boot, seed, min_docs=min_n),
        )
        write_table(table, out, "ppl_regions")
        write_table(gaps, out, "ppl_gap")
        mode = "paper-compatible (1024-token truncation)" if paper_compat else "identical body tokens"
        plots.perplexity_heatmap(table, out / "ppl_heatmap.png", note=mode)
        plots.gap_bars(gaps, out / "ppl_gap.png", note=mode)
        results = write_results(
            out,
            "ppl",
            {
                "split": split,
                "fields": list(template.fields),
                "paper_compat": paper_compat,
                "limit": limit,
                "max_length": max_length,
                "stride": stride,
                "n_boot": n_boot,
                "seed": seed,
                "min_n": min_n,
                "n_documents": documents.height,
            },
            {"regions": table_records(table), "gap": table_records(gaps)},
            {"model": model},
            _tokenizer_info(tokenizer, model, tok),
            corpus,
        )
        _report(
            results,
            as_json,
            lambda: show_table(
                _flagged(
                    gaps.select("level", "region", "n_docs", "ppl_without", "ppl_with", "gap", "gap_low", "gap_high"),
                    gaps,
                ),
                f"Perplexity gain from metadata ({documents.height} documents, {mode})",
                console,
            ),
        )

    _run(action)


@eval_app.command("cross")
def cross_command(
    models: list[str] = typer.Option(
        ...,
        "--model",
        help="LABEL=PATH (repeatable); a label equal to a test region (IN, Africa) marks that cell in-region.",
    ),
    corpus: list[Path] = CORPUS,
    split: str = SPLIT,
    level: str = typer.Option("country", "--level", help="Test regions: country | continent."),
    fields: str = FIELDS,
    limit: int | None = LIMIT,
    device: str = DEVICE,
    dtype: str = DTYPE,
    batch_size: int = BATCH,
    max_length: int | None = MAX_LENGTH,
    stride: int | None = STRIDE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    min_n: int = MIN_N,
    out: Path = OUT,
    as_json: bool = JSON_OUT,
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
        documents = load_eval_documents(corpus, None if split == "all" else split, template, limit)
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
                min_docs=min_n,
            )
        write_table(cells, out, "cross_matrix")
        condition = "with metadata" if template.fields else "without metadata"
        plots.cross_matrix_heatmap(
            cells, out / "cross_matrix.png", condition=f"{condition} ({', '.join(template.fields) or 'no prefix'})"
        )
        results = write_results(
            out,
            "cross",
            {
                "split": split,
                "level": level,
                "fields": list(template.fields),
                "limit": limit,
                "n_boot": n_boot,
                "seed": seed,
                "min_n": min_n,
                "n_documents": documents.height,
            },
            {"cells": table_records(cells)},
            named,
            None,
            corpus,
        )
        _report(results, as_json, lambda: show_table(cells, "Cross-region perplexity", console))

    _run(action)


def _protocol(
    name: str,
    metadata: str,
    base_url: str,
    outlets: Path | None,
    answer_cue: str,
    exact_option_text: bool,
    shuffle_seed: int,
    no_shuffle: bool,
    length_alpha: float,
    calibration: str,
    calibration_beta: float,
) -> Protocol:
    return Protocol(
        name=name,
        metadata=QuestionMetadata(level=metadata, base_url=base_url, outlets=_outlets(outlets)),
        answer_cue=answer_cue,
        exact_option_text=exact_option_text,
        shuffle_seed=None if no_shuffle else shuffle_seed,
        length_alpha=length_alpha,
        calibration=calibration,
        calibration_beta=calibration_beta,
    )


def _tokenizer_info(tokenizer_path: Path | None, model: Path, tok: object) -> dict:
    return tokenizer_record(tokenizer_path or model, tok)


@eval_app.command("mcq")
def mcq_command(
    model: Path = MODEL,
    data: Path | None = typer.Option(None, "--data", help="QA .jsonl or .parquet; default: the paper's 800 MCQs."),
    split_type: str | None = typer.Option(None, "--split-type", help="LocalNewsQA: explicit | ambiguous."),
    protocol: str = PROTOCOL,
    metadata: str = METADATA,
    base_url: str = BASE_URL,
    outlets: Path | None = OUTLETS,
    answer_cue: str = ANSWER_CUE,
    exact_option_text: bool = EXACT_TEXT,
    shuffle_seed: int = SHUFFLE_SEED,
    no_shuffle: bool = NO_SHUFFLE,
    length_alpha: float = LENGTH_ALPHA,
    calibration: str = CALIBRATION,
    calibration_beta: float = CALIBRATION_BETA,
    start_token: bool = START_TOKEN,
    limit: int | None = LIMIT,
    metric: str | None = typer.Option(None, "--plot-metric", help="acc | acc_norm | acc_norm_tokens | first_option"),
    tokenizer: Path | None = TOKENIZER,
    device: str = DEVICE,
    dtype: str = DTYPE,
    batch_size: int = MCQ_BATCH,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    min_n: int = MIN_N,
    out: Path = OUT,
    as_json: bool = JSON_OUT,
) -> None:
    """Localized MCQ accuracy per country and continent under a protocol, beside the position baseline."""

    def action() -> None:
        chosen = _protocol(
            protocol,
            metadata,
            base_url,
            outlets,
            answer_cue,
            exact_option_text,
            shuffle_seed,
            no_shuffle,
            length_alpha,
            calibration,
            calibration_beta,
        )
        data_path = data or _default_qa("localized_news_mcq_800.jsonl")
        items = load_mcq(data_path, split_type, limit)
        lm, tok = load_causal_lm(model, tokenizer, device, dtype)
        with _progress() as bar:
            per_question = score_mcq(
                lm,
                tok,
                items,
                chosen,
                ScoringSettings(batch_size=batch_size, start_token=start_token),
                RichProgress(bar),
            )
        per_question.write_parquet(_mkdir(out) / "mcq_questions.parquet")
        table = accuracy_table(per_question, n_boot, seed, min_n=min_n)
        write_table(table, out, "mcq_accuracy")
        plot_metric = metric or chosen.primary_rule
        plots.accuracy_bars(table, out / "mcq_accuracy.png", plot_metric, title_note=_protocol_note(chosen))
        results = write_results(
            out,
            "mcq",
            {
                **chosen.describe(),
                "split_type": split_type,
                "limit": limit,
                "start_token": start_token,
                "n_boot": n_boot,
                "seed": seed,
                "min_n": min_n,
                "n_questions": len(items),
            },
            {"primary_rule": chosen.primary_rule, "table": table_records(table)},
            {"model": model},
            _tokenizer_info(tokenizer, model, tok),
            [data_path],
        )
        _report(
            results,
            as_json,
            lambda: show_table(
                _flagged(with_intervals(table, [*METRICS, "first_option"], ["level", "region", "n"]), table),
                f"Localized MCQ ({len(items)} questions, protocol {chosen.name}, metadata {metadata}, "
                f"primary {chosen.primary_rule}; first_option = always pick the first shown option)",
                console,
            ),
        )

    _run(action)


@eval_app.command("switch")
def switch_command(
    model: Path = MODEL,
    data: Path | None = typer.Option(None, "--data", help="Default: LocalNewsQA's ambiguous split."),
    protocol: str = PROTOCOL,
    metadata: str = METADATA,
    base_url: str = BASE_URL,
    outlets: Path | None = OUTLETS,
    answer_cue: str = ANSWER_CUE,
    exact_option_text: bool = EXACT_TEXT,
    seeds: str = typer.Option(
        ",".join(str(s) for s in PAPER_SWITCH_SEEDS), "--seeds", help="Option-order seeds; 'none' = file order."
    ),
    length_alpha: float = LENGTH_ALPHA,
    calibration: str = CALIBRATION,
    calibration_beta: float = CALIBRATION_BETA,
    rule: str = typer.Option("tokens", "--rule", help=f"Which option is preferred: {', '.join(RULES)}."),
    start_token: bool = START_TOKEN,
    limit: int | None = LIMIT,
    tokenizer: Path | None = TOKENIZER,
    device: str = DEVICE,
    dtype: str = DTYPE,
    batch_size: int = MCQ_BATCH,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    min_n: int = MIN_N,
    out: Path = OUT,
    as_json: bool = JSON_OUT,
) -> None:
    """Locale switch: exact-pair and margin switch rates under target vs contrast metadata."""

    def action() -> None:
        chosen = _protocol(
            protocol,
            metadata,
            base_url,
            outlets,
            answer_cue,
            exact_option_text,
            PAPER_SHUFFLE_SEED,
            False,
            length_alpha,
            calibration,
            calibration_beta,
        )
        seed_list = _seeds(seeds)
        data_path = data or _default_qa("localnewsqa_gold_20260516.parquet")
        items = load_switch_items(data_path, "ambiguous", limit)
        lm, tok = load_causal_lm(model, tokenizer, device, dtype)
        with _progress() as bar:
            per_question = score_locale_switch(
                lm,
                tok,
                items,
                chosen,
                rule,
                seed_list,
                ScoringSettings(batch_size=batch_size, start_token=start_token),
                RichProgress(bar),
            )
        per_question.write_parquet(_mkdir(out) / "switch_questions.parquet")
        table = switch_table(per_question, n_boot, seed, min_n=min_n)
        write_table(table, out, "switch_pairs")
        plots.switch_bars(table, out / "switch.png", title_note=_protocol_note(chosen, seed_list))
        settings = {**chosen.describe(), "shuffle_seed": None, "seeds": seed_list, "rule": rule}
        results = write_results(
            out,
            "switch",
            {**settings, "limit": limit, "start_token": start_token, "n_boot": n_boot, "seed": seed, "min_n": min_n},
            {"table": table_records(table)},
            {"model": model},
            _tokenizer_info(tokenizer, model, tok),
            [data_path],
        )
        shown = _flagged(with_intervals(table, ["margin_switch", "exact_pair"], ["pair", "n"]), table).join(
            table.select("pair", "target_correct", "contrast_correct", "changed"), on="pair", maintain_order="left"
        )
        _report(
            results,
            as_json,
            lambda: show_table(
                shown,
                f"Locale switch ({len(items)} ambiguous questions x {len(seed_list)} option orders, rule {rule})",
                console,
            ),
        )

    _run(action)


def _seeds(text: str) -> list[int | None]:
    if text.strip().lower() == "none":
        return [None]
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise EvaluationError(f"--seeds {text!r}: expected comma-separated integers or 'none'") from None


def _protocol_note(protocol: Protocol, seeds: list[int | None] | None = None) -> str:
    """Plot subtitle; ``seeds``: the switch's option orders (None = file order), which replace the protocol's."""
    if seeds:
        orders = ", ".join("file order" if seed is None else str(seed) for seed in seeds)
        shuffle = f"shuffled with seeds {orders} (averaged per question)"
    else:
        shuffle = "file order" if protocol.shuffle_seed is None else f"shuffled (seed {protocol.shuffle_seed})"
    return f"protocol {protocol.name}, metadata {protocol.metadata.level}, options {shuffle}"


def _flagged(shown: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """Mark rows whose region has too few items, so a degenerate interval is not read as certainty."""
    return shown.with_columns(pl.when(table["small_n"]).then(pl.lit("small n")).otherwise(pl.lit("")).alias("flag"))


def _merge_settings(spec: MergeSpec) -> dict:
    """The merge's settings with only the keys its method uses (no TIES density on a linear merge)."""
    used = {
        "linear": ("alpha",),
        "task_arithmetic": ("lam", "mu"),
        "ties": ("lam", "mu", "density"),
        "dare": ("lam", "mu", "density", "seed"),
    }[spec.method]
    return {"method": spec.method, **{key: getattr(spec, key) for key in used}}


@eval_app.command("merge")
def merge_command(
    global_model: Path = typer.Option(..., "--global", help="Global model folder."),
    regional_model: Path = typer.Option(..., "--regional", help="Regional model folder."),
    out: Path = typer.Option(..., "--out", help="Folder for the merged checkpoint."),
    method: str | None = typer.Option(
        None,
        "--method",
        help="linear | task_arithmetic | ties | dare; default: linear, or task_arithmetic with --base.",
    ),
    alpha: float | None = typer.Option(None, "--alpha", help="Linear: (1-alpha)*global + alpha*regional."),
    base: Path | None = typer.Option(None, "--base", help="The checkpoint both were trained from (init_from)."),
    lam: float = typer.Option(1.0, "--lam", help="Weight of (regional - base)."),
    mu: float = typer.Option(1.0, "--mu", help="Weight of (global - base)."),
    density: float = typer.Option(0.2, "--density", help="TIES: share kept by magnitude; DARE: kept at random."),
    seed: int = typer.Option(0, "--seed", help="DARE's drop mask."),
    tokenizer: Path | None = TOKENIZER,
    as_json: bool = JSON_OUT,
) -> None:
    """Merge a regional model into a global one; save it with its tokenizer, recipe YAML and model card."""

    def action() -> None:
        spec = MergeSpec(method or ("linear" if base is None else "task_arithmetic"), alpha, lam, mu, density, seed)
        saved = merge_checkpoints(
            out, global_model, regional_model, base_path=base, tokenizer_path=tokenizer, spec=spec
        )
        models = {"global": global_model, "regional": regional_model, **({"base": base} if base else {})}
        results = write_results(
            out,
            "merge",
            _merge_settings(spec),
            {"merged": str(saved), "merged_weights": model_record(saved)["weights"]},
            models,
            tokenizer_record(tokenizer or global_model),
        )
        _report(
            results,
            as_json,
            lambda: console.print(f"merged checkpoint ({spec.method}): {saved} (recipe: {saved / RECIPE_FILE})"),
        )

    _run(action)


@eval_app.command("merge-sweep")
def merge_sweep_command(
    global_model: Path = typer.Option(..., "--global", help="Global model folder (alpha 0) or a training run folder."),
    regional_model: Path = typer.Option(
        ..., "--regional", help="Regional model folder (alpha 1), fine-tuned from the global one."
    ),
    corpus: list[Path] = CORPUS,
    region: str = typer.Option(..., "--region", help="Country code or continent of the regional model."),
    alphas: str = typer.Option(
        "0,0.25,0.5,0.75,1", "--alphas", help="Comma-separated merge weights: (1-alpha)*global + alpha*regional."
    ),
    split: str = SPLIT,
    fields: str = FIELDS,
    save_checkpoints: Path | None = typer.Option(None, "--save-checkpoints", help="Also save each merge here."),
    limit: int | None = LIMIT,
    tokenizer: Path | None = TOKENIZER,
    device: str = DEVICE,
    batch_size: int = BATCH,
    max_length: int | None = MAX_LENGTH,
    stride: int | None = STRIDE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    min_n: int = MIN_N,
    out: Path = OUT,
    as_json: bool = JSON_OUT,
) -> None:
    """Linear merges over an alpha grid: in-region vs global perplexity, and the trade-off plot.

    Meaningful for a regional model fine-tuned from the global one (or both from one base, the
    trainer's init_from); for independently initialised models every interior alpha is noise.
    """

    def action() -> None:
        try:
            grid = [float(a) for a in alphas.split(",") if a.strip()]
        except ValueError:
            raise EvaluationError(f"--alphas {alphas!r}: expected comma-separated numbers") from None
        template = MetadataTemplate(fields=_fields(fields))
        documents = load_eval_documents(corpus, None if split == "all" else split, template, limit)
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
                min_docs=min_n,
            )
        write_table(sweep, out, "merge_sweep")
        plots.merge_tradeoff(sweep, out / "merge_tradeoff.png", region=region)
        results = write_results(
            out,
            "merge-sweep",
            {
                "region": region,
                "alphas": grid,
                "split": split,
                "fields": list(template.fields),
                "limit": limit,
                "n_boot": n_boot,
                "seed": seed,
                "min_n": min_n,
                "n_documents": documents.height,
            },
            {"sweep": table_records(sweep)},
            {"global": global_model, "regional": regional_model},
            tokenizer_record(tokenizer or global_model),
            corpus,
        )
        _report(results, as_json, lambda: show_table(sweep, f"Merge sweep, region {region}", console))

    _run(action)


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder
