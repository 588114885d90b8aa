"""Scoring reports its progress truthfully, and its settings and rows are values.

Why: mutation testing showed that dropping ``progress.start`` or un-freezing ``ScoringSettings`` (a
default argument shared by every call) and ``ScoreRow`` passed every scoring test.
"""

from __future__ import annotations

import dataclasses

import pytest

from trainer_plugin.evaluation.progress import ProgressHook
from trainer_plugin.evaluation.runtime import load_causal_lm
from trainer_plugin.evaluation.scoring import ScoreRow, ScoringSettings, score_pairs, window_rows


class Recorder(ProgressHook):
    def __init__(self) -> None:
        self.started: list[tuple[int, str]] = []
        self.advanced: list[int] = []

    def start(self, total: int, description: str = "") -> None:
        self.started.append((total, description))

    def advance(self, amount: int) -> None:
        self.advanced.append(amount)


def test_progress_is_started_once_with_the_rows_it_then_advances_through(tiny_llama_dir):
    model, tokenizer = load_causal_lm(tiny_llama_dir, device="cpu")
    pairs = [("News from Ghana:", " the market opened."), ("", "Weather report."), ("A", " long " * 30)]
    settings = ScoringSettings(max_length=16, stride=8, batch_size=2)  # the long target needs windows
    recorder = Recorder()
    nll, counts = score_pairs(model, tokenizer, pairs, settings, progress=recorder, description="checking")
    assert len(recorder.started) == 1
    total, description = recorder.started[0]
    assert description == "checking"
    assert total > len(pairs)  # several windows for the long target
    assert sum(recorder.advanced) == total
    assert all(1 <= amount <= settings.batch_size for amount in recorder.advanced)
    assert len(nll) == len(counts) == len(pairs)


def test_settings_and_rows_cannot_be_changed_after_creation():
    default = ScoringSettings()  # also the shared default argument of score_pairs and friends
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.batch_size = 1  # type: ignore[misc]
    (row,) = window_rows(0, [5, 6], [7, 8], 1, max_length=16, stride=8)
    assert isinstance(row, ScoreRow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.n_scored = 0  # type: ignore[misc]
