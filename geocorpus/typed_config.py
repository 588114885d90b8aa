"""The one config validator: a mapping (from YAML) into a typed dataclass, or an error naming the key.

Every configuration section of geocorpus (curation, inputs, balance, MinHash, the trainer, conditions)
is a dataclass checked here, so a typo or a value of the wrong type fails before any work starts
with the same kind of message everywhere: ``training.save_total_limit: expected int | None, got
'two'``. Values are checked, never coerced: YAML's ``"2"`` is not an int.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value is missing, unknown or of the wrong type; the message names the key path."""


def key_path(where: str, key: object) -> str:
    """``where.key`` (or ``key`` at the top level)."""
    return f"{where}.{key}" if where else str(key)


def from_mapping(cls: type[T], data: Any, where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types; nested dataclasses recurse.

    After construction the instance's ``validate()`` (if any) runs; a ``ValueError`` raised there or
    in ``__post_init__`` becomes a ``ConfigError`` prefixed with ``where``.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}: {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown key {key_path(where, unknown[0])!r}; allowed here: {sorted(known)}")
    kwargs = {name: convert(value, hints[name], key_path(where, name)) for name, value in data.items()}
    missing = [
        name
        for name, f in known.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing required key {key_path(where, missing[0])!r}")
    try:
        obj = cls(**kwargs)
        validate = getattr(obj, "validate", None)
        if validate is not None:
            validate()
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}" if where and not str(exc).startswith(where) else str(exc)) from None
    return obj


def convert(value: Any, annotation: Any, path: str) -> Any:
    """``value`` checked against ``annotation``; dataclasses are built and lists become tuples where
    the annotation says tuple. Raises ConfigError naming the innermost bad entry."""
    if annotation is Any:
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return convert(value, option, path)
            except ConfigError as exc:
                errors.append(exc)
        inner = [e for e in errors if not str(e).startswith(f"{path}: expected")]
        if len(inner) == 1:  # the value had the right shape but a bad entry inside: name that entry
            raise inner[0]
        raise ConfigError(f"{path}: expected {type_name(annotation)}, got {value!r}")
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping ({annotation.__name__}), got {value!r}")
        return from_mapping(annotation, value, path)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{path}: {value!r} is not one of {list(args)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected {type_name(annotation)}, got {value!r}")
        return [convert(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list ({type_name(annotation)}), got {value!r}")
        item = args[0] if args else Any
        return tuple(convert(v, item, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected {type_name(annotation)}, got {value!r}")
        return {convert(k, args[0], f"{path}.{k}"): convert(v, args[1], key_path(path, k)) for k, v in value.items()}
    if annotation is type(None):
        if value is not None:
            raise ConfigError(f"{path}: expected null, got {value!r}")
        return None
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{path}: expected int, got {value!r}")
        return value
    if annotation is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ConfigError(f"{path}: expected a finite number, got {value!r}")
        return float(value) if isinstance(value, int) else value
    if isinstance(annotation, type):
        if not isinstance(value, annotation):
            raise ConfigError(f"{path}: expected {annotation.__name__}, got {value!r}")
        return value
    raise TypeError(f"{path}: the validator does not know the annotation {annotation!r}")


def type_name(annotation: Any) -> str:
    """``int | None``, ``list[str]``: the annotation as a user would read it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def choice(value: str, allowed: tuple[str, ...] | list[str], key: str) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not one of {list(allowed)}")


def at_least(value: int | float, minimum: int | float, key: str) -> None:
    """Raise ConfigError unless ``value >= minimum``."""
    if value < minimum:
        raise ConfigError(f"{key}: must be >= {minimum}, got {value}")
