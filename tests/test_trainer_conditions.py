"""Conditions are data: every bundled YAML loads, renders the paper's prefix, and bad input is named."""

from __future__ import annotations

import pytest

from trainer_plugin.conditions import ConditionError, known_conditions, load_condition

PAPER_DOC = {
    "id": "d1",
    "url_normalized": "https://www.thehindu.com/news/national/article1.ece",
    "domain": "thehindu.com",
    "country": "IN",
    "country_name": "India",
    "continent": "Asia",
    "title": "Parliament passes the budget",
    "text": "The finance minister said ...",
}

EXPECTED_CONDITIONS = {
    "none", "url", "url_country", "url_country_continent", "url_continent", "country", "continent",
    "domain_only", "regional", "global", "leave_one_out", "cooldown",
}


def test_every_condition_of_the_paper_is_bundled():
    assert EXPECTED_CONDITIONS <= set(known_conditions())


def test_full_prefix_renders_exactly_the_papers_format():
    prefix, body = load_condition("url_country_continent").template().render(PAPER_DOC)
    assert prefix == (
        "URL: https://www.thehindu.com/news/national/article1.ece\nCOUNTRY: in\nCONTINENT: Asia\n\n"
    )
    assert body == "TITLE: Parliament passes the budget\n\nCONTENT: The finance minister said ..."


@pytest.mark.parametrize(
    ("name", "expected_prefix"),
    [
        ("none", ""),
        ("url", "URL: https://www.thehindu.com/news/national/article1.ece\n\n"),
        ("country", "COUNTRY: in\n\n"),
        ("continent", "CONTINENT: Asia\n\n"),
        ("url_continent", "URL: https://www.thehindu.com/news/national/article1.ece\nCONTINENT: Asia\n\n"),
        ("domain_only", "URL: thehindu.com\n\n"),
    ],
)
def test_each_metadata_condition_renders_its_fields_only(name, expected_prefix):
    prefix, _ = load_condition(name).template().render(PAPER_DOC)
    assert prefix == expected_prefix


def test_region_conditions_need_a_region_and_filter_by_country_or_continent():
    with pytest.raises(ConditionError, match="needs a region"):
        load_condition("regional")
    asia = load_condition("regional", include_regions=["Asia"])
    assert asia.keeps("IN", "Asia") and not asia.keeps("GB", "Europe")
    assert load_condition("regional", include_regions=["in"]).keeps("IN", "Asia")
    loo = load_condition({"name": "leave_one_out", "exclude_regions": ["Africa"]})
    assert loo.keeps("IN", "Asia") and not loo.keeps("KE", "Africa")
    assert loo.metadata == ("url", "country", "continent")
    assert load_condition("global").keeps("KE", "Africa")


def test_cooldown_and_masking_are_fields():
    assert load_condition("cooldown").cooldown_fraction == 0.9
    assert load_condition("url_country_continent", mask_metadata=True).mask_metadata is True


def test_unknown_metadata_field_lists_the_known_ones(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("metadata: [url, language]\n")
    with pytest.raises(ConditionError, match=r"unknown metadata field\(s\) \['language'\]; known: .*continent"):
        load_condition(bad)


def test_unknown_condition_key_and_name_are_errors(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("metadata: [url]\ncooldown_fracton: 0.5\n")
    with pytest.raises(ConditionError, match=r"typo.yaml: unknown condition key\(s\) \['cooldown_fracton'\]; known:"):
        load_condition(bad)
    with pytest.raises(ConditionError, match="unknown condition 'urll'; known: .*url_country"):
        load_condition("urll")
    with pytest.raises(ConditionError, match="cooldown_fraction must be in"):
        load_condition("cooldown", cooldown_fraction=1.5)
