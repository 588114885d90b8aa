"""PNG figures of the evaluation tables (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure


def _save(figure: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out


def _heatmap(ax: Axes, matrix: np.ndarray, rows: list[str], columns: list[str], label: str) -> None:
    image = ax.imshow(matrix, aspect="auto", cmap="viridis_r")
    norm = cast("Normalize", image.norm)  # imshow's default norm: a Normalize, which also takes scalars
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i in range(len(rows)):
        for j in range(len(columns)):
            if np.isfinite(matrix[i, j]):
                light_cell = norm(matrix[i, j]) < 0.5  # the light (yellow) end of viridis_r
                ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:.4g}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if light_cell else "white",
                )
    ax.figure.colorbar(image, ax=ax, label=label)


def _region_label(level: str, region: str) -> str:
    return "all" if level == "all" else f"{region}"


def perplexity_heatmap(table: pl.DataFrame, path: str | Path) -> Path:
    """Regions (all, continents, countries) x conditions, cells = perplexity (lower is better)."""
    regions = table.select("level", "region").unique(maintain_order=True).rows()
    conditions = table["condition"].unique(maintain_order=True).to_list()
    lookup = {(r["level"], r["region"], r["condition"]): r["ppl"] for r in table.iter_rows(named=True)}
    matrix = np.array([[lookup.get((lv, rg, c), np.nan) for c in conditions] for lv, rg in regions])
    figure, ax = plt.subplots(figsize=(2.5 + 1.6 * len(conditions), 1.2 + 0.35 * len(regions)))
    _heatmap(ax, matrix, [_region_label(lv, rg) for lv, rg in regions], conditions, "perplexity")
    ax.set_title("Perplexity by region and condition")
    return _save(figure, path)


def gap_bars(gaps: pl.DataFrame, path: str | Path) -> Path:
    """ppl(without) - ppl(with) per region; positive = metadata helps; whiskers = bootstrap CI."""
    labels = [_region_label(lv, rg) for lv, rg in gaps.select("level", "region").rows()]
    gap = gaps["gap"].to_numpy()
    errors = np.vstack([gap - gaps["gap_low"].to_numpy(), gaps["gap_high"].to_numpy() - gap])
    figure, ax = plt.subplots(figsize=(max(5, 0.45 * len(labels) + 2), 4))
    colours = [
        "tab:gray" if lv == "all" else "tab:blue" if lv == "continent" else "tab:orange"
        for lv in gaps["level"].to_list()
    ]
    ax.bar(range(len(labels)), gap, yerr=np.nan_to_num(errors), color=colours, capsize=3)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_ylabel("ppl without - ppl with metadata")
    ax.set_title("Perplexity gain from the metadata prefix (95% CI)")
    return _save(figure, path)


def cross_matrix_heatmap(cells: pl.DataFrame, path: str | Path) -> Path:
    """Models x test regions, cells = perplexity; in-region cells are outlined in red."""
    models = cells["model"].unique(maintain_order=True).to_list()
    regions = sorted(cells["test_region"].unique().to_list())
    lookup = {(r["model"], r["test_region"]): r for r in cells.iter_rows(named=True)}
    matrix = np.array([[lookup[(m, t)]["ppl"] if (m, t) in lookup else np.nan for t in regions] for m in models])
    figure, ax = plt.subplots(figsize=(2.5 + 0.8 * len(regions), 1.5 + 0.5 * len(models)))
    _heatmap(ax, matrix, models, regions, "perplexity")
    for i, m in enumerate(models):
        for j, t in enumerate(regions):
            if (m, t) in lookup and lookup[(m, t)]["in_region"]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_title("Cross-region perplexity (red: in-region)")
    return _save(figure, path)


def accuracy_bars(table: pl.DataFrame, path: str | Path, metric: str = "acc_norm") -> Path:
    """Accuracy per region under one rule with bootstrap CIs; the dashed line is chance (1/4)."""
    labels = [_region_label(lv, rg) for lv, rg in table.select("level", "region").rows()]
    value = table[metric].to_numpy()
    errors = np.vstack([value - table[f"{metric}_low"].to_numpy(), table[f"{metric}_high"].to_numpy() - value])
    figure, ax = plt.subplots(figsize=(max(5, 0.45 * len(labels) + 2), 4))
    ax.bar(range(len(labels)), value, yerr=np.nan_to_num(errors), capsize=3, color="tab:green")
    ax.axhline(0.25, color="black", linestyle="--", linewidth=0.8, label="chance (4 options)")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel(metric)
    ax.legend()
    ax.set_title(f"Localized MCQ {metric} by region (95% CI)")
    return _save(figure, path)


def switch_bars(table: pl.DataFrame, path: str | Path) -> Path:
    """Switch rate per (target->contrast) pair with CIs, and the one-sided follow rates beside it."""
    pairs = table["pair"].to_list()
    x = np.arange(len(pairs))
    rate = table["switch_rate"].to_numpy()
    errors = np.vstack([rate - table["switch_rate_low"].to_numpy(), table["switch_rate_high"].to_numpy() - rate])
    figure, ax = plt.subplots(figsize=(max(6, 0.6 * len(pairs) + 2), 4))
    ax.bar(x - 0.27, rate, width=0.27, yerr=np.nan_to_num(errors), capsize=3, label="switch (both follow)")
    ax.bar(x, table["follows_target"].to_numpy(), width=0.27, label="follows target metadata")
    ax.bar(x + 0.27, table["follows_contrast"].to_numpy(), width=0.27, label="follows contrast metadata")
    ax.set_xticks(x, pairs, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of questions")
    ax.legend(fontsize=8)
    ax.set_title("Locale switch: does the answer follow the metadata? (95% CI)")
    return _save(figure, path)


def merge_tradeoff(sweep: pl.DataFrame, path: str | Path) -> Path:
    """Perplexity vs alpha for in-region and global documents (solid: with metadata, dashed: without)."""
    figure, ax = plt.subplots(figsize=(6, 4))
    colours = {"in_region": "tab:red", "global": "tab:blue"}
    for (subset, condition), rows in sweep.sort("alpha").group_by("subset", "condition", maintain_order=True):
        style = "-" if condition == "with_metadata" else "--"
        alpha = rows["alpha"].to_numpy()
        colour = colours.get(subset)
        ax.plot(alpha, rows["ppl"].to_numpy(), style, marker="o", color=colour, label=f"{subset}, {condition}")
        ax.fill_between(alpha, rows["ppl_low"].to_numpy(), rows["ppl_high"].to_numpy(), color=colour, alpha=0.12)
    ax.set_xlabel("alpha (0 = global model, 1 = regional model)")
    ax.set_ylabel("perplexity")
    ax.legend(fontsize=8)
    ax.set_title("Merge trade-off: in-region vs global perplexity")
    return _save(figure, path)
