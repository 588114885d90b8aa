"""Decide a document's country and continent from all the evidence, and record how.

Evidence comes from up to four places: the country the input itself claims, a user's registry file,
the built-in outlet registry, and the URL's country-code TLD. The first source in the configured
precedence that has an answer wins (``tag_source``); any other source that disagrees is recorded in
``tag_conflict`` so that a reviewer can see, e.g., an input claiming IN for a .co.uk outlet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from geocorpus.regions import (
    CONTINENT_SCHEMES,
    UnknownCountryError,
    cctld_country,
    continent,
    country_name,
    normalize_country,
)
from geocorpus.registry import OutletRegistry

#: Evidence sources a precedence list may name.
EVIDENCE_SOURCES = ("input", "user_registry", "registry", "cctld")
DEFAULT_PRECEDENCE = ("input", "user_registry", "registry", "cctld")
#: What ``tag_source`` may hold: the user's registry is reported as ``registry`` (it is one).
TAG_SOURCES = ("input", "registry", "cctld", "classifier", "none")
_REPORTED_SOURCE = {"input": "input", "user_registry": "registry", "registry": "registry", "cctld": "cctld"}


@dataclass(frozen=True, slots=True)
class RegionTag:
    country: str | None
    country_name: str | None
    continent: str | None
    tag_source: str
    tag_conflict: str | None


class TaggingConfigError(ValueError):
    """The tagger was configured with something it cannot use."""


class RegionTagger:
    """Tags (host, domain, suffix, claimed country) with provenance; results cached per host+claim."""

    def __init__(
        self,
        precedence: Sequence[str] = DEFAULT_PRECEDENCE,
        user_registry: str | Path | OutletRegistry | None = None,
        builtin_registry: OutletRegistry | bool = True,
        continent_scheme: str = "paper",
        cache_size: int = 200_000,
    ) -> None:
        unknown = [s for s in precedence if s not in EVIDENCE_SOURCES]
        if unknown:
            raise TaggingConfigError(
                f"unknown evidence source(s) {unknown} in tagging precedence; known: {list(EVIDENCE_SOURCES)}"
            )
        if len(set(precedence)) != len(precedence):
            raise TaggingConfigError(f"tagging precedence lists a source twice: {list(precedence)}")
        if continent_scheme not in CONTINENT_SCHEMES:
            raise TaggingConfigError(
                f"unknown continent scheme {continent_scheme!r}; known: {list(CONTINENT_SCHEMES)}"
            )
        self.precedence = tuple(precedence)
        self.continent_scheme = continent_scheme
        if isinstance(user_registry, (str, Path)):
            user_registry = OutletRegistry.from_file(user_registry)
        self.user_registry = user_registry
        if builtin_registry is True:
            builtin_registry = OutletRegistry.builtin()
        self.builtin_registry = builtin_registry or None
        # Per-host caches: tags depend only on (host, claim), and real corpora repeat hosts a lot.
        self._by_host: dict[str | None, RegionTag] = {}  # documents without a claim (the common case)
        self._by_host_claim: dict[tuple[str | None, str], RegionTag] = {}
        self._cache_size = cache_size
        self._claims: dict[str, str | None] = {}
        self._cctld: dict[str, str | None] = {}
        self._regions: dict[str, tuple[str, str]] = {}

    def _input_country(self, claim: str | None) -> tuple[str | None, str | None]:
        """(ISO code, unrecognized raw claim): a claim we cannot read is kept visible, not used."""
        if claim is None or str(claim).strip() == "":
            return None, None
        claim = str(claim).strip()
        if claim not in self._claims:
            try:
                self._claims[claim] = normalize_country(claim)
            except UnknownCountryError:
                self._claims[claim] = None
        code = self._claims[claim]
        return code, (None if code else claim)

    def _evidence(
        self, source: str, host: str | None, domain: str | None, suffix: str | None, input_code: str | None
    ) -> str | None:
        if source == "input":
            return input_code
        if not host:
            return None
        if source == "user_registry":
            return self.user_registry.lookup(host, domain or host) if self.user_registry else None
        if source == "registry":
            return self.builtin_registry.lookup(host, domain or host) if self.builtin_registry else None
        if source == "cctld":
            if not suffix:
                return None
            if suffix not in self._cctld:
                self._cctld[suffix] = cctld_country(suffix)
            return self._cctld[suffix]
        raise AssertionError(source)

    def tag(
        self,
        host: str | None,
        domain: str | None = None,
        suffix: str | None = None,
        input_country: str | None = None,
    ) -> RegionTag:
        if input_country is None:
            result = self._by_host.get(host)
            if result is None:
                result = self._decide(host, domain, suffix, None)
                if len(self._by_host) >= self._cache_size:
                    self._by_host.clear()
                self._by_host[host] = result
            return result
        key = (host, input_country)
        result = self._by_host_claim.get(key)
        if result is None:
            result = self._decide(host, domain, suffix, input_country)
            if len(self._by_host_claim) >= self._cache_size:
                self._by_host_claim.clear()
            self._by_host_claim[key] = result
        return result

    def _region(self, code: str) -> tuple[str, str]:
        """(country name, continent) per code, cached: pycountry lookups are slow per call."""
        info = self._regions.get(code)
        if info is None:
            info = self._regions[code] = (country_name(code), continent(code, self.continent_scheme))
        return info

    def _decide(
        self, host: str | None, domain: str | None, suffix: str | None, input_country: str | None
    ) -> RegionTag:
        input_code, unrecognized = self._input_country(input_country)
        found = [
            (source, code)
            for source in self.precedence
            if (code := self._evidence(source, host, domain, suffix, input_code))
        ]
        conflicts = []
        if unrecognized is not None:
            conflicts.append(f"input_unrecognized={unrecognized}")
        if not found:
            return RegionTag(None, None, None, "none", ";".join(conflicts) or None)
        source, code = found[0]
        if any(other != code for _, other in found[1:]):
            conflicts.extend(f"{s}={c}" for s, c in found)
        name, continent_name = self._region(code)
        return RegionTag(
            country=code,
            country_name=name,
            continent=continent_name,
            tag_source=_REPORTED_SOURCE[source],
            tag_conflict=";".join(conflicts) or None,
        )
