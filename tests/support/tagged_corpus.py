"""Tagged corpora (CORPUS_SCHEMA rows and Parquet) for the trainer and evaluation tests.

The curation pipeline writes ``OUT/data/{train,eval}-*.parquet``; tests of the consumers must not
wait for it, so these helpers write the same layout from real fundus articles and from a synthetic
multi-country set whose every document is traceable by id:

- ``tagged_row``: one CORPUS_SCHEMA row, every column filled the way the pipeline would fill it;
- ``write_tagged_corpus``: rows as a run folder's sharded ``data/{split}-NNNNN.parquet``;
- ``write_tagged_file``: rows as one Parquet file at a given path;
- ``fundus_rows`` / ``synthetic_rows`` / ``write_fundus_eval_file``: ready-made row sets.
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


def tagged_row(
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
                tagged_row(
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
    countries: Sequence[str] = tuple(regions.PAPER_COUNTRIES), docs_per_country: int = 20, words_per_doc: int = 60
) -> list[dict]:
    """Deterministic documents for the paper's countries; id ``syn-<CC>-<n>``, URL on a local-looking host."""
    rows = []
    for c_index, country in enumerate(countries):
        for n in range(docs_per_country):
            words = [_WORDS[(c_index * 7 + n * 3 + k) % len(_WORDS)] for k in range(words_per_doc)]
            text = f"News from {country} number {n}. " + " ".join(words) + "."
            url = f"https://www.news-{country.lower()}.example.{country.lower()}/story/{n}"
            rows.append(tagged_row(f"syn-{country}-{n:04d}", text, url, country, title=f"Story {n} in {country}"))
    return rows


def write_tagged_corpus(
    rows: Iterable[dict],
    out_dir: Path,
    shards: int = 2,
    row_group_size: int = 16,
) -> Path:
    """A run folder's output: ``out_dir/data/{split}-NNNNN.parquet`` in CORPUS_SCHEMA, each split's rows
    dealt round-robin over up to ``shards`` files. Returns ``out_dir/data``."""
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


def write_tagged_file(rows: Iterable[dict], path: Path) -> Path:
    """One Parquet file at ``path`` in CORPUS_SCHEMA (parent folders created); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(list(rows), schema=CORPUS_SCHEMA), path)
    return path


def write_fundus_eval_file(shared_data: Path, path: Path, per_country: int = 3, max_chars: int = 300) -> Path:
    """Real fundus articles of the paper's countries as one eval-split file, plus one train row.

    At most ``per_country`` articles per country, texts cut to ``max_chars`` so scoring stays fast.
    """
    source = Path(shared_data) / "news" / "fundus" / "fundus_articles.jsonl"
    taken: dict[str, int] = {}
    rows = []
    for line in source.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        iso = fundus_country(record.get("fundus_country_dir") or "")
        if iso not in regions.PAPER_COUNTRIES or not record.get("text") or taken.get(iso, 0) >= per_country:
            continue
        taken[iso] = taken.get(iso, 0) + 1
        rows.append(
            tagged_row(
                f"fundus-{len(rows)}",
                record["text"][:max_chars],
                record["url"],
                iso,
                title=record.get("title"),
                split="eval",
            )
        )
    rows.append(tagged_row("train-only", "not held out", "https://example.com/a", "US", title="t", split="train"))
    return write_tagged_file(rows, path)
