"""Outlet registry: which country a news site is from, looked up by host + path prefix, host or domain.

The shipped table (``geocorpus/data/outlet_registry.tsv``) is built by :func:`build_registry` from
public outlet lists (ABYZ 2017, awesome-newspapers, fundus, two all-US lists), never edited by hand,
so every entry can be traced to its sources and rebuilt. Which rows count as evidence and how
disagreeing sources are resolved is *rule v2*, documented in ``docs/regions_and_registry.md`` and
on :func:`collect_claims` / :func:`resolve_claims`; every decision is written to a report. Users can
load their own table with :meth:`OutletRegistry.from_file`; the tagger consults it first.

``geocorpus registry build`` rebuilds it (into a user path unless ``--out`` says otherwise).
"""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import idna
import tldextract

from geocorpus.regions import UnknownCountryError, cctld_country, continent, normalize_country

DATA_DIR = Path(__file__).resolve().parent / "data"
BUILTIN_REGISTRY = DATA_DIR / "outlet_registry.tsv"
#: First line of every table build_registry writes (how from_file recognizes one).
REGISTRY_MAGIC = "# geocorpus outlet registry"

# Ties between sources go to the earliest source here. fundus maps each publisher it parses by
# hand. ABYZ files every outlet under its place of publication (diaspora papers under the host
# country). The two US lists were each coded by people for one country. awesome-newspapers is
# organized by language, and its country column often gives the language's main country instead
# (Bengali, Nepali and Tamil outlets of BD/NP/LK/SG listed as IN), so it decides last.
SOURCE_PRIORITY: tuple[str, ...] = ("fundus", "abyz", "us_local", "us_news", "awesome")

# A key whose claims name this many distinct countries is a shared or international site
# (wire service, broadcaster serving many countries), not one country's outlet.
MULTI_COUNTRY_THRESHOLD = 3

# Platforms where the outlet is addressed by the *path* (facebook.com/<page>): neither the domain
# nor any host under it says anything about the outlet's country.
PATH_ADDRESSED_PLATFORMS: frozenset[str] = frozenset(
    [
        "facebook.com",
        "twitter.com",
        "x.com",
        "youtube.com",
        "instagram.com",
        "google.com",
        "issuu.com",
        "medium.com",
        "soundcloud.com",
        "tiktok.com",
        "linkedin.com",
        "scribd.com",
        "flickr.com",
        "vk.com",
        "t.me",
    ]
)
# Platforms where each outlet has its own subdomain (<blog>.blogspot.com): the host is evidence,
# the bare domain is not.
SUBDOMAIN_ADDRESSED_PLATFORMS: frozenset[str] = frozenset(
    ["blogspot.com", "wordpress.com", "tumblr.com", "wixsite.com", "weebly.com", "webs.com"]
)

# Leading labels that name no separate outlet: www.x.com and m.x.com are x.com.
_TRIVIAL_LABEL = re.compile(r"^(?:www\d*|m|mobile|amp)$")
_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")

# Claim made by a row whose country is no ISO country ("International", "Europe Regional", "Kosovo").
# Rule v1 counted it as a pseudo-country; rule v2 does not count it at all.
NON_COUNTRY = "-"

RULES = ("v1", "v2")
LEVELS = ("prefix", "host", "domain")
#: How a kept key was decided (rule v2): homepage rows; the outlet's editions, all in one country
#: (no homepage row); an edition's own path prefix.
DECIDING_RULES = ("homepage", "editions_agree", "edition_prefix")
#: Why a key was dropped. non_country only exists under rule v1.
CONFLICT_KINDS = (
    "majority",
    "priority",
    "multi_country",
    "non_country",
    "ambiguous",
    "editions_disagree",
    "shared_platform",
)
#: Why a row was no evidence under rule v2 (counted in the report, listed in the conflicts file).
IGNORED_ROW_KINDS = ("non_country_heading", "non_publishing_place", "section_path", "foreign_cctld")


class RegistryFileError(ValueError):
    """A registry file that cannot be read; the message names the file, the line and the reason."""


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    """Offline Public Suffix List lookups (bundled snapshot, no cache dir, no download)."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=1)
def non_publishing_places() -> frozenset[str]:
    """Places that publish no news: the ISO entries ``continents.tsv`` puts in Antarctica
    (AQ BV GS HM TF, uninhabited). A row filed under one is a *topic* page, never a publisher."""
    from geocorpus.regions import _continent_table

    return frozenset(code for code in _continent_table() if continent(code, "continent7") == "Antarctica")


def outlet_key(value: str) -> tuple[str, str]:
    """Registry key and level for a URL or host name: ``("edition.cnn.com", "host")``.

    Lower case, punycode, no scheme/userinfo/port/path, no trailing dot; leading ``www``/``m``
    labels dropped. A remaining subdomain gives a ``host`` key, otherwise the registrable domain
    gives a ``domain`` key. Raises ValueError saying why the value has no key.
    """
    key, level, _ = _split_listing(value)
    return key, level


def _split_listing(value: str) -> tuple[str, str, list[str]]:
    """(host/domain key, level, path segments) of a listed URL; see :func:`outlet_key`."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValueError(f"empty URL or host: {value!r}")
    try:
        parts = urlsplit(text if "://" in text else "//" + text)
        host = parts.hostname
    except ValueError as error:
        raise ValueError(f"unparsable URL {value!r}: {error}") from None
    host = (host or "").rstrip(".")
    if not host:
        raise ValueError(f"no host in {value!r}")
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as error:
            raise ValueError(f"invalid internationalized host in {value!r}: {error}") from None
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise ValueError(f"IP address instead of a host name: {value!r}")
    labels = host.split(".")
    if any(not _HOST_LABEL.match(label) for label in labels):
        raise ValueError(f"invalid host name {host!r} in {value!r}")
    extracted = _extractor()(host)
    domain = extracted.top_domain_under_public_suffix
    if not domain:
        raise ValueError(f"no registrable domain in {host!r} (unknown or bare public suffix)")
    sub_labels = extracted.subdomain.split(".") if extracted.subdomain else []
    while sub_labels and _TRIVIAL_LABEL.match(sub_labels[0]):
        sub_labels.pop(0)
    segments = path_segments(parts.path)
    if sub_labels:
        return ".".join([*sub_labels, domain]), "host", segments
    return domain, "domain", segments


def path_segments(path: str) -> list[str]:
    """A URL path as the registry compares it: percent-decoded, lower case, empty segments dropped."""
    if not path or path == "/":
        return []
    if "%" in path:
        path = unquote(path)
    return [segment for segment in path.lower().split("/") if segment]


def is_front_page(segments: Sequence[str]) -> bool:
    """An empty path, or one file at the root (``/index.html``, ``/default.aspx``): the site's front page."""
    return not segments or (len(segments) == 1 and "." in segments[0])


@dataclass(frozen=True)
class RegistryMatch:
    country: str
    key: str
    level: str  # "prefix" | "host" | "domain"


class OutletRegistry:
    """Path-prefix, host and domain -> country table.

    Match order: host + path prefix > host > registrable domain, walking from the URL's own host
    up to its registrable domain, so the most specific entry wins.
    """

    def __init__(
        self,
        hosts: dict[str, str],
        domains: dict[str, str],
        version: str,
        sources: tuple[str, ...],
        prefixes: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self._hosts = hosts
        self._domains = domains
        # host key -> [(path, country)], longest path first, so the most specific prefix wins
        self._prefixes: dict[str, list[tuple[str, str]]] = {
            host: sorted(paths.items(), key=lambda item: -len(item[0])) for host, paths in (prefixes or {}).items()
        }
        # registrable domain -> first path segments of its prefixes: most URLs under such a domain start
        # with another segment, and are answered without splitting and decoding the whole path
        first_segments: dict[str, set[str]] = defaultdict(set)
        for host, paths in self._prefixes.items():
            first_segments[_extractor()(host).top_domain_under_public_suffix].update(
                path.split("/")[1] for path, _ in paths
            )
        self._first_segments = {domain: frozenset(found) for domain, found in first_segments.items()}
        self._prefix_domains = frozenset(self._first_segments)
        self.version = version
        self.sources = sources

    @property
    def prefix_domains(self) -> frozenset[str]:
        """Registrable domains with at least one path-prefix entry."""
        return self._prefix_domains

    def first_segments(self, domain: str) -> frozenset[str]:
        """First path segments of the path-prefix entries under ``domain`` (lower case)."""
        return self._first_segments.get(domain, frozenset())

    def prefix_could_match(self, domain: str, path: str) -> bool:
        """Cheap test: could a path-prefix entry under ``domain`` match ``path``? (first segment only)"""
        return self._prefix_path(domain, path) is not None

    def needs_path(self, domain: str | None) -> bool:
        """True when some entry under ``domain`` is a path prefix (the answer may depend on the path)."""
        return bool(domain) and domain in self._prefix_domains

    def match(self, host: str, domain: str, path: str | None = None) -> RegistryMatch | None:
        """Most specific entry for a URL: its host (+ path prefix), the host's parents, then the domain.

        ``path`` is the URL path (percent-encoded or not); prefixes match whole segments only
        (``/au`` matches ``/au/news`` but not ``/australia``).
        """
        host = (host or "").lower().rstrip(".")
        domain = (domain or "").lower().rstrip(".")
        joined = self._prefix_path(domain, path) if path else None
        candidate = host
        while candidate:
            if joined is not None and candidate in self._prefixes:
                for prefix, country in self._prefixes[candidate]:
                    if joined == prefix or joined.startswith(prefix + "/"):
                        return RegistryMatch(country, candidate + prefix, "prefix")
            if candidate == domain or not domain:
                found = self._domains.get(candidate)
                return RegistryMatch(found, candidate, "domain") if found is not None else None
            found = self._hosts.get(candidate)
            if found is not None:
                return RegistryMatch(found, candidate, "host")
            if not candidate.endswith("." + domain):
                candidate = domain  # a host outside its own domain (bad input): only the domain is left
            else:
                candidate = candidate.partition(".")[2]
        return None

    def _prefix_path(self, domain: str, path: str) -> str | None:
        """The path as prefixes are compared (``/au/news``), or None when no prefix under ``domain`` can match."""
        first_segments = self._first_segments.get(domain)
        if first_segments is None:
            return None
        first = path.split("/", 2)[1] if path.startswith("/") and len(path) > 1 else ""
        if "%" not in first and first.lower() not in first_segments:
            return None
        segments = path_segments(path)
        return "/" + "/".join(segments) if segments else None

    def lookup(self, host: str, domain: str, path: str | None = None) -> str | None:
        found = self.match(host, domain, path)
        return found.country if found else None

    def __len__(self) -> int:
        return len(self._hosts) + len(self._domains) + sum(len(paths) for paths in self._prefixes.values())

    def size_by_level(self) -> dict[str, int]:
        sizes = {"host": len(self._hosts), "domain": len(self._domains)}
        if self._prefixes:
            sizes["prefix"] = sum(len(paths) for paths in self._prefixes.values())
        return sizes

    def __repr__(self) -> str:
        return f"OutletRegistry(version={self.version!r}, entries={len(self)}, sources={self.sources})"

    @classmethod
    @lru_cache(maxsize=1)
    def builtin(cls) -> OutletRegistry:
        """The shipped table, parsed once per process."""
        return cls.load(BUILTIN_REGISTRY)

    @classmethod
    def load(cls, path: str | Path) -> OutletRegistry:
        """A table written by :func:`build_registry` (keys already normalized, so no re-parsing)."""
        path = Path(path)
        hosts: dict[str, str] = {}
        domains: dict[str, str] = {}
        prefixes: dict[str, dict[str, str]] = defaultdict(dict)
        meta: dict[str, list[str]] = defaultdict(list)
        try:
            handle = path.open(encoding="utf-8")
        except OSError as error:
            raise RegistryFileError(f"{path}: cannot read: {error}") from None
        with handle:
            for number, line in enumerate(handle, start=1):
                if line.startswith("#"):
                    name, _, text = line[1:].partition(":")
                    meta[name.strip()].append(text.strip())
                    continue
                fields = line.rstrip("\n").split("\t")
                if fields[0] == "key" or not fields[0]:
                    continue
                if len(fields) != 4 or fields[1] not in LEVELS:
                    raise RegistryFileError(f"{path}:{number}: expected key, level, country, sources: {line!r}")
                if fields[1] == "prefix":
                    host, slash, rest = fields[0].partition("/")
                    prefixes[host]["/" + rest] = fields[2]
                else:
                    (hosts if fields[1] == "host" else domains)[fields[0]] = fields[2]
        version = meta["version"][0] if meta["version"] else "unversioned"
        sources = tuple(entry.split(" ", 1)[0] for entry in meta["source"])
        return cls(hosts, domains, version, sources, dict(prefixes))

    @classmethod
    def from_file(cls, path: str | Path) -> OutletRegistry:
        """A user's table: CSV or TSV with a header naming ``domain`` (or key/host/url) and ``country``,
        or a table written by ``geocorpus registry build`` (recognized by its first line).

        Comment lines (``#``), blank lines and a BOM are fine; countries may be in any form
        :func:`~geocorpus.regions.normalize_country` accepts; a URL's path is ignored (the row names
        the outlet's host or domain). A bad header or row raises :class:`RegistryFileError` naming the
        file, line and reason.
        """
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise RegistryFileError(f"{path}: cannot read as UTF-8 text: {error}") from None
        if text.startswith(REGISTRY_MAGIC):
            return cls.load(path)
        numbered = [
            (number, line)
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if not numbered:
            raise RegistryFileError(f"{path}: no header line (need columns 'domain' and 'country')")
        header_number, header_line = numbered[0]
        delimiter = "\t" if "\t" in header_line else ","
        rows = csv.reader([line for _, line in numbered], delimiter=delimiter)
        columns = [name.strip().lower() for name in next(rows)]
        key_column = next((c for c in ("domain", "key", "host", "url") if c in columns), None)
        if key_column is None or "country" not in columns:
            raise RegistryFileError(
                f"{path}:{header_number}: header must name a 'domain' and a 'country' column, found {columns}"
            )
        key_index, country_index = columns.index(key_column), columns.index("country")
        hosts: dict[str, str] = {}
        domains: dict[str, str] = {}
        for (number, line), fields in zip(numbered[1:], rows):
            if len(fields) <= max(key_index, country_index):
                raise RegistryFileError(
                    f"{path}:{number}: expected {len(columns)} fields, found {len(fields)}: {line!r}"
                )
            try:
                key, level = outlet_key(fields[key_index])
                country = normalize_country(fields[country_index])
            except ValueError as error:
                raise RegistryFileError(f"{path}:{number}: {error}") from None
            table = hosts if level == "host" else domains
            if table.get(key, country) != country:
                raise RegistryFileError(f"{path}:{number}: {key} is listed as both {table[key]} and {country}")
            table[key] = country
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return cls(hosts, domains, f"user-{digest}", (f"user:{path}",))


def default_build_path() -> Path:
    """Where ``geocorpus registry build`` writes by default: the user's data folder, never the package.

    ``$GEOCORPUS_HOME/outlet_registry.tsv`` if set, else ``$XDG_DATA_HOME/geocorpus/...``
    (``~/.local/share/geocorpus/...``).
    """
    home = os.environ.get("GEOCORPUS_HOME")
    if home:
        return Path(home).expanduser() / "outlet_registry.tsv"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "geocorpus" / "outlet_registry.tsv"


# ---------------------------------------------------------------------------------------------
# Building the shipped table from the source lists


@dataclass(frozen=True)
class Listing:
    """One row of a source list: the outlet URL and the country exactly as the source spells it."""

    source: str
    location: str  # file:line, for reports
    url: str
    country: str


@dataclass(frozen=True)
class SourceSpec:
    path: str  # relative to the shared data folder
    provenance: str
    read: Callable[[Path], Iterator[Listing]]
    #: a list of one country's outlets only (its rows can be no evidence for another country)
    single_country: str | None = None


def _read_abyz(path: Path) -> Iterator[Listing]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if header[:3] != ["Country name", "Newspaper Name", "Newspaper Url"]:
            raise RegistryFileError(f"{path}: unexpected ABYZ header {header}")
        for row in reader:
            yield Listing("abyz", f"{path.name}:{reader.line_num}", row[2], row[0])


def _read_awesome(folder: Path) -> Iterator[Listing]:
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise RegistryFileError(f"{folder}: no awesome-newspapers *.csv files")
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if not {"homeurl", "country"} <= set(reader.fieldnames or ()):
                raise RegistryFileError(f"{path}: header must have homeurl and country, found {reader.fieldnames}")
            for row in reader:
                yield Listing("awesome", f"{path.name}:{reader.line_num}", row["homeurl"], row["country"])


def _read_fundus(path: Path) -> Iterator[Listing]:
    entries = json.loads(path.read_text(encoding="utf-8"))
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "domain" not in entry or "country_dir" not in entry:
            raise RegistryFileError(f"{path}: entry {index} lacks domain/country_dir: {entry!r}")
        yield Listing("fundus", f"{path.name}[{index}]", entry["domain"], entry["country_dir"])


def _read_us_news(path: Path) -> Iterator[Listing]:
    """us-news-domains: every row a US outlet, except those its coders typed ``international``
    ("a non-US-based news organization", per its README), which name no country here."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"domain", "type"} <= set(reader.fieldnames or ()):
            raise RegistryFileError(f"{path}: header must have domain and type, found {reader.fieldnames}")
        for row in reader:
            country = "International" if (row["type"] or "").strip() == "international" else "United States"
            yield Listing("us_news", f"{path.name}:{reader.line_num}", row["domain"], country)


def _read_us_local(path: Path) -> Iterator[Listing]:
    """Local News Dataset 2018: US local newspapers, TV stations and magazines, by state."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"website", "domain", "state"} <= set(reader.fieldnames or ()):
            raise RegistryFileError(f"{path}: header must have website, domain and state, found {reader.fieldnames}")
        for row in reader:
            url = (row["website"] or "").strip() or (row["domain"] or "").strip()
            yield Listing("us_local", f"{path.name}:{reader.line_num}", url, "United States")


SOURCES: dict[str, SourceSpec] = {
    "abyz": SourceSpec(
        "outlets/abyz_2017/clean_url_to_country_v2.csv",
        "ABYZ News Links scrape (2017), via gregunz/AppliedDataAnalysis2017 fb7af4a5",
        _read_abyz,
    ),
    "awesome": SourceSpec(
        "outlets/awesome_newspapers/newspapers",
        "divkakwani/awesome-newspapers 9dde369d (MIT), ISO-3 country per outlet",
        _read_awesome,
    ),
    "fundus": SourceSpec(
        "news/fundus/fundus_publishers_domain_country.json",
        "flairNLP/fundus 18da6e53 publisher list, country folder per publisher",
        _read_fundus,
    ),
    "us_news": SourceSpec(
        "outlets/us_news_domains/us-news-domains-v2.0.0.csv",
        "ercexpo/us-news-domains 6150546 (v2.0.0, 2021), US news domains; type=international rows name no country",
        _read_us_news,
        single_country="US",
    ),
    "us_local": SourceSpec(
        "outlets/us_local_news_2018/local_news_dataset_2018.csv",
        "yinleon/LocalNewsDataset d97f2f8 (MIT, 2018-08-14), US local outlets by state",
        _read_us_local,
        single_country="US",
    ),
}
DEFAULT_SOURCES: tuple[str, ...] = tuple(SOURCES)
#: The sources of rule v1 (what the registry was built from before rule v2).
V1_SOURCES: tuple[str, ...] = ("abyz", "awesome", "fundus")


def resolve_claims(
    claims: dict[str, Counter[str]], priority: Sequence[str] = SOURCE_PRIORITY
) -> tuple[str | None, str | None]:
    """(country or None, conflict kind or None) for one key from {source: Counter(country -> rows)}.

    One country: kept, no conflict. Three or more countries: dropped ("multi_country"). Two:
    each source votes for the country it lists most (a source split evenly abstains); more
    votes wins ("majority"); a tie goes to the vote of the earliest source in ``priority``
    ("priority"); no vote at all drops the key ("ambiguous"). NON_COUNTRY (rule v1 only) takes
    part like a country; if it wins, the key is dropped ("non_country").
    """
    countries = {country for counts in claims.values() for country in counts}
    if len(countries) == 1:
        country = countries.pop()
        return (None, None) if country == NON_COUNTRY else (country, None)
    if len(countries) >= MULTI_COUNTRY_THRESHOLD:
        return None, "multi_country"
    winner, kind = _decide_between_two(claims, priority)
    return (None, "non_country") if winner == NON_COUNTRY else (winner, kind)


def _decide_between_two(claims: dict[str, Counter[str]], priority: Sequence[str]) -> tuple[str | None, str]:
    """Two candidate countries: source votes, then source priority (see resolve_claims)."""
    votes: dict[str, str] = {}
    for source, counts in claims.items():
        ranked = counts.most_common()
        if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
            votes[source] = ranked[0][0]
    tally = Counter(votes.values()).most_common()
    if not tally:
        return None, "ambiguous"
    if len(tally) == 1 or tally[0][1] > tally[1][1]:
        return tally[0][0], "majority"
    rank = {source: index for index, source in enumerate(priority)}
    first = min(votes, key=lambda source: rank.get(source, len(rank)))
    return votes[first], "priority"


def _excluded_key(key: str, level: str) -> str | None:
    """Why a host/domain key is no outlet of its own (a conflict kind), or None."""
    host = key.partition("/")[0]
    domain = _extractor()(host).top_domain_under_public_suffix
    if domain in PATH_ADDRESSED_PLATFORMS or (level == "domain" and domain in SUBDOMAIN_ADDRESSED_PLATFORMS):
        return "shared_platform"
    return None


Claims = dict[str, Counter[str]]  # source -> Counter(country -> rows)
_HostKey = tuple[str, str]  # (key, "host" | "domain")


@dataclass
class _Collected:
    """Every source row sorted into the evidence it is (see :func:`collect_claims`)."""

    front: dict[_HostKey, Claims] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Counter)))
    editions: dict[_HostKey, Claims] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Counter)))
    prefixes: dict[tuple[str, str, str], Claims] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counter))
    )
    rows_by_source: Counter[str] = field(default_factory=Counter)
    unmapped: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    issues: list[tuple[str, str, str, str, str]] = field(default_factory=list)


def collect_claims(listings: Iterator[tuple[Listing, SourceSpec]], rule: str = "v2") -> _Collected:
    """Sort source rows into claims on keys.

    Rule v1: every row claims its host/domain key, whatever its path; a non-ISO heading is a
    pseudo-country. Rule v2:

    - a row under a non-ISO heading ("International", "Europe Regional") or a place that publishes
      nothing (:func:`non_publishing_places`) is no evidence (``non_country_heading``,
      ``non_publishing_place``);
    - a row of a one-country list (the US lists) whose ccTLD names another country is no evidence
      (``foreign_cctld``): those lists say they contain some foreign sites;
    - a front-page row (:func:`is_front_page`) claims the host/domain key;
    - a row one path segment deep (``/au``, ``/hindi``) is an *edition*: it claims the path-prefix
      key, and (in a many-country list) counts for the host/domain key when no front-page row exists
      and every edition names one country (``editions_agree``);
    - a deeper row (``/world/iraq``, ``/topics/antarctica``) of a many-country list is a section
      filed under the country it covers, no evidence (``section_path``); in a one-country list every
      row is that country's outlet, so it claims its path-prefix key.
    """
    if rule not in RULES:
        raise ValueError(f"unknown registry rule {rule!r}; choose from {RULES}")
    out = _Collected()
    non_publishing = non_publishing_places()
    for listing, spec in listings:
        out.rows_by_source[listing.source] += 1
        try:
            country = normalize_country(listing.country)
        except UnknownCountryError:
            out.unmapped[(listing.source, listing.country.strip())] += 1
            country = NON_COUNTRY
        try:
            key, level, segments = _split_listing(listing.url)
        except ValueError as error:
            out.rejected[listing.source] += 1
            out.issues.append(("invalid_url", listing.url.strip(), "", "skipped", f"{listing.location}: {error}"))
            continue
        if rule == "v1":
            out.front[(key, level)][listing.source][country] += 1
            continue
        ignored = None
        if country == NON_COUNTRY:
            ignored = "non_country_heading"
        elif country in non_publishing:
            ignored = "non_publishing_place"
        elif spec.single_country and cctld_country(_extractor()(key).suffix) not in (None, spec.single_country):
            ignored = "foreign_cctld"
        elif len(segments) > 1 and not spec.single_country:
            ignored = "section_path"
        if ignored is not None:
            out.ignored[ignored] += 1
            out.issues.append((ignored, listing.url.strip(), "", "ignored", f"{listing.location}: {listing.country}"))
            continue
        if is_front_page(segments):
            out.front[(key, level)][listing.source][country] += 1
            continue
        path = "/" + "/".join(segments)
        out.prefixes[(key, level, path)][listing.source][country] += 1
        if len(segments) == 1 and not spec.single_country:
            out.editions[(key, level)][listing.source][country] += 1
    return out


def _read_sources(shared_dir: Path, sources: Sequence[str]) -> Iterator[tuple[Listing, SourceSpec]]:
    for name in sources:
        spec = SOURCES[name]
        path = shared_dir / spec.path
        if not path.exists():
            raise FileNotFoundError(f"registry source {name!r} not found at {path}")
        for listing in spec.read(path):
            yield listing, spec


@dataclass
class Decision:
    key: str
    level: str
    country: str | None
    kind: str | None  # conflict kind, None when no conflict
    rule: str | None  # deciding rule (v2) when kept
    claims: Claims


def decide(collected: _Collected, rule: str = "v2") -> list[Decision]:
    """One decision per key: host/domain keys from front-page rows (or agreeing editions), then
    path-prefix keys, kept only where they say something their host/domain entry does not."""
    decisions: list[Decision] = []
    host_keys = sorted(set(collected.front) | set(collected.editions))
    decided: dict[str, str] = {}
    for key, level in host_keys:
        front = collected.front.get((key, level))
        claims = front if front else collected.editions[(key, level)]
        excluded = _excluded_key(key, level)
        if excluded is not None:
            decisions.append(Decision(key, level, None, excluded, None, claims))
            continue
        if front:
            country, kind = resolve_claims(front)
            deciding = "homepage"
        else:
            countries = {country for counts in claims.values() for country in counts}
            country, kind = (countries.pop(), None) if len(countries) == 1 else (None, "editions_disagree")
            deciding = "editions_agree"
        decisions.append(Decision(key, level, country, kind, deciding if country else None, claims))
        if country is not None:
            decided[key] = country
    for (key, level, path), claims in sorted(collected.prefixes.items()):
        excluded = _excluded_key(key, level)
        if excluded is not None:
            decisions.append(Decision(key + path, "prefix", None, excluded, None, claims))
            continue
        country, kind = resolve_claims(claims)
        parent = decided.get(key) or decided.get(_extractor()(key).top_domain_under_public_suffix)
        if country is not None and country == parent and kind is None:
            continue  # the host/domain entry already says so
        decisions.append(Decision(key + path, "prefix", country, kind, "edition_prefix" if country else None, claims))
    return decisions


@dataclass
class BuildReport:
    """What a build read, kept, dropped and could not map (printed by the CLI)."""

    version: str
    rule: str
    out_path: Path
    conflicts_path: Path | None
    entries_by_level: dict[str, int]
    rows_by_source: dict[str, int]
    keys_by_source: dict[str, int]  # distinct keys each source claims, before conflict resolution
    entries_by_source: dict[str, int]  # shipped entries each source supports
    unmapped_countries: dict[tuple[str, str], int]  # (source, name as written) -> rows
    rejected_urls: dict[str, int]  # source -> rows whose URL gives no key
    conflicts_by_kind: dict[str, int] = field(default_factory=dict)
    ignored_rows: dict[str, int] = field(default_factory=dict)  # rule v2: rows that are no evidence, by kind
    decided_by_rule: dict[str, int] = field(default_factory=dict)  # rule v2: kept keys per deciding rule
    #: rule v2: host/domain keys rule v1 (same sources) dropped that v2 decides, per deciding rule
    resolved_v1_drops: dict[str, list[str]] = field(default_factory=dict)
    cctld_disagreements: int = 0  # shipped entries whose ccTLD names another country (kept, reported)

    @property
    def entries(self) -> int:
        return sum(self.entries_by_level.values())

    def summary(self) -> str:
        lines = [
            f"outlet registry {self.version} (rule {self.rule}): {self.entries} entries "
            + ", ".join(f"{level} {count}" for level, count in self.entries_by_level.items()),
            f"  written to {self.out_path}" + (f"; conflicts in {self.conflicts_path}" if self.conflicts_path else ""),
        ]
        for source, rows in self.rows_by_source.items():
            lines.append(
                f"  {source}: {rows} rows, {self.keys_by_source[source]} keys, "
                f"{self.entries_by_source[source]} shipped entries, {self.rejected_urls.get(source, 0)} bad URLs"
            )
        if self.decided_by_rule:
            lines.append("  keys decided per rule: " + ", ".join(f"{k} {v}" for k, v in self.decided_by_rule.items()))
        if self.ignored_rows:
            lines.append("  rows that are no evidence: " + ", ".join(f"{k} {v}" for k, v in self.ignored_rows.items()))
        lines.append("  conflicts: " + (", ".join(f"{k} {v}" for k, v in self.conflicts_by_kind.items()) or "none"))
        for deciding, keys in self.resolved_v1_drops.items():
            shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
            lines.append(f"  keys rule v1 dropped that {deciding} decides: {shown}")
        lines.append(f"  entries whose ccTLD names another country (kept): {self.cctld_disagreements}")
        unmapped = ", ".join(
            f"{name!r} ({source}, {rows})" for (source, name), rows in sorted(self.unmapped_countries.items())
        )
        lines.append(f"  unmapped country names: {unmapped or 'none'}")
        return "\n".join(lines)


def _format_claims(claims: Claims) -> str:
    return "; ".join(
        f"{source}:" + ",".join(f"{country}={rows}" for country, rows in sorted(counts.items()))
        for source, counts in sorted(claims.items())
    )


def default_conflicts_path(out_path: Path) -> Path:
    """``outlet_registry_conflicts.tsv`` beside ``outlet_registry.tsv``."""
    return out_path.with_name(out_path.name.split(".")[0] + "_conflicts.tsv")


def _rule_text(rule: str) -> str:
    if rule == "v1":
        return (
            f"v1: every row claims its host/domain; >= {MULTI_COUNTRY_THRESHOLD} countries (non-ISO headings "
            f"count as one) dropped; 2 countries: source majority, ties by priority {','.join(SOURCE_PRIORITY)}"
        )
    return (
        "v2: front-page rows decide host/domain keys; one-segment paths are editions (path-prefix keys; "
        "they decide the host/domain only when it has no front-page row and they agree); deeper paths of "
        "many-country lists, non-ISO headings, non-publishing places and foreign ccTLDs in one-country "
        f"lists are no evidence; >= {MULTI_COUNTRY_THRESHOLD} countries dropped; 2 countries: source majority, "
        f"ties by priority {','.join(SOURCE_PRIORITY)}; shared platforms dropped; "
        "see docs/regions_and_registry.md"
    )


def build_registry(
    shared_dir: Path,
    out_path: Path,
    sources: Sequence[str] = DEFAULT_SOURCES,
    conflicts_path: Path | None = None,
    rule: str = "v2",
    compare_v1: bool = True,
) -> BuildReport:
    """Read the source lists under ``shared_dir``, decide every key by ``rule``, write the registry
    TSV and, beside it (or at ``conflicts_path``), every conflict, ignored and skipped row.

    The version is a hash of the rule, the sources and the rows, so an identical rebuild gives an
    identical version (and a changed list or rule a new one). ``compare_v1`` also decides every key
    by rule v1 to report which keys v1 dropped that v2 decides (doubles the build time)."""
    shared_dir, out_path = Path(shared_dir), Path(out_path)
    conflicts_path = Path(conflicts_path) if conflicts_path else default_conflicts_path(out_path)
    unknown = [name for name in sources if name not in SOURCES]
    if unknown:
        raise ValueError(f"unknown registry source(s) {unknown}; choose from {sorted(SOURCES)}")
    collected = collect_claims(_read_sources(shared_dir, sources), rule)
    decisions = decide(collected, rule)

    entries: list[tuple[str, str, str, str]] = []
    conflicts: Counter[str] = Counter()
    keys_by_source: Counter[str] = Counter()
    entries_by_source: Counter[str] = Counter()
    decided_by_rule: Counter[str] = Counter()
    issues = list(collected.issues)
    cctld_disagreements = 0
    for decision in decisions:
        keys_by_source.update(source for source, counts in decision.claims.items() if set(counts) != {NON_COUNTRY})
        if decision.kind is not None:
            conflicts[decision.kind] += 1
            issues.append(
                (
                    decision.kind,
                    decision.key,
                    decision.level,
                    decision.country or "dropped",
                    _format_claims(decision.claims),
                )
            )
        if decision.country is None:
            continue
        if decision.rule is not None:
            decided_by_rule[decision.rule] += 1
        supporting = sorted(source for source, counts in decision.claims.items() if decision.country in counts)
        entries_by_source.update(supporting)
        entries.append((decision.key, decision.level, decision.country, ",".join(supporting)))
        tld_country = cctld_country(_extractor()(decision.key.partition("/")[0]).suffix)
        if tld_country is not None and tld_country != decision.country:
            cctld_disagreements += 1
            issues.append(
                (
                    "cctld_disagrees",
                    decision.key,
                    decision.level,
                    decision.country,
                    f"ccTLD says {tld_country}; {_format_claims(decision.claims)}",
                )
            )

    resolved: dict[str, list[str]] = {}
    if rule == "v2" and compare_v1:
        v1 = {
            (d.key, d.level): d
            for d in decide(collect_claims(_read_sources(shared_dir, sources), "v1"), "v1")
            if d.country is None
        }
        for decision in decisions:
            dropped = v1.get((decision.key, decision.level))
            if decision.country is not None and decision.rule and dropped is not None:
                resolved.setdefault(decision.rule, []).append(decision.key)
                issues.append(
                    (
                        "resolved_v1_drop",
                        decision.key,
                        decision.level,
                        decision.country,
                        f"rule {decision.rule}; v1 dropped it as {dropped.kind}",
                    )
                )

    entries.sort(key=lambda entry: (entry[0], entry[1]))
    body = "".join("\t".join(entry) + "\n" for entry in entries)
    described = [
        *(f"# source: {name} = {SOURCES[name].path} ({SOURCES[name].provenance})" for name in sources),
        f"# rule: {_rule_text(rule)}",
    ]
    digest = hashlib.sha256(("\n".join(described) + "\n" + body).encode("utf-8")).hexdigest()[:12]
    version = f"{rule}-{digest}"
    header = [
        f"{REGISTRY_MAGIC}: outlet host/domain/path prefix -> ISO 3166-1 country (facts only)",
        f"# version: {version}",
        "# built by: geocorpus registry build (do not edit by hand)",
        *described,
        "key\tlevel\tcountry\tsources",
    ]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
    conflicts_path.parent.mkdir(parents=True, exist_ok=True)
    issues += [
        ("unmapped_country", f"{name}", "", "skipped", f"{source}:{rows} rows")
        for (source, name), rows in sorted(collected.unmapped.items())
    ]
    lines = [f"# conflicts and skipped rows of outlet registry {version}", "kind\tkey\tlevel\tresolution\tclaims"]
    lines += ["\t".join(part.replace("\t", " ").replace("\n", " ") for part in issue) for issue in issues]
    conflicts_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    by_level = Counter(level for _, level, _, _ in entries)
    return BuildReport(
        version=version,
        rule=rule,
        out_path=out_path,
        conflicts_path=conflicts_path,
        entries_by_level={level: by_level[level] for level in LEVELS if by_level[level] or level != "prefix"},
        rows_by_source={name: collected.rows_by_source[name] for name in sources},
        keys_by_source={name: keys_by_source[name] for name in sources},
        entries_by_source={name: entries_by_source[name] for name in sources},
        unmapped_countries=dict(collected.unmapped),
        rejected_urls=dict(collected.rejected),
        conflicts_by_kind={kind: conflicts[kind] for kind in CONFLICT_KINDS if conflicts[kind]},
        ignored_rows={kind: collected.ignored[kind] for kind in IGNORED_ROW_KINDS if collected.ignored[kind]},
        decided_by_rule={r: decided_by_rule[r] for r in DECIDING_RULES if decided_by_rule[r]} if rule == "v2" else {},
        resolved_v1_drops=resolved,
        cctld_disagreements=cctld_disagreements,
    )
