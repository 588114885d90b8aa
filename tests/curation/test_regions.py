"""Country normalization, continents in every scheme for all ISO codes, and ccTLD evidence."""

from __future__ import annotations

import csv
import json

import pycountry
import pytest

from geocorpus.regions import (
    CONTINENT_SCHEMES,
    GENERIC_CCTLDS,
    IDN_CCTLDS,
    PAPER_COUNTRIES,
    UnknownCountryError,
    cctld_country,
    continent,
    country_name,
    normalize_country,
)

ALL_CODES = sorted(country.alpha_2 for country in pycountry.countries)
SCHEME_VALUES = {
    "paper": {"Africa", "America", "Asia", "Europe", "Oceania", "Antarctica"},
    "continent7": {"Africa", "Antarctica", "Asia", "Europe", "North America", "Oceania", "South America"},
    "m49": {"Africa", "Americas", "Asia", "Europe", "Oceania", "Antarctica"},
}


def test_every_iso_country_has_a_continent_in_every_scheme():
    assert len(ALL_CODES) == 249
    for scheme in CONTINENT_SCHEMES:
        values = {code: continent(code, scheme) for code in ALL_CODES}
        assert set(values.values()) == SCHEME_VALUES[scheme], scheme
    # The paper scheme is continent7 with the Americas merged.
    for code in ALL_CODES:
        seven = continent(code, "continent7")
        expected = "America" if seven.endswith("America") else seven
        assert continent(code, "paper") == expected


def test_paper_countries_map_exactly_as_in_the_paper():
    assert len(PAPER_COUNTRIES) == 17
    expected = {"Africa": "NG ZA KE GH TZ", "America": "US CA JM", "Asia": "IN PK BD LK HK MY PH", "Europe": "GB IE"}
    for name, codes in expected.items():
        for code in codes.split():
            assert PAPER_COUNTRIES[code] == name
            assert continent(code) == name
            assert continent(code.lower(), "paper") == name


@pytest.mark.parametrize(
    "code, scheme, expected",
    [
        ("RU", "continent7", "Europe"),
        ("TR", "continent7", "Asia"),
        ("EG", "continent7", "Africa"),
        ("KZ", "continent7", "Asia"),
        ("CY", "continent7", "Asia"),
        ("AM", "continent7", "Asia"),
        ("AZ", "continent7", "Asia"),
        ("GE", "continent7", "Asia"),
        ("MX", "continent7", "North America"),
        ("PA", "continent7", "North America"),
        ("JM", "continent7", "North America"),
        ("BR", "continent7", "South America"),
        ("FK", "continent7", "South America"),
        ("AQ", "continent7", "Antarctica"),
        ("BV", "continent7", "Antarctica"),
        ("HM", "continent7", "Antarctica"),
        ("TF", "continent7", "Antarctica"),
        ("GS", "continent7", "Antarctica"),
        ("AU", "paper", "Oceania"),
        ("AQ", "paper", "Antarctica"),
        ("BR", "paper", "America"),
        ("AQ", "m49", "Antarctica"),
        ("BV", "m49", "Americas"),
        ("TF", "m49", "Africa"),
        ("HM", "m49", "Oceania"),
        ("US", "m49", "Americas"),
    ],
)
def test_documented_continent_choices(code, scheme, expected):
    assert continent(code, scheme) == expected


def test_continent_errors():
    with pytest.raises(UnknownCountryError, match="'XK'"):
        continent("XK")
    with pytest.raises(ValueError, match="unknown continent scheme 'mars'"):
        continent("IN", "mars")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("in", "IN"),
        ("In", "IN"),
        ("IND", "IN"),
        ("ind", "IN"),
        ("356", "IN"),
        ("India", "IN"),
        ("uk", "GB"),
        ("UK", "GB"),
        ("GBR", "GB"),
        ("826", "GB"),
        ("Britain", "GB"),
        ("United Kingdom", "GB"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("United States of America", "US"),
        ("4", "AF"),
        ("004", "AF"),
        ("Russia", "RU"),
        ("Turkey", "TR"),
        ("Türkiye", "TR"),
        ("Côte d'Ivoire", "CI"),
        ("Cote d'Ivoire", "CI"),
        ("Guinea Bissau", "GW"),
        ("Saint Vincent and\xa0 Grenadines", "VC"),
        ("St. Lucia", "LC"),
        ("Falkland Islands", "FK"),
        ("Iran", "IR"),
        ("South Korea", "KR"),
        ("Vietnam", "VN"),
        ("  Bulgaria ", "BG"),
        ("\ufeffKenya", "KE"),
        ("Bosnia & Herzegovina", "BA"),
        ("the Gambia", "GM"),
    ],
)
def test_normalize_country_accepts_codes_names_and_aliases(value, expected):
    assert normalize_country(value) == expected


@pytest.mark.parametrize(
    "value", ["", "  ", "Kosovo", "XK", "EU", "International", "Korea", "Virgin Islands", "America", "999"]
)
def test_normalize_country_rejects_non_countries_naming_the_value(value):
    with pytest.raises(UnknownCountryError) as raised:
        normalize_country(value)
    assert repr(value) in str(raised.value)


def test_normalize_country_rejects_non_strings():
    with pytest.raises(UnknownCountryError, match="must be a string"):
        normalize_country(356)  # type: ignore[arg-type]


def test_every_code_round_trips_through_its_names():
    for country in pycountry.countries:
        assert normalize_country(country.alpha_3) == country.alpha_2
        assert normalize_country(country.numeric) == country.alpha_2
        assert normalize_country(country.name) == country.alpha_2
        assert normalize_country(country_name(country.alpha_2)) == country.alpha_2


def test_country_name_prefers_common_name():
    assert country_name("tw") == "Taiwan"
    assert country_name("GB") == "United Kingdom"


@pytest.mark.parametrize(
    "suffix, expected",
    [
        ("uk", "GB"),
        ("co.uk", "GB"),
        ("gb", "GB"),
        ("com.au", "AU"),
        ("ke", "KE"),
        ("co.ke", "KE"),
        ("io", None),
        ("co", None),
        ("tv", None),
        ("me", None),
        ("ly", None),
        ("am", None),
        ("com.co", "CO"),
        ("co.me", "ME"),
        ("com.ly", "LY"),
        ("eu", None),
        ("asia", None),
        ("africa", None),
        ("com", None),
        ("org", None),
        ("news", None),
        ("xn--p1ai", "RU"),
        ("рф", "RU"),
        ("xn--h2brj9c", "IN"),
        ("CO.UK", "GB"),
        (".in", "IN"),
        ("", None),
        ("su", None),
    ],
)
def test_cctld_country(suffix, expected):
    assert cctld_country(suffix) == expected


def test_idn_cctld_table_is_valid_punycode_of_real_countries():
    for label, code in IDN_CCTLDS.items():
        assert label.startswith("xn--")
        unicode_label = label.encode("ascii").decode("idna")
        assert not unicode_label.isascii()
        assert cctld_country(unicode_label) == code
        assert pycountry.countries.get(alpha_2=code) is not None


def test_generic_cctlds_are_real_country_codes():
    for tld in GENERIC_CCTLDS - {"su", "ac"}:
        assert pycountry.countries.get(alpha_2=tld.upper()) is not None, tld
        assert cctld_country(tld) is None
        assert cctld_country("com." + tld) == tld.upper()


def test_real_outlet_list_countries_normalize_except_non_iso_headings(shared_data):
    """Every country spelling in the real outlet lists maps, except regions and non-ISO entities."""
    with (shared_data / "outlets/abyz_2017/clean_url_to_country_v2.csv").open(encoding="utf-8") as handle:
        abyz_names = {row["Country name"] for row in csv.DictReader(handle)}
    unmapped = set()
    for name in abyz_names:
        try:
            normalize_country(name)
        except UnknownCountryError:
            unmapped.add(name)
    assert len(abyz_names) == 258
    assert all(
        "Regional" in name
        for name in unmapped - {"International", "Kosovo", "United Nations", "Latin America", "Dutch Caribbean"}
    )
    assert len(unmapped) <= 15
    fundus = json.loads(
        (shared_data / "news/fundus/fundus_publishers_domain_country.json").read_text(encoding="utf-8")
    )
    assert {normalize_country(entry["country_dir"]) for entry in fundus} >= {"GB", "IN", "IS", "US", "DE"}
