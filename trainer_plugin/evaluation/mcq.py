"""Localized multiple-choice QA scored by log-likelihood under a named protocol (see ``protocols``).

Every question is shown with its options in the protocol's (by default shuffled) order; each
candidate continuation is scored and three decision rules are reported:
``acc`` (highest summed log-likelihood), ``acc_norm`` (divided by the option's length in characters:
lm-eval-harness's acc_norm) and ``acc_norm_tokens`` (divided by n_tokens**alpha: the paper's
``option_text_avg`` at alpha 1). With calibration on, each rule's score of the null prompt, times
beta, is subtracted. Picks are stored as indices into the *original* option list, and the table
reports the position baseline beside them: the accuracy of always taking the first shown option.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from trainer_plugin.evaluation.bootstrap import mean_ci
from trainer_plugin.evaluation.progress import SILENT, ProgressHook
from trainer_plugin.evaluation.protocols import CLOZE_FORMAT, PAPER_PROTOCOL, Protocol, option_order
from trainer_plugin.evaluation.qa_data import MCQItem
from trainer_plugin.evaluation.scoring import ScoringSettings, score_pairs

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: Column of each decision rule in the per-question table.
METRICS = ("acc", "acc_norm", "acc_norm_tokens")
#: Decision rule names accepted where one must be chosen (locale switch).
RULES = {"raw": "acc", "chars": "acc_norm", "tokens": "acc_norm_tokens"}
#: Regions with fewer scored questions than this are flagged (``small_n``) in tables, JSON and plots.
DEFAULT_MIN_N = 30


def option_pairs(question: str, options: Sequence[str], prefix: str) -> list[tuple[str, str]]:
    """(context, continuation) per option in the cloze format (kept for callers that build texts)."""
    context = prefix + CLOZE_FORMAT.format(question=question)
    return [(context, " " + option) for option in options]


@dataclass(frozen=True)
class OptionSet:
    """One prompt and its candidate continuations; ``n_chars`` is each candidate's length for acc_norm."""

    context: str
    candidates: tuple[str, ...]

    @property
    def n_chars(self) -> np.ndarray:
        return np.array([max(len(c.strip()), 1) for c in self.candidates], dtype=np.float64)


def rule_scores(loglik: np.ndarray, n_tokens: np.ndarray, n_chars: np.ndarray, alpha: float = 1.0) -> dict:
    """Each decision rule's score vector over the candidates."""
    return {
        "acc": loglik,
        "acc_norm": loglik / n_chars,
        "acc_norm_tokens": loglik / np.maximum(n_tokens, 1).astype(np.float64) ** alpha,
    }


def choices(loglik: np.ndarray, n_tokens: np.ndarray, options: Sequence[str], alpha: float = 1.0) -> dict[str, int]:
    """The option index each decision rule picks (ties: the first option)."""
    n_chars = np.array([max(len(o), 1) for o in options], dtype=np.float64)
    return {rule: int(np.argmax(s)) for rule, s in rule_scores(loglik, n_tokens, n_chars, alpha).items()}


def score_option_sets(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sets: Sequence[OptionSet],
    settings: ScoringSettings,
    progress: ProgressHook = SILENT,
    description: str = "options",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(log-likelihood, scored tokens) of every candidate of every set, in one batched pass."""
    pairs, owners = [], []
    for number, option_set in enumerate(sets):
        pairs += [(option_set.context, candidate) for candidate in option_set.candidates]
        owners += [number] * len(option_set.candidates)
    nll, counts = score_pairs(model, tokenizer, pairs, settings, progress, description)
    bounds = np.cumsum([0] + [len(s.candidates) for s in sets])
    return [(-nll[bounds[i] : bounds[i + 1]], counts[bounds[i] : bounds[i + 1]]) for i in range(len(sets))]


def combined_scores(
    protocol: Protocol,
    main: tuple[np.ndarray, np.ndarray],
    calibration: tuple[np.ndarray, np.ndarray] | None,
    n_chars: np.ndarray,
) -> dict[str, np.ndarray]:
    """Rule scores of the prompt, minus beta times those of the null prompt when calibration is on."""
    scores = rule_scores(main[0], main[1], n_chars, protocol.length_alpha)
    if calibration is None:
        return scores
    null = rule_scores(calibration[0], calibration[1], n_chars, protocol.length_alpha)
    return {rule: scores[rule] - protocol.calibration_beta * null[rule] for rule in scores}


def question_sets(
    protocol: Protocol, question: str, options: Sequence[str], key: str, country: str, continent: str, seed: int | None
) -> tuple[tuple[int, ...], OptionSet, OptionSet | None]:
    """(shown order, prompt set, null-prompt set or None) for one question under one locale."""
    order = option_order(key, len(options), seed)
    shown = [options[i] for i in order]
    candidates = tuple(protocol.candidates(shown))
    main = OptionSet(protocol.context(question, shown, country, continent), candidates)
    null_context = protocol.calibration_context(shown, country, continent)
    return order, main, OptionSet(null_context, candidates) if null_context is not None else None


def to_original(order: Sequence[int], values: np.ndarray) -> np.ndarray:
    """Values in shown order -> values in original option order."""
    out = np.empty_like(values)
    out[list(order)] = values
    return out


def score_mcq(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[MCQItem],
    protocol: Protocol = PAPER_PROTOCOL,
    settings: ScoringSettings = ScoringSettings(batch_size=32),
    progress: ProgressHook = SILENT,
) -> pl.DataFrame:
    """One row per question: each rule's pick (original option index), 0/1 correctness, position baseline."""
    protocol.metadata.check_countries(item.country for item in items)
    plans = [
        question_sets(protocol, i.question, i.options, i.key, i.country, i.continent, protocol.shuffle_seed)
        for i in items
    ]
    sets = [main for _, main, _ in plans] + [null for _, _, null in plans if null is not None]
    scored = score_option_sets(model, tokenizer, sets, settings, progress, f"mcq ({protocol.name})")
    null_scores = iter(scored[len(items) :])
    rows = []
    for item, (order, main, null), main_scores in zip(items, plans, scored[: len(items)]):
        scores = combined_scores(protocol, main_scores, next(null_scores) if null is not None else None, main.n_chars)
        answer_position = order.index(item.answer)
        row: dict = {
            "id": item.id,
            "country": item.country,
            "continent": item.continent,
            "answer": item.answer,
            "answer_position": answer_position,
            "n_options": len(item.options),
        }
        for metric in METRICS:
            row[f"pred_{metric}"] = order[int(np.argmax(scores[metric]))]
            row[metric] = float(row[f"pred_{metric}"] == item.answer)
        row["first_option"] = float(answer_position == 0)
        row["order"] = list(order)
        row["loglik"] = to_original(order, main_scores[0]).tolist()
        row["n_tokens"] = to_original(order, main_scores[1]).tolist()
        rows.append(row)
    return pl.DataFrame(rows)


def accuracy_table(
    per_question: pl.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    min_n: int = DEFAULT_MIN_N,
) -> pl.DataFrame:
    """Accuracy under each rule and of the first-option baseline, with bootstrap intervals, overall,
    per continent and per country; ``chance`` is the mean of 1/n_options; ``small_n`` flags regions
    with fewer than ``min_n`` questions (their intervals are too wide or degenerate to read)."""
    groups = [("all", "all", per_question)]
    for column in ("continent", "country"):
        for (region,), rows in per_question.group_by(column, maintain_order=True):
            groups.append((column, region, rows))
    out = []
    for level_name, region, rows in groups:
        record = {"level": level_name, "region": region, "n": rows.height, "small_n": rows.height < min_n}
        for metric in (*METRICS, "first_option"):
            values = rows[metric].to_numpy()
            record[metric] = float(values.mean())
            record[f"{metric}_low"], record[f"{metric}_high"] = mean_ci(values, n_boot, seed, level)
        record["chance"] = float((1.0 / rows["n_options"].to_numpy()).mean())
        out.append(record)
    order = {"all": 0, "continent": 1, "country": 2}
    return pl.DataFrame(out).sort(pl.col("level").replace_strict(order, return_dtype=pl.Int32), "region")
