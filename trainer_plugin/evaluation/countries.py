"""Country names in QA files -> ISO 3166-1 alpha-2, and ISO -> the paper's continent.

QA files name countries in prose ("United States", "USA", "Hong Kong") and spell continents
inconsistently ("africa", "North America"). Scores are grouped by ISO code and by the paper's four
continents, so both are derived from the country (by ``geocorpus.regions``, the same code that tags
the corpus) rather than trusted from the file.
"""

from __future__ import annotations

from geocorpus import regions
from trainer_plugin.evaluation.errors import EvaluationError


def resolve_country(name: str) -> str:
    """ISO alpha-2 (upper case) for a country name or code; EvaluationError when unknown."""
    text = (name or "").strip()
    if not text:
        raise EvaluationError("empty country name")
    try:
        return regions.normalize_country(text)
    except regions.UnknownCountryError:
        raise EvaluationError(f"unknown country {name!r}: not an ISO code or a known country name") from None


def continent_of(iso: str) -> str:
    """The paper's continent of a country (Africa, America, Asia, Europe; others by name)."""
    try:
        return regions.continent(iso, "paper")
    except regions.UnknownCountryError as error:
        raise EvaluationError(str(error)) from None
