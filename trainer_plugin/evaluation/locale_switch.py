"""Locale switching: does the model's answer to an ambiguous question follow the metadata?

Each ambiguous question is scored with the target country's metadata, with the contrast country's,
and with none, under every option-order seed. Two success rules, both from the paper's
``55_localnewsqa_locale_switch.py`` (iamshnoo/metadata_localization, ``src_live/``):

- ``exact_pair``: the top-scoring option is the target answer under target metadata *and* the
  contrast answer under contrast metadata (l.274-276);
- ``margin_switch``: the gold target beats the gold contrast under target metadata, and the reverse
  under contrast metadata (l.256-259, l.277), whatever the other two options score.

Scores use the token-normalised rule by default, as 55 does: sum / n_tokens**alpha minus beta times a
null-question score (l.121-145; the paper's 1B setting is alpha 1.25, beta 0, l.18-21). Outcomes are
averaged per item over the seeds first, and the bootstrap then resamples items (l.299-318).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from trainer_plugin.evaluation.bootstrap import mean_ci
from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.mcq import DEFAULT_MIN_N, RULES, OptionSet, combined_scores, score_option_sets
from trainer_plugin.evaluation.progress import SILENT, ProgressHook
from trainer_plugin.evaluation.protocols import PAPER_PROTOCOL, Protocol, option_order
from trainer_plugin.evaluation.qa_data import SwitchItem
from trainer_plugin.evaluation.scoring import ScoringSettings

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: The option-order seeds of the paper's switch runs (``--expected-seeds``, l.61-66).
PAPER_SWITCH_SEEDS = (41, 42, 43, 44, 45)
#: Per-item outcomes, averaged over seeds; the rates of switch_table.
OUTCOMES = (
    "exact_pair",
    "margin_switch",
    "target_correct",
    "contrast_correct",
    "changed",
    "no_metadata_target",
)
#: Which locale each of the three scorings of a question uses.
CONDITIONS = ("target", "contrast", "none")


def _condition_set(protocol: Protocol, item: SwitchItem, shown: list[str], condition: str) -> list[OptionSet]:
    """The prompt (and the null prompt when calibrating) of one condition, candidates in shown order."""
    country, continent = {
        "target": (item.target_country, item.target_continent),
        "contrast": (item.contrast_country, item.contrast_continent),
        "none": (item.target_country, item.target_continent),
    }[condition]
    with_metadata = condition != "none"
    candidates = tuple(protocol.candidates(shown))
    sets = [OptionSet(protocol.context(item.question, shown, country, continent, with_metadata), candidates)]
    null = protocol.calibration_context(shown, country, continent, with_metadata)
    if null is not None:
        sets.append(OptionSet(null, candidates))
    return sets


def score_locale_switch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[SwitchItem],
    protocol: Protocol = PAPER_PROTOCOL,
    rule: str = "tokens",
    seeds: Sequence[int | None] = PAPER_SWITCH_SEEDS,
    settings: ScoringSettings = ScoringSettings(batch_size=32),
    progress: ProgressHook = SILENT,
) -> pl.DataFrame:
    """One row per question and seed: picks under each condition (original option indices), the two
    margins and every outcome of ``OUTCOMES``."""
    if rule not in RULES:
        raise EvaluationError(f"unknown rule {rule!r}; choose one of {sorted(RULES)}")
    if not protocol.metadata.fields:
        raise EvaluationError("locale switching needs question metadata (country, continent or full), not none")
    if not seeds:
        raise EvaluationError("locale switching needs at least one option-order seed")
    protocol.metadata.check_countries({c for i in items for c in (i.target_country, i.contrast_country)})
    plans = []
    sets: list[OptionSet] = []
    for item in items:
        for seed in seeds:
            order = option_order(item.key, len(item.options), seed)
            shown = [item.options[i] for i in order]
            spans = []
            for condition in CONDITIONS:
                condition_sets = _condition_set(protocol, item, shown, condition)
                spans.append((len(sets), len(condition_sets)))
                sets += condition_sets
            plans.append((item, seed, order, spans))
    scored = score_option_sets(model, tokenizer, sets, settings, progress, "switch")
    metric = RULES[rule]
    rows = []
    for item, seed, order, spans in plans:
        scores = {}
        for condition, (start, count) in zip(CONDITIONS, spans):
            shown_scores = combined_scores(
                protocol, scored[start], scored[start + 1] if count == 2 else None, sets[start].n_chars
            )[metric]
            scores[condition] = np.empty_like(shown_scores)
            scores[condition][list(order)] = shown_scores  # back to original option order
        rows.append(
            {
                "id": item.id,
                "seed": seed,
                "pair": f"{item.target_country}->{item.contrast_country}",
                "target_country": item.target_country,
                "contrast_country": item.contrast_country,
                **switch_outcomes(scores, item.target_answer, item.contrast_answer),
            }
        )
    return pl.DataFrame(rows)


def switch_outcomes(scores: dict[str, np.ndarray], target: int, contrast: int) -> dict[str, float | int]:
    """Picks, margins and 0/1 outcomes of one question from its option scores under each condition
    (``target``, ``contrast``, ``none``; original option order)."""
    picks = {condition: int(np.argmax(values)) for condition, values in scores.items()}
    target_margin = float(scores["target"][target] - scores["target"][contrast])
    contrast_margin = float(scores["contrast"][contrast] - scores["contrast"][target])
    return {
        "pred_target_metadata": picks["target"],
        "pred_contrast_metadata": picks["contrast"],
        "pred_no_metadata": picks["none"],
        "target_margin": target_margin,
        "contrast_margin": contrast_margin,
        "target_correct": float(picks["target"] == target),
        "contrast_correct": float(picks["contrast"] == contrast),
        "exact_pair": float(picks["target"] == target and picks["contrast"] == contrast),
        "margin_switch": float(target_margin > 0.0 and contrast_margin > 0.0),
        "changed": float(picks["target"] != picks["contrast"]),
        "no_metadata_target": float(picks["none"] == target),
    }


def per_item(per_question: pl.DataFrame) -> pl.DataFrame:
    """Outcomes averaged over the option-order seeds: one row per question."""
    return per_question.group_by("id", "pair", maintain_order=True).agg(
        pl.len().alias("n_seeds"), *[pl.col(o).mean() for o in OUTCOMES]
    )


def switch_table(
    per_question: pl.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    min_n: int = DEFAULT_MIN_N,
) -> pl.DataFrame:
    """Rates per country pair and overall, each with a bootstrap interval over questions (seeds
    averaged first); ``small_n`` flags pairs with fewer than ``min_n`` questions."""
    items = per_item(per_question)
    groups = [("all", items)] + [(pair, rows) for (pair,), rows in items.group_by("pair", maintain_order=True)]
    out = []
    for pair, rows in groups:
        record: dict = {
            "pair": pair,
            "n": rows.height,
            "n_seeds": int(rows["n_seeds"].max() or 0),
            "small_n": rows.height < min_n,
        }
        for outcome in OUTCOMES:
            values = rows[outcome].to_numpy()
            record[outcome] = float(values.mean())
            record[f"{outcome}_low"], record[f"{outcome}_high"] = mean_ci(values, n_boot, seed, level)
        out.append(record)
    return pl.DataFrame(out).sort(pl.col("pair") != "all", "pair")
