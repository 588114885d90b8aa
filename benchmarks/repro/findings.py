"""The paper's findings, each as a per-seed paired statistic with a verdict by a written rule.

Every statistic is computed once per seed from that seed's models on the same documents, then
summarised over seeds (``stats.Interval``). Verdict rules (``RULES``) are fixed before the numbers
are seen and the verdict text is generated from the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from benchmarks.repro.stats import Interval, Scores, bootstrap_weights, pct, percentile_interval

#: A metadata model may be this much worse (perplexity) on a region and still count as "no harm".
HARM_TOLERANCE = math.log(1.01)
#: Share rules: "most of the signal" / "approaches" = at least half of the reference gain.
SHARE_BAR = 0.5

RULES = {
    "effect": "shown: the 95% t-interval over seeds is above 0; not shown: below 0; else inconclusive",
    "bound": "shown: the interval's upper end is below +1% perplexity; not shown: its lower end is above it; "
    "else inconclusive",
    "share": "shown: the interval's lower end is >= 50%; not shown: its upper end is < 50%; inconclusive "
    "when the reference gain itself is not shown",
    "null": "behaved: the interval contains 0 (no effect where none exists); failed: it excludes 0",
}

Key = tuple[str, str]  # (label, variant)


@dataclass(frozen=True)
class Finding:
    key: str
    title: str
    kind: str  # effect | bound | share | null
    unit: str  # pct (perplexity %) | share | pp (percentage points)
    study: str
    needs: tuple[Key, ...]
    statistic: Callable[[dict[Key, np.ndarray], int], float]  # region log-ppl arrays, left-out index
    reference: str | None = None  # for shares: the finding whose effect must be shown first


def _gain(a: Key, b: Key) -> Callable[[dict[Key, np.ndarray], int], float]:
    return lambda L, _: float(np.mean(L[a] - L[b]))


def _share(num: Key, ref: Key, base: Key) -> Callable[[dict[Key, np.ndarray], int], float]:
    def share(L: dict[Key, np.ndarray], _: int) -> float:
        denominator = float(np.mean(L[base] - L[ref]))
        return float(np.mean(L[base] - L[num])) / denominator if denominator != 0 else math.nan

    return share


NONE, FULL, FULL_BARE, SWAP = ("none", "without"), ("full", "with"), ("full", "without"), ("full", "swap")
URL, NOSLUG, LOO, REGIONAL = ("url", "with"), ("url_noslug", "with"), ("loo", "with"), ("regional", "without")

FINDINGS = [
    Finding("a", "(a) in-region gain: full-prefix model vs no-metadata model", "effect", "pct", "real",
            (NONE, FULL), _gain(NONE, FULL)),
    Finding("a_within", "(a') same full-prefix model, without vs with its prefix", "effect", "pct", "real",
            (FULL_BARE, FULL), _gain(FULL_BARE, FULL)),
    Finding("b", "(b) no cross-region harm: worst region, full model (own prefix) vs no-metadata model", "bound",
            "pct", "real", (NONE, FULL), lambda L, _: float(np.max(L[FULL] - L[NONE]))),
    Finding("c", "(c) URL's share of the full prefix's gain (URL with slug)", "share", "share", "real",
            (NONE, FULL, URL), _share(URL, FULL, NONE), reference="a"),
    Finding("c_noslug", "(c) URL's share of the full prefix's gain (slug-stripped URL)", "share", "share", "real",
            (NONE, FULL, NOSLUG), _share(NOSLUG, FULL, NONE), reference="a"),
    Finding("d", "(d) coverage: left-out region, leave-one-out model vs full model (both with prefix)", "effect",
            "pct", "real", (LOO, FULL), lambda L, left: float(L[LOO][left] - L[FULL][left])),
    Finding("e", "(e) share of the regional models' gain that the global full-prefix model reaches", "share",
            "share", "real", (NONE, FULL, REGIONAL), _share(FULL, REGIONAL, NONE), reference="e_gap"),
    Finding("e_gap", "(e') regional models (GG-EZ, from the global none model) vs the no-metadata model", "effect",
            "pct", "real", (NONE, REGIONAL), _gain(NONE, REGIONAL)),
    Finding("swap", "swap test: full model, another region's prefix vs the true one", "effect", "pct", "real",
            (SWAP, FULL), _gain(SWAP, FULL)),
    Finding("control_pos", "positive control: pseudo-regions with regional spellings, swap test", "effect", "pct",
            "control_pos", (SWAP, FULL), _gain(SWAP, FULL)),
    Finding("control_pos_gain", "positive control: same model, without vs with its prefix", "effect", "pct",
            "control_pos", (FULL_BARE, FULL), _gain(FULL_BARE, FULL)),
    Finding("control_neg", "negative control: shuffled tags, swap test", "null", "pct", "control_neg",
            (SWAP, FULL), _gain(SWAP, FULL)),
]  # fmt: skip


def aligned(scores: pl.DataFrame, study: str, seed: int, regions: list[str]) -> tuple[dict[Key, Scores], np.ndarray]:
    """Each (label, variant) of one seed's study as arrays over the same documents (sorted by id).

    ``real_noslug``'s URL model becomes ``url_noslug`` of ``real`` (same documents, other URLs); the
    regional models are joined into one ``regional`` row: each document scored by its region's model."""
    rows = scores.filter(pl.col("seed") == seed)
    if study == "real":
        rows = rows.filter(pl.col("study").is_in(["real", "real_noslug"])).with_columns(
            pl.when(pl.col("study") == "real_noslug")
            .then(pl.lit("url_noslug"))
            .when(pl.col("label").str.starts_with("regional:"))
            .then(pl.lit("regional"))
            .otherwise(pl.col("label"))
            .alias("label")
        )
    else:
        rows = rows.filter(pl.col("study") == study)
    ids = rows.filter(pl.col("variant") == "without", pl.col("label") == ("none" if study == "real" else "full"))
    ids = ids.sort("id").select("id", "region")
    index = np.array([regions.index(r) for r in ids["region"]], dtype=np.int64)
    out = {}
    for (label, variant), part in rows.group_by("label", "variant"):
        part = ids.join(part.select("id", "nll", "n_tokens"), on="id", how="left")
        if label == "loo":  # scored on the left-out region only: other regions have no tokens (NaN)
            part = part.with_columns(pl.col("nll", "n_tokens").fill_null(0))
        if part["nll"].null_count():
            raise SystemExit(
                f"{study} seed {seed}: {label}/{variant} lacks scores for {part['nll'].null_count()} docs"
            )
        out[(str(label), str(variant))] = Scores(part["nll"].to_numpy(), part["n_tokens"].to_numpy(), index)
    return out, index


def per_seed(
    scores: pl.DataFrame, finding: Finding, seeds: list[int], regions: list[str], left: int, n_boot: int
) -> list[dict]:
    """One row per seed: the statistic and its document-bootstrap interval."""
    out = []
    for seed in seeds:
        table, index = aligned(scores, finding.study, seed, regions)
        weights = bootstrap_weights(index.size, n_boot, seed)
        point = finding.statistic({k: table[k].region_logppl(len(regions)) for k in finding.needs}, left)
        boot = np.array(
            [
                finding.statistic({k: table[k].region_logppl(len(regions), w) for k in finding.needs}, left)
                for w in weights
            ]
        )
        low, high = percentile_interval(boot)
        out.append({"seed": seed, "value": point, "boot_low": low, "boot_high": high})
    return out


def verdict(kind: str, interval: Interval, reference_shown: bool = True) -> str:
    if kind == "effect":
        return "shown" if interval.above(0) else "not shown" if interval.below(0) else "inconclusive"
    if kind == "bound":
        return (
            "shown"
            if interval.below(HARM_TOLERANCE)
            else "not shown"
            if interval.above(HARM_TOLERANCE)
            else "inconclusive"
        )
    if kind == "share":
        if not reference_shown:
            return "inconclusive"
        return "shown" if interval.low >= SHARE_BAR else "not shown" if interval.below(SHARE_BAR) else "inconclusive"
    return "behaved" if interval.low <= 0 <= interval.high else "failed"


def formatted(value: float, unit: str) -> str:
    if unit == "pct":
        return f"{pct(value):+.2f}%"
    if unit == "share":
        return f"{100 * value:.0f}%"
    return f"{100 * value:+.1f} pp"


def mcq_per_seed(mcq: pl.DataFrame, seeds: list[int], n_boot: int) -> list[dict]:
    """Accuracy of the full model minus the none model on the same questions, per seed."""
    out = []
    for seed in seeds:
        rows = mcq.filter(pl.col("seed") == seed)
        full = rows.filter(pl.col("label") == "full").sort("id")["correct"].to_numpy()
        none = rows.filter(pl.col("label") == "none").sort("id")["correct"].to_numpy()
        diff = full - none
        weights = bootstrap_weights(diff.size, n_boot, seed)
        low, high = percentile_interval(weights @ diff / diff.size)
        out.append({"seed": seed, "value": float(diff.mean()), "boot_low": low, "boot_high": high,
                    "acc_full": float(full.mean()), "acc_none": float(none.mean())})  # fmt: skip
    return out


def compute(
    scores: pl.DataFrame, mcq: pl.DataFrame | None, seeds: list[int], regions: dict[str, list[str]], left_out: str,
    n_boot: int,
) -> list[dict]:  # fmt: skip
    """Every finding's per-seed values, interval over seeds and verdict (rows in FINDINGS order)."""
    results: dict[str, dict] = {}
    for finding in FINDINGS:
        study_regions = regions["control" if finding.study.startswith("control") else "real"]
        left = study_regions.index(left_out) if left_out in study_regions else 0
        seeds_rows = per_seed(scores, finding, seeds, study_regions, left, n_boot)
        interval = Interval.over_seeds([r["value"] for r in seeds_rows])
        results[finding.key] = {"finding": finding, "per_seed": seeds_rows, "interval": interval}
    for item in sorted(results.values(), key=lambda item: item["finding"].kind == "share"):  # references first
        finding = item["finding"]
        shown = finding.reference is None or results[finding.reference]["verdict"] == "shown"
        item["verdict"] = verdict(finding.kind, item["interval"], shown)
    if mcq is not None:
        rows = mcq_per_seed(mcq, seeds, n_boot)
        interval = Interval.over_seeds([r["value"] for r in rows])
        finding = Finding("f", "(f) MCQ accuracy (paper's protocol), full-prefix model vs no-metadata model", "effect",
                          "pp", "real", (), lambda L, _: math.nan)  # fmt: skip
        results["f"] = {
            "finding": finding,
            "per_seed": rows,
            "interval": interval,
            "verdict": verdict("effect", interval),
        }
    return list(results.values())


def noise_floor(scores: pl.DataFrame, seeds: list[int], regions: list[str]) -> dict:
    """How far models that differ only by seed are apart: the none model's macro log-perplexity."""
    values = []
    for seed in seeds:
        table, _ = aligned(scores, "real", seed, regions)
        values.append(float(np.mean(table[NONE].region_logppl(len(regions)))))
    array = np.array(values)
    spread = float(array.max() - array.min())
    sd = float(array.std(ddof=1)) if array.size > 1 else math.nan
    return {"ppl": [math.exp(v) for v in values], "sd_pct": pct(sd), "range_pct": pct(spread)}
