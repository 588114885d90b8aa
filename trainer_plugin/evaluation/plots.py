"""PNG figures of the evaluation tables (matplotlib, Agg backend: no display needed).

Every figure names its axes, says what was scored (condition, protocol) in its title, carries a legend
for every colour, line style and hatch it uses, and prints plain tick numbers (no offset or
scientific notation). Regions with fewer scored items than ``--min-n`` are hatched: their intervals
are too wide, or for a single item collapse to a point, and must not be read as certainty.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

LEVEL_COLOURS = {"all": "tab:gray", "continent": "tab:blue", "country": "tab:orange"}
SMALL_HATCH = "//"


def _save(figure: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out


def _plain_y(ax: Axes) -> None:
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)


def _small(frame: pl.DataFrame) -> list[bool]:
    return frame["small_n"].to_list() if "small_n" in frame.columns else [False] * frame.height


def _small_patch() -> Patch:
    return Patch(facecolor="white", edgecolor="black", hatch=SMALL_HATCH, label="too few items (interval unreliable)")


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
                    f"{matrix[i, j]:.1f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if light_cell else "white",
                )
    colorbar = ax.figure.colorbar(image, ax=ax, label=label)
    colorbar.formatter.set_useOffset(False)  # type: ignore[attr-defined]  # a ScalarFormatter by default
    colorbar.update_ticks()


def _region_label(level: str, region: str, small: bool = False) -> str:
    label = "all" if level == "all" else f"{region}"
    return label + " *" if small else label


def perplexity_heatmap(table: pl.DataFrame, path: str | Path, note: str = "") -> Path:
    """Regions (all, continents, countries) x conditions, cells = perplexity (lower is better)."""
    regions = table.select("level", "region").unique(maintain_order=True).rows()
    small = dict(zip(table.select("level", "region").rows(), _small(table)))
    conditions = table["condition"].unique(maintain_order=True).to_list()
    lookup = {(r["level"], r["region"], r["condition"]): r["ppl"] for r in table.iter_rows(named=True)}
    matrix = np.array([[lookup.get((lv, rg, c), np.nan) for c in conditions] for lv, rg in regions])
    # at least 4 inches high: the axis title and a three-line title fit even with a few regions
    figure, ax = plt.subplots(figsize=(3.5 + 1.6 * len(conditions), max(4.0, 1.6 + 0.35 * len(regions))))
    labels = [_region_label(lv, rg, small.get((lv, rg), False)) for lv, rg in regions]
    _heatmap(ax, matrix, labels, [c.replace("_", " ") for c in conditions], "perplexity (lower is better)")
    ax.set_xlabel("scoring condition")
    ax.set_ylabel("region\n(all, then continents, then countries)")
    title = "Perplexity by region and condition" + (f"\n{note}" if note else "")
    if any(small.values()):
        title += "\n* fewer documents than --min-n: interval unreliable"
    ax.set_title(title, fontsize=10)
    return _save(figure, path)


def gap_bars(gaps: pl.DataFrame, path: str | Path, note: str = "") -> Path:
    """ppl(without) - ppl(with) per region; positive = metadata helps; whiskers = bootstrap CI."""
    small = _small(gaps)
    labels = [_region_label(lv, rg) for lv, rg in gaps.select("level", "region").rows()]
    gap = gaps["gap"].to_numpy()
    errors = np.vstack([gap - gaps["gap_low"].to_numpy(), gaps["gap_high"].to_numpy() - gap])
    figure, ax = plt.subplots(figsize=(max(6, 0.45 * len(labels) + 2), 4.5))
    colours = [LEVEL_COLOURS.get(lv, "tab:orange") for lv in gaps["level"].to_list()]
    bars = ax.bar(range(len(labels)), gap, yerr=np.nan_to_num(errors), color=colours, capsize=3)
    for bar, is_small in zip(bars, small):
        if is_small:
            bar.set_hatch(SMALL_HATCH)
            bar.set_edgecolor("black")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_xlabel("region")
    ax.set_ylabel("perplexity without − with metadata\n(above 0: the prefix helps)")
    _plain_y(ax)
    handles = [Patch(color=c, label={"all": "all documents"}.get(k, f"per {k}")) for k, c in LEVEL_COLOURS.items()]
    handles.append(Patch(facecolor="white", edgecolor="black", label="whisker: 95% bootstrap CI"))
    if any(small):
        handles.append(_small_patch())
    ax.legend(handles=handles, fontsize=8)
    ax.set_title("Perplexity gain from the metadata prefix" + (f"\n{note}" if note else ""), fontsize=10)
    return _save(figure, path)


def cross_matrix_heatmap(cells: pl.DataFrame, path: str | Path, condition: str = "with metadata") -> Path:
    """Models x test regions, cells = perplexity under ``condition``; in-region cells are outlined in red."""
    models = cells["model"].unique(maintain_order=True).to_list()
    regions = sorted(cells["test_region"].unique().to_list())
    lookup = {(r["model"], r["test_region"]): r for r in cells.iter_rows(named=True)}
    matrix = np.array([[lookup[(m, t)]["ppl"] if (m, t) in lookup else np.nan for t in regions] for m in models])
    small_regions = {t for (_, t), r in lookup.items() if r.get("small_n")}
    figure, ax = plt.subplots(figsize=(3.5 + 0.8 * len(regions), 2.2 + 0.5 * len(models)))
    _heatmap(ax, matrix, models, [t + (" *" if t in small_regions else "") for t in regions], "perplexity")
    for i, m in enumerate(models):
        for j, t in enumerate(regions):
            if (m, t) in lookup and lookup[(m, t)]["in_region"]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_xlabel("test region (documents scored)")
    ax.set_ylabel("model")
    title = f"Cross-region perplexity, scored {condition}\nred outline: the model's own region"
    if small_regions:
        title += "; * fewer documents than --min-n"
    ax.set_title(title, fontsize=10)
    return _save(figure, path)


def accuracy_bars(table: pl.DataFrame, path: str | Path, metric: str = "acc_norm", title_note: str = "") -> Path:
    """Accuracy per region under one rule with bootstrap CIs, the first-option baseline and chance."""
    small = _small(table)
    labels = [_region_label(lv, rg) for lv, rg in table.select("level", "region").rows()]
    x = np.arange(len(labels))
    value = table[metric].to_numpy()
    errors = np.vstack([value - table[f"{metric}_low"].to_numpy(), table[f"{metric}_high"].to_numpy() - value])
    figure, ax = plt.subplots(figsize=(max(6, 0.45 * len(labels) + 2), 4.5))
    bars = ax.bar(x, value, yerr=np.nan_to_num(errors), capsize=3, color="tab:green", label=f"model ({metric})")
    for bar, is_small in zip(bars, small):
        if is_small:
            bar.set_hatch(SMALL_HATCH)
            bar.set_edgecolor("black")
    if "first_option" in table.columns and metric != "first_option":
        ax.scatter(
            x,
            table["first_option"].to_numpy(),
            marker="D",
            s=30,
            color="tab:red",
            edgecolor="black",
            zorder=3,
            label="always the first shown option",
        )
    chance = float(table["chance"][0]) if "chance" in table.columns else 0.25
    ax.axhline(chance, color="black", linestyle="--", linewidth=0.8, label=f"chance ({chance:.2f})")
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.set_xlabel("region")
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"accuracy ({metric})")
    handles, names = ax.get_legend_handles_labels()
    if any(small):
        handles.append(_small_patch())
        names.append(_small_patch().get_label())
    ax.legend(handles, names, fontsize=8)
    ax.set_title("Localized MCQ accuracy by region (95% CI)" + (f"\n{title_note}" if title_note else ""), fontsize=10)
    return _save(figure, path)


def switch_bars(table: pl.DataFrame, path: str | Path, title_note: str = "") -> Path:
    """Margin and exact-pair switch rates per (target->contrast) pair with CIs, and the follow rates."""
    pairs = table["pair"].to_list()
    small = _small(table)
    x = np.arange(len(pairs))
    width = 0.2
    figure, ax = plt.subplots(figsize=(max(7, 0.7 * len(pairs) + 2), 4.5))
    series = [
        ("margin_switch", "margin switch (gold target beats gold contrast, both ways)", "tab:purple"),
        ("exact_pair", "exact pair (top pick right under both)", "tab:blue"),
        ("target_correct", "right under target metadata", "tab:green"),
        ("contrast_correct", "right under contrast metadata", "tab:orange"),
    ]
    for offset, (column, label, colour) in zip((-1.5, -0.5, 0.5, 1.5), series):
        rate = table[column].to_numpy()
        errors = np.vstack([rate - table[f"{column}_low"].to_numpy(), table[f"{column}_high"].to_numpy() - rate])
        bars = ax.bar(
            x + offset * width, rate, width=width, yerr=np.nan_to_num(errors), capsize=2, color=colour, label=label
        )
        for bar, is_small in zip(bars, small):
            if is_small:
                bar.set_hatch(SMALL_HATCH)
    ax.set_xticks(x, pairs, rotation=45, ha="right")
    ax.set_xlabel("target -> contrast country")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of questions (seeds averaged)")
    handles, names = ax.get_legend_handles_labels()
    if any(small):
        handles.append(_small_patch())
        names.append(_small_patch().get_label())
    ax.legend(handles, names, fontsize=7)
    title = "Locale switch: does the answer follow the metadata? (95% CI)"
    ax.set_title(title + (f"\n{title_note}" if title_note else ""), fontsize=10)
    return _save(figure, path)


def merge_tradeoff(sweep: pl.DataFrame, path: str | Path, region: str = "region") -> Path:
    """Perplexity vs alpha: colour = document subset, line style and marker = condition."""
    figure, ax = plt.subplots(figsize=(7, 4.5))
    colours = {"in_region": "tab:red", "global": "tab:blue"}
    styles = {"with_metadata": ("-", "o"), "without_metadata": ("--", "s")}
    subset_names = {"in_region": f"in-region documents ({region})", "global": "all documents"}
    for (subset, condition), rows in sweep.sort("alpha").group_by("subset", "condition", maintain_order=True):
        line, marker = styles.get(condition, (":", "^"))
        alpha = rows["alpha"].to_numpy()
        colour = colours.get(subset)
        ax.plot(
            alpha,
            rows["ppl"].to_numpy(),
            line,
            marker=marker,
            color=colour,
            label=f"{subset_names.get(subset, subset)}, {condition.replace('_', ' ')}",
        )
        ax.fill_between(alpha, rows["ppl_low"].to_numpy(), rows["ppl_high"].to_numpy(), color=colour, alpha=0.12)
    ax.set_xlabel("alpha: weight of the regional model (0 = global model, 1 = regional model)")
    ax.set_ylabel("perplexity (lower is better)")
    _plain_y(ax)
    ax.legend(fontsize=8, title="shaded: 95% CI", title_fontsize=8)
    ax.set_title(f"Merge trade-off: in-region ({region}) vs all-document perplexity", fontsize=10)
    return _save(figure, path)
