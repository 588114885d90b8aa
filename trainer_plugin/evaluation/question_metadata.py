"""The metadata prefix put before a question: the same lines a training document had.

A question has no URL of its own, so the ``url`` line (when asked for) uses one representative
outlet per country. The default map names one widely read English-language outlet of each of the
paper's 17 countries; pass your own map to change it, or leave ``url`` out of the fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.template import MetadataTemplate

#: One representative outlet domain per country (ISO alpha-2), used for the ``url`` line.
DEFAULT_OUTLETS: dict[str, str] = {
    "NG": "punchng.com",
    "ZA": "news24.com",
    "KE": "nation.africa",
    "GH": "myjoyonline.com",
    "TZ": "thecitizen.co.tz",
    "US": "nytimes.com",
    "CA": "cbc.ca",
    "JM": "jamaica-gleaner.com",
    "IN": "thehindu.com",
    "PK": "dawn.com",
    "BD": "thedailystar.net",
    "LK": "dailymirror.lk",
    "HK": "scmp.com",
    "MY": "thestar.com.my",
    "PH": "inquirer.net",
    "GB": "bbc.co.uk",
    "IE": "irishtimes.com",
}


@dataclass(frozen=True)
class QuestionMetadata:
    """Which metadata lines a question gets; an empty ``fields`` means no prefix at all."""

    fields: Sequence[str] = ("country", "continent")
    outlets: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_OUTLETS))

    def __post_init__(self) -> None:
        MetadataTemplate(fields=tuple(self.fields))  # validates the field names early

    def check_countries(self, countries: Iterable[str]) -> None:
        """Every country must have an outlet when the ``url``/``domain`` line is requested."""
        if not {"url", "domain"} & set(self.fields):
            return
        missing = sorted({c for c in countries if c not in self.outlets})
        if missing:
            raise EvaluationError(f"no outlet domain for country/countries {missing}; add them to the outlet map")

    def prefix(self, country: str, continent: str) -> str:
        """The rendered prefix (ending in the template's blank line), '' when there are no fields."""
        domain = self.outlets.get(country)
        doc = {
            "id": f"question metadata for {country}",
            "country": country,
            "continent": continent,
            "country_name": country,
            "domain": domain,
            "url_normalized": f"https://www.{domain}/" if domain else None,
        }
        return MetadataTemplate(fields=tuple(self.fields)).prefix(doc)


NO_QUESTION_METADATA = QuestionMetadata(fields=())
