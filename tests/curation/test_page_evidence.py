"""Page-level evidence: signals read from real pages, trusted only where measured precise, and a WARC run
end to end (signals from the reader, ``tag_source = page``, shortlinks resolved through 3xx records)."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter

import polars as pl
import pytest

from geocorpus.config import parse_config
from geocorpus.page_evidence import PageEvidence, PageEvidenceError, locale_country, measure, page_signals
from geocorpus.paths import RunLayout
from pipelines.curate import run_curation
from tests.support.curation_runs import curation_config
from tests.support.input_files import _response_record, fundus_pages


@pytest.mark.parametrize(
    "value, country",
    [("en-GB", "GB"), ("en_gb", "GB"), ("de-DE", "DE"), ("en-UK", "GB"), ("en", None), ("es-419", None), (3, None)],
)
def test_locale_country(value, country):
    assert locale_country(value) == country


def test_signals_of_real_pages(shared_data):
    pages = fundus_pages(shared_data)
    found = Counter()
    bbc = None
    for page in pages:
        signals = page_signals(
            gzip.decompress(page["path"].read_bytes()).decode("utf-8", "replace"), None, page["url"]
        )
        found.update(signals.keys())
        if "bbc.com/news/articles" in page["url"]:
            bbc = signals
    assert found["og_locale"] > 100 and found["html_lang"] > 40 and found["hreflang_self"] > 10
    assert bbc is not None and bbc["html_lang"] == "en-GB"


def test_json_ld_header_and_hreflang_signals():
    html = """<html lang="en"><head>
    <meta http-equiv="Content-Language" content="en-IE">
    <meta property="og:locale" content="en_US">
    <link rel="alternate" hreflang="en-ie" href="https://www.example.ie/news/a/">
    <link rel="alternate" hreflang="en-gb" href="https://www.example.ie/uk/news/a">
    <script type="application/ld+json">{"@graph": [{"@type": "NewsArticle",
      "publisher": {"@type": "NewsMediaOrganization", "address": {"addressCountry": "IE"}, "areaServed": "Ireland"}}]}
    </script><script type="application/ld+json">{not json</script></head><body>x</body></html>"""
    signals = page_signals(html, None, "http://example.ie/news/a")
    assert signals == {
        "content_language": "en-IE",
        "og_locale": "en_US",
        "hreflang_self": "en-ie",
        "publisher_country": "IE",
        "area_served": "IE",
    }
    assert page_signals(html, "de-DE", None)["content_language"] == "de-DE"  # the HTTP header first


def test_a_signal_counts_only_where_measured_precise():
    # og:locale=en_US as a CMS default: set on US and non-US sites alike
    pairs = [({"og_locale": "en_US"}, "US")] * 30 + [({"og_locale": "en_US"}, "IN")] * 10
    pairs += [({"html_lang": "en-GB", "og_locale": "en_US"}, "GB")] * 25
    evidence, stats = PageEvidence.calibrate(pairs)
    assert stats["og_locale=US"].documents == 65 and stats["og_locale=US"].correct == 30
    assert evidence.trusted == {"html_lang=GB": 1.0}
    assert evidence.decide({"og_locale": "en_US"}) is None
    assert evidence.decide({"html_lang": "en-GB", "og_locale": "en_US"}) == ("GB", "html_lang=en-GB")
    # too few documents: not trusted however precise
    few, _ = PageEvidence.calibrate([({"html_lang": "en-NZ"}, "NZ")] * 19)
    assert few.trusted == {}
    # two trusted signals that disagree decide nothing
    both = PageEvidence({"html_lang=GB": 1.0, "og_locale=IE": 1.0})
    assert both.decide({"html_lang": "en-GB", "og_locale": "en_IE"}) is None
    assert measure([({"html_lang": "en"}, "GB")]) == {}


def test_calibration_file_round_trip_and_errors(tmp_path):
    path = PageEvidence({"html_lang=GB": 0.99}).save(tmp_path / "page.json")
    assert PageEvidence.load(path).trusted == {"html_lang=GB": 0.99}
    (tmp_path / "bad.json").write_text(json.dumps({"trusted": {"favicon=GB": 1.0}}))
    with pytest.raises(PageEvidenceError, match="unknown signal kind"):
        PageEvidence.load(tmp_path / "bad.json")
    with pytest.raises(PageEvidenceError, match="not a page-evidence calibration"):
        PageEvidence.load(tmp_path / "missing.json")


def _write_warc(shared_data, path):
    """Real fundus pages (the uk and de folders), a 301 from a shortlink to one of them followed by the
    page stored under the shortlink, and a page under a shortlink nothing resolves."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    every = fundus_pages(shared_data)
    bbc = next(p for p in every if "bbc.com/news" in p["url"])
    pages = [p for p in every if p["country_dir"] in ("uk", "de") and p is not bbc][:40] + [bbc]
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for page in pages:
            writer.write_record(_response_record(writer, page["url"], gzip.decompress(page["path"].read_bytes())))
        hop = StatusAndHeaders("301 Moved Permanently", [("Location", bbc["url"])], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record("https://bbc.in/3xYzAb", "response", payload=io.BytesIO(b""), http_headers=hop)
        )
        html = gzip.decompress(bbc["path"].read_bytes())
        writer.write_record(_response_record(writer, "https://bbc.in/3xYzAb", html))
        writer.write_record(_response_record(writer, "https://bit.ly/4AbCdE", html))
    return pages, bbc


@pytest.mark.timeout(400)
def test_warc_run_tags_from_trusted_page_signals_and_resolves_shortlinks(shared_data, tmp_path):
    warc = tmp_path / "in" / "pages.warc.gz"
    warc.parent.mkdir()
    pages, bbc = _write_warc(shared_data, warc)
    calibration = PageEvidence({"html_lang=GB": 1.0, "og_locale=DE": 0.99}).save(tmp_path / "page.json")
    raw = curation_config(tmp_path / "out", [{"name": "pages", "format": "warc", "path": str(warc.parent)}])
    raw["tagging"] = {"precedence": ["page"], "page_evidence": str(calibration), "require_country": False}
    raw["dedup"] = {"exact": False}
    config = parse_config(raw)
    report = run_curation(config, show_progress=False)
    assert report["reconcile"]["ok"], report["reconcile"]
    layout = RunLayout(config.output)
    kept = pl.concat([pl.read_parquet(f) for split in ("train", "eval") for f in layout.split_files(split)])
    by_page = kept.filter(pl.col("tag_source") == "page")
    assert by_page.height >= 5
    assert set(by_page["country"]) <= {"GB", "DE"}
    assert all(e.startswith(("page:html_lang=", "page:og_locale=")) for e in by_page["tag_evidence"])
    assert kept.filter(pl.col("page_signals").is_not_null()).height > len(pages) // 2
    assert json.loads(by_page["page_signals"][0])  # kept as JSON for a later calibration
    resolved = kept.filter(pl.col("url") == "https://bbc.in/3xYzAb")
    assert resolved["url_status"].to_list() == ["resolved_redirect"]
    assert resolved["host"].to_list() == ["www.bbc.com"]
    unresolved = kept.filter(pl.col("url") == "https://bit.ly/4AbCdE")
    assert unresolved["url_status"].to_list() == ["unresolved_redirect"]
    assert set(kept.filter(pl.col("url_status") == "ok")["url"]) <= {p["url"] for p in pages}
