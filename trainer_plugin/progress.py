"""A progress bar for training: step of max_steps, loss, tokens/s and time left.

HF's own bar shows steps only; tokens/s is what tells a GPU run from a loader-bound one, and a run of
days needs its ETA. Rank 0 draws it on stderr (stdout keeps the one-line JSON summary).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm.auto import tqdm
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class TrainingProgress(TrainerCallback):
    """tqdm bar updated every optimizer step; ``tokens_per_step`` counts all ranks."""

    def __init__(self, tokens_per_step: int) -> None:
        self.tokens_per_step = tokens_per_step
        self.bar: Any = None
        self.loss: float | None = None
        self.started = 0.0
        self.first_step = 0

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if state.is_world_process_zero:
            interactive = sys.stderr.isatty()
            self.bar = tqdm(
                total=state.max_steps,
                initial=state.global_step,
                unit="step",
                desc="train",
                file=sys.stderr,
                mininterval=0.5 if interactive else 30.0,
                dynamic_ncols=interactive,
            )
        self.started, self.first_step = time.perf_counter(), state.global_step
        return control

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
            postfix = {"tok/s": f"{self.tokens_per_second(state.global_step):,.0f}"}
            if self.loss is not None:
                postfix = {"loss": f"{self.loss:.4f}", **postfix}
            self.bar.set_postfix(postfix, refresh=False)
        return control

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> TrainerControl:
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])
        return control

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        return control

    def tokens_per_second(self, step: int) -> float:
        elapsed = time.perf_counter() - self.started
        return (step - self.first_step) * self.tokens_per_step / elapsed if elapsed > 0 else 0.0
