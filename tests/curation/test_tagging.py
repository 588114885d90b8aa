"""Tagging with provenance: precedence, conflicts, user registry, schemes, and real fundus articles."""

from __future__ import annotations

import json

import pytest

from geocorpus.regions import normalize_country
from geocorpus.tagging import RegionTagger, TaggingConfigError
from geocorpus.urls import verify_url


def tag_url(tagger: RegionTagger, url: str, claim: str | None = None):
    result = verify_url(url)
    assert result.ok, result
    return tagger.tag(result.host, result.domain, result.suffix, claim)


@pytest.fixture(scope="module")
def tagger() -> RegionTagger:
    return RegionTagger()


def test_input_claim_wins_and_agreeing_evidence_is_no_conflict(tagger):
    tag = tag_url(tagger, "https://www.thehindu.com/news/national/article1.ece", "in")
    assert (tag.country, tag.continent, tag.tag_source, tag.tag_conflict) == ("IN", "Asia", "input", None)
    assert tag.country_name == "India"


def test_conflicting_evidence_is_recorded_in_precedence_order(tagger):
    # The example: the input says IN, the domain is a .co.uk registry outlet.
    tag = tag_url(tagger, "https://www.dailymail.co.uk/news/article-1/x.html", "IN")
    assert tag.country == "IN" and tag.tag_source == "input"
    assert tag.tag_conflict == "input=IN;registry=GB;cctld=GB"


def test_registry_then_cctld_then_none(tagger):
    assert tag_url(tagger, "https://www.thehindu.com/a").tag_source == "registry"
    unknown_kenyan = tag_url(tagger, "https://some-unlisted-blog.co.ke/story")
    assert (unknown_kenyan.country, unknown_kenyan.tag_source) == ("KE", "cctld")
    generic = tag_url(tagger, "https://some-startup.io/post")
    assert (generic.country, generic.continent, generic.tag_source) == (None, None, "none")


def test_subdomain_maps_through_registrable_domain(tagger):
    tag = tag_url(tagger, "https://epaper.thehindu.com/reader")
    assert (tag.country, tag.tag_source) == ("IN", "registry")


def test_unreadable_claim_is_kept_visible_not_used(tagger):
    tag = tag_url(tagger, "https://www.thehindu.com/a", "Atlantis")
    assert tag.country == "IN" and tag.tag_source == "registry"
    assert tag.tag_conflict == "input_unrecognized=Atlantis"


def test_user_registry_beats_builtin_and_precedence_is_configurable(tmp_path):
    user = tmp_path / "mine.csv"
    user.write_text("domain,country\nthehindu.com,Pakistan\n", encoding="utf-8")
    tagger = RegionTagger(user_registry=user)
    tag = tag_url(tagger, "https://www.thehindu.com/a")
    assert (tag.country, tag.tag_source) == ("PK", "registry")
    assert tag.tag_conflict == "user_registry=PK;registry=IN"
    registry_first = RegionTagger(precedence=["registry", "input", "cctld"])
    tag = tag_url(registry_first, "https://www.dailymail.co.uk/a", "IN")
    assert (tag.country, tag.tag_source) == ("GB", "registry")


def test_continent_schemes(tmp_path):
    us_paper = tag_url(RegionTagger(), "https://example-news.com/a", "US")
    us_seven = tag_url(RegionTagger(continent_scheme="continent7"), "https://example-news.com/a", "US")
    us_m49 = tag_url(RegionTagger(continent_scheme="m49"), "https://example-news.com/a", "US")
    assert (us_paper.continent, us_seven.continent, us_m49.continent) == ("America", "North America", "Americas")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"precedence": ["input", "oracle"]}, "unknown evidence source"),
        ({"precedence": ["input", "input"]}, "twice"),
        ({"continent_scheme": "planets"}, "unknown continent scheme"),
    ],
)
def test_bad_configuration_is_a_clear_error(kwargs, match):
    with pytest.raises(TaggingConfigError, match=match):
        RegionTagger(**kwargs)


def test_missing_user_registry_file_names_the_path(tmp_path):
    with pytest.raises((FileNotFoundError, ValueError), match="nope.tsv"):
        RegionTagger(user_registry=tmp_path / "nope.tsv")


def test_real_fundus_articles_follow_their_claimed_country(shared_data):
    """Every fundus article whose URL verifies is tagged with the publisher's country as input."""
    tagger = RegionTagger()
    checked = 0
    for line in (shared_data / "news/fundus/fundus_articles.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        result = verify_url(record["url"])
        if not result.ok:
            continue
        tag = tagger.tag(result.host, result.domain, result.suffix, record["fundus_country_dir"])
        assert tag.tag_source == "input"
        assert tag.country == normalize_country(record["fundus_country_dir"])
        assert tag.continent is not None
        checked += 1
    assert checked > 200
