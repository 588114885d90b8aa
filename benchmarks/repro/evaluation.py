"""Score every model on its study's held-out documents, in every variant its findings need.

Variants (all score the same body tokens, ``TITLE:`` on, so they compare directly):
``without`` (no prefix), ``with`` (the model's training prefix), ``swap`` (the prefix of a document
from another region: the within-model swap test). Regional models are scored on their own region
only. The MCQs are put to the ``none`` and ``full`` models by the paper's protocol, the latter with
the question's metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from benchmarks.repro.training import ModelSpec
from trainer_plugin.conditions import load_condition
from trainer_plugin.evaluation.scoring import ScoringSettings, score_pairs
from trainer_plugin.template import MetadataTemplate

BARE = MetadataTemplate(fields=())


def eval_documents(study_dir: Path) -> pl.DataFrame:
    return pl.read_parquet(study_dir / "eval-00000.parquet")


def swapped(documents: pl.DataFrame) -> pl.DataFrame:
    """Each document with the metadata of a document from the next region (regions sorted, cyclic):
    the body is unchanged, only the prefix lies."""
    regions = sorted(documents["continent"].unique().to_list())
    if len(regions) < 2:
        raise SystemExit("the swap test needs at least two regions")
    by_region = {r: documents.filter(pl.col("continent") == r) for r in regions}
    url, country, continent = [], [], []
    for index, region in enumerate(documents["continent"]):
        other = by_region[regions[(regions.index(region) + 1) % len(regions)]]
        row = other.row(index % other.height, named=True)
        url.append(row["url_normalized"])
        country.append(row["country"])
        continent.append(row["continent"])
    return documents.with_columns(
        pl.Series("url_normalized", url), pl.Series("country", country), pl.Series("continent", continent)
    )


def variants(
    spec: ModelSpec, documents: pl.DataFrame, left_out: str
) -> dict[str, tuple[MetadataTemplate, pl.DataFrame]]:
    """The variants one model's findings read, each with its template and documents (nothing else is
    scored: scoring is most of a small run's time)."""
    if spec.label.startswith("regional:"):
        region = spec.label.partition(":")[2]
        return {"without": (BARE, documents.filter(pl.col("continent") == region))}
    fields = tuple(load_condition(spec.condition).metadata)
    prefixed = MetadataTemplate(fields=fields) if fields else BARE
    if spec.label == "none":
        return {"without": (BARE, documents)}
    if spec.label == "url":
        return {"with": (prefixed, documents)}
    if spec.label == "loo":
        return {"with": (prefixed, documents.filter(pl.col("continent") == left_out))}
    return {"with": (prefixed, documents), "without": (BARE, documents), "swap": (prefixed, swapped(documents))}


def score_model(
    spec: ModelSpec,
    checkpoint: str,
    tokenizer_dir: Path,
    study_dir: Path,
    left_out: str,
    batch_size: int,
    device: str,
) -> pl.DataFrame:
    """Rows: model, study, label, seed, variant, id, region, nll, n_tokens."""
    from trainer_plugin.evaluation.runtime import load_causal_lm

    model, tokenizer = load_causal_lm(checkpoint, tokenizer_dir, device=device, dtype="float32")
    documents = eval_documents(study_dir)
    frames = []
    for variant, (template, docs) in variants(spec, documents, left_out).items():
        pairs = [template.render(doc) for doc in docs.to_dicts()]
        nll, counts = score_pairs(model, tokenizer, pairs, ScoringSettings(batch_size=batch_size))
        frames.append(
            pl.DataFrame(
                {
                    "id": docs["id"],
                    "region": documents["continent"] if variant == "swap" else docs["continent"],  # swap: same order
                    "nll": nll,
                    "n_tokens": counts,
                }
            ).with_columns(
                pl.lit(spec.name).alias("model"),
                pl.lit(spec.study).alias("study"),
                pl.lit(spec.label).alias("label"),
                pl.lit(spec.seed).alias("seed"),
                pl.lit(variant).alias("variant"),
            )
        )
    return pl.concat(frames, how="vertical_relaxed")


def score_mcq_models(
    specs: list[ModelSpec],
    checkpoints: dict[str, str],
    tokenizer_dir: Path,
    mcq_path: Path,
    batch_size: int,
    device: str,
    limit: int | None,
    advance: Callable[[], None],
) -> pl.DataFrame:
    """Per question and model: 0/1 correctness under the paper's primary rule (acc_norm_tokens)."""
    from trainer_plugin.evaluation.mcq import score_mcq
    from trainer_plugin.evaluation.protocols import Protocol
    from trainer_plugin.evaluation.qa_data import load_mcq
    from trainer_plugin.evaluation.question_metadata import QuestionMetadata
    from trainer_plugin.evaluation.runtime import load_causal_lm

    items = load_mcq(mcq_path, limit=limit)
    frames = []
    for spec in specs:
        protocol = Protocol(metadata=QuestionMetadata(level="full" if spec.label == "full" else "none"))
        model, tokenizer = load_causal_lm(checkpoints[spec.name], tokenizer_dir, device=device, dtype="float32")
        rows = score_mcq(model, tokenizer, items, protocol=protocol, settings=ScoringSettings(batch_size=batch_size))
        frames.append(
            rows.select("id", "continent", pl.col(protocol.primary_rule).alias("correct"), "n_options").with_columns(
                pl.lit(spec.label).alias("label"), pl.lit(spec.seed).alias("seed")
            )
        )
        advance()
    return pl.concat(frames)
