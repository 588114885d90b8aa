"""Shortlinks and redirectors (never ccTLD evidence, ``url_status``), AMP cache unwrapping, and the loose
``url_key`` exact dedup uses while ``url_normalized`` stays faithful."""

from __future__ import annotations

import json

import polars as pl
import pytest
from datatrove.data import Document

from geocorpus.config import parse_config
from geocorpus.paths import RunLayout
from geocorpus.shortlinks import (
    REDIRECT_TARGET_KEY,
    SHORTENERS_FILE,
    follow_redirects,
    is_shortener,
    is_shortlink,
    shortener_hosts,
)
from geocorpus.steps import VerifyURL
from geocorpus.tagging import RegionTagger
from geocorpus.urls import url_key, verify_url
from pipelines.curate import run_curation
from tests.support.curation_runs import curation_config, english_text, jsonl_input, real_news_urls

#: Shorteners of well-known news outlets and platforms whose ccTLD names another country.
NEWS_SHORTENERS = [
    "bbc.in",
    "youtu.be",
    "dlvr.it",
    "nyti.ms",
    "wapo.st",
    "reut.rs",
    "cnn.it",
    "trib.al",
    "ift.tt",
    "lnkd.in",
    "amzn.to",
    "apne.ws",
    "abcn.ws",
    "aje.io",
    "bloom.bg",
    "econ.st",
    "ind.pn",
    "dailym.ai",
    "politi.co",
    "usat.ly",
    "nbcnews.to",
    "cbsn.ws",
    "fxn.ws",
    "tgam.ca",
    "ti.me",
    "n.pr",
    "cnb.cx",
    "bzfd.it",
    "hill.cm",
    "nydn.us",
    "nyp.st",
    "sc.mp",
    "toi.in",
    "on.ft.com",
    "on.wsj.com",
    "bit.ly",
    "t.co",
    "ow.ly",
    "buff.ly",
    "goo.gl",
]


def test_the_list_names_its_source_and_holds_the_common_news_shorteners():
    header = SHORTENERS_FILE.read_text(encoding="utf-8").splitlines()[:5]
    assert any("PeterDaveHello/url-shorteners" in line and "commit" in line for line in header)
    assert any("CC BY-SA 4.0" in line for line in header)
    assert len(shortener_hosts()) > 1000
    assert set(NEWS_SHORTENERS) <= shortener_hosts()


def test_no_listed_shortener_host_ever_gets_a_cctld_tag():
    cctld_only = RegionTagger(precedence=("cctld",), builtin_registry=False)
    full = RegionTagger()
    checked = 0
    for host in sorted(shortener_hosts()):
        if not verify_url(f"https://{host}/").ok:
            continue  # a listed public suffix (gov.tw): names under it belong to others
        for url in (f"https://{host}/3xYzAb", f"https://www.{host}/a/b/c/d"):
            result = verify_url(url)
            assert result.ok, url
            checked += 1
            assert cctld_only.tag(result.host, result.domain, result.suffix, url=result.url).country is None, url
            assert full.tag(result.host, result.domain, result.suffix, url=result.url).tag_source != "cctld", url
    assert checked > 2000
    # the same tagger still uses the ccTLD of ordinary hosts
    ordinary = verify_url("https://some-unlisted-blog.co.ke/story")
    assert cctld_only.tag(ordinary.host, ordinary.domain, ordinary.suffix).country == "KE"


@pytest.mark.parametrize(
    "host, domain, expected",
    [
        ("bit.ly", "bit.ly", True),
        ("www.bit.ly", "bit.ly", True),
        ("on.wsj.com", "wsj.com", True),
        ("www.wsj.com", "wsj.com", False),
        ("taiwanheute.nat.gov.tw", "nat.gov.tw", False),  # the list names the public suffix gov.tw
        ("gov.tw", None, True),
        ("", None, False),
    ],
)
def test_is_shortener(host, domain, expected):
    assert is_shortener(host, domain) is expected


def test_a_shortlink_is_a_listed_host_with_a_short_path():
    assert is_shortlink("bbc.in", "bbc.in", "/3xYzAb")
    assert is_shortlink("dw.com", "dw.com", "/p/3xYzA")
    # deeper paths on a listed host are the outlet's own pages (DW's shortener shares its main host)
    assert not is_shortlink("www.dw.com", "dw.com", "/de/ukrainische-gegenoffensive/a-65464327")
    assert not is_shortlink("www.bbc.co.uk", "bbc.co.uk", "/x")


def test_follow_redirects_stops_at_loops_and_long_chains():
    hops = {"https://bit.ly/a": "https://nyti.ms/b", "https://nyti.ms/b": "https://www.nytimes.com/x"}
    assert follow_redirects(hops, "https://bit.ly/a") == "https://www.nytimes.com/x"
    assert follow_redirects(hops, "https://www.nytimes.com/x") is None
    assert follow_redirects({"a": "b", "b": "a"}, "a") is None
    chain = {f"u{i}": f"u{i + 1}" for i in range(20)}
    assert follow_redirects(chain, "u0") is None


def _verified(url: str, **meta):
    doc = Document(text="x", id="d", metadata={"url": url, **meta})
    keep = VerifyURL().filter(doc)
    return keep, doc.metadata


def test_verify_url_marks_shortlinks_and_resolves_recorded_redirects():
    keep, meta = _verified("https://bbc.in/3xYzAb")
    assert keep is True
    assert (meta["url_status"], meta["url_normalized"], meta["suffix"]) == (
        "unresolved_redirect",
        "https://bbc.in/3xYzAb",
        "in",
    )
    keep, meta = _verified("https://bbc.in/3xYzAb", **{REDIRECT_TARGET_KEY: "https://www.bbc.co.uk/news/uk-1"})
    assert (meta["url_status"], meta["url_normalized"], meta["host"]) == (
        "resolved_redirect",
        "https://www.bbc.co.uk/news/uk-1",
        "www.bbc.co.uk",
    )
    assert meta["url"] == "https://bbc.in/3xYzAb"  # the input's own URL is kept as read
    # a target that is itself a shortlink resolves nothing
    _, meta = _verified("https://bit.ly/a", **{REDIRECT_TARGET_KEY: "https://nyti.ms/b"})
    assert meta["url_status"] == "unresolved_redirect" and meta["host"] == "bit.ly"
    _, meta = _verified("https://www.dw.com/de/x/a-1")
    assert meta["url_status"] == "ok"


@pytest.mark.parametrize(
    "wrapped, origin",
    [
        (
            "https://www-bbc-co-uk.cdn.ampproject.org/c/s/www.bbc.co.uk/news/amp/uk-123?x=1#top",
            "https://www.bbc.co.uk/news/amp/uk-123?x=1",
        ),
        ("https://example-com.cdn.ampproject.org/v/example.com/a", "http://example.com/a"),
        ("https://www.google.com/amp/s/www.theguardian.com/world/2020/x", "https://www.theguardian.com/world/2020/x"),
        ("https://www.google.co.uk/amp/www.nytimes.com/2020/x.amp.html", "http://www.nytimes.com/2020/x.amp.html"),
    ],
)
def test_amp_cache_urls_unwrap_to_the_origin(wrapped, origin):
    result = verify_url(wrapped)
    assert result.ok and result.unwrapped and result.url == origin


@pytest.mark.parametrize(
    "url", ["https://x.cdn.ampproject.org/c/s/", "https://www.google.com/amphtml", "https://www.google.com/amp/"]
)
def test_amp_lookalikes_are_left_alone(url):
    result = verify_url(url)
    assert result.ok and not result.unwrapped


def test_url_key_folds_spellings_url_normalized_does_not():
    spellings = [
        "http://www.example.com/news/a/?b=2&a=1",
        "https://example.com/news/a?a=1&b=2",
        "HTTPS://WWW.EXAMPLE.COM/news/a/?a=1&b=2&utm_source=x",
    ]
    normalized = [verify_url(url).url for url in spellings]
    assert len(set(normalized)) == 3
    assert {url_key(url) for url in normalized} == {"example.com/news/a?a=1&b=2"}
    assert url_key("https://example.com/") == url_key("http://www.example.com") == "example.com"
    assert url_key("https://example.com/A") != url_key("https://example.com/a")  # paths keep their case


@pytest.mark.timeout(300)
def test_exact_dedup_drops_one_article_under_two_url_spellings(shared_data, tmp_path):
    """End to end: the same article (texts differ by a footer line) under http/www/slash/query spellings."""
    import random

    rng = random.Random(1)
    urls = [u for u in real_news_urls(shared_data, 400) if "?" not in u and u.startswith("http://www.")][:20]
    records = []
    for index, url in enumerate(urls):
        text = english_text(rng, 80)
        records.append({"url": url, "title": f"t{index}", "text": text, "country": "GB"})
        if index % 2 == 0:  # a second copy: https, no www, trailing slash, tracking query, another footer
            other = "https://" + url[len("http://www.") :].rstrip("/") + "/?utm_source=x"
            records.append({"url": other, "title": f"t{index}", "text": text + " Updated.", "country": "GB"})
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    config = parse_config(curation_config(tmp_path / "out", [jsonl_input("news", path)]))
    report = run_curation(config, show_progress=False)
    assert report["reconcile"]["ok"]
    layout = RunLayout(config.output)
    kept = pl.concat([pl.read_parquet(f) for s in ("train", "eval") for f in layout.split_files(s)])
    assert kept.height == len(urls)
    assert set(kept["url_normalized"]) == {verify_url(u).url for u in urls}  # the first spelling, as read
    assert kept["url_key"].is_unique().all()
    excluded = pl.concat([pl.read_parquet(f) for f in sorted(layout.exclusions.rglob("*.parquet"))])
    assert excluded.height == 10
    assert set(zip(excluded["stage"], excluded["reason"])) == {("exact_dedup", "duplicate_url")}
    assert set(excluded["url"]) == {r["url"] for r in records if r["url"].startswith("https://")}
