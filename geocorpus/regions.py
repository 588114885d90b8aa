"""Countries, continents and country-code TLDs: the one place that turns any spelling of a country
into an ISO 3166-1 alpha-2 code and that code into a continent.

Every tag in the corpus goes through here, so unknown values raise :class:`UnknownCountryError`
instead of silently becoming ``None`` (a silent ``None`` would quietly shrink a region).
Continent facts live in ``geocorpus/data/continents.tsv`` (UN M49 regions); see
``docs/regions_and_registry.md`` for the schemes and the documented choices.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import pycountry

DATA_DIR = Path(__file__).resolve().parent / "data"
CONTINENTS_FILE = DATA_DIR / "continents.tsv"

CONTINENT_SCHEMES = ("paper", "continent7", "m49")

# The 17 countries of Mukherjee, Zhu, Anastasopoulos (2026); see DEVELOPERS.md.
PAPER_COUNTRIES: dict[str, str] = {
    **dict.fromkeys(("NG", "ZA", "KE", "GH", "TZ"), "Africa"),
    **dict.fromkeys(("US", "CA", "JM"), "America"),
    **dict.fromkeys(("IN", "PK", "BD", "LK", "HK", "MY", "PH"), "Asia"),
    **dict.fromkeys(("GB", "IE"), "Europe"),
}

# Spellings that pycountry does not know, found in real outlet lists (ABYZ, fundus) and in common
# usage. Keys are in the normalized form of ``_name_key``. Non-ISO entities (Kosovo, "International",
# regional groupings) are deliberately absent: they must stay errors.
COUNTRY_ALIASES: dict[str, str] = {
    # United Kingdom: fundus names its folder "uk"; the constituent countries map to GB.
    "uk": "GB",
    "u k": "GB",
    "britain": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "usa": "US",
    "u s": "US",
    "u s a": "US",
    "russia": "RU",
    "turkey": "TR",
    "swaziland": "SZ",
    "cape verde": "CV",
    "macau": "MO",
    "macedonia": "MK",
    "republic of macedonia": "MK",
    "czech republic": "CZ",
    "ivory coast": "CI",
    "burma": "MM",
    "east timor": "TL",
    "vatican": "VA",
    "vatican city": "VA",
    "brunei": "BN",
    "congo brazzaville": "CG",
    "republic of congo": "CG",
    "republic of the congo": "CG",
    "congo kinshasa": "CD",
    "drc": "CD",
    "dr congo": "CD",
    "democratic republic of congo": "CD",
    "central africa republic": "CF",
    "faeroe islands": "FO",
    "cocos islands": "CC",
    "svalbard and jan mayen islands": "SJ",
    "wallis and futuna islands": "WF",
    "united states virgin islands": "VI",
    "us virgin islands": "VI",
    "u s virgin islands": "VI",
    "french southern and antarctic lands": "TF",
    "saba": "BQ",
    "sint eustatius": "BQ",
    "pitcairn islands": "PN",
    "uae": "AE",
    "saint vincent and grenadines": "VC",
}


class UnknownCountryError(ValueError):
    """A value that names no ISO 3166-1 country; the message quotes the value."""


def _name_key(value: str) -> str:
    """Fold a country name for matching: no accents/punctuation/case/'the', 'St.' -> 'saint'."""
    text = unicodedata.normalize("NFKD", value)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("&", " and ")
    text = re.sub(r"\bst\b\.?", "saint", text)
    words = [w for w in re.split(r"[^a-z0-9]+", text) if w and w != "the"]
    return " ".join(words)


@lru_cache(maxsize=1)
def _name_index() -> dict[str, str]:
    """Folded name -> alpha-2 from pycountry (name, official, common) plus short derived forms.

    Derived forms drop a parenthetical ("Falkland Islands (Malvinas)") or an inverted tail
    ("Iran, Islamic Republic of"); a derived form claimed by two countries ("Korea",
    "Virgin Islands", "Congo") is left out so it stays an error rather than a guess.
    """
    exact: dict[str, str] = {}
    derived: dict[str, set[str]] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            if not name:
                continue
            exact[_name_key(name)] = country.alpha_2
            short = re.sub(r"\s*\(.*?\)\s*", " ", name).split(",")[0]
            derived.setdefault(_name_key(short), set()).add(country.alpha_2)
    index = {key: codes.pop() for key, codes in derived.items() if len(codes) == 1}
    index.update(exact)
    index.update(COUNTRY_ALIASES)
    return index


def normalize_country(value: str) -> str:
    """ISO alpha-2 (upper case) for an alpha-2/alpha-3/numeric code or an English country name."""
    if not isinstance(value, str):
        raise UnknownCountryError(f"country must be a string, got {type(value).__name__}: {value!r}")
    text = " ".join(value.replace("\ufeff", "").split())
    if not text:
        raise UnknownCountryError(f"empty country value: {value!r}")
    found = None
    if text.isdigit() and len(text) <= 3:
        found = pycountry.countries.get(numeric=text.zfill(3))
    elif text.isascii() and text.isalpha() and len(text) == 2:
        alias = COUNTRY_ALIASES.get(text.lower())
        found = pycountry.countries.get(alpha_2=alias or text.upper())
    elif text.isascii() and text.isalpha() and len(text) == 3:
        found = pycountry.countries.get(alpha_3=text.upper())
    if found is not None:
        return found.alpha_2
    code = _name_index().get(_name_key(text))
    if code is None:
        raise UnknownCountryError(f"not an ISO 3166-1 country: {value!r}")
    return code


def country_name(code: str) -> str:
    """Readable English name: pycountry's common name where it has one (``Taiwan``), else its name."""
    alpha_2 = normalize_country(code)
    country = pycountry.countries.get(alpha_2=alpha_2)
    if country is None:  # normalize_country only returns codes pycountry knows
        raise UnknownCountryError(f"not an ISO 3166-1 country: {code!r}")
    return getattr(country, "common_name", None) or country.name


@lru_cache(maxsize=1)
def _continent_table() -> dict[str, tuple[str, str]]:
    """alpha-2 -> (m49 region, continent7), read once from the shipped TSV."""
    table: dict[str, tuple[str, str]] = {}
    lines = CONTINENTS_FILE.read_text(encoding="utf-8").splitlines()
    rows = [line for line in lines if line.strip() and not line.startswith("#")]
    if rows[0].split("\t") != ["alpha2", "m49_region", "continent7"]:
        raise ValueError(f"{CONTINENTS_FILE}: unexpected header {rows[0]!r}")
    for number, line in enumerate(rows[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 3:
            raise ValueError(f"{CONTINENTS_FILE}: data row {number} has {len(fields)} fields: {line!r}")
        table[fields[0]] = (fields[1], fields[2])
    return table


def continent(code: str, scheme: str = "paper") -> str:
    """Continent of a country in one of CONTINENT_SCHEMES.

    ``paper`` is the paper's Africa / America / Asia / Europe (America = North + South America);
    countries outside those keep their seven-continent name (``Oceania``, ``Antarctica``).
    """
    if scheme not in CONTINENT_SCHEMES:
        raise ValueError(f"unknown continent scheme {scheme!r}; choose one of {CONTINENT_SCHEMES}")
    alpha2 = normalize_country(code)
    row = _continent_table().get(alpha2)
    if row is None:
        raise UnknownCountryError(f"no continent recorded for {code!r} ({alpha2}) in {CONTINENTS_FILE.name}")
    m49_region, continent7 = row
    if scheme == "m49":
        return m49_region
    if scheme == "continent7":
        return continent7
    return "America" if continent7 in ("North America", "South America") else continent7


# Country-code TLDs that are sold and used worldwide (a .io or .tv site says nothing about the
# British Indian Ocean Territory or Tuvalu). Based on Google Search Central's list of ccTLDs it
# treats as generic (ad as bz cc cd co dj fm io la me ms nu sc sr su tv tk ws) plus other ccTLDs
# marketed as generic names (ai am ag gg ly sh st to vc ac cx).
GENERIC_CCTLDS: frozenset[str] = frozenset(
    [
        "ac",
        "ad",
        "ag",
        "ai",
        "am",
        "as",
        "bz",
        "cc",
        "cd",
        "co",
        "cx",
        "dj",
        "fm",
        "gg",
        "io",
        "la",
        "ly",
        "me",
        "ms",
        "nu",
        "sc",
        "sh",
        "sr",
        "st",
        "su",
        "tk",
        "to",
        "tv",
        "vc",
        "ws",
    ]
)

# ccTLDs that are not the alpha-2 code of a current ISO country, or not a country at all.
_CCTLD_EXCEPTIONS: dict[str, str | None] = {"uk": "GB", "eu": None, "su": None, "tp": None}

# Internationalized ccTLDs (punycode) -> country; facts from IANA's root zone database.
IDN_CCTLDS: dict[str, str] = {
    "xn--p1ai": "RU",  # .рф
    "xn--90ais": "BY",  # .бел
    "xn--j1amh": "UA",  # .укр
    "xn--d1alf": "MK",  # .мкд
    "xn--90a3ac": "RS",  # .срб
    "xn--80ao21a": "KZ",  # .қаз
    "xn--node": "GE",  # .გე
    "xn--y9a3aq": "AM",  # .հայ
    "xn--fiqs8s": "CN",  # .中国
    "xn--fiqz9s": "CN",  # .中國
    "xn--j6w193g": "HK",  # .香港
    "xn--mix891f": "MO",  # .澳門
    "xn--kprw13d": "TW",  # .台湾
    "xn--kpry57d": "TW",  # .台灣
    "xn--3e0b707e": "KR",  # .한국
    "xn--o3cw4h": "TH",  # .ไทย
    "xn--yfro4i67o": "SG",  # .新加坡
    "xn--clchc0ea0b2g2a9gcd": "SG",  # .சிங்கப்பூர்
    "xn--mgbx4cd0ab": "MY",  # .مليسيا
    "xn--h2brj9c": "IN",  # .भारत
    "xn--45brj9c": "IN",  # .ভারত
    "xn--gecrj9c": "IN",  # .ભારત
    "xn--s9brj9c": "IN",  # .ਭਾਰਤ
    "xn--fpcrj9c3d": "IN",  # .భారత్
    "xn--xkc2dl3a5ee0h": "IN",  # .இந்தியா
    "xn--54b7fta0cc": "BD",  # .বাংলা
    "xn--fzc2c9e2c": "LK",  # .ලංකා
    "xn--xkc2al3hye2a": "LK",  # .இலங்கை
    "xn--mgbai9azgqp6j": "PK",  # .پاکستان
    "xn--mgba3a4f16a": "IR",  # .ایران
    "xn--wgbh1c": "EG",  # .مصر
    "xn--mgbaam7a8h": "AE",  # .امارات
    "xn--mgberp4a5d4ar": "SA",  # .السعودية
    "xn--wgbl6a": "QA",  # .قطر
    "xn--mgbayh7gpa": "JO",  # .الاردن
    "xn--ygbi2ammx": "PS",  # .فلسطين
    "xn--mgbc0a9azcg": "MA",  # .المغرب
    "xn--lgbbat1ad8j": "DZ",  # .الجزائر
    "xn--pgbs0dh": "TN",  # .تونس
}


def cctld_country(suffix: str) -> str | None:
    """Country that a public suffix (``co.uk``, ``ke``, ``com.co``) is evidence for, else None.

    A generic-use ccTLD on its own (``io``, ``co``, ``tv``) is no evidence, but a registry
    second level under it (``com.co``) is: only Colombian entities register there. gTLDs and
    supranational TLDs (``com``, ``eu``, ``asia``, ``africa``) give None.
    """
    labels = [label for label in suffix.strip().lower().strip(".").split(".") if label]
    if not labels:
        return None
    tld = labels[-1]
    if not tld.isascii():
        try:
            tld = tld.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if tld in IDN_CCTLDS:
        return IDN_CCTLDS[tld]
    if tld in _CCTLD_EXCEPTIONS:
        return _CCTLD_EXCEPTIONS[tld]
    if len(tld) != 2 or not tld.isalpha():
        return None
    if tld in GENERIC_CCTLDS and len(labels) == 1:
        return None
    country = pycountry.countries.get(alpha_2=tld.upper())
    return country.alpha_2 if country else None
