"""Render a document as the paper's conditioned text: a metadata prefix, then the scored body.

The prefix and the body are returned separately because two consumers need the boundary: MeCo-style
loss masking (prefix tokens get label -100) and perplexity, which counts tokens from ``TITLE:`` on.
Training tokenizes the prefix piece by piece (``prefix_pieces``: one ``FIELD: value\\n`` line each,
then the blank line), so one pre-tokenized corpus can serve every condition with the same token ids
as the on-the-fly path; for byte-level BPE (GPT-2 pre-tokenizer) that equals tokenizing the whole
text, because its pre-tokenizer already splits at every newline before a letter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Metadata fields a condition may put in the prefix, and the document column each one reads.
METADATA_FIELDS: dict[str, str] = {
    "url": "url_normalized",
    "url_raw": "url",  # the URL as the corpus has it (the paper prefixes NOW's URL, not a normalised one)
    "host": "host",  # MeCo's --use_short_url: the full host, e.g. www.thehindu.com
    "domain": "domain",  # MeCo's --use_url_domain ablation: the registrable domain, e.g. thehindu.com
    "country": "country",
    "country_name": "country_name",
    "continent": "continent",
    "year": "date",  # the paper's year split: YEAR: <four digits of the document date>
}

#: The paper's format (Mukherjee et al. 2026): country code lower case, continent by name.
DEFAULT_LINE_FORMATS: dict[str, str] = {
    "url": "URL: {value}",
    "url_raw": "URL: {value}",
    "host": "URL: {value}",
    "domain": "URL: {value}",
    "country": "COUNTRY: {value_lower}",
    "country_name": "COUNTRY: {value}",
    "continent": "CONTINENT: {value}",
    "year": "YEAR: {value}",
}

#: Fields whose line is left out (not an error) when a document lacks the value: many corpora have
#: no date for some documents, and the paper's year split only exists where there is one.
OPTIONAL_FIELDS = frozenset({"year"})

_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)")


def year_of(date: object) -> str | None:
    """The first plausible four-digit year in a date string (``2024-07-17 11:21``, ``08-16-2013``)."""
    if date is None:
        return None
    match = _YEAR.search(str(date))
    return match.group(1) if match else None


class TemplateError(ValueError):
    """A condition names a field the template cannot render, or a document lacks it."""


@dataclass(frozen=True)
class MetadataTemplate:
    """Which metadata lines to write, in order, and how the body is laid out."""

    fields: Sequence[str] = ("url", "country", "continent")
    line_formats: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_LINE_FORMATS))
    title_format: str = "TITLE: {title}\n\n"
    content_format: str = "CONTENT: {text}"
    prefix_separator: str = "\n\n"  # between the last metadata line and TITLE:

    def __post_init__(self) -> None:
        unknown = [f for f in self.fields if f not in METADATA_FIELDS]
        if unknown:
            raise TemplateError(f"unknown metadata field(s) {unknown}; known: {sorted(METADATA_FIELDS)}")

    def line(self, name: str, doc: Mapping[str, object]) -> str | None:
        """One metadata line without its newline; None for an optional field the document lacks."""
        column = METADATA_FIELDS[name]
        value = doc.get(column)
        if name == "year":
            value = year_of(value)
        if value is None or value == "":
            if name in OPTIONAL_FIELDS:
                return None
            raise TemplateError(
                f"document {doc.get('id')!r} has no value in column {column!r} needed by metadata field {name!r}"
            )
        text = str(value)
        return self.line_formats[name].format(value=text, value_lower=text.lower())

    def lines(self, doc: Mapping[str, object]) -> list[str]:
        return [line for line in (self.line(name, doc) for name in self.fields) if line is not None]

    def prefix(self, doc: Mapping[str, object]) -> str:
        """The metadata block including its trailing separator; '' when the condition has none."""
        return "".join(self.prefix_pieces(doc))

    def prefix_pieces(self, doc: Mapping[str, object]) -> list[str]:
        """The prefix as the pieces training tokenizes apart: ``LINE\\n`` per field, then the rest of
        the separator (``\\n``); ``"".join`` of them is ``prefix(doc)``."""
        lines = self.lines(doc)
        if not lines:
            return []
        if self.prefix_separator.startswith("\n"):
            return [line + "\n" for line in lines] + ([self.prefix_separator[1:]] if self.prefix_separator[1:] else [])
        return [line + "\n" for line in lines[:-1]] + [lines[-1] + self.prefix_separator]

    def body(self, doc: Mapping[str, object]) -> str:
        """``TITLE: ...\\n\\nCONTENT: ...``; the title line is left out when there is no title."""
        title = doc.get("title")
        text = doc.get("text") or ""
        head = self.title_format.format(title=title) if title else ""
        return head + self.content_format.format(text=text)

    def render(self, doc: Mapping[str, object]) -> tuple[str, str]:
        """(prefix, body): the model sees prefix + body; only the body is scored."""
        return self.prefix(doc), self.body(doc)


PAPER_TEMPLATE = MetadataTemplate()
