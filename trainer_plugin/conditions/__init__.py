"""Experimental conditions as data: which metadata to prefix, which regions to train on, when to stop.

Every condition of the paper (and MeCo's variants) is one small YAML file in this package's folder;
a config names one and may override its fields. Keeping conditions as data means a new ablation is a
new file, not new code, and the evaluation reuses the same template. Files are read with
``geocorpus.typed_config`` like every other config section; the region filter itself is
``trainer_plugin.shards.kept_mask``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from geocorpus.typed_config import ConfigError, from_mapping
from trainer_plugin.template import METADATA_FIELDS, MetadataTemplate

#: The bundled condition files (``<name>.yaml``) live beside this module.
CONDITIONS_DIR = Path(__file__).resolve().parent


class ConditionError(ConfigError):
    """A condition file or override is malformed (unknown field, bad value, missing region)."""


@dataclass(frozen=True)
class Condition:
    """One experimental condition.

    Regions are ISO country codes (``IN``) or continent names (``Asia``), matched case-insensitively
    against the ``country`` and ``continent`` columns.
    """

    name: str
    metadata: tuple[str, ...] = ()
    include_regions: tuple[str, ...] = ()  # empty: every region
    exclude_regions: tuple[str, ...] = ()
    cooldown_fraction: float | None = None  # metadata for this fraction of sequences, then none
    mask_metadata: bool = False  # MeCo: prefix tokens (and BOS) get label -100
    bos: bool = False  # MeCo: every document starts with the tokenizer's BOS token
    require_regions: bool = False  # regional / leave_one_out are meaningless without a region
    description: str = ""

    def __post_init__(self) -> None:
        unknown = [f for f in self.metadata if f not in METADATA_FIELDS]
        if unknown:
            raise ConditionError(
                f"condition {self.name!r}: unknown metadata field(s) {unknown}; known: {sorted(METADATA_FIELDS)}"
            )
        if self.cooldown_fraction is not None and not 0.0 < self.cooldown_fraction <= 1.0:
            raise ConditionError(
                f"condition {self.name!r}: cooldown_fraction must be in (0, 1], got {self.cooldown_fraction}"
            )
        if self.require_regions and not (self.include_regions or self.exclude_regions):
            raise ConditionError(
                f"condition {self.name!r} needs a region: set include_regions (regional) or "
                f"exclude_regions (leave_one_out), e.g. include_regions: [Asia]"
            )

    def template(self) -> MetadataTemplate:
        """The paper's template restricted to this condition's metadata fields."""
        return MetadataTemplate(fields=tuple(self.metadata))

    @property
    def has_region_filter(self) -> bool:
        return bool(self.include_regions or self.exclude_regions)


def known_conditions() -> list[str]:
    """Names of the bundled conditions."""
    return sorted(p.stem for p in CONDITIONS_DIR.glob("*.yaml"))


def condition_from_dict(data: Mapping[str, Any], name: str, origin: str = "<dict>") -> Condition:
    """Build a Condition from a mapping (``name`` defaults to ``name``); errors start with ``origin``."""
    if not isinstance(data, Mapping):
        raise ConditionError(f"{origin}: a condition must be a mapping, got {type(data).__name__}")
    try:
        return from_mapping(Condition, {"name": name, **data}, "")
    except ConfigError as exc:
        raise ConditionError(f"{origin}: {exc}") from None


def load_condition(name_or_path: str | Path | Mapping[str, Any], **overrides: Any) -> Condition:
    """A bundled condition by name, a YAML file by path, or a mapping ``{name: ..., <overrides>}``.

    Overrides replace fields of the loaded condition, e.g. ``load_condition("regional",
    include_regions=["Asia"])``; the result is validated once, after merging.
    """
    if isinstance(name_or_path, Mapping):
        spec = dict(name_or_path)
        base = spec.pop("name", None)
        if base is None:
            raise ConditionError("a condition mapping needs 'name' (a bundled condition or a YAML path)")
        return load_condition(base, **{**spec, **overrides})
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConditionError(f"condition file {path} does not exist")
        name = path.stem
    else:
        name = str(name_or_path)
        path = CONDITIONS_DIR / f"{name}.yaml"
        if not path.is_file():
            raise ConditionError(f"unknown condition {name!r}; known: {known_conditions()} (or a YAML path)")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, Mapping):
        raise ConditionError(f"{path}: a condition must be a mapping, got {type(data).__name__}")
    return condition_from_dict({**data, **overrides}, name, origin=str(path))
