"""Locale switching: does the model's answer to an ambiguous question follow the metadata?

Each ambiguous question is scored three times: with the target country's metadata, with the
contrast country's, and with none. A question *switches* when the preferred option is the target
answer under target metadata and the contrast answer under contrast metadata; the switch rate per
country pair is the share of such questions. Follow rates per condition and the no-metadata
baseline show which side fails when a question does not switch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from trainer_plugin.evaluation.bootstrap import mean_ci
from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.mcq import RULES, score_option_sets
from trainer_plugin.evaluation.progress import SILENT, ProgressHook
from trainer_plugin.evaluation.qa_data import SwitchItem
from trainer_plugin.evaluation.question_metadata import QuestionMetadata
from trainer_plugin.evaluation.scoring import ScoringSettings

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def score_locale_switch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[SwitchItem],
    metadata: QuestionMetadata = QuestionMetadata(),
    rule: str = "chars",
    settings: ScoringSettings = ScoringSettings(batch_size=32),
    progress: ProgressHook = SILENT,
) -> pl.DataFrame:
    """One row per question: the pick under target, contrast and no metadata, and whether it switched."""
    if rule not in RULES:
        raise EvaluationError(f"unknown rule {rule!r}; choose one of {sorted(RULES)}")
    if not metadata.fields:
        raise EvaluationError("locale switching needs at least one metadata field (e.g. country)")
    metadata.check_countries({c for i in items for c in (i.target_country, i.contrast_country)})
    questions = []
    for item in items:
        questions += [
            (item.question, item.options, metadata.prefix(item.target_country, item.target_continent)),
            (item.question, item.options, metadata.prefix(item.contrast_country, item.contrast_continent)),
            (item.question, item.options, ""),
        ]
    picks = [p[RULES[rule]] for p in score_option_sets(model, tokenizer, questions, settings, progress, "switch")]
    rows = []
    for number, item in enumerate(items):
        under_target, under_contrast, under_none = picks[3 * number : 3 * number + 3]
        rows.append(
            {
                "id": item.id,
                "pair": f"{item.target_country}->{item.contrast_country}",
                "target_country": item.target_country,
                "contrast_country": item.contrast_country,
                "pred_target_metadata": under_target,
                "pred_contrast_metadata": under_contrast,
                "pred_no_metadata": under_none,
                "follows_target": float(under_target == item.target_answer),
                "follows_contrast": float(under_contrast == item.contrast_answer),
                "switched": float(under_target == item.target_answer and under_contrast == item.contrast_answer),
                "changed": float(under_target != under_contrast),
                "no_metadata_target": float(under_none == item.target_answer),
            }
        )
    return pl.DataFrame(rows)


def switch_table(per_question: pl.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> pl.DataFrame:
    """Rates per country pair and overall; the switch rate carries a bootstrap interval."""
    groups = [("all", per_question)] + [
        (pair, rows) for (pair,), rows in per_question.group_by("pair", maintain_order=True)
    ]
    out = []
    for pair, rows in groups:
        low, high = mean_ci(rows["switched"].to_numpy(), n_boot, seed, level)
        out.append(
            {
                "pair": pair,
                "n": rows.height,
                "switch_rate": float(rows["switched"].mean()),
                "switch_rate_low": low,
                "switch_rate_high": high,
                "follows_target": float(rows["follows_target"].mean()),
                "follows_contrast": float(rows["follows_contrast"].mean()),
                "changed": float(rows["changed"].mean()),
                "no_metadata_target": float(rows["no_metadata_target"].mean()),
            }
        )
    return pl.DataFrame(out).sort(pl.col("pair") != "all", "pair")
