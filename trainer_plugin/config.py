"""The training YAML, validated up front: every bad key or value is named before any work starts.

One file describes one run of one condition: data, condition, tokenizer, model size and schedule.
Sections are dataclasses checked by ``geocorpus.typed_config`` (the project's one validator), so
defaults, the known keys and the accepted types live in the annotations below.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from geocorpus.typed_config import ConfigError, at_least, from_mapping

__all__ = ["ConfigError", "DataConfig", "ModelConfig", "TrainConfig", "TrainingConfig", "load_config"]


@dataclass
class DataConfig:
    train: str | list[str] | None = None  # a path, glob, folder or run folder, or a list of them
    mix: dict[str, Any] | None = None  # {sources: [{path, weight}, ...]} or {regions: {Asia: 0.5, ...}, paths}
    split: str = "train"
    seq_len: int = 256
    shuffle_buffer: int = 1000
    num_workers: int = 0
    tokenize_batch: int = 128
    # true: attention and positions restart at every packed document (MeCo's varlen attention);
    # false: positions run on across documents and attention is causal over the whole sequence (the paper)
    document_isolation: bool = True
    # [lo, hi): only documents whose id hashes into this fraction of [0, 1); disjoint ranges give
    # disjoint slices of one corpus (e.g. [0, 0.9] for the main run, [0.9, 1] for an unseen cooldown)
    hash_range: list[float] | None = None


@dataclass
class ModelConfig:
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int | None = None  # default num_heads (no grouped-query attention)
    intermediate_size: int | None = None  # default 4 x hidden_size
    attn_implementation: str = "sdpa"  # "flash_attention_2" on a GPU that has it; "eager" for debugging
    tie_word_embeddings: bool = True
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    initializer_range: float = 0.02  # std of the initial weights
    max_position_embeddings: int | None = None  # default data.seq_len


@dataclass
class TrainingConfig:
    max_steps: int = 100
    per_device_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    lr_scheduler: str = "cosine"  # any transformers scheduler name
    min_lr: float | None = None  # cosine decays to this floor instead of 0 (the paper: 3e-3 -> 3e-4)
    warmup_steps: int = 0
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999  # MeCo and the paper use 0.95 ("important for avoiding loss spikes")
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0  # gradient clipping (the paper: 0.1)
    bf16: bool = False
    logging_steps: int = 10
    save_steps: int = 50
    save_total_limit: int | None = 2
    save_initial_state: bool = False  # write the step-0 weights to OUTPUT/initial (a base for task arithmetic)
    stop_after_steps: int | None = None  # checkpoint and stop here; the LR schedule still spans max_steps


@dataclass
class TrainConfig:
    output_dir: str = ""
    tokenizer: str = ""  # a local folder or a hub id already in the local cache
    data: DataConfig = field(default_factory=DataConfig)
    condition: str | dict[str, Any] = "url_country_continent"  # a name, a YAML path, or {name: ..., overrides}
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    seed: int = 0
    resume: bool = False  # continue this run: weights + optimizer + scheduler + stream from OUTPUT's last checkpoint
    # train again from scratch into an output_dir that holds an earlier run: its checkpoint-N folders,
    # model/ and initial/ are removed first (nothing else in the folder is touched); without it such
    # an output_dir is refused, so an earlier run is never silently trained over
    overwrite: bool = False
    # start from these weights (a model folder, a checkpoint or a run folder); the architecture comes
    # from there and the `model` section may only set attn_implementation
    init_from: str | None = None
    # with init_from a Trainer checkpoint: also its optimizer, scheduler and step count, with a fresh
    # data stream (MeCo's cooldown stage on unseen data)
    init_optimizer: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def tokens_per_step(self, world_size: int) -> int:
        """Tokens per optimizer step over all ranks (padding and masked tokens included)."""
        t = self.training
        return self.data.seq_len * t.per_device_batch_size * t.gradient_accumulation_steps * world_size


_SECTIONS = ("data", "model", "training")


def load_config(config: str | Path | Mapping[str, Any]) -> TrainConfig:
    """A TrainConfig from a YAML path or a mapping; relative paths resolve against the YAML's folder.

    Every error is a ConfigError that starts with where the config came from and names the key.
    """
    base = None
    if isinstance(config, (str, Path)):
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"training config {path} does not exist")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        base, origin = path.resolve().parent, str(path)
    else:
        data, origin = config, "<config>"
    if isinstance(data, Mapping):
        # a section header whose keys are all commented out reads as null: take the defaults
        data = {key: ({} if key in _SECTIONS and value is None else value) for key, value in data.items()}
    try:
        result = from_mapping(TrainConfig, data, "")
        _validate(result)
        shape = sorted(set(data.get("model") or {}) - {"attn_implementation"})
        if result.init_from and shape:
            raise ConfigError(
                f"init_from takes the model's shape from {result.init_from}; remove model.{shape[0]} "
                f"(only model.attn_implementation may be set)"
            )
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    if base is not None:
        _resolve_paths(result, base)
    return result


def _validate(config: TrainConfig) -> None:
    """Checks that involve more than one key, or a range the type cannot express."""
    if not config.output_dir:
        raise ConfigError("output_dir is required")
    if not config.tokenizer:
        raise ConfigError("tokenizer is required (a local folder or a cached hub id)")
    data = config.data
    if (data.train is None) == (data.mix is None):
        raise ConfigError("set exactly one of data.train (paths) and data.mix (weighted sources)")
    if data.mix is not None:
        unknown = sorted(set(data.mix) - {"sources", "regions", "paths"})
        if unknown or not ({"sources", "regions"} & set(data.mix)):
            raise ConfigError(
                "data.mix takes 'sources: [{path, weight}]' or 'regions: {REGION: weight}' "
                f"(with 'paths'); got keys {sorted(data.mix)}"
            )
        if "regions" in data.mix and "paths" not in data.mix:
            raise ConfigError("data.mix.regions needs data.mix.paths (the files to split by region)")
    for key in ("seq_len", "tokenize_batch"):
        at_least(getattr(data, key), 1, f"data.{key}")
    if data.hash_range is not None and (
        len(data.hash_range) != 2 or not 0.0 <= data.hash_range[0] < data.hash_range[1] <= 1.0
    ):
        raise ConfigError(f"data.hash_range must be [lo, hi] with 0 <= lo < hi <= 1, got {data.hash_range}")
    if config.resume and config.overwrite:
        raise ConfigError("resume continues the run in output_dir and overwrite starts it over: set one, not both")
    if config.init_optimizer and not config.init_from:
        raise ConfigError("init_optimizer needs init_from (the checkpoint whose optimizer state to load)")
    training = config.training
    for key in ("max_steps", "per_device_batch_size", "gradient_accumulation_steps", "save_steps", "logging_steps"):
        at_least(getattr(training, key), 1, f"training.{key}")
    if training.min_lr is not None and training.lr_scheduler not in ("cosine", "cosine_with_min_lr"):
        raise ConfigError(f"training.min_lr needs lr_scheduler: cosine, got {training.lr_scheduler!r}")
    if training.stop_after_steps is not None:
        at_least(training.stop_after_steps, 1, "training.stop_after_steps")
    model = config.model
    for key in ("hidden_size", "num_layers", "num_heads"):
        at_least(getattr(model, key), 1, f"model.{key}")
    if model.hidden_size % model.num_heads:
        raise ConfigError("model.hidden_size must be divisible by model.num_heads")
    if model.num_kv_heads is not None:
        at_least(model.num_kv_heads, 1, "model.num_kv_heads")
        if model.num_heads % model.num_kv_heads:
            raise ConfigError("model.num_heads must be divisible by model.num_kv_heads")


def _resolve_paths(config: TrainConfig, base: Path) -> None:
    data = config.data
    config.output_dir = _resolve(config.output_dir, base)
    config.tokenizer = _resolve(config.tokenizer, base)
    if config.init_from:
        config.init_from = _resolve(config.init_from, base)
    if data.train is not None:
        data.train = [_resolve(p, base) for p in _as_list(data.train)]
    if data.mix and "paths" in data.mix:
        data.mix["paths"] = [_resolve(p, base) for p in _as_list(data.mix["paths"])]
    for source in (data.mix or {}).get("sources", []):
        if isinstance(source, dict) and "path" in source:
            source["path"] = _resolve(source["path"], base)


def _as_list(value: Any) -> list:
    return [value] if isinstance(value, (str, Path)) else list(value)


def _resolve(value: str, base: Path) -> str:
    """Beside the YAML when it exists there, else as written (relative to the working dir, or a hub id)."""
    path = Path(str(value)).expanduser()
    if path.is_absolute():
        return str(path)
    candidate = base / path
    return str(candidate) if candidate.exists() or glob.glob(str(candidate)) else str(value)
