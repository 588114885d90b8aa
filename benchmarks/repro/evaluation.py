"""Score every trained model on the same held-out documents, with and without the metadata prefix.

Each model sees the prefix it was trained with (``url`` gets the URL line only; ``none`` gets the
paper's full prefix, a control: a model that never saw metadata should not gain from it). Body
tokens are the same for every model (one tokenizer), so perplexities compare across models.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.progress import Progress

from trainer_plugin.conditions import load_condition
from trainer_plugin.evaluation.corpus import load_eval_documents
from trainer_plugin.evaluation.perplexity import score_documents
from trainer_plugin.evaluation.progress import ProgressHook
from trainer_plugin.evaluation.runtime import load_causal_lm
from trainer_plugin.evaluation.scoring import ScoringSettings
from trainer_plugin.template import PAPER_TEMPLATE, MetadataTemplate


class RichHook(ProgressHook):
    """Forwards the scorer's progress to one rich task."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress, self.label, self.task = progress, label, None

    def start(self, total: int, description: str = "") -> None:
        self.task = self.progress.add_task(f"{self.label} {description}", total=total)

    def advance(self, amount: int) -> None:
        self.progress.advance(self.task, amount)


def eval_template(model_name: str, left_out: str | None) -> MetadataTemplate:
    """The prefix a model is scored with: its training prefix; the paper's full one for ``none``."""
    condition = model_name.partition("@")[0]
    spec = {"name": "leave_one_out", "exclude_regions": [left_out]} if condition == "leave_one_out" else condition
    fields = load_condition(spec).metadata
    return MetadataTemplate(fields=tuple(fields)) if fields else PAPER_TEMPLATE


def eval_documents(corpus_data: Path) -> pl.DataFrame:
    """The held-out split with every column the paper's prefix reads."""
    return load_eval_documents([corpus_data], split="eval", template=PAPER_TEMPLATE)


def score_models(
    checkpoints: dict[str, str],
    tokenizer_dir: Path,
    documents: pl.DataFrame,
    left_out: str | None,
    batch_size: int,
    progress: Progress,
) -> pl.DataFrame:
    """Document scores of every model: id, country, continent, condition, nll, n_tokens, model."""
    frames = []
    for model_name, checkpoint in checkpoints.items():
        model, tokenizer = load_causal_lm(checkpoint, tokenizer_dir, device="auto", dtype="float32")
        scores = score_documents(
            model,
            tokenizer,
            documents,
            template=eval_template(model_name, left_out),
            settings=ScoringSettings(batch_size=batch_size),
            progress=RichHook(progress, model_name),
        )
        frames.append(scores.with_columns(pl.lit(model_name).alias("model")))
    return pl.concat(frames)
