"""The curation config: one YAML file, validated up front so a typo fails before any work starts.

Every section is a dataclass; unknown keys and wrong types raise ``ConfigError`` naming the key path
(e.g. ``filters.language.min_scor``). YAML is read with ``yaml.safe_load`` only. ``${shared}`` in a
path expands to the real-data folder (``$GEOCORPUS_SHARED`` or ``../shared/data``).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from geocorpus.shared_data import shared_data_dir


class ConfigError(ValueError):
    """A config value is missing, unknown or of the wrong type; the message names the key."""


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in args)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list) and all(_type_ok(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _type_ok(k, args[0]) and _type_ok(v, args[1]) for k, v in value.items()
        )
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def from_mapping(cls, data: Any, where: str):
    """Build dataclass ``cls`` from a mapping, checking keys and simple types; nested dataclasses recurse."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown key {key!r}; allowed here: {sorted(known)}")
    kwargs = {}
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        annotation = hints[name]
        nested = _dataclass_in(annotation)
        if nested is not None and (isinstance(value, dict) or value is None):
            kwargs[name] = from_mapping(nested, value, path) if value is not None else None
            continue
        if not _type_ok(value, annotation):
            raise ConfigError(_type_error(path, value, annotation))
        kwargs[name] = value
    missing = [
        n
        for n, f in known.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        key = f"{where}.{missing[0]}" if where else missing[0]
        raise ConfigError(f"missing required key {key!r}")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate:
        try:
            validate()
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError(f"{where or 'config'}: {exc}") from None
    return obj


def _type_error(path: str, value: Any, annotation: Any) -> str:
    """Name the innermost bad entry: ``balance.caps.Asia: expected int, got '10'``."""
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    options = [a for a in typing.get_args(annotation) if a is not type(None)] if is_union else [annotation]
    for option in options:
        origin, args = typing.get_origin(option), typing.get_args(option)
        if origin is dict and isinstance(value, dict):
            for k, v in value.items():
                if not _type_ok(v, args[1]):
                    return _type_error(f"{path}.{k}", v, args[1])
        if origin is list and isinstance(value, list):
            for i, v in enumerate(value):
                if not _type_ok(v, args[0]):
                    return _type_error(f"{path}[{i}]", v, args[0])
    return f"{path}: expected {_type_name(annotation)}, got {value!r}"


def _dataclass_in(annotation: Any):
    if dataclasses.is_dataclass(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def _choice(value: str, allowed: tuple[str, ...], key: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not one of {list(allowed)}")


@dataclass
class ExecutorConfig:
    """Which datatrove executor runs the pipeline, and its resources."""

    type: str = "local"  # local | slurm | ray
    tasks: int = 1
    workers: int = -1  # local: parallel processes (-1 = tasks)
    # Slurm
    partition: str | None = None
    time: str = "04:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    job_name: str = "geocorpus"
    sbatch_args: dict[str, Any] = field(default_factory=dict)
    venv_path: str | None = None
    # Ray
    ray_address: str | None = None

    def validate(self) -> None:
        _choice(self.type, ("local", "slurm", "ray"), "executor.type")
        if self.tasks < 1:
            raise ConfigError("executor.tasks: must be >= 1")
        if self.type == "slurm" and not self.partition:
            raise ConfigError("executor.partition: required when executor.type is 'slurm'")


@dataclass
class URLConfig:
    max_length: int = 2048


@dataclass
class TaggingConfig:
    precedence: list[str] = field(default_factory=lambda: ["input", "user_registry", "registry", "cctld"])
    user_registry: str | None = None
    continent_scheme: str = "paper"
    require_country: bool = True
    countries: list[str] | None = None  # keep only these ISO codes (None = all)

    def validate(self) -> None:
        from geocorpus.regions import CONTINENT_SCHEMES
        from geocorpus.tagging import EVIDENCE_SOURCES

        for source in self.precedence:
            _choice(source, EVIDENCE_SOURCES, "tagging.precedence")
        _choice(self.continent_scheme, tuple(CONTINENT_SCHEMES), "tagging.continent_scheme")
        if self.user_registry and not Path(self.user_registry).is_file():
            raise ConfigError(f"tagging.user_registry: file not found: {self.user_registry}")


@dataclass
class LanguageConfig:
    languages: list[str] = field(default_factory=lambda: ["en"])
    min_score: float = 0.5
    model: str = "py3langid"  # or a local fastText model path


QUALITY_FILTERS = ("gopher_quality", "gopher_repetition", "c4", "fineweb_quality")


@dataclass
class FilterConfig:
    language: LanguageConfig | None = field(default_factory=LanguageConfig)
    min_words: int = 50
    quality: list[str] = field(default_factory=list)

    def validate(self) -> None:
        for name in self.quality:
            _choice(name, QUALITY_FILTERS, "filters.quality")


@dataclass
class OutputConfig:
    rows_per_shard: int = 100_000
    compression: str = "zstd"


@dataclass
class CurateConfig:
    output: str
    inputs: list[Any]
    name: str = "geocorpus"
    url: URLConfig = field(default_factory=URLConfig)
    tagging: TaggingConfig = field(default_factory=TaggingConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    dedup: dict[str, Any] = field(default_factory=lambda: {"exact": True})
    balance: dict[str, Any] = field(default_factory=dict)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    output_options: OutputConfig = field(default_factory=OutputConfig)
    #: the raw mapping as loaded (after ${shared} expansion), recorded in the manifest
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def output_dir(self) -> Path:
        return Path(self.output)


def _expand(value: Any, key: str) -> Any:
    """Expand ``${shared}`` and ``~`` / environment variables in string values."""
    if isinstance(value, str):
        if "${shared}" in value:
            shared = shared_data_dir()
            if shared is None:
                raise ConfigError(
                    f"{key}: uses ${{shared}} but the real-data folder was not found "
                    "(set GEOCORPUS_SHARED or place shared/data beside the repository)"
                )
            value = value.replace("${shared}", str(shared))
        return os.path.expanduser(os.path.expandvars(value))
    if isinstance(value, list):
        return [_expand(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand(v, f"{key}.{k}" if key else k) for k, v in value.items()}
    return value


def parse_config(data: Any, source: str = "config") -> CurateConfig:
    """Validate a loaded mapping into a CurateConfig; sub-sections delegate to their owners' parsers."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    # Unknown top-level keys fail before any expansion work (a YAML alias bomb is refused cheaply).
    allowed = {f.name for f in dataclasses.fields(CurateConfig)} - {"raw"}
    unknown = sorted(set(data) - allowed, key=str)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; allowed here: {sorted(allowed)}")
    data = _expand(data, "")
    body = {k: v for k, v in data.items() if k != "raw"}
    config = from_mapping(CurateConfig, body, "")
    config.raw = data
    if not config.inputs:
        raise ConfigError("inputs: at least one input is required")
    config.inputs = [_parse_input(spec, i) for i, spec in enumerate(config.inputs)]
    names = [spec.name for spec in config.inputs]
    if len(set(names)) != len(names):
        raise ConfigError(f"inputs: names must be unique, got {names}")
    config.dedup = _parse_dedup(config.dedup)
    config.balance = _parse_balance(config.balance)
    return config


def _parse_input(spec: Any, index: int):
    from geocorpus.readers import InputSpec

    try:
        parsed = InputSpec.from_dict(spec)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"inputs[{index}]: {exc}") from None
    if "://" not in parsed.path and not Path(parsed.path).exists():
        raise ConfigError(f"inputs[{index}] ({parsed.name}): path does not exist: {parsed.path}")
    return parsed


@dataclass
class DedupConfig:
    exact: bool = True
    minhash: Any = None  # geocorpus.dedup.MinhashConfig when enabled


def _parse_dedup(data: Any) -> DedupConfig:
    config = from_mapping(DedupConfig, data, "dedup")
    if config.minhash not in (None, False):
        from geocorpus.dedup import MinhashConfig

        try:
            config.minhash = MinhashConfig.from_dict(config.minhash if isinstance(config.minhash, dict) else {})
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"dedup.minhash: {exc}") from None
    else:
        config.minhash = None
    return config


def _parse_balance(data: Any):
    from geocorpus.balance import BalanceConfig

    try:
        return BalanceConfig.from_dict(data or {})
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"balance: {exc}") from None


def load_config(path: str | Path) -> CurateConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_config(data, str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
