"""Percentile bootstrap over documents (or questions), the unit that was sampled.

Perplexity is micro-averaged (sum NLL / sum tokens), so resampling tokens would pretend they are
independent; resampling whole documents keeps each document's tokens together. Paired statistics
(the with/without-metadata gap) reuse the same resampled documents for both conditions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

#: Resampled index sets are drawn in blocks of at most this many indices to bound memory (~40 MB).
_MAX_BLOCK_INDICES = 5_000_000


def bootstrap_ci(
    n_units: int,
    statistic: Callable[[np.ndarray], np.ndarray],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of ``statistic(indices)``; ``indices`` has shape (replicates, n_units).

    ``statistic`` must map each row of indices to one value (a vector of length replicates).
    Returns (nan, nan) when there is nothing to resample or ``n_boot`` is 0.
    """
    if n_units == 0 or n_boot <= 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = []
    block = max(1, min(n_boot, _MAX_BLOCK_INDICES // n_units))
    for start in range(0, n_boot, block):
        size = min(block, n_boot - start)
        values.append(np.asarray(statistic(rng.integers(0, n_units, size=(size, n_units)))))
    replicates = np.concatenate(values)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.nanpercentile(replicates, [tail, 100.0 - tail])
    return float(low), float(high)


def ratio_ci(
    numerator: ArrayLike, denominator: ArrayLike, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Interval of sum(numerator) / sum(denominator) with units resampled together."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    return bootstrap_ci(len(num), lambda idx: num[idx].sum(1) / den[idx].sum(1), n_boot, seed, level)


def mean_ci(values: ArrayLike, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Interval of the mean (e.g. accuracy from 0/1 outcomes)."""
    data = np.asarray(values, dtype=np.float64)
    return bootstrap_ci(len(data), lambda idx: data[idx].mean(1), n_boot, seed, level)


def perplexity_gap_ci(
    nll_without: ArrayLike,
    tokens_without: ArrayLike,
    nll_with: ArrayLike,
    tokens_with: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Interval of ppl(without) - ppl(with), both computed on the same resampled documents."""
    a_num, a_den = np.asarray(nll_without, float), np.asarray(tokens_without, float)
    b_num, b_den = np.asarray(nll_with, float), np.asarray(tokens_with, float)

    def gap(idx: np.ndarray) -> np.ndarray:
        return np.exp(a_num[idx].sum(1) / a_den[idx].sum(1)) - np.exp(b_num[idx].sum(1) / b_den[idx].sum(1))

    return bootstrap_ci(len(a_num), gap, n_boot, seed, level)
