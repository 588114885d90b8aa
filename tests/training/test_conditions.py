"""Conditions are data: every bundled YAML loads, renders the paper's prefix, and bad input is named."""

from __future__ import annotations

import pyarrow as pa
import pytest

from geocorpus.typed_config import ConfigError
from trainer_plugin.conditions import (
    CONDITIONS_DIR,
    ConditionError,
    known_conditions,
    load_condition,
)
from trainer_plugin.shards import kept_mask
from trainer_plugin.template import TemplateError, year_of

PAPER_DOC = {
    "id": "d1",
    "url": "https://www.TheHindu.com/news/national/article1.ece?utm_source=x",
    "url_normalized": "https://www.thehindu.com/news/national/article1.ece",
    "host": "www.thehindu.com",
    "domain": "thehindu.com",
    "date": "2024-07-17 11:21:03+01:00",
    "country": "IN",
    "country_name": "India",
    "continent": "Asia",
    "title": "Parliament passes the budget",
    "text": "The finance minister said ...",
}

EXPECTED_CONDITIONS = {
    "none",
    "url",
    "url_country",
    "url_country_continent",
    "url_continent",
    "country",
    "continent",
    "domain_only",
    "regional",
    "global",
    "leave_one_out",
    "cooldown",
    "meco",
    "url_raw",
    "url_country_continent_year",
}


def test_every_condition_of_the_paper_is_bundled():
    assert set(known_conditions()) >= EXPECTED_CONDITIONS


def test_full_prefix_renders_exactly_the_papers_format():
    prefix, body = load_condition("url_country_continent").template().render(PAPER_DOC)
    assert prefix == ("URL: https://www.thehindu.com/news/national/article1.ece\nCOUNTRY: in\nCONTINENT: Asia\n\n")
    assert body == "TITLE: Parliament passes the budget\n\nCONTENT: The finance minister said ..."


@pytest.mark.parametrize(
    ("name", "expected_prefix"),
    [
        ("none", ""),
        ("url", "URL: https://www.thehindu.com/news/national/article1.ece\n\n"),
        ("country", "COUNTRY: in\n\n"),
        ("continent", "CONTINENT: Asia\n\n"),
        ("url_continent", "URL: https://www.thehindu.com/news/national/article1.ece\nCONTINENT: Asia\n\n"),
        ("domain_only", "URL: thehindu.com\n\n"),  # MeCo's --use_url_domain ablation
        ("meco", "URL: www.thehindu.com\n\n"),  # MeCo's --use_short_url: the full host
        (
            "url_raw",
            "URL: https://www.TheHindu.com/news/national/article1.ece?utm_source=x\nCOUNTRY: in\nCONTINENT: Asia\n\n",
        ),
        (
            "url_country_continent_year",
            "URL: https://www.thehindu.com/news/national/article1.ece\nCOUNTRY: in\nCONTINENT: Asia\nYEAR: 2024\n\n",
        ),
    ],
)
def test_each_metadata_condition_renders_its_fields_only(name, expected_prefix):
    prefix, _ = load_condition(name).template().render(PAPER_DOC)
    assert prefix == expected_prefix


#: One document per (country, continent) pair, plus an untagged one (null region columns).
REGION_ROWS = pa.table(
    {
        "country": ["IN", "GB", "KE", None],
        "continent": ["Asia", "Europe", "Africa", None],
    }
)


def kept(condition) -> list[str | None]:
    """Countries of REGION_ROWS the condition keeps, through the reader's own filter."""
    mask = kept_mask(REGION_ROWS, condition)
    rows = REGION_ROWS if mask is None else REGION_ROWS.filter(mask)
    return rows.column("country").to_pylist()


def test_region_conditions_need_a_region_and_filter_by_country_or_continent():
    with pytest.raises(ConditionError, match="needs a region"):
        load_condition("regional")
    assert kept(load_condition("regional", include_regions=["Asia"])) == ["IN"]
    assert kept(load_condition("regional", include_regions=["in", "europe"])) == ["IN", "GB"]  # any case
    loo = load_condition({"name": "leave_one_out", "exclude_regions": ["Africa"]})
    assert loo.exclude_regions == ("Africa",)  # a YAML list becomes a tuple
    assert kept(loo) == ["IN", "GB", None]  # untagged rows are not in the left-out region
    assert loo.metadata == ("url", "country", "continent")
    assert kept(load_condition("leave_one_out", exclude_regions=["Africa", "GB"])) == ["IN", None]
    assert kept_mask(REGION_ROWS, load_condition("global")) is None  # no filter: every row


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
    with pytest.raises(
        ConditionError, match=r"typo.yaml: unknown key 'cooldown_fracton'; allowed here: \[.*'cooldown_fraction'"
    ):
        load_condition(bad)
    with pytest.raises(ConditionError, match="unknown condition 'urll'; known: .*url_country"):
        load_condition("urll")
    with pytest.raises(ConditionError, match="cooldown_fraction must be in"):
        load_condition("cooldown", cooldown_fraction=1.5)


def test_condition_values_are_type_checked_naming_the_key(tmp_path):
    bad = tmp_path / "wrong.yaml"
    bad.write_text("metadata: url\n")  # a string, not a list
    with pytest.raises(ConditionError, match=r"wrong.yaml: metadata: expected a list"):
        load_condition(bad)
    with pytest.raises(ConditionError, match=r"include_regions\[1\]: expected str, got 3"):
        load_condition("regional", include_regions=["Asia", 3])
    with pytest.raises(ConditionError, match="mask_metadata: expected true or false, got 'yes'"):
        load_condition("url", mask_metadata="yes")
    assert issubclass(ConditionError, ConfigError)  # one error type for every config problem


def test_bundled_conditions_live_in_the_package_folder():
    assert CONDITIONS_DIR.name == "conditions" and (CONDITIONS_DIR / "__init__.py").is_file()
    assert sorted(p.stem for p in CONDITIONS_DIR.glob("*.yaml")) == known_conditions()
    for name in known_conditions():
        spec = {"name": name, "include_regions": ["Asia"]} if name in ("regional", "leave_one_out") else name
        assert load_condition(spec).name == name


@pytest.mark.parametrize(
    ("date", "year"),
    [
        ("2024-07-17 11:21:03+01:00", "2024"),
        ("08-16-2013", "2013"),
        ("Tue, 3 May 2005", "2005"),
        ("12345", None),
        (None, None),
    ],
)
def test_year_is_read_from_the_document_date(date, year):
    assert year_of(date) == year


def test_a_document_without_a_date_has_no_year_line_but_other_fields_stay_required():
    template = load_condition("url_country_continent_year").template()
    undated = {**PAPER_DOC, "date": None}
    assert template.prefix(undated) == load_condition("url_country_continent").template().prefix(PAPER_DOC)
    with pytest.raises(
        TemplateError, match="document 'd1' has no value in column 'host' needed by metadata field 'host'"
    ):
        load_condition("meco").template().prefix({**PAPER_DOC, "host": None})


def test_prefix_pieces_join_to_the_prefix_one_line_each():
    template = load_condition("url_country_continent").template()
    pieces = template.prefix_pieces(PAPER_DOC)
    assert "".join(pieces) == template.prefix(PAPER_DOC)
    assert pieces[1:] == ["COUNTRY: in\n", "CONTINENT: Asia\n", "\n"]
    assert load_condition("none").template().prefix_pieces(PAPER_DOC) == []


def test_meco_condition_is_mecos_recipe():
    meco = load_condition("meco")
    assert meco.metadata == ("host",) and meco.bos and meco.mask_metadata and meco.cooldown_fraction == 0.9
    assert "use_url_domain" in load_condition("domain_only").description
