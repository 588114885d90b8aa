"""Train one tiny model per condition through ``trainer_plugin.train``, all with the same budget.

Steps, batch, sequence length, model size and seed come from the setting, never from the condition,
so any difference between the models is the condition's, up to training noise. A model name is a
condition, optionally with another seed: ``none@seed1`` is the ``none`` condition trained with seed 1,
the run that measures how far two models differ by seed alone (the noise floor).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers.trainer_utils import get_last_checkpoint


def parse_model_name(name: str, default_seed: int) -> tuple[str, int]:
    """(condition, seed) of a model name such as ``url`` or ``none@seed1``."""
    condition, _, seed = name.partition("@seed")
    if seed and not seed.isdigit():
        raise ValueError(f"model name {name!r}: expected CONDITION or CONDITION@seedN")
    return condition, int(seed) if seed else default_seed


def condition_spec(condition: str, left_out: str | None) -> Any:
    """The trainer's condition argument; leave_one_out gets its excluded continent."""
    if condition == "leave_one_out":
        if not left_out:
            raise ValueError("leave_one_out needs a continent to leave out")
        return {"name": "leave_one_out", "exclude_regions": [left_out]}
    return condition


def train_config(
    name: str, left_out: str | None, run_dir: Path, tokenizer_dir: Path, settings: dict[str, Any]
) -> dict[str, Any]:
    """The trainer_plugin config mapping of one model (a condition, optionally ``@seedN``)."""
    model, training = settings["model"], settings["training"]
    condition, seed = parse_model_name(name, int(settings.get("seed", 0)))
    return {
        "output_dir": str(run_dir / "models" / name.replace("@", "_")),
        "tokenizer": str(tokenizer_dir),
        "seed": seed,
        "data": {
            "train": [str(run_dir / "corpus" / "data")],
            "seq_len": int(training["seq_len"]),
            "shuffle_buffer": 1000,
            "num_workers": 0,
        },
        "condition": condition_spec(condition, left_out),
        "model": dict(model),
        "training": {k: v for k, v in training.items() if k != "seq_len"}
        | {"save_steps": int(training["max_steps"]), "logging_steps": max(1, int(training["max_steps"]) // 10)},
    }


def final_checkpoint(output_dir: str | Path) -> Path | None:
    """The last checkpoint folder of a finished run, or None."""
    folder = Path(output_dir)
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    return Path(last) if last else None


def train_condition(config: dict[str, Any]) -> dict[str, Any]:
    """Train (or reuse a finished run of) one condition; returns the trainer's summary + checkpoint."""
    from trainer_plugin.train import train

    max_steps = int(config["training"]["max_steps"])
    existing = final_checkpoint(config["output_dir"])
    if existing is not None and existing.name == f"checkpoint-{max_steps}":
        return {"output_dir": config["output_dir"], "checkpoint": str(existing), "reused": True}
    result = train(config)
    checkpoint = final_checkpoint(config["output_dir"])
    if checkpoint is None:
        raise RuntimeError(f"training {config['output_dir']} finished without a checkpoint")
    return {**result, "checkpoint": str(checkpoint), "reused": False}
