"""Several models x several test regions: is each regional model best on its own region?

Every model scores the same held-out documents; each (model, test region) cell is a micro-averaged
perplexity with a bootstrap interval. A model labelled with a region (``IN``, ``Africa``) marks the
cell where the test region equals its label as in-region; a model without a label (e.g. the global
model) has no in-region cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from trainer_plugin.evaluation.perplexity import DEFAULT_MIN_DOCS, WITH_METADATA, region_table, score_documents
from trainer_plugin.evaluation.progress import SILENT, ProgressHook
from trainer_plugin.evaluation.runtime import load_causal_lm
from trainer_plugin.evaluation.scoring import ScoringSettings
from trainer_plugin.template import PAPER_TEMPLATE, MetadataTemplate


def cross_matrix(
    models: Mapping[str, str | Path],
    documents: pl.DataFrame,
    model_regions: Mapping[str, str] | None = None,
    level: str = "country",
    condition: str = WITH_METADATA,
    template: MetadataTemplate = PAPER_TEMPLATE,
    settings: ScoringSettings = ScoringSettings(),
    device: str = "auto",
    dtype: str = "auto",
    n_boot: int = 1000,
    seed: int = 0,
    progress: ProgressHook = SILENT,
    min_docs: int = DEFAULT_MIN_DOCS,
) -> pl.DataFrame:
    """Rows (model, model_region, test_region, in_region, ppl, ppl_low, ppl_high, n_docs, small_n)."""
    model_regions = dict(model_regions or {})
    frames = []
    for name, path in models.items():
        model, tokenizer = load_causal_lm(path, device=device, dtype=dtype)
        scores = score_documents(model, tokenizer, documents, template, settings, progress)
        del model
        table = region_table(scores, n_boot, seed, min_docs=min_docs).filter(
            (pl.col("level") == level) & (pl.col("condition") == condition)
        )
        label = model_regions.get(name)
        frames.append(
            table.select(
                pl.lit(name).alias("model"),
                pl.lit(label, dtype=pl.String).alias("model_region"),
                pl.col("region").alias("test_region"),
                (pl.col("region").str.to_lowercase() == (label or "").lower()).alias("in_region"),
                "n_docs",
                "small_n",
                "ppl",
                "ppl_low",
                "ppl_high",
            )
        )
    return pl.concat(frames)
