"""Run every URL of four real URL test suites through the verifier and print what happened.

Suites (../shared/data/url_tests): WHATWG's urltestdata.json, and the URL-like string constants
of courlan's, w3lib's and mediacloud metadata-lib's test files (read with ``ast``, never imported).
Per suite: inputs, normalized, rejected by reason, exceptions; plus the share of WHATWG
``"failure": true`` cases that the verifier rejects.

    .venv/bin/python benchmarks/url_suites_report.py
"""

from __future__ import annotations

import ast
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geocorpus.paths import shared_data_dir
from geocorpus.urls import URLVerifier

PYTHON_SUITES = {
    "courlan": "courlan_unit_tests.py",
    "w3lib": "w3lib_test_url.py",
    "mediacloud": "mediacloud_mcmetadata_test_urls.py",
}


def whatwg_cases(shared_dir: Path) -> list[dict]:
    """The test objects of urltestdata.json (plain strings in the array are comments)."""
    path = Path(shared_dir) / "url_tests" / "whatwg_wpt_urltestdata.json"
    return [case for case in json.loads(path.read_text(encoding="utf-8")) if isinstance(case, dict)]


def looks_like_url(text: str) -> bool:
    return "://" in text or text.startswith(("www.", "/"))


def python_suite_urls(path: Path) -> list[str]:
    """URL-like string constants of a test file, in source order (duplicates kept)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    constants = [node for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    constants.sort(key=lambda node: (node.lineno, node.col_offset))
    return [node.value for node in constants if looks_like_url(node.value)]


def suite_inputs(shared_dir: Path) -> dict[str, list[str]]:
    """Every input per suite. WHATWG relative inputs are fed as they stand: without their base they
    are relative URLs, which is exactly what the verifier must recognise in a URL column."""
    suites = {"whatwg": [case["input"] for case in whatwg_cases(shared_dir)]}
    for name, filename in PYTHON_SUITES.items():
        suites[name] = python_suite_urls(Path(shared_dir) / "url_tests" / filename)
    return suites


@dataclass
class SuiteOutcome:
    inputs: int = 0
    normalized: int = 0
    rejected: Counter = field(default_factory=Counter)
    exceptions: list[tuple[str, str]] = field(default_factory=list)


def run_suite(verifier: URLVerifier, inputs: list[str]) -> SuiteOutcome:
    outcome = SuiteOutcome(inputs=len(inputs))
    for text in inputs:
        try:
            result = verifier.verify(text)
        except Exception as error:  # noqa: BLE001 - counting crashes is the point of this report
            outcome.exceptions.append((text, repr(error)))
            continue
        if result.ok:
            outcome.normalized += 1
        else:
            outcome.rejected[result.reason] += 1
    return outcome


def whatwg_failure_rejection(verifier: URLVerifier, shared_dir: Path) -> tuple[int, int]:
    """(rejected, total) over the WHATWG cases the standard says must fail to parse."""
    failures = [case["input"] for case in whatwg_cases(shared_dir) if case.get("failure")]
    return sum(not verifier.verify(text).ok for text in failures), len(failures)


def main() -> int:
    shared = shared_data_dir()
    if shared is None:
        print("real data folder ../shared/data (or $GEOCORPUS_SHARED) is not present", file=sys.stderr)
        return 2
    verifier = URLVerifier()
    for name, inputs in suite_inputs(shared).items():
        outcome = run_suite(verifier, inputs)
        rejected = sum(outcome.rejected.values())
        print(
            f"{name:<11} inputs {outcome.inputs:>4}  normalized {outcome.normalized:>4}  "
            f"rejected {rejected:>4}  exceptions {len(outcome.exceptions)}"
        )
        for reason, count in outcome.rejected.most_common():
            print(f"{'':<13}{reason:<24}{count:>4}")
        for text, error in outcome.exceptions:
            print(f"{'':<13}EXCEPTION {text!r}: {error}")
    rejected, total = whatwg_failure_rejection(verifier, shared)
    print(f"WHATWG failure cases rejected: {rejected}/{total} = {rejected / total:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
