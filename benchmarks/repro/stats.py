"""Seed-level statistics: each verdict rests on per-seed paired differences, not on documents alone.

Two models trained with different seeds differ by more than many condition effects at small scale,
so an interval over evaluation documents (which treats the trained model as fixed) overstates what is
known. Here each seed gives one paired difference (both models of that seed, the same documents);
the interval is a t-interval over seeds. A bootstrap over documents inside each seed is reported
beside it, as the part of the uncertainty that more evaluation text would remove.

Quantities are in log-perplexity (mean NLL per body token, nats); ``pct`` turns a difference into a
perplexity ratio in percent. Regions are macro-averaged: each region counts once, whatever its size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Two-sided 95% Student-t critical values by degrees of freedom (standard tables); 1.96 beyond 30.
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
T_975 |= {11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093}
T_975 |= {20: 2.086, 25: 2.060, 30: 2.042}


def t_critical(df: int) -> float:
    if df < 1:
        return math.inf
    known = [d for d in T_975 if d <= df]
    return T_975[max(known)] if df <= 30 else 1.96


@dataclass(frozen=True)
class Interval:
    """Mean of per-seed values with a 95% t-interval over seeds."""

    values: tuple[float, ...]
    mean: float
    low: float
    high: float

    @classmethod
    def over_seeds(cls, values: Sequence[float]) -> Interval:
        array = np.asarray(values, dtype=float)
        mean = float(array.mean())
        if array.size < 2:
            return cls(tuple(array.tolist()), mean, -math.inf, math.inf)
        half = t_critical(array.size - 1) * float(array.std(ddof=1)) / math.sqrt(array.size)
        return cls(tuple(array.tolist()), mean, mean - half, mean + half)

    def above(self, bound: float) -> bool:
        return self.low > bound

    def below(self, bound: float) -> bool:
        return self.high < bound


def pct(log_ratio: float) -> float:
    """A log-perplexity difference as a perplexity change in percent."""
    return 100.0 * math.expm1(log_ratio) if math.isfinite(log_ratio) else log_ratio


@dataclass(frozen=True)
class Scores:
    """NLL and token counts of one (model, variant) on a fixed, ordered set of documents."""

    nll: np.ndarray
    tokens: np.ndarray
    region: np.ndarray  # integer region index per document

    def region_logppl(self, n_regions: int, weights: np.ndarray | None = None) -> np.ndarray:
        """Mean NLL per token of each region (weights: how often each document is drawn)."""
        w = np.ones_like(self.nll) if weights is None else weights
        nll = np.bincount(self.region, weights=self.nll * w, minlength=n_regions)
        tokens = np.bincount(self.region, weights=self.tokens * w, minlength=n_regions)
        with np.errstate(invalid="ignore", divide="ignore"):
            return nll / tokens


def bootstrap_weights(n_docs: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_docs) multiplicities of a document bootstrap; one draw serves every model (paired)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_docs, size=(n_boot, n_docs))
    return np.stack([np.bincount(row, minlength=n_docs) for row in draws]).astype(float)


def percentile_interval(samples: np.ndarray) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return (math.nan, math.nan)
    return float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))
