"""Outlet registry rule v2: front pages decide, editions become path-prefix keys, sections and
non-country headings are no evidence, the all-US lists count, versions are content hashes, and
``geocorpus registry build`` writes to a user path. On hand-made sources and on the real lists."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geocorpus.registry import (
    BUILTIN_REGISTRY,
    V1_SOURCES,
    OutletRegistry,
    RegistryMatch,
    build_registry,
    default_build_path,
    is_front_page,
    non_publishing_places,
    path_segments,
)

ABYZ_ROWS = [
    # a multi-edition outlet: no front-page row, editions in three countries, sections elsewhere
    ("United Kingdom", "Paper", "http://www.paper.example.com/uk"),
    ("Australia", "Paper", "http://www.paper.example.com/au"),
    ("United States", "Paper", "http://www.paper.example.com/us/"),
    ("Iraq", "Paper", "http://www.paper.example.com/world/iraq"),
    ("Antarctica", "Paper", "http://www.paper.example.com/topics/antarctica"),
    ("International", "Paper", "http://www.paper.example.com/international"),
    # a front page decides; sections and international headings do not outvote it
    ("United States", "Post", "http://www.post.example.org/"),
    ("Europe Regional", "Post", "http://www.post.example.org/world/europe"),
    ("International", "Post", "http://www.post.example.org/world"),
    # a topic page under a place that publishes nothing is no outlet
    ("Antarctica", "Science", "http://www.science.example.net/topics/antarctica/"),
    ("Antarctica", "Ice News", "http://ice.example.net/"),
    # editions all in one country, no front page: they decide the domain
    ("Afghanistan", "One TV", "http://onetv.example.af/fa/"),
    ("Afghanistan", "One TV", "http://onetv.example.af/en/"),
    # a file at the root is the front page
    ("Kenya", "Star", "http://star.example.co.ke/index.php?lang=en"),
    # editions that disagree and no front page: no domain entry, prefix entries only
    ("Sweden", "Epaper", "http://epaper.example.dk/lund"),
    ("Denmark", "Epaper", "http://epaper.example.dk/aarhus"),
]


def _write_sources(root: Path) -> Path:
    abyz = root / "outlets/abyz_2017/clean_url_to_country_v2.csv"
    abyz.parent.mkdir(parents=True)
    with abyz.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Country name", "Newspaper Name", "Newspaper Url", "Clean URL"])
        writer.writerows(row + ("x",) for row in ABYZ_ROWS)
    awesome = root / "outlets/awesome_newspapers/newspapers/en.csv"
    awesome.parent.mkdir(parents=True)
    awesome.write_text("name,homeurl,domain,country\npaper,https://paper.example.com/hindi,general,ind\n")
    fundus = root / "news/fundus/fundus_publishers_domain_country.json"
    fundus.parent.mkdir(parents=True)
    fundus.write_text(json.dumps([{"country_dir": "de", "domain": "https://www.wire.example.de"}]))
    us_news = root / "outlets/us_news_domains/us-news-domains-v2.0.0.csv"
    us_news.parent.mkdir(parents=True)
    us_news.write_text(
        "domain,ideology,type\n"
        "localdaily.example.com,0.1,local\n"
        "nationalnews.example.com,,\n"
        "foreign.example.co.uk,,\n"  # a British site in a US list: its ccTLD says otherwise
        "bbc.example.com,,international\n"
        "portal.example.com/news,,\n"  # news is only part of the site
    )
    us_local = root / "outlets/us_local_news_2018/local_news_dataset_2018.csv"
    us_local.parent.mkdir(parents=True)
    us_local.write_text(
        "name,state,website,domain,twitter,youtube,facebook,owner,medium,source,collection_date\n"
        "KWHE,HI,http://www.kwhe.example.com/,kwhe.example.com,,,,x,TV station,stationindex,2018-08-02\n"
        "Empty,HI,,,,,,x,TV station,stationindex,2018-08-02\n"
    )
    return root


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, object, OutletRegistry]:
    root = tmp_path_factory.mktemp("v2")
    shared = _write_sources(root / "shared")
    report = build_registry(shared, root / "registry.tsv")
    return root, report, OutletRegistry.load(root / "registry.tsv")


def test_front_page_and_path_shapes():
    assert is_front_page([]) and is_front_page(["index.html"]) and is_front_page(["default.aspx"])
    assert not is_front_page(["au"]) and not is_front_page(["world", "iraq"])
    assert path_segments("/AU/News/") == ["au", "news"]
    assert path_segments("/%D8%A7/x") == ["ا", "x"]
    assert non_publishing_places() == {"AQ", "BV", "GS", "HM", "TF"}


def test_editions_become_prefix_keys_and_sections_are_no_evidence(small):
    _, report, registry = small
    host, domain = "www.paper.example.com", "example.com"
    assert registry.match(host, domain, "/au/news/2024/story") == RegistryMatch("AU", "paper.example.com/au", "prefix")
    assert registry.lookup(host, domain, "/uk/politics") == "GB"
    assert registry.lookup(host, domain, "/hindi/x") == "IN"  # awesome's edition row
    # whole segments only; sections (/world/iraq, /topics/antarctica) and the other editions decide nothing
    for path in ("/australia", "/world/iraq/x", "/topics/antarctica", "/international", "/", None):
        assert registry.lookup(host, domain, path) is None, path
    assert report.ignored_rows == {
        "non_country_heading": 4,  # three ABYZ headings, one us_news "international" row
        "non_publishing_place": 3,
        "section_path": 1,
        "foreign_cctld": 1,
    }
    assert report.conflicts_by_kind["editions_disagree"] == 2  # paper.example.com, epaper.example.dk


def test_front_page_decides_the_domain_and_editions_only_without_one(small):
    _, report, registry = small
    assert registry.match("www.post.example.org", "example.org", "/world/europe/x") == RegistryMatch(
        "US", "post.example.org", "host"
    )
    assert registry.lookup("other.example.org", "example.org") is None
    # editions /fa and /en, both AF, decide the host for every path
    assert registry.match("onetv.example.af", "example.af", "/ps/x") == RegistryMatch("AF", "onetv.example.af", "host")
    assert registry.lookup("star.example.co.ke", "example.co.ke") == "KE"
    assert registry.lookup("epaper.example.dk", "example.dk", "/lund/today") == "SE"
    assert registry.lookup("epaper.example.dk", "example.dk", "/aarhus") == "DK"
    assert registry.lookup("epaper.example.dk", "example.dk", "/other") is None
    for host in ("www.science.example.net", "ice.example.net"):
        assert registry.lookup(host, "example.net", "/topics/antarctica/x") is None
    assert report.decided_by_rule["editions_agree"] == 1


def test_us_lists_claim_us_except_foreign_cctlds_and_international_rows(small):
    _, report, registry = small
    assert registry.lookup("localdaily.example.com", "example.com") == "US"
    assert registry.lookup("nationalnews.example.com", "example.com") == "US"
    assert registry.lookup("www.kwhe.example.com", "example.com") == "US"
    assert registry.lookup("foreign.example.co.uk", "example.co.uk") is None
    assert registry.lookup("bbc.example.com", "example.com") is None
    assert registry.lookup("portal.example.com", "example.com", "/news/2024/x") == "US"
    # a one-country list's path row claims its prefix only, never the whole site
    assert registry.lookup("portal.example.com", "example.com", "/shopping") is None
    assert report.rejected_urls == {"us_local": 1}


def test_version_is_a_content_hash(small, tmp_path):
    root, report, registry = small
    again = build_registry(root / "shared", tmp_path / "again.tsv")
    assert again.version == report.version == registry.version
    assert report.version.startswith("v2-")
    assert (tmp_path / "again.tsv").read_bytes() == (root / "registry.tsv").read_bytes()
    us_local = root / "shared/outlets/us_local_news_2018/local_news_dataset_2018.csv"
    copy = tmp_path / "shared"
    import shutil

    shutil.copytree(root / "shared", copy)
    changed = copy / us_local.relative_to(root / "shared")
    changed.write_text(
        changed.read_text() + "KNEW,HI,http://knew.example.com/,knew.example.com,,,,x,TV station,s,2018-08-02\n"
    )
    assert build_registry(copy, tmp_path / "changed.tsv").version != report.version
    v1 = build_registry(root / "shared", tmp_path / "v1.tsv", sources=V1_SOURCES, rule="v1")
    assert v1.version.startswith("v1-") and v1.version != report.version


def test_from_file_reads_a_built_table_with_its_prefixes(small):
    root, _, registry = small
    user = OutletRegistry.from_file(root / "registry.tsv")
    assert user.version == registry.version
    assert user.lookup("paper.example.com", "example.com", "/au") == "AU"


def test_default_build_path_is_a_user_path(monkeypatch, tmp_path):
    monkeypatch.delenv("GEOCORPUS_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_build_path() == tmp_path / "xdg/geocorpus/outlet_registry.tsv"
    monkeypatch.setenv("GEOCORPUS_HOME", str(tmp_path / "home"))
    assert default_build_path() == tmp_path / "home/outlet_registry.tsv"
    assert BUILTIN_REGISTRY.parent not in default_build_path().parents


def test_cli_registry_build_writes_to_the_user_path_not_the_package(monkeypatch, tmp_path):
    from pipelines.cli import app

    shared = _write_sources(tmp_path / "shared")
    monkeypatch.setenv("GEOCORPUS_HOME", str(tmp_path / "home"))
    before = BUILTIN_REGISTRY.stat().st_mtime_ns
    result = CliRunner().invoke(app, ["registry", "build", "--shared", str(shared)])
    assert result.exit_code == 0, result.output
    written = tmp_path / "home/outlet_registry.tsv"
    assert OutletRegistry.load(written).lookup("paper.example.com", "example.com", "/au") == "AU"
    assert (tmp_path / "home/outlet_registry_conflicts.tsv").is_file()
    assert BUILTIN_REGISTRY.stat().st_mtime_ns == before
    assert "keys decided per rule" in result.output


# ------------------------------------------------------------------ the real lists


@pytest.fixture(scope="module")
def real_without_fundus(shared_data, tmp_path_factory):
    """Rule v2 on the real lists without the fundus publisher list (what the benchmark grades)."""
    out = tmp_path_factory.mktemp("real") / "registry.tsv"
    report = build_registry(shared_data, out, sources=("abyz", "awesome", "us_news", "us_local"))
    return report, OutletRegistry.load(out)


def test_real_multi_edition_outlets_resolve(real_without_fundus):
    report, registry = real_without_fundus
    # ABYZ filed the Guardian's /au and /us editions and its /world/iraq, /topics/antarctica sections
    assert registry.lookup("www.theguardian.com", "theguardian.com", "/au/news/2024/x") == "AU"
    assert registry.lookup("www.theguardian.com", "theguardian.com", "/us-news/2024/x") is None
    assert registry.lookup("www.theguardian.com", "theguardian.com", "/world/iraq/2024/x") is None
    # front page US; "International" and "Europe Regional" section rows no longer drop it
    assert registry.lookup("www.washingtonpost.com", "washingtonpost.com", "/world/europe/x") == "US"
    assert registry.lookup("www.reuters.com", "reuters.com", "/world/x") == "US"
    # the science site ABYZ listed under Antarctica from its /topics/antarctica/ page
    assert registry.lookup("www.livescience.com", "livescience.com") != "AQ"
    # the all-US lists cover national outlets the 2017 lists missed
    assert registry.lookup("apnews.com", "apnews.com") == "US"
    assert report.decided_by_rule["edition_prefix"] > 50
    assert report.ignored_rows["section_path"] > 1000
    assert "washingtonpost.com" in report.resolved_v1_drops["homepage"]


def test_real_v2_decides_more_and_drops_less_than_v1(shared_data, tmp_path, real_without_fundus):
    v2, _ = real_without_fundus
    v1 = build_registry(shared_data, tmp_path / "v1.tsv", sources=("abyz", "awesome"), rule="v1")
    dropped_v1 = sum(v1.conflicts_by_kind.get(k, 0) for k in ("multi_country", "non_country", "ambiguous"))
    dropped_v2 = sum(v2.conflicts_by_kind.get(k, 0) for k in ("multi_country", "ambiguous", "editions_disagree"))
    assert v2.entries > v1.entries + 1500
    assert dropped_v2 < dropped_v1
    assert "non_country" not in v2.conflicts_by_kind
