"""The tagger's caches never change an answer: edition prefixes, a bounded cache, shared tags.

Why: ``RegionTagger.tag`` answers most documents from per-host and per-key caches (the hot path of
curation). Mutation testing showed these paths untested through the tagger: a path-prefix domain
answered from the host cache, a cache that never empties, a mutable tag shared by every document of a
host, and a classifier asked while page evidence is off.
"""

from __future__ import annotations

import dataclasses

import pytest

from geocorpus.tagging import RegionTagger
from geocorpus.urls import verify_url

#: theguardian.com is a GB outlet in the built-in registry with a path-prefix edition /au
PLAIN = "https://www.theguardian.com/world/2024/story"
EDITION = "https://www.theguardian.com/au/news/2024/story"


def tag(tagger: RegionTagger, url: str, **kwargs):
    result = verify_url(url)
    assert result.ok, result
    return tagger.tag(result.host, result.domain, result.suffix, None, url=result.url, **kwargs)


def test_an_edition_prefix_is_not_answered_from_the_sites_cached_tag():
    tagger = RegionTagger()
    # the plain site first: its tag is cached per host; the edition must still be matched by path
    for url, country, evidence in [
        (PLAIN, "GB", "registry:theguardian.com"),
        (EDITION, "AU", "registry:theguardian.com/au"),
        (PLAIN, "GB", "registry:theguardian.com"),
        ("https://www.theguardian.com/AU/x", "AU", "registry:theguardian.com/au"),
        ("https://www.theguardian.com/", "GB", "registry:theguardian.com"),
    ]:
        got = tag(tagger, url)
        assert (got.country, got.tag_evidence) == (country, evidence), url


def test_a_path_argument_matches_the_edition_like_the_url():
    tagger = RegionTagger()
    result = verify_url(EDITION)
    by_path = tagger.tag(result.host, result.domain, result.suffix, None, path="/au/news/2024/story")
    assert (by_path.country, by_path.tag_evidence) == ("AU", "registry:theguardian.com/au")
    assert tagger.tag(result.host, result.domain, result.suffix, None, path="/world/x").country == "GB"


def test_the_cache_stays_within_its_size_and_answers_stay_the_same():
    small = RegionTagger(cache_size=3)
    fresh = RegionTagger()
    urls = [
        "https://www.bbc.co.uk/news/a",
        "https://www.lemonde.fr/a",
        "https://www.thehindu.com/a",
        "https://www.abc.net.au/a",
        "https://www.spiegel.de/a",
        EDITION,
        PLAIN,
        "https://www.bbc.co.uk/news/b",
    ]
    for url in urls * 2:
        assert tag(small, url) == tag(fresh, url), url
        assert len(small._cache) <= 3
        assert len(small._by_host) <= 3


def test_a_tag_is_immutable_because_every_document_of_a_host_shares_it():
    tagger = RegionTagger()
    first = tag(tagger, "https://www.bbc.co.uk/news/a")
    second = tag(tagger, "https://www.bbc.co.uk/news/b")
    assert first is second  # the per-host cache hands out the same object
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.country = "FR"  # type: ignore[misc]


class _AlwaysFrance:
    name = "stub-fr"

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, text: str, url: str | None = None) -> tuple[str, float] | None:
        self.calls += 1
        return ("FR", 0.75)


def test_a_classifier_without_page_evidence_ignores_page_signals_and_decides_below_the_url():
    classifier = _AlwaysFrance()
    tagger = RegionTagger(precedence=("input", "classifier", "registry", "cctld"), classifier=classifier)
    signals = {"og:locale": "en_GB"}  # page evidence is off: these must be ignored, not used or fatal
    got = tag(tagger, PLAIN, page_signals=signals, text="some article text")
    assert (got.country, got.tag_source, got.tag_confidence) == ("FR", "classifier", 0.75)
    assert got.tag_conflict is not None  # the registry's GB disagrees and is recorded
    # the classifier ranks below an input claim: not even asked
    result = verify_url(PLAIN)
    claimed = tagger.tag(result.host, result.domain, result.suffix, "de", url=result.url, text="text")
    assert (claimed.country, claimed.tag_source) == ("DE", "input")
    assert classifier.calls == 1
