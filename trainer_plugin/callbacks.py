"""Keep the data stream's position inside HF Trainer checkpoints, so a resumed run sees the same batches.

HF Trainer resumes model, optimizer and scheduler but, for an IterableDataset, can only re-read and
discard batches. This callback writes the dataset's exact state next to them (one file per rank);
``restore_dataset_state`` reads it back before training continues.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from trainer_plugin.dataset import PackedDataset


def state_file_name(rank: int) -> str:
    """``dataset_state.json`` on rank 0, ``dataset_state.rank<N>.json`` on the others."""
    return "dataset_state.json" if rank == 0 else f"dataset_state.rank{rank}.json"


class DatasetStateCallback(TrainerCallback):
    """Writes the dataset's state into every checkpoint folder the Trainer saves."""

    def __init__(self, dataset: PackedDataset) -> None:
        self.dataset = dataset

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        assert args.output_dir is not None  # TrainingArguments.__post_init__ fills in a default
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / state_file_name(self.dataset.rank)
        target.write_text(json.dumps(self.dataset.state_dict(), indent=1), encoding="utf-8")
        return control


def restore_dataset_state(dataset: PackedDataset, checkpoint_dir: str | Path) -> bool:
    """Load this rank's saved state from a checkpoint folder; False when the folder has none."""
    path = Path(checkpoint_dir) / state_file_name(dataset.rank)
    if not path.is_file():
        return False
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a valid dataset state ({exc})") from exc
    dataset.load_state_dict(state)
    return True
