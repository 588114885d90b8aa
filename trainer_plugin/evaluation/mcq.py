"""Localized multiple-choice QA scored by log-likelihood, as lm-evaluation-harness does.

Each option is a continuation `` {option}`` of ``[prefix]Question: {q}\\nAnswer:``. Three choices
are reported: ``acc`` (highest summed log-likelihood), ``acc_norm`` (log-likelihood divided by the
option's length in characters, without the leading space: lm-eval-harness's acc_norm) and
``acc_norm_tokens`` (divided by its number of scored tokens). An optional metadata prefix names the
question's country, so a metadata-conditioned model can be asked "as a Kenyan news reader".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from trainer_plugin.evaluation.bootstrap import mean_ci
from trainer_plugin.evaluation.progress import SILENT, ProgressHook
from trainer_plugin.evaluation.qa_data import MCQItem
from trainer_plugin.evaluation.question_metadata import NO_QUESTION_METADATA, QuestionMetadata
from trainer_plugin.evaluation.scoring import ScoringSettings, score_pairs

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

QUESTION_FORMAT = "Question: {question}\nAnswer:"
#: Column of each decision rule in the per-question table.
METRICS = ("acc", "acc_norm", "acc_norm_tokens")
#: Decision rule names accepted where one must be chosen (locale switch).
RULES = {"raw": "acc", "chars": "acc_norm", "tokens": "acc_norm_tokens"}


def option_pairs(question: str, options: Sequence[str], prefix: str) -> list[tuple[str, str]]:
    """(context, continuation) per option."""
    context = prefix + QUESTION_FORMAT.format(question=question)
    return [(context, " " + option) for option in options]


def choices(loglik: np.ndarray, n_tokens: np.ndarray, options: Sequence[str]) -> dict[str, int]:
    """The option index each decision rule picks (ties: the first option)."""
    n_chars = np.array([max(len(o), 1) for o in options], dtype=np.float64)
    return {
        "acc": int(np.argmax(loglik)),
        "acc_norm": int(np.argmax(loglik / n_chars)),
        "acc_norm_tokens": int(np.argmax(loglik / np.maximum(n_tokens, 1))),
    }


def score_option_sets(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[tuple[str, Sequence[str], str]],
    settings: ScoringSettings,
    progress: ProgressHook = SILENT,
    description: str = "options",
) -> list[dict[str, int | list[float]]]:
    """For (question, options, prefix) triples: each rule's pick and the options' log-likelihoods."""
    pairs, owners = [], []
    for number, (question, options, prefix) in enumerate(questions):
        pairs += option_pairs(question, options, prefix)
        owners += [number] * len(options)
    nll, counts = score_pairs(model, tokenizer, pairs, settings, progress, description)
    owners_array = np.array(owners)
    results = []
    for number, (_, options, _) in enumerate(questions):
        mask = owners_array == number
        loglik = -nll[mask]
        results.append({**choices(loglik, counts[mask], options), "loglik": loglik.tolist()})
    return results


def score_mcq(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[MCQItem],
    metadata: QuestionMetadata = NO_QUESTION_METADATA,
    settings: ScoringSettings = ScoringSettings(batch_size=32),
    progress: ProgressHook = SILENT,
) -> pl.DataFrame:
    """One row per question: picks and 0/1 correctness under each rule."""
    metadata.check_countries(item.country for item in items)
    questions = [(i.question, i.options, metadata.prefix(i.country, i.continent)) for i in items]
    picks = score_option_sets(model, tokenizer, questions, settings, progress, "mcq")
    rows = []
    for item, pick in zip(items, picks):
        row = {"id": item.id, "country": item.country, "continent": item.continent, "answer": item.answer}
        for metric in METRICS:
            row[f"pred_{metric}"] = pick[metric]
            row[metric] = float(pick[metric] == item.answer)
        row["loglik"] = pick["loglik"]
        rows.append(row)
    return pl.DataFrame(rows)


def accuracy_table(per_question: pl.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> pl.DataFrame:
    """Accuracy under each rule with a bootstrap interval, overall, per continent and per country."""
    groups = [("all", "all", per_question)]
    for column in ("continent", "country"):
        for (region,), rows in per_question.group_by(column, maintain_order=True):
            groups.append((column, region, rows))
    out = []
    for level_name, region, rows in groups:
        record = {"level": level_name, "region": region, "n": rows.height}
        for metric in METRICS:
            values = rows[metric].to_numpy()
            record[metric] = float(values.mean())
            record[f"{metric}_low"], record[f"{metric}_high"] = mean_ci(values, n_boot, seed, level)
        out.append(record)
    order = {"all": 0, "continent": 1, "country": 2}
    return pl.DataFrame(out).sort(pl.col("level").replace_strict(order, return_dtype=pl.Int32), "region")
