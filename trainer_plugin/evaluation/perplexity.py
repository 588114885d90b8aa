"""Per-region perplexity of held-out documents, each scored with and without its metadata prefix.

Default: only body tokens (from ``TITLE:`` on) count, every one of them (long documents by a sliding
window), so both conditions score exactly the same tokens and their perplexities compare directly.

``paper_compat``: as the paper's ``18_perplexity_eval.py`` (iamshnoo/metadata_localization,
``src_live/``, l.79-122): the whole text (prefix included) is tokenized with the tokenizer's special
tokens and truncated at 1024 tokens, and tokens are scored from the one after the first ``TITLE:``
token sequence (the first title token itself is unscored; without a match, every token is). A
metadata prefix then leaves fewer body tokens inside the 1024, and a long document is cut, so the two
conditions score different token sets: comparable with the paper's numbers, not with each other.

Perplexity is micro-averaged per region: exp(sum NLL / sum tokens) over the region's documents, with
a bootstrap interval that resamples documents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from trainer_plugin.evaluation.bootstrap import perplexity_gap_ci, ratio_ci
from trainer_plugin.evaluation.progress import SILENT, ProgressHook
from trainer_plugin.evaluation.scoring import ScoreRow, ScoringSettings, score_pairs, score_rows
from trainer_plugin.template import PAPER_TEMPLATE, MetadataTemplate

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

WITH_METADATA = "with_metadata"
WITHOUT_METADATA = "without_metadata"
#: Region levels of the tables, coarsest first.
LEVELS = ("all", "continent", "country")
#: Regions with fewer documents than this are flagged ``small_n`` (a 1-document region's interval
#: collapses to a point, e.g. ``+0.66 [+0.66, +0.66]``, which reads as certainty).
DEFAULT_MIN_DOCS = 30
#: 18_perplexity_eval.py truncates every text at this many tokens (l.79, ``max_length=1024``).
PAPER_MAX_LENGTH = 1024


def conditions_for(template: MetadataTemplate = PAPER_TEMPLATE) -> dict[str, MetadataTemplate]:
    """The two conditions: the template, and the same body layout with no metadata lines."""
    return {WITH_METADATA: template, WITHOUT_METADATA: dataclasses.replace(template, fields=())}


def score_documents(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    documents: pl.DataFrame,
    template: MetadataTemplate = PAPER_TEMPLATE,
    settings: ScoringSettings = ScoringSettings(),
    progress: ProgressHook = SILENT,
    paper_compat: bool = False,
) -> pl.DataFrame:
    """One row per document and condition: id, country, continent, condition, nll, n_tokens."""
    records = documents.to_dicts()
    frames = []
    for condition, condition_template in conditions_for(template).items():
        pairs = [condition_template.render(doc) for doc in records]
        if paper_compat:
            nll, counts = _score_paper_compat(model, tokenizer, pairs, settings, progress, f"ppl {condition}")
        else:
            nll, counts = score_pairs(model, tokenizer, pairs, settings, progress, f"ppl {condition}")
        frames.append(
            pl.DataFrame(
                {
                    "id": [doc["id"] for doc in records],
                    "country": [doc["country"] for doc in records],
                    "continent": [doc["continent"] for doc in records],
                    "condition": condition,
                    "nll": nll,
                    "n_tokens": counts,
                }
            )
        )
    return pl.concat(frames)


def paper_compat_row(request: int, ids: Sequence[int], title_ids: Sequence[int]) -> ScoreRow:
    """The row 18_perplexity_eval.py scores: tokens after the first ``TITLE:`` match, else all but the first."""
    width = len(title_ids)
    title_pos = next((i for i in range(len(ids) - width + 1) if list(ids[i : i + width]) == list(title_ids)), None)
    first_scored = 1 if title_pos is None else title_pos + 1
    return ScoreRow(request, tuple(ids), max(0, len(ids) - first_scored))


def _score_paper_compat(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[tuple[str, str]],
    settings: ScoringSettings,
    progress: ProgressHook,
    description: str,
) -> tuple[np.ndarray, np.ndarray]:
    max_length = settings.max_length or PAPER_MAX_LENGTH
    title_ids = tokenizer.encode("TITLE:", add_special_tokens=False)
    rows = []
    for index, (prefix, body) in enumerate(pairs):
        ids = tokenizer(prefix + body, truncation=True, max_length=max_length)["input_ids"]
        row = paper_compat_row(index, ids, title_ids)
        if row.n_scored > 0:  # the paper skips a text with nothing to score (l.119-120)
            rows.append(row)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    progress.start(len(rows), description)
    return score_rows(model, rows, len(pairs), pad_id, settings.batch_size, progress.advance)


def _groups(doc_scores: pl.DataFrame) -> Iterator[tuple[str, Any, pl.DataFrame]]:
    """(level, region, rows) for the whole set, each continent and each country."""
    yield "all", "all", doc_scores
    for level in ("continent", "country"):
        for (region,), rows in doc_scores.group_by(level, maintain_order=True):
            yield level, region, rows


def region_table(
    doc_scores: pl.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95, min_docs: int = DEFAULT_MIN_DOCS
) -> pl.DataFrame:
    """Micro-averaged perplexity with a bootstrap interval per (level, region, condition); ``small_n``
    flags regions with fewer than ``min_docs`` documents."""
    rows = []
    for level_name, region, group in _groups(doc_scores):
        for (condition,), cond_rows in group.group_by("condition", maintain_order=True):
            nll, tokens = cond_rows["nll"].to_numpy(), cond_rows["n_tokens"].to_numpy()
            low, high = ratio_ci(nll, tokens, n_boot, seed, level)
            mean_nll = float(nll.sum() / tokens.sum()) if tokens.sum() else float("nan")
            rows.append(
                {
                    "level": level_name,
                    "region": region,
                    "condition": condition,
                    "n_docs": cond_rows.height,
                    "small_n": cond_rows.height < min_docs,
                    "n_tokens": int(tokens.sum()),
                    "mean_nll": mean_nll,
                    "ppl": float(np.exp(mean_nll)),
                    "ppl_low": float(np.exp(low)),
                    "ppl_high": float(np.exp(high)),
                }
            )
    return _sorted(pl.DataFrame(rows))


def gap_table(
    doc_scores: pl.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95, min_docs: int = DEFAULT_MIN_DOCS
) -> pl.DataFrame:
    """ppl(without) - ppl(with) per region, with a paired bootstrap interval (same documents)."""
    rows = []
    for level_name, region, group in _groups(doc_scores):
        wide = group.pivot(on="condition", index="id", values=["nll", "n_tokens"], aggregate_function="sum")
        a_nll, a_tok = wide[f"nll_{WITHOUT_METADATA}"].to_numpy(), wide[f"n_tokens_{WITHOUT_METADATA}"].to_numpy()
        b_nll, b_tok = wide[f"nll_{WITH_METADATA}"].to_numpy(), wide[f"n_tokens_{WITH_METADATA}"].to_numpy()
        ppl_without = float(np.exp(a_nll.sum() / a_tok.sum()))
        ppl_with = float(np.exp(b_nll.sum() / b_tok.sum()))
        low, high = perplexity_gap_ci(a_nll, a_tok, b_nll, b_tok, n_boot, seed, level)
        rows.append(
            {
                "level": level_name,
                "region": region,
                "n_docs": wide.height,
                "small_n": wide.height < min_docs,
                "ppl_without": ppl_without,
                "ppl_with": ppl_with,
                "gap": ppl_without - ppl_with,
                "gap_low": low,
                "gap_high": high,
                "relative_gap": (ppl_without - ppl_with) / ppl_without,
            }
        )
    return _sorted(pl.DataFrame(rows))


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    order = pl.col("level").replace_strict({name: i for i, name in enumerate(LEVELS)}, return_dtype=pl.Int32)
    return frame.sort(order, "region")
