"""Outlet registry: key normalization, the conflict rule on hand-made sources, the shipped table,
and user registry files."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
import tldextract

from geocorpus.registry import (
    BUILTIN_REGISTRY,
    OutletRegistry,
    RegistryFileError,
    RegistryMatch,
    build_registry,
    outlet_key,
    resolve_claims,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("https://www.thehindu.com/news/national/article1.ece", ("thehindu.com", "domain")),
        ("HTTP://WWW.BBC.CO.UK:8080/news?x=1#top", ("bbc.co.uk", "domain")),
        ("timesofindia.indiatimes.com", ("timesofindia.indiatimes.com", "host")),
        ("https://www.timesofindia.indiatimes.com", ("timesofindia.indiatimes.com", "host")),
        ("http://www1.wdr.de/", ("wdr.de", "domain")),
        ("http://www.nv.am./", ("nv.am", "domain")),
        ("http://m.edition.cnn.com/world", ("edition.cnn.com", "host")),
        ("http://www.señal6.com.ar/", ("xn--seal6-pta.com.ar", "domain")),
        ("новости.рф", ("новости".encode("idna").decode("ascii") + ".xn--p1ai", "domain")),
        ("user:pw@Example.COM.", ("example.com", "domain")),
    ],
)
def test_outlet_key_normalizes(value, expected):
    assert outlet_key(value) == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        ("", "empty"),
        ("http://www/esdiari.com/", "no registrable domain"),
        ("co.uk", "no registrable domain"),
        ("http://127.0.0.1/x", "IP address"),
        ("http://exa mple.com", "invalid host"),
        ("http://[::1/", "unparsable"),
    ],
)
def test_outlet_key_rejects_with_reason(value, reason):
    with pytest.raises(ValueError, match=reason):
        outlet_key(value)


def test_resolve_claims_rule():
    def claims(**by_source):
        return {source: Counter(counts) for source, counts in by_source.items()}

    assert resolve_claims(claims(abyz={"KE": 2}, awesome={"KE": 1})) == ("KE", None)
    assert resolve_claims(claims(abyz={"GH": 1}, awesome={"GH": 1}, fundus={"NG": 1})) == ("GH", "majority")
    assert resolve_claims(claims(abyz={"US": 1}, fundus={"CA": 1})) == ("CA", "priority")
    assert resolve_claims(claims(abyz={"BD": 1}, awesome={"IN": 1})) == ("BD", "priority")
    assert resolve_claims(claims(abyz={"US": 9, "CA": 1})) == ("US", "majority")
    assert resolve_claims(claims(abyz={"US": 1, "CA": 1})) == (None, "ambiguous")
    assert resolve_claims(claims(abyz={"US": 1, "CA": 1, "MX": 5})) == (None, "multi_country")
    assert resolve_claims(claims(abyz={"-": 3, "KR": 1})) == (None, "non_country")
    assert resolve_claims(claims(abyz={"-": 1})) == (None, None)


def _write_sources(root: Path) -> Path:
    """Tiny source files laid out like the real shared folder."""
    abyz = root / "outlets/abyz_2017/clean_url_to_country_v2.csv"
    abyz.parent.mkdir(parents=True)
    rows = [
        ("Kenya", "Daily Nation", "http://www.nation.co.ke/", "nation.co.ke"),
        ("Ghana", "Joy", "http://www.myjoyonline.com/", "myjoyonline.com"),
        ("United States", "Trib", "http://www.chicagotribune.example.com/", "x"),
        ("United States", "CNN", "http://www.cnn.com/", "cnn.com"),
        ("International", "CNN Intl", "http://edition.cnn.com/", "edition.cnn.com"),
        ("Europe Regional", "CNN Europe", "http://edition.cnn.com/europe", "edition.cnn.com"),
        ("South Korea", "CNN Korea", "http://edition.cnn.com/korea", "edition.cnn.com"),
        ("India", "TOI", "http://timesofindia.indiatimes.com/", "indiatimes.com"),
        ("Canada", "Pages", "http://www.facebook.com/somepaper", "facebook.com"),
        ("United States", "Pages", "http://www.facebook.com/otherpaper", "facebook.com"),
        ("Canada", "Twin", "http://twincities.example.org/", "x"),
        ("United States", "Twin", "http://twincities.example.org/us", "x"),
        ("Mexico", "Wire", "http://wire.example.net/mx", "x"),
        ("Brazil", "Wire", "http://wire.example.net/br", "x"),
        ("France", "Wire", "http://wire.example.net/fr", "x"),
        ("Kosovo", "Koha", "http://www.koha.net/", "koha.net"),
        ("Turkey", "Hurriyet", "http://www.hurriyet.com.tr/", "hurriyet.com.tr"),
        ("Spain", "Broken", "http://www/esdiari.com/", "x"),
        ("Bangladesh", "Star", "http://www.thedailystar.net/", "thedailystar.net"),
    ]
    with abyz.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Country name", "Newspaper Name", "Newspaper Url", "Clean URL"])
        writer.writerows(rows)
    awesome = root / "outlets/awesome_newspapers/newspapers/en.csv"
    awesome.parent.mkdir(parents=True)
    awesome.write_text(
        "name,homeurl,domain,country\n"
        "nation,https://nation.co.ke/,general,ken\n"
        "joy,https://www.myjoyonline.com/,general,gha\n"
        "star,https://www.thedailystar.net/,general,ind\n"
        "toi,https://indiatimes.com/,general,ind\n",
        encoding="utf-8",
    )
    fundus = root / "news/fundus/fundus_publishers_domain_country.json"
    fundus.parent.mkdir(parents=True)
    fundus.write_text(
        json.dumps(
            [
                {"country_dir": "uk", "domain": "https://www.myjoyonline.com/"},
                {"country_dir": "ind", "domain": "https://www.timesofindia.indiatimes.com"},
            ]
        ),
        encoding="utf-8",
    )
    return root


def test_build_registry_on_small_sources(tmp_path):
    shared = _write_sources(tmp_path / "shared")
    out, conflicts = tmp_path / "registry.tsv", tmp_path / "conflicts.tsv"
    report = build_registry(shared, out, sources=("abyz", "awesome", "fundus"), conflicts_path=conflicts, rule="v1")

    assert report.rows_by_source == {"abyz": 19, "awesome": 4, "fundus": 2}
    assert report.unmapped_countries == {
        ("abyz", "International"): 1,
        ("abyz", "Europe Regional"): 1,
        ("abyz", "Kosovo"): 1,
    }
    assert report.rejected_urls == {"abyz": 1}
    assert report.conflicts_by_kind == {
        "majority": 1,
        "priority": 1,
        "multi_country": 1,
        "non_country": 1,
        "ambiguous": 1,
        "shared_platform": 1,
    }
    assert report.entries_by_level == {"host": 2, "domain": 6}

    registry = OutletRegistry.load(out)
    assert len(registry) == report.entries
    assert registry.version == report.version
    assert registry.sources == ("abyz", "awesome", "fundus")
    assert registry.lookup("www.nation.co.ke", "nation.co.ke") == "KE"
    assert registry.lookup("myjoyonline.com", "myjoyonline.com") == "GH"  # two sources beat fundus
    assert registry.lookup("www.thedailystar.net", "thedailystar.net") == "BD"  # abyz before awesome
    assert registry.lookup("www.hurriyet.com.tr", "hurriyet.com.tr") == "TR"
    # Host entry beats the domain entry; other hosts fall back to the domain.
    assert registry.match("timesofindia.indiatimes.com", "indiatimes.com") == RegistryMatch(
        "IN", "timesofindia.indiatimes.com", "host"
    )
    assert registry.match("edition.cnn.com", "cnn.com") == RegistryMatch("US", "cnn.com", "domain")
    assert registry.match("money.cnn.com", "cnn.com").level == "domain"
    for host, domain in [
        ("www.facebook.com", "facebook.com"),
        ("twincities.example.org", "example.org"),
        ("wire.example.net", "example.net"),
        ("www.koha.net", "koha.net"),
        ("unknown.org", "unknown.org"),
    ]:
        assert registry.match(host, domain) is None, host

    with conflicts.open(encoding="utf-8") as handle:
        issues = [line.split("\t") for line in handle if not line.startswith("#")]
    assert issues[0] == ["kind", "key", "level", "resolution", "claims\n"]
    kinds = Counter(issue[0] for issue in issues[1:])
    assert kinds["invalid_url"] == 1 and kinds["unmapped_country"] == 3 and kinds["multi_country"] == 1
    assert any(issue[1] == "facebook.com" and issue[0] == "shared_platform" for issue in issues)
    assert "unmapped country names" in report.summary()


def test_build_registry_source_subset_and_errors(tmp_path):
    shared = _write_sources(tmp_path / "shared")
    report = build_registry(shared, tmp_path / "fundus_only.tsv", sources=("fundus",))
    assert report.rows_by_source == {"fundus": 2}
    assert OutletRegistry.load(tmp_path / "fundus_only.tsv").lookup("myjoyonline.com", "myjoyonline.com") == "GB"
    with pytest.raises(ValueError, match="unknown registry source"):
        build_registry(shared, tmp_path / "x.tsv", sources=("nope",))
    with pytest.raises(FileNotFoundError, match="abyz"):
        build_registry(tmp_path / "missing", tmp_path / "x.tsv", sources=("abyz",))


def test_builtin_registry_is_loaded_once_and_finds_real_outlets():
    OutletRegistry.builtin.cache_clear()
    registry = OutletRegistry.builtin()
    assert OutletRegistry.builtin() is registry  # loaded once per process (its load time: benchmarks, not tests)
    assert len(registry) > 25_000
    assert set(registry.sources) == {"abyz", "awesome", "fundus", "us_news", "us_local"}
    assert registry.version.count("-") == 1
    expected = {
        "thehindu.com": "IN",
        "dawn.com": "PK",
        "nation.co.ke": "KE",
        "jamaica-gleaner.com": "JM",
        "inquirer.net": "PH",
        "theglobeandmail.com": "CA",
        "irishtimes.com": "IE",
        "punchng.com": "NG",
        "scmp.com": "HK",
        "thestar.com.my": "MY",
        "thecitizen.co.tz": "TZ",
        "dailymirror.lk": "LK",
    }
    for domain, country in expected.items():
        assert registry.lookup("www." + domain, domain) == country, domain
    toi = registry.match("timesofindia.indiatimes.com", "indiatimes.com")
    assert toi == RegistryMatch("IN", "timesofindia.indiatimes.com", "host")
    assert registry.match("m.timesofindia.indiatimes.com", "indiatimes.com").key == "timesofindia.indiatimes.com"
    assert registry.lookup("www.facebook.com", "facebook.com") is None


def test_builtin_registry_matches_a_rebuild_from_real_sources(shared_data, tmp_path):
    """The shipped table is exactly what the builder makes: no hand edits."""
    report = build_registry(shared_data, tmp_path / "rebuilt.tsv")

    def body(path: Path) -> list[str]:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]

    assert body(tmp_path / "rebuilt.tsv") == body(BUILTIN_REGISTRY)
    assert report.version.split("-")[1] == OutletRegistry.builtin().version.split("-")[1]


def test_awesome_newspapers_outlets_of_the_paper_countries_map_to_their_country(shared_data):
    registry = OutletRegistry.builtin()
    paper_iso3 = {
        "nga": "NG",
        "zaf": "ZA",
        "ken": "KE",
        "gha": "GH",
        "tza": "TZ",
        "can": "CA",
        "jam": "JM",
        "pak": "PK",
        "lka": "LK",
        "hkg": "HK",
        "mys": "MY",
        "phl": "PH",
        "irl": "IE",
    }
    agree = total = 0
    for path in sorted((shared_data / "outlets/awesome_newspapers/newspapers").glob("*.csv")):
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["country"] not in paper_iso3:
                    continue
                try:
                    key, level = outlet_key(row["homeurl"])
                except ValueError:
                    continue
                host = key if level == "host" else "www." + key
                total += 1
                agree += registry.lookup(host, _domain_of(key)) == paper_iso3[row["country"]]
    assert total > 300
    assert agree / total > 0.95


_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _domain_of(host: str) -> str:
    return _EXTRACT(host).top_domain_under_public_suffix


USER_TSV = "\ufeff# my outlets\n\ndomain\tcountry\nhttps://www.example-news.com/x\tKenya\nlocal.example.org\tgbr\n\n# done\nexample.co.uk\tuk\n"


def test_from_file_reads_tsv_with_bom_comments_and_blank_lines(tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_text(USER_TSV, encoding="utf-8")
    registry = OutletRegistry.from_file(path)
    assert len(registry) == 3
    assert registry.size_by_level() == {"host": 1, "domain": 2}
    assert registry.lookup("www.example-news.com", "example-news.com") == "KE"
    assert registry.match("local.example.org", "example.org") == RegistryMatch("GB", "local.example.org", "host")
    assert registry.lookup("other.example.org", "example.org") is None
    assert registry.version.startswith("user-")
    assert registry.sources == (f"user:{path}",)


def test_from_file_reads_csv_with_quotes_and_extra_columns(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(
        'name,Domain,Country\n"Paper, The",thepaper.com.ng,NG\nStar,star.example.com,"Korea, Republic of"\n',
        encoding="utf-8",
    )
    registry = OutletRegistry.from_file(path)
    assert registry.lookup("thepaper.com.ng", "thepaper.com.ng") == "NG"
    assert registry.lookup("star.example.com", "example.com") == "KR"


@pytest.mark.parametrize(
    "text, message",
    [
        ("site,nation\nx.com,KE\n", r"mine.csv:1: header must name a 'domain' and a 'country'"),
        ("# only a comment\n", "no header line"),
        ("domain,country\nx.com,KE\ny.com,Atlantis\n", r"mine.csv:3: not an ISO 3166-1 country: 'Atlantis'"),
        ("domain,country\nhttp://127.0.0.1/,KE\n", r"mine.csv:2: IP address"),
        ("domain,country\n\nx.com\n", r"mine.csv:3: expected 2 fields, found 1"),
        ("domain,country\nx.com,KE\nwww.x.com,GH\n", r"mine.csv:3: x.com is listed as both KE and GH"),
    ],
)
def test_from_file_errors_name_file_line_and_reason(tmp_path, text, message):
    path = tmp_path / "mine.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryFileError, match=message):
        OutletRegistry.from_file(path)


def test_from_file_rejects_non_utf8(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_bytes(b"domain,country\n\xff\xfe,KE\n")
    with pytest.raises(RegistryFileError, match="mine.csv: cannot read as UTF-8"):
        OutletRegistry.from_file(path)
