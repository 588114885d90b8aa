"""The reproduction's report: one Markdown file with the tables, the verdicts and two PNGs.

Kept apart from the run so it can be rebuilt (and tested) from saved tables alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from benchmarks.repro.findings import HURT_TOLERANCE  # noqa: E402

FINDINGS = {
    "a": "metadata (url_country_continent) improves in-region perplexity vs `none` when the prefix is given",
    "b": "metadata training does not hurt other regions / the no-metadata evaluation much",
    "c": "the URL alone carries most of the signal",
    "d": "balanced coverage matters: the left-out continent is worse under leave_one_out",
}


def plot_perplexity(regions: pl.DataFrame, path: Path) -> Path:
    """Grouped bars: per region (all + continents), one bar per model, with and without prefix."""
    frame = regions.filter(pl.col("level").is_in(["all", "continent"]))
    region_names = frame["region"].unique(maintain_order=True).to_list()
    models = frame["model"].unique(maintain_order=True).to_list()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    width = 0.8 / max(1, len(models))
    for ax, condition in zip(axes, ("with_metadata", "without_metadata")):
        for i, model in enumerate(models):
            rows = {
                r["region"]: r
                for r in frame.filter((pl.col("model") == model) & (pl.col("condition") == condition)).iter_rows(
                    named=True
                )
            }
            ppl = np.array([rows[r]["ppl"] if r in rows else np.nan for r in region_names])
            low = np.array([rows[r]["ppl_low"] if r in rows else np.nan for r in region_names])
            high = np.array([rows[r]["ppl_high"] if r in rows else np.nan for r in region_names])
            x = np.arange(len(region_names)) + (i - (len(models) - 1) / 2) * width
            ax.bar(x, ppl, width, label=model, yerr=[ppl - low, high - ppl], capsize=2)
        ax.set_xticks(np.arange(len(region_names)), region_names)
        ax.set_title(f"scored {condition.replace('_', ' ')}")
        ax.set_yscale("log")
    axes[0].set_ylabel("perplexity (95% bootstrap CI)")
    axes[1].legend(title="trained on", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_gap(gaps: pl.DataFrame, path: Path) -> Path:
    """Bars of ppl(without) - ppl(with) per region and model; above zero = the prefix helps."""
    frame = gaps.filter(pl.col("level").is_in(["all", "continent"]))
    region_names = frame["region"].unique(maintain_order=True).to_list()
    models = frame["model"].unique(maintain_order=True).to_list()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(1, len(models))
    for i, model in enumerate(models):
        rows = {r["region"]: r for r in frame.filter(pl.col("model") == model).iter_rows(named=True)}
        gap = np.array([rows[r]["gap"] if r in rows else np.nan for r in region_names])
        low = np.array([rows[r]["gap_low"] if r in rows else np.nan for r in region_names])
        high = np.array([rows[r]["gap_high"] if r in rows else np.nan for r in region_names])
        x = np.arange(len(region_names)) + (i - (len(models) - 1) / 2) * width
        ax.bar(x, gap, width, label=model, yerr=[gap - low, high - gap], capsize=2)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(region_names)), region_names)
    ax.set_ylabel("ppl(without prefix) - ppl(with prefix)")
    ax.set_title("with/without-metadata gap per model (95% paired bootstrap CI)")
    ax.legend(title="trained on", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def region_markdown(regions: pl.DataFrame, min_country_docs: int) -> str:
    """Rows = regions (all, continents, countries with enough docs), columns = model x prefix."""
    frame = regions.filter((pl.col("level") != "country") | (pl.col("n_docs") >= min_country_docs))
    models = frame["model"].unique(maintain_order=True).to_list()
    header = (
        "| level | region | n docs | " + " | ".join(f"{m} {c}" for m in models for c in ("with", "without")) + " |"
    )
    lines = [header, "|" + " --- |" * (3 + 2 * len(models))]
    keys = frame.select("level", "region").unique(maintain_order=True).iter_rows()
    for level, region in keys:
        part = frame.filter((pl.col("level") == level) & (pl.col("region") == region))
        cells = []
        for m in models:
            for c in ("with_metadata", "without_metadata"):
                row = part.filter((pl.col("model") == m) & (pl.col("condition") == c))
                cells.append(
                    "-"
                    if row.height == 0
                    else f"{row['ppl'][0]:.1f} [{row['ppl_low'][0]:.1f}, {row['ppl_high'][0]:.1f}]"
                )
        lines.append(f"| {level} | {region} | {part['n_docs'][0]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparisons_markdown(comparisons: pl.DataFrame) -> str:
    lines = [
        "| finding | kind | region | comparison | n docs | estimate | 95% CI | CI excludes 0 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in comparisons.iter_rows(named=True):
        pct = r["what"].startswith(("rel.", "gain("))
        fmt = (lambda v: f"{100 * v:+.1f}%") if pct else (lambda v: f"{v:+.2f}")
        lines.append(
            f"| {r['finding']} | {r['kind']} | {r['region']} | {r['what']} | {r['n_docs']} | {fmt(r['estimate'])} | "
            f"[{fmt(r['low'])}, {fmt(r['high'])}] | {'yes' if r['excludes_zero'] else 'no'} |"
        )
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    regions: pl.DataFrame,
    gaps: pl.DataFrame,
    comparisons: pl.DataFrame,
    verdicts: dict[str, str],
    meta: dict[str, Any],
) -> Path:
    """Write ``report.md``, ``perplexity_by_condition.png`` and ``metadata_gap.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_perplexity(regions, out_dir / "perplexity_by_condition.png")
    plot_gap(gaps, out_dir / "metadata_gap.png")
    verdict_lines = "\n".join(
        f"- **({key}) {FINDINGS[key]}**: {verdicts.get(key, 'not evaluated in this run')}" for key in FINDINGS
    )
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in meta.get("timings_s", {}).items())
    text = f"""# Mini-reproduction of Mukherjee, Zhu, Anastasopoulos (2026): setting `{meta["setting"]}`

Run {meta["date"]} on {meta["machine"]}. Wall time: {meta.get("total_s", float("nan")):.0f} s ({timings}).

**Scale warning.** These are tiny models ({meta["model"]}) trained for {meta["steps"]} steps on a
few thousand real news documents, most of them headlines. Intervals are 95% percentile bootstrap
intervals over held-out documents; a direction whose interval overlaps zero is *not* evidence at this
scale, and none of this says anything about the paper's 0.5B-1B scale.

## Data
{meta["corpus_summary"]}

Leave-one-out continent: **{meta["left_out"]}** ({meta["left_out_reason"]}).

## Findings
{verdict_lines}

(b) uses a {100 * HURT_TOLERANCE:.0f}% relative tolerance for "not much". (c) compares the gain of the URL-only
model (scored with its URL line) with the gain of the full-prefix model, both against `none` scored
without a prefix.

**Two kinds of uncertainty.** The intervals resample *evaluation documents*; they do not include
*training* noise (another seed gives another model). Cross-model comparisons (a, c, d) are therefore
also checked against a noise floor: `{meta.get("noise_model") or "none"}`, the `none` condition trained
with another seed, scored like `none`. The "same model with vs without its prefix" numbers have no
model-to-model difference in them and are the cleaner measure of what the prefix itself does.

**URL slugs repeat the title.** Most kept documents are headlines whose URL slug spells the headline
(`.../texas-grid-operator-warns-potential-rolling-blackouts-...`), so part of any URL gain is copying,
not geography. The paper's NOW URLs have slugs too; the country/continent lines carry no such copy.

## Perplexity per condition x region (95% CI)
"with" = scored with the model's own training prefix (`none`: the paper's full prefix, a control),
"without" = the same body with no metadata lines. Countries with at least {meta["min_country_docs"]} eval docs.

{region_markdown(regions, meta["min_country_docs"])}

![perplexity by condition](perplexity_by_condition.png)

![with/without gap](metadata_gap.png)

## Comparisons behind the verdicts (paired bootstrap, same documents)
{comparisons_markdown(comparisons)}

## Settings
```
{meta["settings_yaml"]}
```
"""
    path = out_dir / "report.md"
    path.write_text(text, encoding="utf-8")
    return path
