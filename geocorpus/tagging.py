"""Decide a document's country and continent from all the evidence, and record how.

Evidence comes from up to six places: the country the input itself claims, a user's registry file,
the outlet registry, the URL's country-code TLD, the page itself (``<html lang>``, ``og:locale``, ...
where measured precise enough, :mod:`geocorpus.page_evidence`) and a trained country classifier
(:mod:`geocorpus.country_classifier`). The first source in the configured precedence that has an
answer wins (``tag_source``; the deciding signal in ``tag_evidence``, the classifier's probability in
``tag_confidence``); any other source that disagrees is recorded in ``tag_conflict`` so that a
reviewer can see, e.g., an input claiming IN for a .co.uk outlet.

URL evidence depends only on (host, registry path prefix, claim), so it is decided once per such key
and cached: real corpora repeat hosts a lot. Page evidence is per document and cheap; the
classifier is per document and costly, so it only runs when no earlier source has an answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from geocorpus.regions import (
    CONTINENT_SCHEMES,
    UnknownCountryError,
    cctld_country,
    continent,
    country_name,
    normalize_country,
)
from geocorpus.registry import OutletRegistry, RegistryFileError
from geocorpus.shortlinks import is_shortener
from geocorpus.urls import url_path

#: Evidence sources a precedence list may name.
EVIDENCE_SOURCES = ("input", "user_registry", "registry", "cctld", "page", "classifier")
DEFAULT_PRECEDENCE = ("input", "user_registry", "registry", "cctld", "page", "classifier")
#: What ``tag_source`` may hold: the user's registry is reported as ``registry`` (it is one).
TAG_SOURCES = ("input", "registry", "cctld", "page", "classifier", "none")
_REPORTED_SOURCE = {
    "input": "input",
    "user_registry": "registry",
    "registry": "registry",
    "cctld": "cctld",
    "page": "page",
    "classifier": "classifier",
}
_DOCUMENT_SOURCES = ("page", "classifier")


@dataclass(frozen=True, slots=True)
class RegionTag:
    country: str | None
    country_name: str | None
    continent: str | None
    tag_source: str
    tag_conflict: str | None
    tag_evidence: str | None = None  # the deciding signal: "registry:theguardian.com/uk", "page:html_lang=en-GB"
    tag_confidence: float | None = None  # the classifier's probability when it decided


class PageEvidenceLike(Protocol):
    def decide(self, signals: Mapping[str, object]) -> tuple[str, str] | None: ...


class ClassifierLike(Protocol):
    name: str

    def predict(self, text: str, url: str | None = None) -> tuple[str, float] | None: ...


class TaggingConfigError(ValueError):
    """The tagger was configured with something it cannot use."""


#: (source, country, evidence) found for one document, in precedence order.
_Found = list[tuple[str, str, str]]


class RegionTagger:
    """Tags (host, domain, suffix, claimed country, path, page signals, text) with provenance."""

    def __init__(
        self,
        precedence: Sequence[str] = DEFAULT_PRECEDENCE,
        user_registry: str | Path | OutletRegistry | None = None,
        builtin_registry: OutletRegistry | str | Path | bool = True,
        continent_scheme: str = "paper",
        cache_size: int = 200_000,
        page_evidence: PageEvidenceLike | None = None,
        classifier: ClassifierLike | None = None,
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
        elif isinstance(builtin_registry, (str, Path)):
            try:
                builtin_registry = OutletRegistry.from_file(builtin_registry)
            except RegistryFileError as error:
                raise TaggingConfigError(str(error)) from None
        self.builtin_registry = builtin_registry or None
        self.page_evidence = page_evidence if "page" in self.precedence else None
        self.classifier = classifier if "classifier" in self.precedence else None
        self._url_precedence = tuple(s for s in self.precedence if s not in _DOCUMENT_SOURCES)
        # Position of each source, and whether a document source outranks a URL source.
        self._rank = {source: index for index, source in enumerate(self.precedence)}
        self._registries = [
            (name, registry)
            for name, registry in (("user_registry", self.user_registry), ("registry", self.builtin_registry))
            if registry is not None and name in self.precedence
        ]
        # Registrable domains under which some registry entry is a path prefix (the path matters there).
        self._path_domains: frozenset[str | None] = frozenset().union(
            *(registry.prefix_domains for _, registry in self._registries)
        )
        self._first_segments: dict[str | None, frozenset[str]] = {}
        for _, registry in self._registries:
            for path_domain in registry.prefix_domains:
                self._first_segments[path_domain] = self._first_segments.get(
                    path_domain, frozenset()
                ) | registry.first_segments(path_domain)
        self._no_prefix: tuple[str | None, ...] = (None,) * len(self._registries)
        self._url_only = self.page_evidence is None and self.classifier is None
        self._by_host: dict[str | None, RegionTag] = {}  # the fast path's cache (see tag)
        # URL decisions per (host, registry path-prefix keys, claim)
        self._cache: dict[tuple[str | None, tuple[str | None, ...], str | None], tuple[RegionTag, _Found]] = {}
        self._cache_size = cache_size
        self._claims: dict[str, str | None] = {}
        self._regions: dict[str, tuple[str, str]] = {}

    # ------------------------------------------------------------------ evidence
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

    def _prefix_keys(self, host: str | None, domain: str | None, path: str | None) -> tuple[str | None, ...]:
        """Which path-prefix entry (if any) each registry uses for this URL: part of the cache key."""
        if not path or not host:
            return self._no_prefix
        keys: list[str | None] = []
        for _, registry in self._registries:
            if domain and registry.prefix_could_match(domain, path):
                found = registry.match(host, domain, path)
                keys.append(found.key if found is not None and found.level == "prefix" else None)
            else:
                keys.append(None)
        return tuple(keys)

    def _url_found(
        self, host: str | None, domain: str | None, suffix: str | None, input_code: str | None, path: str | None
    ) -> _Found:
        found: _Found = []
        for source in self._url_precedence:
            if source == "input":
                if input_code:
                    found.append(("input", input_code, "input"))
            elif not host:
                continue
            elif source in ("user_registry", "registry"):
                registry = self.user_registry if source == "user_registry" else self.builtin_registry
                match = registry.match(host, domain or host, path) if registry is not None else None
                if match is not None:
                    found.append((source, match.country, f"{source}:{match.key}"))
            # A shortener's ccTLD names the shortening service's registry, not the outlet (bbc.in).
            elif source == "cctld" and suffix and not is_shortener(host, domain):
                code = cctld_country(suffix)
                if code:
                    found.append(("cctld", code, f"cctld:.{suffix}"))
        return found

    # ------------------------------------------------------------------ tagging
    def tag(
        self,
        host: str | None,
        domain: str | None = None,
        suffix: str | None = None,
        input_country: str | None = None,
        path: str | None = None,
        page_signals: Mapping[str, object] | None = None,
        text: str | None = None,
        url: str | None = None,
    ) -> RegionTag:
        """The tag of one document. ``path`` lets path-prefix registry entries match; ``page_signals``
        (see :func:`geocorpus.page_evidence.page_signals`) and ``text``/``url`` feed the page and
        classifier sources when configured. Without ``path``, the path is taken from ``url``."""
        # Fast path, most documents: no claim, no path prefix under the domain, no per-document source.
        if input_country is None and self._url_only and domain not in self._path_domains:
            plain = self._by_host.get(host)
            if plain is not None:
                return plain
        claim = None if input_country is None else str(input_country)
        prefixes: tuple[str | None, ...] = ()
        if domain in self._path_domains:
            if path is None and url:
                path = url_path(url)
            first = path.split("/", 2)[1] if path and len(path) > 1 else ""
            if "%" in first or first.lower() in self._first_segments[domain]:
                prefixes = self._prefix_keys(host, domain, path)
            else:  # no prefix under this domain starts with this segment
                prefixes, path = self._no_prefix, None
        else:
            path = None
        key = (host, prefixes, claim)
        cached = self._cache.get(key)
        if cached is None:
            input_code, unrecognized = self._input_country(claim)
            found = self._url_found(host, domain, suffix, input_code, path)
            cached = (self._finish(found, unrecognized), found)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
                self._by_host.clear()
            self._cache[key] = cached
            if claim is None and not prefixes:
                self._by_host[host] = cached[0]
        result, found = cached
        if self.page_evidence is None and self.classifier is None:
            return result
        winner_rank = self._rank[found[0][0]] if found else len(self._rank)
        extra: _Found = []
        if self.page_evidence is not None and page_signals:
            decided = self.page_evidence.decide(page_signals)
            if decided is not None:
                extra.append(("page", decided[0], f"page:{decided[1]}"))
        confidence = None
        page_rank = self._rank["page"] if extra else len(self._rank)
        if self.classifier is not None and text is not None and self._rank["classifier"] < min(winner_rank, page_rank):
            predicted = self.classifier.predict(text, url)
            if predicted is not None:
                extra.append(("classifier", predicted[0], f"classifier:{self.classifier.name}"))
                confidence = predicted[1]
        if not extra:
            return result
        merged = sorted(found + extra, key=lambda item: self._rank[item[0]])
        _, unrecognized = self._input_country(claim)
        tag = self._finish(merged, unrecognized)
        if tag.tag_source == "classifier":
            return RegionTag(
                tag.country,
                tag.country_name,
                tag.continent,
                tag.tag_source,
                tag.tag_conflict,
                tag.tag_evidence,
                confidence,
            )
        return tag

    def _region(self, code: str) -> tuple[str, str]:
        """(country name, continent) per code, cached: pycountry lookups are slow per call."""
        info = self._regions.get(code)
        if info is None:
            info = self._regions[code] = (country_name(code), continent(code, self.continent_scheme))
        return info

    def _finish(self, found: _Found, unrecognized: str | None) -> RegionTag:
        conflicts = []
        if unrecognized is not None:
            conflicts.append(f"input_unrecognized={unrecognized}")
        if not found:
            return RegionTag(None, None, None, "none", ";".join(conflicts) or None)
        source, code, evidence = found[0]
        if any(other != code for _, other, _ in found[1:]):
            conflicts.extend(f"{s}={c}" for s, c, _ in found)
        name, continent_name = self._region(code)
        return RegionTag(
            country=code,
            country_name=name,
            continent=continent_name,
            tag_source=_REPORTED_SOURCE[source],
            tag_conflict=";".join(conflicts) or None,
            tag_evidence=evidence,
        )
