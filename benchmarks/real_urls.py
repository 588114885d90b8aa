"""Real news URLs from ``../shared/data/urls`` for the URL benchmarks.

Each source is read in its own real layout (SemEval CSV columns, reddit CSV, a JSON array, GDELT's
header-less TSV) so the benchmark measures the strings users actually feed the verifier.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

SEMEVAL_COLUMNS = ("link1", "link2", "ia_link1", "ia_link2")
GDELT_SOURCEURL_COLUMN = "SOURCEURL"


def _semeval_urls(urls_dir: Path) -> list[str]:
    found: list[str] = []
    for path in sorted((urls_dir / "semeval2022_task8").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in SEMEVAL_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}: expected columns {missing} are missing")
            for row in reader:
                found.extend(row[c] for c in SEMEVAL_COLUMNS if row[c])
    return found


def _reddit_urls(urls_dir: Path) -> list[str]:
    path = urls_dir / "reddit_worldnews_2012" / "worldnews_2012_scraped_metadata.csv"
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if "url" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: no 'url' column")
        return [row["url"] for row in reader if row["url"]]


def _fwd_news_urls(urls_dir: Path) -> list[str]:
    path = urls_dir / "fwd_news_headlines" / "headlines.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON array of headline records")
    return [r["link"] for r in records if isinstance(r, dict) and r.get("link")]


def _gdelt_urls(urls_dir: Path) -> list[str]:
    """GDELT event TSVs have no header; the column order is in a file beside them."""
    folder = urls_dir / "gdelt_events"
    names_path = folder / "gdelt_column_names_v2.csv"
    names = [line.strip().strip('"') for line in names_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if GDELT_SOURCEURL_COLUMN not in names:
        raise ValueError(f"{names_path}: no {GDELT_SOURCEURL_COLUMN} column name")
    index = names.index(GDELT_SOURCEURL_COLUMN)
    found: list[str] = []
    for path in sorted(folder.glob("*.tsv")):
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            fields = line.split("\t")
            if len(fields) != len(names):
                raise ValueError(f"{path}:{line_no}: {len(fields)} fields, expected {len(names)}")
            if fields[index]:
                found.append(fields[index])
    return found


def load_real_url_sources(shared_dir: Path) -> dict[str, list[str]]:
    """Real URLs per source, in file order (duplicates kept: that is what a pipeline sees)."""
    urls_dir = Path(shared_dir) / "urls"
    return {
        "semeval2022_task8": _semeval_urls(urls_dir),
        "reddit_worldnews_2012": _reddit_urls(urls_dir),
        "fwd_news_headlines": _fwd_news_urls(urls_dir),
        "gdelt_events": _gdelt_urls(urls_dir),
    }


def load_real_urls(shared_dir: Path, min_count: int = 100_000) -> list[str]:
    """All real URLs, repeated whole (and printed as such) until there are at least ``min_count``."""
    sources = load_real_url_sources(shared_dir)
    real = [url for urls in sources.values() for url in urls]
    if not real:
        raise ValueError(f"{shared_dir}/urls: no URLs found")
    repeats = -(-min_count // len(real))
    detail = ", ".join(f"{name} {len(urls):,}" for name, urls in sources.items())
    print(
        f"real URLs: {len(real):,} ({len(set(real)):,} unique; {detail}); repeated {repeats}x -> {len(real) * repeats:,}"
    )
    return real * repeats
