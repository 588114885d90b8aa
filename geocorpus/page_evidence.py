"""Page-level country evidence (``tag_source = page``): what a page says about its own locale.

Signals, read from a page's HTML and HTTP headers by :func:`page_signals` (the WARC reader stores
them in ``metadata["page_signals"]`` before the HTML is replaced by its text):

- ``html_lang``: ``<html lang="en-GB">``;
- ``content_language``: the ``Content-Language`` header, or ``<meta http-equiv="content-language">``;
- ``og_locale``: ``<meta property="og:locale" content="en_GB">``;
- ``hreflang_self``: the ``hreflang`` of the ``<link rel="alternate">`` that points at the page itself;
- ``publisher_country``: schema.org JSON-LD ``publisher.address.addressCountry``;
- ``area_served``: schema.org JSON-LD ``areaServed`` (of the publisher or the page).

A signal is only as good as the sites that set it: ``og:locale=en_US`` is a CMS default on many sites
that are not American. So no signal counts until it has been *measured*: :func:`calibrate` takes
documents whose country is known (the registry's) and keeps a (signal, country) pair only where it
reaches the target precision (default 0.98) on at least :data:`MIN_SUPPORT` documents. The result is
a small JSON file (``tagging.page_evidence``); ``tag_evidence`` names the signal that decided
(``page:html_lang=en-GB``).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geocorpus.regions import UnknownCountryError, normalize_country

#: Metadata key of the signals a reader found in a document's HTML.
PAGE_SIGNALS_KEY = "page_signals"
#: Signal kinds, in the order they are consulted (the most deliberate statements first).
SIGNAL_KINDS = ("publisher_country", "area_served", "content_language", "html_lang", "hreflang_self", "og_locale")
DEFAULT_MIN_PRECISION = 0.98
#: A (signal, country) pair is only trusted when measured on at least this many documents.
MIN_SUPPORT = 20
#: Only the start of a page is searched: the head, where these tags live.
HEAD_CHARS = 200_000

_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3}[-_][A-Za-z0-9]{2,3})", re.IGNORECASE)
_META = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
_LINK = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"([a-zA-Z:-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))")
_JSON_LD = re.compile(
    r"<script\b[^>]*type\s*=\s*[\"']?application/ld\+json[\"']?[^>]*>(.*?)</script>", re.IGNORECASE | re.DOTALL
)
_LOCALE = re.compile(r"^[A-Za-z]{2,3}[-_]([A-Za-z]{2})$")


class PageEvidenceError(ValueError):
    """A calibration file that cannot be used; the message names the file and why."""


def _attributes(tag: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or "" for m in _ATTRIBUTE.finditer(tag)}


def locale_country(value: object) -> str | None:
    """ISO country of a locale's region (``en-GB``, ``en_gb`` -> GB; ``en`` or ``es-419`` -> None)."""
    if not isinstance(value, str):
        return None
    match = _LOCALE.match(value.strip())
    if not match:
        return None
    try:
        return normalize_country(match.group(1))
    except UnknownCountryError:
        return None


def _country_value(value: object) -> str | None:
    """ISO country of a schema.org country value: a code or name, or a ``Country``/``Place`` object."""
    if isinstance(value, dict):
        value = value.get("addressCountry") or value.get("name") or value.get("identifier")
    if isinstance(value, list):
        countries = {_country_value(item) for item in value}
        return countries.pop() if len(countries) == 1 else None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return normalize_country(value)
    except UnknownCountryError:
        return None


def _walk(node: Any, found: dict[str, str]) -> None:
    """Collect publisher addressCountry and areaServed from a JSON-LD tree (first value wins)."""
    if isinstance(node, list):
        for item in node:
            _walk(item, found)
        return
    if not isinstance(node, dict):
        return
    publisher = node.get("publisher")
    for candidate in publisher if isinstance(publisher, list) else [publisher]:
        if isinstance(candidate, dict):
            address = candidate.get("address")
            country = _country_value(address.get("addressCountry")) if isinstance(address, dict) else None
            if country and "publisher_country" not in found:
                found["publisher_country"] = country
            served = _country_value(candidate.get("areaServed"))
            if served and "area_served" not in found:
                found["area_served"] = served
    served = _country_value(node.get("areaServed"))
    if served and "area_served" not in found:
        found["area_served"] = served
    for key in ("@graph", "mainEntity", "isPartOf"):
        if key in node:
            _walk(node[key], found)


def page_signals(html: str, content_language: str | None = None, url: str | None = None) -> dict[str, str]:
    """The raw signals of one page (kind -> value as written; countries for the JSON-LD kinds)."""
    head = html[:HEAD_CHARS]
    found: dict[str, str] = {}
    if content_language and "," not in content_language:
        found["content_language"] = content_language.strip()
    if match := _HTML_LANG.search(head):
        found["html_lang"] = match.group(1)
    own = _page_key(url) if url else None
    for tag in _META.findall(head):
        attrs = _attributes(tag)
        if attrs.get("property", "").lower() == "og:locale" and "og_locale" not in found and attrs.get("content"):
            found["og_locale"] = attrs["content"]
        content = attrs.get("content", "")
        if attrs.get("http-equiv", "").lower() == "content-language" and content and "," not in content:
            found.setdefault("content_language", content.strip())
    if own:
        for tag in _LINK.findall(head):
            attrs = _attributes(tag)
            is_alternate = "alternate" in attrs.get("rel", "").lower().split() and attrs.get("hreflang")
            if is_alternate and _page_key(attrs.get("href", "")) == own:
                found.setdefault("hreflang_self", attrs["hreflang"])
    for block in _JSON_LD.findall(html):
        try:
            data = json.loads(block.strip())
        except ValueError:
            continue
        _walk(data, found)
    return found


def _page_key(url: str) -> str:
    """Scheme-, www- and trailing-slash-blind form of a URL, to find the hreflang link to the page itself."""
    rest = url.split("://", 1)[-1].split("#", 1)[0]
    return rest.removeprefix("www.").rstrip("/").lower()


def signal_country(kind: str, value: object) -> str | None:
    """The country one signal names, or None (a language without a region names none)."""
    if kind in ("publisher_country", "area_served"):
        return _country_value(value)
    return locale_country(value)


@dataclass
class SignalStat:
    documents: int = 0
    correct: int = 0

    @property
    def precision(self) -> float:
        return self.correct / self.documents if self.documents else float("nan")


def measure(pairs: Iterable[tuple[Mapping[str, object], str]]) -> dict[str, SignalStat]:
    """Per ``kind=COUNTRY``: how many known-country documents carry that signal and how many of those
    are from that country."""
    stats: dict[str, SignalStat] = defaultdict(SignalStat)
    for signals, known in pairs:
        for kind in SIGNAL_KINDS:
            country = signal_country(kind, signals.get(kind)) if kind in signals else None
            if country is not None:
                stat = stats[f"{kind}={country}"]
                stat.documents += 1
                stat.correct += country == known
    return dict(stats)


class PageEvidence:
    """The (signal, country) pairs that measured precise enough; ``decide`` uses only those."""

    def __init__(self, trusted: Mapping[str, float], min_precision: float = DEFAULT_MIN_PRECISION) -> None:
        self.trusted = dict(trusted)  # "html_lang=GB" -> measured precision
        self.min_precision = min_precision

    @classmethod
    def calibrate(
        cls,
        pairs: Iterable[tuple[Mapping[str, object], str]],
        min_precision: float = DEFAULT_MIN_PRECISION,
        min_support: int = MIN_SUPPORT,
    ) -> tuple[PageEvidence, dict[str, SignalStat]]:
        """Trust each ``kind=COUNTRY`` measured at >= ``min_precision`` on >= ``min_support`` documents."""
        stats = measure(pairs)
        trusted = {
            key: stat.precision
            for key, stat in stats.items()
            if stat.documents >= min_support and stat.precision >= min_precision
        }
        return cls(trusted, min_precision), stats

    def decide(self, signals: Mapping[str, object]) -> tuple[str, str] | None:
        """(country, ``kind=value``) from the trusted signals; None when none applies or two disagree."""
        decided: tuple[str, str] | None = None
        for kind in SIGNAL_KINDS:
            if kind not in signals:
                continue
            country = signal_country(kind, signals[kind])
            if country is None or f"{kind}={country}" not in self.trusted:
                continue
            if decided is not None and decided[0] != country:
                return None
            if decided is None:
                decided = (country, f"{kind}={signals[kind]}")
        return decided

    def save(self, path: str | Path, stats: Mapping[str, SignalStat] | None = None) -> Path:
        path = Path(path)
        data: dict[str, Any] = {"min_precision": self.min_precision, "trusted": self.trusted}
        if stats is not None:
            data["measured"] = {key: [stat.correct, stat.documents] for key, stat in sorted(stats.items())}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> PageEvidence:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            trusted = {str(key): float(value) for key, value in data["trusted"].items()}
            min_precision = float(data.get("min_precision", DEFAULT_MIN_PRECISION))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise PageEvidenceError(f"{path}: not a page-evidence calibration ({error})") from None
        unknown = sorted({key.partition("=")[0] for key in trusted} - set(SIGNAL_KINDS))
        if unknown:
            raise PageEvidenceError(f"{path}: unknown signal kind(s) {unknown}; known: {list(SIGNAL_KINDS)}")
        return cls(trusted, min_precision)


def corpus_signal_pairs(
    paths: Iterable[str | Path], sources: tuple[str, ...] = ("registry",)
) -> Iterable[tuple[dict[str, object], str]]:
    """(page signals, country) of tagged Parquet rows whose country came from ``sources`` (the
    registry by default: what calibration measures against)."""
    from geocorpus.country_classifier import corpus_rows

    for row in corpus_rows(list(paths), ["page_signals", "country", "tag_source"]):
        if row["page_signals"] and row["country"] and row["tag_source"] in sources:
            yield json.loads(row["page_signals"]), row["country"]
