"""Outlet registry: which country a news site is from, looked up by host or registrable domain.

The shipped table (``geocorpus/data/outlet_registry.tsv``) is built by :func:`build_registry` from
public outlet lists (ABYZ 2017, awesome-newspapers, fundus), never edited by hand, so every entry
can be traced to its sources and rebuilt. Sources disagree; the conflict rule is documented in
``docs/regions_and_registry.md`` and on :func:`resolve_claims`, and every conflict is written to a
report. Users can load their own table with :meth:`OutletRegistry.from_file`; the tagger consults
it before :meth:`OutletRegistry.builtin`.

Run ``python -m geocorpus.registry build [--shared DIR] [--out PATH]`` to rebuild.
"""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import idna
import tldextract

from geocorpus.regions import UnknownCountryError, cctld_country, normalize_country

DATA_DIR = Path(__file__).resolve().parent / "data"
BUILTIN_REGISTRY = DATA_DIR / "outlet_registry.tsv"

# Ties between sources go to the earliest source here. fundus maps each publisher it parses by
# hand. ABYZ files every outlet under its place of publication (diaspora papers under the host
# country). awesome-newspapers is organized by language, and its country column often gives the
# language's main country instead (Bengali, Nepali and Tamil outlets of BD/NP/LK/SG listed as IN),
# so it decides last.
SOURCE_PRIORITY: tuple[str, ...] = ("fundus", "abyz", "awesome")

# A key whose listings name this many distinct countries is a shared or international site
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

# Claim made by a row whose country is no ISO country ("International", "Europe Regional", "Kosovo"):
# it names no country, but it is evidence that the outlet is not one country's own.
NON_COUNTRY = "-"

CONFLICT_KINDS = ("majority", "priority", "multi_country", "non_country", "ambiguous", "shared_platform")
LEVELS = ("host", "domain")


class RegistryFileError(ValueError):
    """A registry file that cannot be read; the message names the file, the line and the reason."""


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    """Offline Public Suffix List lookups (bundled snapshot, no cache dir, no download)."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def outlet_key(value: str) -> tuple[str, str]:
    """Registry key and level for a URL or host name: ``("edition.cnn.com", "host")``.

    Lower case, punycode, no scheme/userinfo/port/path, no trailing dot; leading ``www``/``m``
    labels dropped. A remaining subdomain gives a ``host`` key, otherwise the registrable domain
    gives a ``domain`` key. Raises ValueError saying why the value has no key.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValueError(f"empty URL or host: {value!r}")
    try:
        host = urlsplit(text if "://" in text else "//" + text).hostname
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
    parts = _extractor()(host)
    domain = parts.top_domain_under_public_suffix
    if not domain:
        raise ValueError(f"no registrable domain in {host!r} (unknown or bare public suffix)")
    sub_labels = parts.subdomain.split(".") if parts.subdomain else []
    while sub_labels and _TRIVIAL_LABEL.match(sub_labels[0]):
        sub_labels.pop(0)
    if sub_labels:
        return ".".join([*sub_labels, domain]), "host"
    return domain, "domain"


@dataclass(frozen=True)
class RegistryMatch:
    country: str
    key: str
    level: str  # "host" | "domain"


class OutletRegistry:
    """Host- and domain-level outlet -> country table; host entries win over domain entries."""

    def __init__(self, hosts: dict[str, str], domains: dict[str, str], version: str, sources: tuple[str, ...]) -> None:
        self._hosts = hosts
        self._domains = domains
        self.version = version
        self.sources = sources

    def match(self, host: str, domain: str) -> RegistryMatch | None:
        """Most specific entry for a URL's host: the host, its parents below the domain, then the domain."""
        host = (host or "").lower().rstrip(".")
        domain = (domain or "").lower().rstrip(".")
        candidate = host
        while candidate and candidate != domain:
            country = self._hosts.get(candidate)
            if country is not None:
                return RegistryMatch(country, candidate, "host")
            if domain and not candidate.endswith("." + domain):
                break
            candidate = candidate.partition(".")[2]
        country = self._domains.get(domain) if domain else None
        return RegistryMatch(country, domain, "domain") if country is not None else None

    def lookup(self, host: str, domain: str) -> str | None:
        found = self.match(host, domain)
        return found.country if found else None

    def __len__(self) -> int:
        return len(self._hosts) + len(self._domains)

    def size_by_level(self) -> dict[str, int]:
        return {"host": len(self._hosts), "domain": len(self._domains)}

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
        meta: dict[str, list[str]] = defaultdict(list)
        with path.open(encoding="utf-8") as handle:
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
                (hosts if fields[1] == "host" else domains)[fields[0]] = fields[2]
        version = meta["version"][0] if meta["version"] else "unversioned"
        sources = tuple(entry.split(" ", 1)[0] for entry in meta["source"])
        return cls(hosts, domains, version, sources)

    @classmethod
    def from_file(cls, path: str | Path) -> OutletRegistry:
        """A user's table: CSV or TSV with a header naming ``domain`` (or key/host/url) and ``country``.

        Comment lines (``#``), blank lines and a BOM are fine; countries may be in any form
        :func:`~geocorpus.regions.normalize_country` accepts. A bad header or row raises
        :class:`RegistryFileError` naming the file, line and reason.
        """
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise RegistryFileError(f"{path}: cannot read as UTF-8 text: {error}") from None
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
}


def resolve_claims(
    claims: dict[str, Counter[str]], priority: Sequence[str] = SOURCE_PRIORITY
) -> tuple[str | None, str | None]:
    """(country or None, conflict kind or None) for one key from {source: Counter(country -> rows)}.

    One country: kept, no conflict. Three or more countries: dropped ("multi_country"). Two:
    each source votes for the country it lists most (a source split evenly abstains); more
    votes wins ("majority"); a tie goes to the vote of the earliest source in ``priority``
    ("priority"); no vote at all drops the key ("ambiguous"). NON_COUNTRY takes part like a
    country; if it wins, the key is dropped ("non_country").
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


def _platform_rule(key: str, level: str) -> bool:
    """True when the key belongs to a shared platform and says nothing about an outlet's country."""
    domain = _extractor()(key).top_domain_under_public_suffix
    if domain in PATH_ADDRESSED_PLATFORMS:
        return True
    return level == "domain" and domain in SUBDOMAIN_ADDRESSED_PLATFORMS


@dataclass
class BuildReport:
    """What a build read, kept, dropped and could not map (printed by the CLI)."""

    version: str
    out_path: Path
    conflicts_path: Path | None
    entries_by_level: dict[str, int]
    rows_by_source: dict[str, int]
    keys_by_source: dict[str, int]  # distinct keys each source lists, before conflict resolution
    entries_by_source: dict[str, int]  # shipped entries each source supports
    unmapped_countries: dict[tuple[str, str], int]  # (source, name as written) -> rows
    rejected_urls: dict[str, int]  # source -> rows whose URL gives no key
    conflicts_by_kind: dict[str, int] = field(default_factory=dict)
    cctld_disagreements: int = 0  # shipped entries whose ccTLD names another country (kept, reported)

    @property
    def entries(self) -> int:
        return sum(self.entries_by_level.values())

    def summary(self) -> str:
        lines = [
            f"outlet registry {self.version}: {self.entries} entries "
            + ", ".join(f"{level} {count}" for level, count in self.entries_by_level.items()),
            f"  written to {self.out_path}" + (f"; conflicts in {self.conflicts_path}" if self.conflicts_path else ""),
        ]
        for source, rows in self.rows_by_source.items():
            lines.append(
                f"  {source}: {rows} rows, {self.keys_by_source[source]} keys, "
                f"{self.entries_by_source[source]} shipped entries, {self.rejected_urls.get(source, 0)} bad URLs"
            )
        lines.append("  conflicts: " + (", ".join(f"{k} {v}" for k, v in self.conflicts_by_kind.items()) or "none"))
        lines.append(f"  entries whose ccTLD names another country (kept): {self.cctld_disagreements}")
        unmapped = ", ".join(
            f"{name!r} ({source}, {rows})" for (source, name), rows in sorted(self.unmapped_countries.items())
        )
        lines.append(f"  unmapped country names: {unmapped or 'none'}")
        return "\n".join(lines)


def _format_claims(claims: dict[str, Counter[str]]) -> str:
    return "; ".join(
        f"{source}:" + ",".join(f"{country}={rows}" for country, rows in sorted(counts.items()))
        for source, counts in sorted(claims.items())
    )


def default_conflicts_path(out_path: Path) -> Path:
    """``outlet_registry_conflicts.tsv`` beside ``outlet_registry.tsv``."""
    return out_path.with_name(out_path.name.split(".")[0] + "_conflicts.tsv")


def build_registry(
    shared_dir: Path,
    out_path: Path,
    sources: Sequence[str] = ("abyz", "awesome", "fundus"),
    conflicts_path: Path | None = None,
) -> BuildReport:
    """Read the source lists under ``shared_dir``, resolve conflicts, write the registry TSV and, beside
    it (or at ``conflicts_path``), every conflict and skipped row with its resolution."""
    shared_dir, out_path = Path(shared_dir), Path(out_path)
    conflicts_path = Path(conflicts_path) if conflicts_path else default_conflicts_path(out_path)
    unknown = [name for name in sources if name not in SOURCES]
    if unknown:
        raise ValueError(f"unknown registry source(s) {unknown}; choose from {sorted(SOURCES)}")
    claims: dict[tuple[str, str], dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    rows_by_source: Counter[str] = Counter()
    unmapped: Counter[tuple[str, str]] = Counter()
    rejected: Counter[str] = Counter()
    issues: list[tuple[str, str, str, str, str]] = []
    country: str | None  # None once the claims for a key are resolved to no country
    kind: str | None
    for name in sources:
        spec = SOURCES[name]
        path = shared_dir / spec.path
        if not path.exists():
            raise FileNotFoundError(f"registry source {name!r} not found at {path}")
        for listing in spec.read(path):
            rows_by_source[name] += 1
            try:
                country = normalize_country(listing.country)
            except UnknownCountryError:
                unmapped[(name, listing.country.strip())] += 1
                country = NON_COUNTRY
            try:
                key, level = outlet_key(listing.url)
            except ValueError as error:
                rejected[name] += 1
                issues.append(("invalid_url", listing.url.strip(), "", "skipped", f"{listing.location}: {error}"))
                continue
            claims[(key, level)][name][country] += 1

    entries: list[tuple[str, str, str, str]] = []
    conflicts: Counter[str] = Counter()
    keys_by_source: Counter[str] = Counter()
    entries_by_source: Counter[str] = Counter()
    cctld_disagreements = 0
    for (key, level), by_source in sorted(claims.items()):
        keys_by_source.update(source for source, counts in by_source.items() if set(counts) != {NON_COUNTRY})
        if _platform_rule(key, level):
            country, kind = None, "shared_platform"
        else:
            country, kind = resolve_claims(by_source)
        if kind is not None:
            conflicts[kind] += 1
            issues.append((kind, key, level, country or "dropped", _format_claims(by_source)))
        if country is None:
            continue
        supporting = sorted(source for source, counts in by_source.items() if country in counts)
        entries_by_source.update(supporting)
        entries.append((key, level, country, ",".join(supporting)))
        tld_country = cctld_country(_extractor()(key).suffix)
        if tld_country is not None and tld_country != country:
            cctld_disagreements += 1
            issues.append(
                ("cctld_disagrees", key, level, country, f"ccTLD says {tld_country}; {_format_claims(by_source)}")
            )

    body = "".join("\t".join(entry) + "\n" for entry in entries)
    version = f"{date.today():%Y.%m.%d}-{hashlib.sha256(body.encode('utf-8')).hexdigest()[:12]}"
    header = [
        "# geocorpus outlet registry: outlet host/domain -> ISO 3166-1 country (facts only)",
        f"# version: {version}",
        "# built by: geocorpus registry build (do not edit by hand)",
        *(f"# source: {name} = {SOURCES[name].path} ({SOURCES[name].provenance})" for name in sources),
        f"# rule: >= {MULTI_COUNTRY_THRESHOLD} countries (non-ISO headings count as one) dropped; 2 countries: source majority, "
        f"ties by priority {','.join(SOURCE_PRIORITY)}; shared platforms dropped; "
        "see docs/regions_and_registry.md",
        "key\tlevel\tcountry\tsources",
    ]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
    conflicts_path.parent.mkdir(parents=True, exist_ok=True)
    issues += [
        ("unmapped_country", f"{name}", "", "skipped", f"{source}:{rows} rows")
        for (source, name), rows in sorted(unmapped.items())
    ]
    lines = [f"# conflicts and skipped rows of outlet registry {version}", "kind\tkey\tlevel\tresolution\tclaims"]
    lines += ["\t".join(part.replace("\t", " ").replace("\n", " ") for part in issue) for issue in issues]
    conflicts_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    by_level = Counter(level for _, level, _, _ in entries)
    return BuildReport(
        version=version,
        out_path=out_path,
        conflicts_path=conflicts_path,
        entries_by_level={level: by_level[level] for level in LEVELS},
        rows_by_source={name: rows_by_source[name] for name in sources},
        keys_by_source={name: keys_by_source[name] for name in sources},
        entries_by_source={name: entries_by_source[name] for name in sources},
        unmapped_countries=dict(unmapped),
        rejected_urls=dict(rejected),
        conflicts_by_kind={kind: conflicts[kind] for kind in CONFLICT_KINDS if conflicts[kind]},
        cctld_disagreements=cctld_disagreements,
    )
