"""Bootstrap intervals: they bracket the estimate, narrow with more data, and are reproducible."""

from __future__ import annotations

import numpy as np

from trainer_plugin.evaluation.bootstrap import mean_ci, perplexity_gap_ci, ratio_ci


def test_intervals_bracket_estimates_and_narrow_with_more_units():
    rng = np.random.default_rng(1)
    outcomes = rng.random(2000) < 0.3
    small, large = mean_ci(outcomes[:100], n_boot=500), mean_ci(outcomes, n_boot=500)
    assert small[0] <= outcomes[:100].mean() <= small[1]
    assert large[1] - large[0] < small[1] - small[0]
    assert mean_ci(outcomes, n_boot=500, seed=3) == mean_ci(outcomes, n_boot=500, seed=3)
    nll, tokens = rng.random(300) * 100, rng.integers(10, 50, 300)
    low, high = ratio_ci(nll, tokens, n_boot=500)
    assert low <= nll.sum() / tokens.sum() <= high


def test_paired_gap_is_zero_for_identical_conditions_and_empty_input_is_nan():
    rng = np.random.default_rng(2)
    nll, tokens = rng.random(50) * 10, rng.integers(5, 20, 50)
    assert perplexity_gap_ci(nll, tokens, nll, tokens, n_boot=200) == (0.0, 0.0)
    assert all(np.isnan(mean_ci([], n_boot=100)))
