"""Train every model of the design through ``trainer_plugin.train``, all with one budget per kind.

A model is (study, condition, seed). Steps, batch, sequence length and model size come from the
setting, never from the condition, so a difference between two models of one seed is the
condition's up to training noise, and the spread over seeds measures that noise. Regional models are
GG-EZ's: fine-tuned from the same seed's global ``none`` model (``init_from``) on one region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers.trainer_utils import get_last_checkpoint


@dataclass(frozen=True)
class ModelSpec:
    """One model to train: which study corpus, which condition (trainer_plugin's spec), which seed."""

    study: str  # folder under OUT/study
    label: str  # none | url | full | loo | regional:<region>
    seed: int
    condition: Any
    init_from: str | None = None  # the label of the same-seed model to start from
    overrides: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.study}/{self.label}@{self.seed}"

    @property
    def folder(self) -> str:
        return f"{self.study}__{self.label.replace(':', '-')}__seed{self.seed}"


def model_specs(seeds: list[int], regions: list[str], left_out: str, regional_steps: int) -> list[ModelSpec]:
    """Every model of the design, in training order (a regional model after its global base)."""
    specs = []
    for seed in seeds:
        specs += [
            ModelSpec("real", "none", seed, "none"),
            ModelSpec("real", "url", seed, "url"),
            ModelSpec("real_noslug", "url", seed, "url"),
            ModelSpec("real", "full", seed, "url_country_continent"),
            ModelSpec("real", "loo", seed, {"name": "leave_one_out", "exclude_regions": [left_out]}),
            ModelSpec("control_pos", "full", seed, "url_country_continent"),
            ModelSpec("control_neg", "full", seed, "url_country_continent"),
        ]
        specs += [
            ModelSpec(
                "real",
                f"regional:{region}",
                seed,
                {"name": "regional", "include_regions": [region]},
                init_from="none",
                overrides={"max_steps": regional_steps},
            )
            for region in regions
        ]
    return specs


def plan_models(
    settings: dict[str, Any], seeds: list[int], regions: list[str], left_out: str
) -> tuple[list[ModelSpec], dict[str, Any]]:
    """(every model of these seeds, the settings ``train_config`` takes): the setting's
    ``training.regional_steps`` (default a third of ``max_steps``) goes to the regional specs."""
    training = dict(settings["training"])
    regional_steps = int(training.pop("regional_steps", int(training["max_steps"]) // 3))
    return model_specs(seeds, regions, left_out, regional_steps), {**settings, "training": training}


def train_config(spec: ModelSpec, run_dir: Path, tokenizer_dir: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The trainer_plugin config mapping of one model."""
    training = dict(settings["training"]) | spec.overrides
    max_steps = int(training["max_steps"])
    config: dict[str, Any] = {
        "output_dir": str(run_dir / "models" / spec.folder),
        "tokenizer": str(tokenizer_dir),
        "seed": spec.seed,
        "data": {
            "train": [str(run_dir / "study" / spec.study)],
            "seq_len": int(training.pop("seq_len")),
            "shuffle_buffer": 1000,
            "num_workers": 0,
        },
        "condition": spec.condition,
        "model": dict(settings["model"]),
        "training": training | {"save_steps": max_steps, "logging_steps": max(1, max_steps // 10)},
    }
    if spec.init_from:
        base = ModelSpec(spec.study, spec.init_from, spec.seed, None)
        config["init_from"] = str(run_dir / "models" / base.folder)
        config["model"] = {}  # the shape comes from the base model
        config["training"]["warmup_steps"] = max(1, max_steps // 10)
    return config


def final_checkpoint(output_dir: str | Path) -> Path | None:
    """The last checkpoint folder of a finished run, or None."""
    folder = Path(output_dir)
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    return Path(last) if last else None


def train_model(config: dict[str, Any]) -> dict[str, Any]:
    """Train (or reuse a finished run of) one model; returns the trainer's summary + checkpoint."""
    from trainer_plugin.train import train

    max_steps = int(config["training"]["max_steps"])
    existing = final_checkpoint(config["output_dir"])
    if existing is not None and existing.name == f"checkpoint-{max_steps}":
        return {"output_dir": config["output_dir"], "checkpoint": str(existing), "reused": True}
    if existing is not None:  # a killed run: continue it rather than train over its checkpoints
        config = {**config, "resume": True}
    result = train(config)
    checkpoint = final_checkpoint(config["output_dir"])
    if checkpoint is None:
        raise RuntimeError(f"training {config['output_dir']} finished without a checkpoint")
    return {**{k: v for k, v in result.items() if k != "losses"}, "checkpoint": str(checkpoint), "reused": False}
