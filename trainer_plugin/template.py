"""Render a document as the paper's conditioned text: a metadata prefix, then the scored body.

The prefix and the body are returned separately because two consumers need the boundary: MeCo-style
loss masking (prefix tokens get label -100) and perplexity, which counts tokens from ``TITLE:`` on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Metadata fields a condition may put in the prefix, and the document column each one reads.
METADATA_FIELDS: dict[str, str] = {
    "url": "url_normalized",
    "domain": "domain",
    "country": "country",
    "country_name": "country_name",
    "continent": "continent",
}

#: The paper's format (Mukherjee et al. 2026): country code lower case, continent by name.
DEFAULT_LINE_FORMATS: dict[str, str] = {
    "url": "URL: {value}",
    "domain": "URL: {value}",  # MeCo's short URL: the registrable domain stands where the URL would
    "country": "COUNTRY: {value_lower}",
    "country_name": "COUNTRY: {value}",
    "continent": "CONTINENT: {value}",
}


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

    def prefix(self, doc: Mapping[str, object]) -> str:
        """The metadata block including its trailing separator; '' when the condition has none."""
        if not self.fields:
            return ""
        lines = []
        for name in self.fields:
            column = METADATA_FIELDS[name]
            value = doc.get(column)
            if value is None or value == "":
                raise TemplateError(
                    f"document {doc.get('id')!r} has no value in column {column!r} needed by metadata field {name!r}"
                )
            value = str(value)
            lines.append(self.line_formats[name].format(value=value, value_lower=value.lower()))
        return "\n".join(lines) + self.prefix_separator

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
