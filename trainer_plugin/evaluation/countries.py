"""Country names in QA files -> ISO 3166-1 alpha-2, and ISO -> the paper's continent.

QA files name countries in prose ("United States", "USA", "Hong Kong") and spell continents
inconsistently ("africa", "North America"). Scores are grouped by ISO code and by the paper's four
continents, so both are derived from the country rather than trusted from the file.
"""

from __future__ import annotations

import pycountry

from trainer_plugin.evaluation.errors import EvaluationError

#: The paper's 17 countries and their continents (DEVELOPERS.md; "America" is North + South).
PAPER_CONTINENTS: dict[str, str] = {
    **dict.fromkeys(["NG", "ZA", "KE", "GH", "TZ"], "Africa"),
    **dict.fromkeys(["US", "CA", "JM"], "America"),
    **dict.fromkeys(["IN", "PK", "BD", "LK", "HK", "MY", "PH"], "Asia"),
    **dict.fromkeys(["GB", "IE"], "Europe"),
}

#: Everyday names pycountry does not resolve to the intended code on its own.
_ALIASES: dict[str, str] = {
    "usa": "US",
    "us": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "united states of america": "US",
    "uk": "GB",
    "u.k.": "GB",
    "britain": "GB",
    "great britain": "GB",
    "england": "GB",
    "tanzania": "TZ",
    "hong kong": "HK",
}

_CONTINENT_SPELLINGS: dict[str, str] = {
    "africa": "Africa",
    "asia": "Asia",
    "europe": "Europe",
    "america": "America",
    "americas": "America",
    "north america": "America",
    "south america": "America",
    "oceania": "Oceania",
}


def _shared_normalizer():
    """geocorpus.regions.normalize_country when the curation side provides it, else None."""
    try:
        from geocorpus.regions import normalize_country  # type: ignore[import-not-found]
    except ImportError:
        return None
    return normalize_country


def resolve_country(name: str) -> str:
    """ISO alpha-2 (upper case) for a country name or code; EvaluationError when unknown."""
    text = (name or "").strip()
    if not text:
        raise EvaluationError("empty country name")
    key = text.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    shared = _shared_normalizer()
    if shared is not None:
        try:
            code = shared(text)
        except Exception:  # the shared helper may reject what pycountry still knows
            code = None
        if isinstance(code, str) and len(code) == 2:
            return code.upper()
    if len(text) == 2 and pycountry.countries.get(alpha_2=text.upper()) is not None:
        return text.upper()
    for lookup in (
        lambda: pycountry.countries.get(name=text),
        lambda: pycountry.countries.get(common_name=text),
        lambda: pycountry.countries.get(alpha_3=text.upper()) if len(text) == 3 else None,
    ):
        match = lookup()
        if match is not None:
            return match.alpha_2
    raise EvaluationError(f"unknown country {name!r}: not an ISO code, known name, or alias")


def normalize_continent(name: str | None) -> str | None:
    """The paper's continent spelling ("North America" -> "America"), or None when unknown."""
    if not name:
        return None
    return _CONTINENT_SPELLINGS.get(str(name).strip().lower())


def continent_of(iso: str, fallback: str | None = None) -> str:
    """The paper's continent for a country, else the (normalized) continent the file gave."""
    if iso in PAPER_CONTINENTS:
        return PAPER_CONTINENTS[iso]
    try:
        from geocorpus.regions import continent  # type: ignore[import-not-found]

        return continent(iso, "paper")
    except Exception:  # not provided, or it does not know the code either
        pass
    spelled = normalize_continent(fallback)
    if spelled is None:
        raise EvaluationError(
            f"country {iso!r} is outside the paper's 17 countries and no usable continent was given "
            f"({fallback!r})"
        )
    return spelled
