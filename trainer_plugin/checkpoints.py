"""Where a run's weights are: a model folder, a Trainer checkpoint, or a run folder's newest of them.

Evaluation, merging and ``init_from`` all accept any of the three, so a user can point at
``runs/global`` and get its final ``model/`` (or, while it still trains, its latest checkpoint).
"""

from __future__ import annotations

import re
from pathlib import Path

#: the final, self-contained model folder a finished run writes
MODEL_DIR = "model"
#: the step-0 weights written with ``training.save_initial_state`` (a base for task arithmetic)
INITIAL_DIR = "initial"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class CheckpointError(ValueError):
    """A path that holds no usable weights, or a checkpoint that cannot continue this run; names the path."""


def is_model_dir(path: Path) -> bool:
    weights = any(path.glob("*.safetensors")) or any(path.glob("pytorch_model*.bin"))
    return (path / "config.json").is_file() and weights


def is_trainer_checkpoint(path: Path) -> bool:
    """A Trainer checkpoint: weights plus the trainer state (optimizer and scheduler beside them)."""
    return is_model_dir(path) and (path / "trainer_state.json").is_file()


def run_outputs(run_dir: str | Path) -> list[Path]:
    """What an earlier training run left in ``run_dir``: its checkpoints, ``model/`` and ``initial/``."""
    folder = Path(run_dir)
    finals = [folder / MODEL_DIR, folder / INITIAL_DIR]
    return checkpoints(folder) + [p for p in finals if p.is_dir() and is_model_dir(p)]


def checkpoints(run_dir: str | Path) -> list[Path]:
    """``checkpoint-N`` folders of a run, oldest first."""
    folder = Path(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = [p for p in checkpoints(run_dir) if is_model_dir(p)]
    return found[-1] if found else None


def resolve_model_dir(path: str | Path) -> Path:
    """The weights a path means: itself when it is a model folder or checkpoint; for a run folder its
    final ``model/``, else its latest checkpoint."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"{str(path)!r} is not a local folder (nothing is downloaded)")
    if is_model_dir(folder):
        return folder
    if is_model_dir(folder / MODEL_DIR):
        return folder / MODEL_DIR
    latest = latest_checkpoint(folder)
    if latest is not None:
        return latest
    raise CheckpointError(
        f"{str(path)!r} holds no model: expected config.json + weights, a {MODEL_DIR}/ folder or checkpoint-N folders"
    )


def resolve_trainer_checkpoint(path: str | Path) -> Path:
    """A Trainer checkpoint (weights + optimizer + scheduler + step): the folder itself, or a run
    folder's latest one."""
    folder = Path(path)
    if is_trainer_checkpoint(folder):
        return folder
    latest = latest_checkpoint(folder) if folder.is_dir() else None
    if latest is not None and is_trainer_checkpoint(latest):
        return latest
    raise CheckpointError(
        f"{str(path)!r} is not a Trainer checkpoint (no trainer_state.json beside the weights): "
        f"init_optimizer needs a checkpoint-N folder written by training"
    )
