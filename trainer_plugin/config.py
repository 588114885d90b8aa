"""The training YAML, validated up front: every bad key or value is named before any work starts.

One file describes one run of one condition: data, condition, tokenizer, model size and schedule.
Sections are dataclasses so defaults and the list of known keys live in one place.
"""

from __future__ import annotations

import glob
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml


class ConfigError(ValueError):
    """The training config has an unknown key, a missing key or a value of the wrong kind."""


@dataclass
class DataConfig:
    train: Any = None  # a path, glob, folder or list of them
    mix: dict | None = None  # {sources: [{path, weight}, ...]} or {regions: {Asia: 0.5, ...}}
    split: str = "train"
    seq_len: int = 256
    shuffle_buffer: int = 1000
    num_workers: int = 0
    tokenize_batch: int = 128


@dataclass
class ModelConfig:
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int | None = None
    intermediate_size: int | None = None  # default 4 x hidden_size
    attn_implementation: str = "sdpa"  # "flash_attention_2" on a GPU that has it
    tie_word_embeddings: bool = True


@dataclass
class TrainingConfig:
    max_steps: int = 100
    per_device_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    lr_scheduler: str = "cosine"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    bf16: bool = False
    logging_steps: int = 10
    save_steps: int = 50
    save_total_limit: int | None = 2


@dataclass
class TrainConfig:
    output_dir: str = ""
    tokenizer: str = ""  # a local folder or a hub id already in the local cache
    data: DataConfig = field(default_factory=DataConfig)
    condition: Any = "url_country_continent"  # a name, a YAML path, or {name: ..., overrides}
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    seed: int = 0
    resume: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "training": TrainingConfig}


def load_config(config: str | Path | Mapping[str, Any]) -> TrainConfig:
    """A TrainConfig from a YAML path or a mapping; relative paths resolve against the YAML's folder."""
    base = None
    if isinstance(config, (str, Path)):
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"training config {path} does not exist")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        base, origin = path.resolve().parent, str(path)
    else:
        data, origin = config, "<config>"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    values = _check_keys(data, TrainConfig, origin, "")
    for name, cls in _SECTIONS.items():
        section = values.get(name) or {}
        if not isinstance(section, Mapping):
            raise ConfigError(f"{origin}: '{name}' must be a mapping, got {section!r}")
        values[name] = cls(**_check_keys(section, cls, origin, f"{name}."))
    result = TrainConfig(**values)
    _validate(result, origin, base)
    return result


def _check_keys(data: Mapping, cls: type, origin: str, prefix: str) -> dict:
    known = [f.name for f in fields(cls)]
    unknown = [k for k in data if k not in known]
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key(s) {[prefix + str(k) for k in unknown]}; known in "
            f"{prefix.rstrip('.') or 'the top level'}: {known}"
        )
    types = {f.name: f.type for f in fields(cls)}
    for key, value in data.items():
        expected = types[key]
        if expected in ("int", "float") and not _is_number(value, integer=expected == "int"):
            raise ConfigError(f"{origin}: {prefix}{key} must be {'an integer' if expected == 'int' else 'a number'}, got {value!r}")
        if expected == "bool" and not isinstance(value, bool):
            raise ConfigError(f"{origin}: {prefix}{key} must be true or false, got {value!r}")
    return dict(data)


def _is_number(value: Any, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if integer else isinstance(value, (int, float))


def _validate(config: TrainConfig, origin: str, base: Path | None) -> None:
    if not config.output_dir:
        raise ConfigError(f"{origin}: output_dir is required")
    if not config.tokenizer:
        raise ConfigError(f"{origin}: tokenizer is required (a local folder or a cached hub id)")
    data = config.data
    if (data.train is None) == (data.mix is None):
        raise ConfigError(f"{origin}: set exactly one of data.train (paths) and data.mix (weighted sources)")
    if data.mix is not None:
        unknown = sorted(set(data.mix) - {"sources", "regions", "paths"})
        if unknown or not ({"sources", "regions"} & set(data.mix)):
            raise ConfigError(
                f"{origin}: data.mix takes 'sources: [{{path, weight}}]' or 'regions: {{REGION: weight}}' "
                f"(with 'paths'); got keys {sorted(data.mix)}"
            )
        if "regions" in data.mix and "paths" not in data.mix:
            raise ConfigError(f"{origin}: data.mix.regions needs data.mix.paths (the files to split by region)")
    for key in ("seq_len", "tokenize_batch"):
        if getattr(data, key) < 1:
            raise ConfigError(f"{origin}: data.{key} must be >= 1")
    training = config.training
    for key in ("max_steps", "per_device_batch_size", "gradient_accumulation_steps", "save_steps", "logging_steps"):
        if getattr(training, key) < 1:
            raise ConfigError(f"{origin}: training.{key} must be >= 1, got {getattr(training, key)}")
    if config.model.hidden_size % config.model.num_heads:
        raise ConfigError(f"{origin}: model.hidden_size must be divisible by model.num_heads")
    if base is not None:
        config.output_dir = _resolve(config.output_dir, base)
        config.tokenizer = _resolve(config.tokenizer, base)
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
