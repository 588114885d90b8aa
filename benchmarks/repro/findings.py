"""The paper's four findings as paired comparisons on the same held-out documents, with bootstrap CIs.

Every comparison is ``ppl(A) - ppl(B)`` where A and B are (model, evaluation condition) pairs scored
on the same documents; the bootstrap resamples documents once per replicate for both, so the interval
is of the difference itself. A verdict names the direction *and* whether the interval excludes zero:
at this scale a direction can hold while its interval still overlaps zero, and the report says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from trainer_plugin.evaluation.bootstrap import bootstrap_ci
from trainer_plugin.evaluation.perplexity import WITH_METADATA, WITHOUT_METADATA

#: Finding (b)'s tolerance: metadata training may cost at most this much relative no-prefix perplexity.
HURT_TOLERANCE = 0.05


@dataclass
class Comparison:
    """ppl(a) - ppl(b) (or a ratio of two gains) on one region, with its interval.

    ``kind``: ``cross`` (two models), ``within`` (one model, without minus with prefix), ``share``
    (a ratio of gains), ``noise`` / ``noise_rel`` (the same condition, two seeds).
    """

    finding: str
    kind: str
    region: str
    what: str
    n_docs: int
    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def _matrix(doc_scores: pl.DataFrame, keys: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """(nll, tokens) arrays of shape (len(keys), documents), documents aligned by id."""
    frame = doc_scores.with_columns((pl.col("model") + "|" + pl.col("condition")).alias("key"))
    wanted = [f"{m}|{c}" for m, c in keys]
    missing = sorted(set(wanted) - set(frame["key"].unique().to_list()))
    if missing:
        raise ValueError(f"document scores lack {missing}")
    wide = frame.filter(pl.col("key").is_in(wanted)).pivot(on="key", index="id", values=["nll", "n_tokens"])
    nll = np.stack([wide[f"nll_{k}"].to_numpy().astype(float) for k in wanted])
    tokens = np.stack([wide[f"n_tokens_{k}"].to_numpy().astype(float) for k in wanted])
    return nll, tokens


def _ppl(nll: np.ndarray, tokens: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    if idx is None:
        return np.exp(nll.sum(-1) / tokens.sum(-1))
    return np.exp(nll[:, idx].sum(-1) / tokens[:, idx].sum(-1))  # (keys, replicates)


def _region(doc_scores: pl.DataFrame, region: str) -> pl.DataFrame:
    if region == "all":
        return doc_scores
    return doc_scores.filter((pl.col("continent") == region) | (pl.col("country") == region))


def difference(
    doc_scores: pl.DataFrame,
    finding: str,
    region: str,
    a: tuple[str, str],
    b: tuple[str, str],
    n_boot: int,
    seed: int,
    relative: bool = False,
    kind: str = "cross",
) -> Comparison:
    """ppl(a) - ppl(b) on ``region`` (divided by ppl(b) when ``relative``), paired bootstrap CI."""
    nll, tokens = _matrix(_region(doc_scores, region), [a, b])

    def stat(ppl_pair: np.ndarray) -> np.ndarray:
        diff = ppl_pair[0] - ppl_pair[1]
        return diff / ppl_pair[1] if relative else diff

    low, high = bootstrap_ci(nll.shape[1], lambda idx: stat(_ppl(nll, tokens, idx)), n_boot, seed)
    what = f"{'rel. ' if relative else ''}ppl[{a[0]}, {_short(a[1])}] - ppl[{b[0]}, {_short(b[1])}]"
    return Comparison(finding, kind, region, what, nll.shape[1], float(stat(_ppl(nll, tokens))), low, high)


def gain_share(
    doc_scores: pl.DataFrame,
    region: str,
    baseline: tuple[str, str],
    part: tuple[str, str],
    full: tuple[str, str],
    n_boot: int,
    seed: int,
) -> Comparison:
    """(ppl(baseline) - ppl(part)) / (ppl(baseline) - ppl(full)): the share of the gain ``part`` keeps."""
    nll, tokens = _matrix(_region(doc_scores, region), [baseline, part, full])

    def stat(p: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (p[0] - p[1]) / (p[0] - p[2])

    low, high = bootstrap_ci(nll.shape[1], lambda idx: stat(_ppl(nll, tokens, idx)), n_boot, seed)
    what = f"gain({part[0]}) / gain({full[0]}) vs {baseline[0]}"
    return Comparison("c", "share", region, what, nll.shape[1], float(stat(_ppl(nll, tokens))), low, high)


def _short(condition: str) -> str:
    return {WITH_METADATA: "with", WITHOUT_METADATA: "without"}[condition]


def compute_findings(
    doc_scores: pl.DataFrame,
    regions: list[str],
    left_out: str | None,
    n_boot: int = 1000,
    seed: int = 0,
    noise_model: str | None = None,
) -> list[Comparison]:
    """All comparisons behind the four findings, for ``regions`` (``all`` first, then continents).

    ``noise_model`` (e.g. ``none@seed1``) is the ``none`` condition trained with another seed: how far
    it lies from ``none`` is the noise floor that any cross-model difference must clear.
    """
    none_plain = ("none", WITHOUT_METADATA)
    full_with = ("url_country_continent", WITH_METADATA)
    full_plain = ("url_country_continent", WITHOUT_METADATA)
    url_with, url_plain = ("url", WITH_METADATA), ("url", WITHOUT_METADATA)
    models = set(doc_scores["model"].unique().to_list())
    rows: list[Comparison] = []
    for region in regions:
        if noise_model in models:
            noise_plain = (noise_model, WITHOUT_METADATA)
            rows.append(difference(doc_scores, "noise", region, noise_plain, none_plain, n_boot, seed, kind="noise"))
            rows.append(
                difference(
                    doc_scores, "noise", region, noise_plain, none_plain, n_boot, seed, relative=True, kind="noise_rel"
                )
            )
        # (a) positive = the metadata model with its prefix beats the baseline; and the same model
        # with vs without its prefix (no model-to-model difference in it).
        rows.append(difference(doc_scores, "a", region, none_plain, full_with, n_boot, seed))
        rows.append(difference(doc_scores, "a", region, full_plain, full_with, n_boot, seed, kind="within"))
        # (b) positive = metadata training hurts the no-prefix evaluation (relative to the baseline).
        rows.append(difference(doc_scores, "b", region, full_plain, none_plain, n_boot, seed, relative=True))
        # (c) URL alone: its gain, the share of the full prefix's gain it keeps, its within-model gain.
        rows.append(difference(doc_scores, "c", region, none_plain, url_with, n_boot, seed))
        rows.append(gain_share(doc_scores, region, none_plain, url_with, full_with, n_boot, seed))
        rows.append(difference(doc_scores, "c", region, url_plain, url_with, n_boot, seed, kind="within"))
    if left_out is not None and "leave_one_out" in models:
        loo_with = ("leave_one_out", WITH_METADATA)
        for region in ["all", left_out] + [r for r in regions if r not in ("all", left_out)]:
            # (d) positive = the left-out region is worse without its training data.
            rows.append(difference(doc_scores, "d", region, loo_with, full_with, n_boot, seed))
    return rows


def _interval(c: Comparison, pct: bool = False) -> str:
    fmt = (lambda v: f"{100 * v:+.1f}%") if pct else (lambda v: f"{v:+.2f}")
    return f"{fmt(c.estimate)} [{fmt(c.low)}, {fmt(c.high)}]"


def _strength(c: Comparison, direction_held: bool) -> str:
    if not direction_held:
        return "direction did NOT hold"
    if c.excludes_zero:
        return "direction held, CI excludes zero"
    return "direction held but CI overlaps zero"


def _noise_note(c: Comparison, noise: Comparison | None) -> str:
    """Whether a cross-model difference clears the seed-to-seed difference of the same condition."""
    if noise is None:
        return " (no seed noise floor measured: cross-model differences may be training noise)"
    floor = abs(noise.estimate)
    clears = c.low > floor if c.estimate > 0 else c.high < -floor
    return f"; seed noise floor |{noise.estimate:+.2f}| on {noise.region}: the difference " + (
        "clears it" if clears else "does NOT clear it (could be training noise)"
    )


def verdicts(rows: list[Comparison], left_out: str | None) -> dict[str, str]:
    """One plain sentence per finding, from the ``all`` rows (and the left-out continent for d)."""
    by = {(c.finding, c.kind, c.region): c for c in rows}
    noise = {c.region: c for c in rows if c.kind == "noise"}
    noise_rel = {c.region: c for c in rows if c.kind == "noise_rel"}
    out: dict[str, str] = {}
    a, a_within = by.get(("a", "cross", "all")), by.get(("a", "within", "all"))
    if a:
        per = [c for c in rows if c.finding == "a" and c.kind == "cross" and c.region != "all"]
        worse = [c.region for c in per if c.estimate < 0]
        out["a"] = (
            f"{_strength(a, a.estimate > 0)}: ppl drop {_interval(a)} over all eval documents "
            f"(none without prefix minus url_country_continent with prefix); "
            f"{len(per) - len(worse)}/{len(per)} continents improve"
            + (f" (not: {', '.join(worse)})" if worse else "")
            + _noise_note(a, noise.get("all"))
            + (
                f". Same model with vs without its prefix: {_interval(a_within)} "
                f"({_strength(a_within, a_within.estimate > 0)})"
                if a_within
                else ""
            )
        )
    b = by.get(("b", "cross", "all"))
    if b:
        per = [c for c in rows if c.finding == "b"]
        worst = max(per, key=lambda c: c.estimate)
        held = all(c.estimate <= HURT_TOLERANCE for c in per)
        floor = noise_rel.get("all")
        out["b"] = (
            f"{'held' if held else 'did NOT hold'} (tolerance {100 * HURT_TOLERANCE:.0f}% relative): "
            f"no-prefix perplexity of the metadata model vs none {_interval(b, pct=True)} over all; "
            f"worst region {worst.region} {_interval(worst, pct=True)}"
            + ("" if worst.high <= HURT_TOLERANCE else " (its CI reaches past the tolerance)")
            + (f"; for scale, two seeds of `none` differ by {_interval(floor, pct=True)}" if floor else "")
            + (
                " - the worst excess is inside that seed-to-seed spread, so not evidence either way"
                if floor and not held and worst.estimate <= abs(floor.estimate)
                else ""
            )
        )
    c_gain, c_share = by.get(("c", "cross", "all")), by.get(("c", "share", "all"))
    c_within = by.get(("c", "within", "all"))
    if c_gain and c_share:
        held = c_share.estimate >= 0.5 and a is not None and a.estimate > 0
        sure = c_share.low >= 0.5
        out["c"] = (
            f"{'direction held' if held else 'did NOT hold'}"
            f"{'' if not held else (', CI above 50%' if sure else ' but the share CI reaches below 50%')}: "
            f"URL-only gain {_interval(c_gain)}; share of the full prefix's gain {c_share.estimate:.0%} "
            f"[{c_share.low:.0%}, {c_share.high:.0%}]"
            + _noise_note(c_gain, noise.get("all"))
            + (
                f". Within-model prefix gain: URL line {_interval(c_within)} vs full prefix {_interval(a_within)}"
                if c_within and a_within
                else ""
            )
        )
    if left_out:
        d = by.get(("d", "cross", left_out))
        if d:
            others = [c for c in rows if c.finding == "d" and c.region not in ("all", left_out)]
            out["d"] = (
                f"{_strength(d, d.estimate > 0)}: on {left_out} (left out), leave_one_out minus full model "
                f"ppl {_interval(d)} ({d.n_docs} docs)"
                + _noise_note(d, noise.get(left_out))
                + ("; other continents: " + ", ".join(f"{c.region} {_interval(c)}" for c in others) if others else "")
            )
    return out


def comparisons_frame(rows: list[Comparison]) -> pl.DataFrame:
    return pl.DataFrame([asdict(c) | {"excludes_zero": c.excludes_zero} for c in rows])
