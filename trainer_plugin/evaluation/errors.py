"""One error type for bad evaluation input, so the CLI can print it cleanly instead of a traceback."""

from __future__ import annotations


class EvaluationError(ValueError):
    """Input the evaluation cannot use: a missing column, an unknown country, a mismatched model."""
