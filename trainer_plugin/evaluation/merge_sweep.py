"""Sweep the linear merge weight and measure in-region vs global perplexity at each step.

Meaningful only for models that share a starting point: a regional model fine-tuned from the global
one, or both trained from one base (the trainer's ``init_from``). Between independently initialised
models every interior alpha averages unrelated weights.

The trade-off a merged model makes: as alpha moves weight to the regional model, perplexity on the
region's documents should fall and perplexity on everyone's documents may rise. Both are measured
on the same held-out corpus: "in_region" is the documents whose country or continent equals the
region, "global" is all documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from trainer_plugin.evaluation.bootstrap import ratio_ci
from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.merge import check_compatible, linear_state, load_for_merge, save_merged
from trainer_plugin.evaluation.perplexity import DEFAULT_MIN_DOCS, score_documents
from trainer_plugin.evaluation.progress import SILENT, ProgressHook
from trainer_plugin.evaluation.runtime import resolve_device
from trainer_plugin.evaluation.scoring import ScoringSettings
from trainer_plugin.template import PAPER_TEMPLATE, MetadataTemplate
from trainer_plugin.tokenizer import load_tokenizer


def in_region(documents: pl.DataFrame, region: str) -> pl.DataFrame:
    """Documents whose country (ISO, case-insensitive) or continent equals ``region``."""
    chosen = documents.filter(
        (pl.col("country").str.to_uppercase() == region.upper())
        | (pl.col("continent").str.to_lowercase() == region.lower())
    )
    if chosen.height == 0:
        raise EvaluationError(f"no evaluation documents for region {region!r} (a country code or continent)")
    return chosen


def _summarise(scores: pl.DataFrame, alpha: float, subset: str, n_boot: int, seed: int, min_docs: int) -> list[dict]:
    rows = []
    for (condition,), group in scores.group_by("condition", maintain_order=True):
        nll, tokens = group["nll"].to_numpy(), group["n_tokens"].to_numpy()
        low, high = ratio_ci(nll, tokens, n_boot, seed)
        rows.append(
            {
                "alpha": alpha,
                "subset": subset,
                "condition": condition,
                "n_docs": group.height,
                "small_n": group.height < min_docs,
                "ppl": float(np.exp(nll.sum() / tokens.sum())),
                "ppl_low": float(np.exp(low)),
                "ppl_high": float(np.exp(high)),
            }
        )
    return rows


def merge_sweep(
    global_path: str | Path,
    regional_path: str | Path,
    alphas: Sequence[float],
    documents: pl.DataFrame,
    region: str,
    template: MetadataTemplate = PAPER_TEMPLATE,
    settings: ScoringSettings = ScoringSettings(),
    device: str = "auto",
    tokenizer_path: str | Path | None = None,
    save_dir: str | Path | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    progress: ProgressHook = SILENT,
    min_docs: int = DEFAULT_MIN_DOCS,
) -> pl.DataFrame:
    """Rows (alpha, subset in_region|global, condition, ppl with interval) for every alpha."""
    in_region(documents, region)  # fail before loading models when the region has no documents
    global_model, regional_model = load_for_merge(global_path), load_for_merge(regional_path)
    check_compatible({"global": global_model, "regional": regional_model})
    global_state = {k: v.clone() for k, v in global_model.state_dict().items()}
    regional_state = regional_model.state_dict()
    tokenizer = load_tokenizer(tokenizer_path or global_path)
    target = resolve_device(device)
    working = global_model
    rows = []
    for alpha in alphas:
        # transformers types its @wraps'd PreTrainedModel.to without binding self, hence the ignores
        working.to("cpu").load_state_dict(linear_state(global_state, regional_state, float(alpha)))  # type: ignore[arg-type]
        if save_dir is not None:
            save_merged(working, Path(save_dir) / f"alpha_{alpha:g}", tokenizer_path or global_path)
        working.to(target).eval()  # type: ignore[arg-type]  # as above
        scores = score_documents(working, tokenizer, documents, template, settings, progress)
        rows += _summarise(in_region(scores, region), float(alpha), "in_region", n_boot, seed, min_docs)
        rows += _summarise(scores, float(alpha), "global", n_boot, seed, min_docs)
    return pl.DataFrame(rows)
