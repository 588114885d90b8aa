"""Build small tagged corpora (CORPUS_SCHEMA Parquet shards) for trainer and evaluation tests.

The curation pipeline writes ``OUT/data/{train,eval}-*.parquet``; tests of the consumers must not
wait for it, so these helpers write the same layout from real fundus articles and from a synthetic
multi-country set whose every document is traceable by id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from geocorpus import regions
from geocorpus.schema import CORPUS_SCHEMA

#: The paper's 17 countries, in the order DEVELOPERS.md lists them (defined in geocorpus.regions).
PAPER_COUNTRIES = list(regions.PAPER_COUNTRIES)


def continent_of(country: str) -> str | None:
    """The paper-scheme continent the tagger would write for an ISO alpha-2 code (None if unknown)."""
    try:
        return regions.continent(country, "paper")
    except regions.UnknownCountryError:
        return None


def fundus_country(folder: str) -> str | None:
    """ISO alpha-2 for a fundus country folder ('uk' -> GB, 'ind' -> IN, 'isl' -> IS), else None."""
    try:
        return regions.normalize_country(folder.strip())
    except regions.UnknownCountryError:
        return None


def _host_and_domain(url: str) -> tuple[str, str]:
    host = (urlsplit(url).hostname or "").lower()
    parts = host.split(".")
    # good enough for test rows: last two labels, three for two-letter second-level suffixes (co.uk)
    if len(parts) >= 3 and len(parts[-1]) == 2 and parts[-2] in {"co", "com", "org", "net", "gov", "ac"}:
        return host, ".".join(parts[-3:])
    return host, ".".join(parts[-2:])


def corpus_row(
    doc_id: str,
    text: str,
    url: str,
    country: str | None,
    title: str | None = None,
    split: str = "train",
    source_file: str = "synthetic",
    source_row: int = 0,
) -> dict:
    """One CORPUS_SCHEMA row with every column filled the way the pipeline would fill it."""
    host, domain = _host_and_domain(url)
    return {
        "id": doc_id,
        "text": text,
        "title": title,
        "url": url,
        "url_normalized": url,
        "host": host,
        "domain": domain,
        "suffix": domain.split(".", 1)[-1] if domain else None,
        "url_unwrapped": False,
        "country": country,
        "country_name": regions.country_name(country) if country else None,
        "continent": continent_of(country) if country else None,
        "tag_source": "input" if country else "none",
        "tag_conflict": None,
        "date": None,
        "language": None,
        "n_tokens": len(text.split()),
        "text_hash": None,
        "source_file": source_file,
        "source_row": source_row,
        "split": split,
    }


def fundus_rows(shared_data: Path, eval_every: int = 10) -> list[dict]:
    """CORPUS_SCHEMA rows of the real fundus articles with text and a known country.

    Every ``eval_every``-th document goes to the eval split, the rest to train.
    """
    path = Path(shared_data) / "news" / "fundus" / "fundus_articles.jsonl"
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle):
            record = json.loads(line)
            country = fundus_country(record.get("fundus_country_dir") or "")
            if not record.get("text") or not country or not record.get("url"):
                continue
            split = "eval" if len(rows) % eval_every == eval_every - 1 else "train"
            rows.append(
                corpus_row(
                    f"fundus-{line_no:04d}",
                    record["text"],
                    record["url"],
                    country,
                    title=record.get("title"),
                    split=split,
                    source_file=str(path),
                    source_row=line_no,
                )
            )
    return rows


_WORDS = [
    "government",
    "election",
    "market",
    "football",
    "weather",
    "police",
    "budget",
    "minister",
    "farmers",
    "court",
    "school",
    "hospital",
    "festival",
    "river",
    "railway",
    "harvest",
    "parliament",
    "village",
    "city",
    "council",
    "trade",
]


def synthetic_rows(
    countries: Sequence[str] = PAPER_COUNTRIES, docs_per_country: int = 20, words_per_doc: int = 60
) -> list[dict]:
    """Deterministic documents for the paper's countries; id ``syn-<CC>-<n>``, URL on a local-looking host."""
    rows = []
    for c_index, country in enumerate(countries):
        for n in range(docs_per_country):
            words = [_WORDS[(c_index * 7 + n * 3 + k) % len(_WORDS)] for k in range(words_per_doc)]
            text = f"News from {country} number {n}. " + " ".join(words) + "."
            url = f"https://www.news-{country.lower()}.example.{country.lower()}/story/{n}"
            rows.append(corpus_row(f"syn-{country}-{n:04d}", text, url, country, title=f"Story {n} in {country}"))
    return rows


def write_corpus(
    rows: Iterable[dict],
    out_dir: Path,
    shards: int = 2,
    row_group_size: int = 16,
) -> Path:
    """Write ``out_dir/data/{split}-NNNNN.parquet`` in CORPUS_SCHEMA; returns ``out_dir/data``."""
    data_dir = Path(out_dir) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    by_split: dict[str, list[dict]] = {}
    for row in rows:
        by_split.setdefault(row.get("split") or "train", []).append(row)
    for split, split_rows in by_split.items():
        n_shards = max(1, min(shards, len(split_rows)))
        for shard in range(n_shards):
            part = split_rows[shard::n_shards]
            table = pa.Table.from_pylist(part, schema=CORPUS_SCHEMA)
            pq.write_table(table, data_dir / f"{split}-{shard:05d}.parquet", row_group_size=row_group_size)
    return data_dir
