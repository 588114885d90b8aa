"""The metadata lines put before a question: none, the country, the continent, or all three with a URL.

A question has no URL of its own. The paper gives it ``www.globalfactcheck.org/{cc}``
(``14_sft_eval.py``, ``--base-url`` default, l.40 and l.427), and finds that the URL line carries most
of the metadata signal, so ``full`` (URL + COUNTRY + CONTINENT) is the default for conditioned
models. An outlet map (``{ISO: domain}``) instead renders ``URL: https://www.<domain>/``, the form
training documents had.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trainer_plugin.evaluation.errors import EvaluationError

#: The paper's made-up fact-check site; the country code is appended as a path (l.427 of 14_sft_eval.py).
PAPER_BASE_URL = "www.globalfactcheck.org"

#: Which lines each level renders, in the order the paper writes them (URL, COUNTRY, CONTINENT).
LEVELS: dict[str, tuple[str, ...]] = {
    "none": (),
    "country": ("country",),
    "continent": ("continent",),
    "full": ("url", "country", "continent"),
}

#: One representative outlet domain per country (ISO alpha-2), for ``outlets=DEFAULT_OUTLETS``.
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
    """Which metadata lines a question gets (``level``) and where its URL comes from.

    ``outlets`` None: the paper's ``{base_url}/{cc}``; a mapping: ``https://www.<outlet>/`` per country.
    """

    level: str = "full"
    base_url: str = PAPER_BASE_URL
    outlets: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise EvaluationError(f"unknown question metadata {self.level!r}; choose one of {', '.join(LEVELS)}")

    @property
    def fields(self) -> tuple[str, ...]:
        return LEVELS[self.level]

    def check_countries(self, countries: Iterable[str]) -> None:
        """Every country must have an outlet when the URL line comes from an outlet map."""
        if "url" not in self.fields or self.outlets is None:
            return
        missing = sorted({c for c in countries if c not in self.outlets})
        if missing:
            raise EvaluationError(f"no outlet domain for country/countries {missing}; add them to the outlet map")

    def url(self, country: str) -> str:
        if self.outlets is None:
            return f"{self.base_url}/{country.lower()}"
        return f"https://www.{self.outlets[country]}/"

    def lines(self, country: str, continent: str) -> list[str]:
        """``URL: ...`` / ``COUNTRY: cc`` / ``CONTINENT: Name`` as the level asks (country lower case)."""
        rendered = {
            "url": lambda: f"URL: {self.url(country)}",
            "country": lambda: f"COUNTRY: {country.lower()}",
            "continent": lambda: f"CONTINENT: {continent}",
        }
        return [rendered[name]() for name in self.fields]

    def prefix(self, country: str, continent: str) -> str:
        """The lines and the blank line after them, as a training document's prefix; '' for none."""
        lines = self.lines(country, continent)
        return "\n".join(lines) + "\n\n" if lines else ""


NO_QUESTION_METADATA = QuestionMetadata(level="none")
