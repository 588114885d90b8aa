"""Scoring windows where the first tests did not reach: no start token, the 2048 cap, the default stride.

Written for mutants of ``trainer_plugin/evaluation/scoring.py`` that survived the perplexity and MCQ
tests (``.ci/mutation.py scoring``): the tiny test models have 128 positions and a BOS/EOS token,
so the window cap, the half-window stride and the no-start-token rows were never exercised.
"""

from __future__ import annotations

import pytest
from transformers import LlamaConfig, LlamaForCausalLM

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.scoring import ScoreRow, ScoringSettings, window_rows


def _model(max_positions: int) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=32,
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=max_positions,
    )
    return LlamaForCausalLM(config)


@pytest.mark.parametrize(
    ("max_positions", "settings", "expected"),
    [
        (4096, ScoringSettings(), (2048, 1024)),  # the window is capped at 2048, the stride is half of it
        (128, ScoringSettings(), (128, 64)),
        (128, ScoringSettings(max_length=3), (3, 1)),
        (128, ScoringSettings(max_length=64, stride=200), (64, 63)),  # a stride never reaches the window
    ],
)
def test_window_length_and_stride_are_resolved_from_the_model(max_positions, settings, expected):
    assert settings.resolve(_model(max_positions)) == expected


def test_without_a_start_token_the_first_target_token_becomes_context():
    # nothing to predict the first token from: it is context in every condition (shift_first None)
    assert window_rows(0, [], [5, 6, 7], None, 16, 8) == [ScoreRow(0, (5, 6, 7), 2)]
    assert window_rows(0, [1, 2], [5, 6, 7], None, 16, 8) == [ScoreRow(0, (1, 2, 5, 6, 7), 2)]
    # shift_first=False (the paper's MCQ prompts without BOS): scored whenever a context predicts it
    assert window_rows(0, [1, 2], [5, 6, 7], None, 16, 8, shift_first=False) == [ScoreRow(0, (1, 2, 5, 6, 7), 3)]
    assert window_rows(0, [], [5, 6, 7], None, 16, 8, shift_first=False) == [ScoreRow(0, (5, 6, 7), 2)]
    # with a start token every target token is scored
    assert window_rows(3, [1], [5, 6], 0, 16, 8) == [ScoreRow(3, (0, 1, 5, 6), 2)]


def test_long_targets_are_scored_in_strided_windows_once_each():
    rows = window_rows(0, [1], list(range(10, 30)), 0, max_length=8, stride=4)
    assert [row.n_scored for row in rows] == [4] * 5
    assert all(len(row.input_ids) <= 8 for row in rows)
    scored = [t for row in rows for t in row.input_ids[len(row.input_ids) - row.n_scored :]]
    assert scored == list(range(10, 30))


@pytest.mark.parametrize("stride", [0, 8])
def test_a_stride_outside_the_window_is_refused(stride):
    with pytest.raises(EvaluationError, match=r"stride .* must lie in 1..max_length-1 \(7\)"):
        window_rows(0, [], [1, 2], 0, max_length=8, stride=stride)
