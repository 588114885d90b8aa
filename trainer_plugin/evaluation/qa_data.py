"""Read multiple-choice QA files (JSONL or Parquet) into validated items with ISO countries.

Handles both shared sets: the paper's 800 localized news MCQs (JSONL; country names such as "USA",
lower-case continents) and LocalNewsQA (Parquet with list columns; ``split_type`` explicit or
ambiguous, ambiguous rows carrying target/contrast countries and answers).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from trainer_plugin.evaluation.countries import continent_of, resolve_country
from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.protocols import example_key

REQUIRED = ("question", "options", "correct_answer", "country")
SWITCH_REQUIRED = ("target_country", "contrast_country", "target_answer", "contrast_answer")


@dataclass(frozen=True)
class MCQItem:
    """One question; ``answer`` is an index into ``options``."""

    id: str
    question: str
    options: tuple[str, ...]
    answer: int
    country: str  # ISO alpha-2
    continent: str  # the paper's continent
    key: str = ""  # the paper's item key (protocols.example_key): seeds its option shuffle


@dataclass(frozen=True)
class SwitchItem:
    """An ambiguous question whose answer depends on the locale (target vs contrast country)."""

    id: str
    question: str
    options: tuple[str, ...]
    target_country: str
    target_continent: str
    target_answer: int
    contrast_country: str
    contrast_continent: str
    contrast_answer: int
    key: str = ""


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise EvaluationError(f"QA file {str(path)!r} does not exist")
    if path.suffix == ".parquet":
        return pl.read_parquet(path).to_dicts()
    if path.suffix in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise EvaluationError(f"{path} line {number + 1}: not valid JSON ({error})") from None
        return rows
    raise EvaluationError(f"{path}: unsupported QA file type {path.suffix!r} (use .jsonl or .parquet)")


def _check_columns(path: Path, rows: list[dict[str, Any]], required: Sequence[str]) -> None:
    if not rows:
        raise EvaluationError(f"{path}: no rows")
    missing = [c for c in required if c not in rows[0]]
    if missing:
        raise EvaluationError(f"{path}: missing column(s) {missing}")


def _options(path: Path, index: int, row: dict[str, Any]) -> tuple[str, ...]:
    options = row["options"]
    if isinstance(options, str):  # a JSON-encoded list, as some exports store it
        try:
            options = json.loads(options)
        except json.JSONDecodeError:
            options = None
    if not isinstance(options, (list, tuple)) or len(options) < 2 or not all(isinstance(o, str) for o in options):
        raise EvaluationError(f"{path} row {index}: 'options' must be a list of at least two strings")
    return tuple(options)


def _option_index(path: Path, index: int, options: tuple[str, ...], value: object, column: str) -> int:
    if value not in options:
        raise EvaluationError(f"{path} row {index}: {column} {value!r} is not one of the options {list(options)}")
    return options.index(value)


def _country(path: Path, index: int, value: object) -> tuple[str, str]:
    try:
        iso = resolve_country(str(value or ""))
        return iso, continent_of(iso)
    except EvaluationError as error:
        raise EvaluationError(f"{path} row {index}: {error}") from None


def _filtered(path: Path, rows: list[dict[str, Any]], split_type: str | None) -> list[tuple[int, dict[str, Any]]]:
    indexed = list(enumerate(rows))
    if split_type is None:
        return indexed
    if "split_type" not in rows[0]:
        raise EvaluationError(f"{path}: has no 'split_type' column to select {split_type!r} rows from")
    chosen = [(i, row) for i, row in indexed if row.get("split_type") == split_type]
    if not chosen:
        raise EvaluationError(f"{path}: no rows with split_type == {split_type!r}")
    return chosen


def load_mcq(path: str | Path, split_type: str | None = None, limit: int | None = None) -> list[MCQItem]:
    """Validated questions; ``split_type`` selects LocalNewsQA's explicit or ambiguous rows."""
    path = Path(path)
    rows = _read_rows(path)
    _check_columns(path, rows, REQUIRED)
    items = []
    for index, row in _filtered(path, rows, split_type)[:limit]:
        options = _options(path, index, row)
        iso, continent = _country(path, index, row["country"])
        items.append(
            MCQItem(
                id=str(row.get("id") or f"{path.stem}-{index}"),
                question=str(row["question"]),
                options=options,
                answer=_option_index(path, index, options, row["correct_answer"], "correct_answer"),
                country=iso,
                continent=continent,
                key=example_key(row),
            )
        )
    return items


def load_switch_items(
    path: str | Path, split_type: str | None = "ambiguous", limit: int | None = None
) -> list[SwitchItem]:
    """Ambiguous questions with two locales whose correct answers differ."""
    path = Path(path)
    rows = _read_rows(path)
    _check_columns(path, rows, ("question", "options", *SWITCH_REQUIRED))
    items = []
    for index, row in _filtered(path, rows, split_type)[:limit]:
        options = _options(path, index, row)
        target, target_continent = _country(path, index, row["target_country"])
        contrast, contrast_continent = _country(path, index, row["contrast_country"])
        target_answer = _option_index(path, index, options, row["target_answer"], "target_answer")
        contrast_answer = _option_index(path, index, options, row["contrast_answer"], "contrast_answer")
        if target == contrast or target_answer == contrast_answer:
            raise EvaluationError(
                f"{path} row {index}: target and contrast must differ in country and answer "
                f"({target}/{contrast}, {row['target_answer']!r}/{row['contrast_answer']!r})"
            )
        items.append(
            SwitchItem(
                id=str(row.get("id") or f"{path.stem}-{index}"),
                question=str(row["question"]),
                options=options,
                target_country=target,
                target_continent=target_continent,
                target_answer=target_answer,
                contrast_country=contrast,
                contrast_continent=contrast_continent,
                contrast_answer=contrast_answer,
                key=example_key(row),
            )
        )
    return items
