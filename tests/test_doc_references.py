"""Every test the docs name exists: a promise that cites a renamed or deleted test is not tested.

The docs say how each promise is tested by naming tests (``tests/x/test_y.py::test_z``, or
``::test_z`` after a full name in the same paragraph, a bare ``test_y.py``, or a builder as
``tests/support/m.py:function``). This reads the names with ``ast`` (nothing is imported or run), so
it is cheap and fails on the first doc that points at nothing.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted([REPO / "README.md", REPO / "DEVELOPERS.md", REPO / "benchmarks" / "README.md", *REPO.glob("docs/*.md")])

#: a code span naming a test file, optionally a test (``::name``, parameters ``[...]`` ignored) or a function
_FULL = re.compile(r"`(tests/[\w/]+\.py)(?:(::|:)([\w]+(?:::[\w]+)?))?(?:\[[^`\]]*\]?)?`")
_SHORT = re.compile(r"`::(\w+)(?:\[[^`]*\])?`")
_BARE_FILE = re.compile(r"`(test_\w+\.py)`")
_FOLDER = re.compile(r"`(tests/[\w/]*/?)`")
_ANY = re.compile(r"`(tests/[^`]*)`")


@cache
def _names(path: Path) -> frozenset[str]:
    """Module-level functions and classes of a Python file, and ``Class::method`` for methods."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            )
    return frozenset(names)


def broken_references(text: str, root: Path) -> list[str]:
    """Each reference in ``text`` (markdown) that names a file or test missing under ``root``."""
    test_files = {p.name for p in (root / "tests").rglob("*.py")}
    broken = []
    last_file: str | None = None  # ``::name`` resolves against the last full name of its paragraph
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            last_file = None
        broken += [
            f"line {number}: unreadable test reference {m.group(1)}"
            for m in _ANY.finditer(line)
            if not (_FULL.fullmatch(m.group(0)) or _FOLDER.fullmatch(m.group(0)))
        ]
        # references in line order, so ``::name`` resolves against the full name before it
        spans = sorted(
            [(m.start(), "full", m) for m in _FULL.finditer(line)]
            + [(m.start(), "short", m) for m in _SHORT.finditer(line)]
            + [(m.start(), "bare", m) for m in _BARE_FILE.finditer(line)]
            + [(m.start(), "folder", m) for m in _FOLDER.finditer(line)],
            key=lambda item: item[0],
        )
        for _, kind, match in spans:
            if kind == "full":
                file, _sep, name = match.groups()
                last_file = file
                if not (root / file).is_file():
                    broken.append(f"line {number}: {file} does not exist")
                elif name and name not in _names(root / file):
                    broken.append(f"line {number}: {file} has no {name}")
            elif kind == "short":
                name = match.group(1)
                if last_file is None:
                    broken.append(f"line {number}: ::{name} follows no test file in its paragraph")
                elif (root / last_file).is_file() and name not in _names(root / last_file):
                    broken.append(f"line {number}: {last_file} has no {name}")
            elif kind == "bare":
                if match.group(1) not in test_files:
                    broken.append(f"line {number}: no {match.group(1)} under tests/")
            elif not (root / match.group(1)).is_dir():
                broken.append(f"line {number}: folder {match.group(1)} does not exist")
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_test_named_in_the_docs_exists(doc: Path) -> None:
    assert broken_references(doc.read_text(encoding="utf-8"), REPO) == []


def test_docs_name_tests_at_all() -> None:
    """The check above would pass vacuously if the pattern stopped matching what the docs write."""
    text = (REPO / "docs" / "testing.md").read_text(encoding="utf-8")
    assert len(_FULL.findall(text)) >= 20
    assert len(_SHORT.findall(text)) >= 5


def test_a_missing_test_a_missing_file_and_a_dangling_short_name_are_reported(tmp_path: Path) -> None:
    (tmp_path / "tests" / "area").mkdir(parents=True)
    (tmp_path / "tests" / "area" / "test_a.py").write_text(
        "def test_real():\n    pass\n\n\nclass TestGroup:\n    def test_method(self):\n        pass\n"
    )
    good = (
        "| x | `tests/area/test_a.py::test_real`, `::TestGroup`, `tests/area/test_a.py::TestGroup::test_method`,"
        " `tests/area/test_a.py::test_real[3-...]`, `test_a.py`, `tests/area/` |\n  continued: `::test_real`"
    )
    assert broken_references(good, tmp_path) == []
    bad = "\n\n".join(
        [
            "`tests/area/test_a.py::test_renamed`",
            "`tests/area/test_b.py`",
            "`::test_real` alone",
            "`tests/area/test_a.py` then `::test_gone`",
            "`test_c.py`",
            "`tests/nowhere/`",
            "`tests/area/test_a.py::test_real (slow)`",
        ]
    )
    assert broken_references(bad, tmp_path) == [
        "line 1: tests/area/test_a.py has no test_renamed",
        "line 3: tests/area/test_b.py does not exist",
        "line 5: ::test_real follows no test file in its paragraph",
        "line 7: tests/area/test_a.py has no test_gone",
        "line 9: no test_c.py under tests/",
        "line 11: folder tests/nowhere/ does not exist",
        "line 13: unreadable test reference tests/area/test_a.py::test_real (slow)",
    ]
