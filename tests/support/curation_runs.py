"""Inputs and configs for whole curation runs (the reliability tests): synthetic English news with real URLs, small configs.

The texts are generated (seeded) so that every document is unique English prose long enough for the
filters; the URLs are real news URLs from the shared data (r/worldnews 2012 submissions), so URL
verification and tagging run on what users' data looks like. A few exact duplicates are planted across
files so that dedup decisions are part of what the determinism tests compare.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from geocorpus.regions import PAPER_COUNTRIES

_PAPER_CODES = tuple(PAPER_COUNTRIES)  # the paper's 17 countries, in its order
_WORDS = [
    "the",
    "council",
    "said",
    "on",
    "monday",
    "that",
    "the",
    "new",
    "budget",
    "would",
    "support",
    "farmers",
    "schools",
    "and",
    "hospitals",
    "across",
    "the",
    "region",
    "while",
    "opposition",
    "leaders",
    "warned",
    "that",
    "rising",
    "prices",
    "and",
    "a",
    "weak",
    "currency",
    "could",
    "slow",
    "growth",
    "police",
    "reported",
    "heavy",
    "traffic",
    "after",
    "rain",
    "flooded",
    "several",
    "roads",
    "near",
    "the",
    "market",
    "and",
    "the",
    "minister",
    "promised",
    "more",
    "money",
    "for",
    "bridges",
    "water",
    "and",
    "electricity",
    "in",
    "rural",
    "districts",
    "before",
    "the",
    "election",
]


def real_news_urls(shared: Path, limit: int) -> list[str]:
    """The first ``limit`` distinct http(s) URLs of the r/worldnews 2012 file, in file order."""
    path = Path(shared) / "urls" / "reddit_worldnews_2012" / "worldnews_2012_scraped_metadata.csv"
    seen: dict[str, None] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            url = (row.get("url") or "").strip()
            if url.startswith(("http://", "https://")) and "&amp;" not in url:
                seen.setdefault(url, None)
                if len(seen) >= limit:
                    break
    return list(seen)


def english_text(rng: random.Random, n_words: int) -> str:
    sentences, words = [], 0
    while words < n_words:
        k = rng.randint(8, 16)
        sentence = " ".join(rng.choices(_WORDS, k=k))
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
        words += k
    return " ".join(sentences)


def write_english_corpus(
    folder: Path, shared: Path, files: int = 4, docs_per_file: int = 200, seed: int = 0, duplicates: int = 5
) -> dict:
    """JSONL files ``part-<i>.jsonl`` with url, title, text, country (one of the paper's 17 countries).

    Returns ``{"files": [names], "records": total, "rows": {file name: rows}}``. The last ``duplicates``
    rows of every file after the first repeat texts of the first file (exact duplicates to dedup).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    urls = real_news_urls(shared, files * docs_per_file)
    first_texts: list[str] = []
    names, rows = [], {}
    for f in range(files):
        name = f"part-{f}.jsonl"
        lines = []
        for r in range(docs_per_file):
            index = f * docs_per_file + r
            text = english_text(rng, rng.randint(60, 160))
            if f == 0:
                first_texts.append(text)
            elif r >= docs_per_file - duplicates:
                text = first_texts[r]
            record = {
                "url": urls[index % len(urls)],
                "title": f"Report {index}",
                "text": text,
                "country": rng.choice(_PAPER_CODES),
            }
            lines.append(json.dumps(record))
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        names.append(name)
        rows[name] = docs_per_file
    return {"files": names, "records": files * docs_per_file, "rows": rows}


def jsonl_input(name: str, path: Path, **extra) -> dict:
    spec = {
        "name": name,
        "format": "jsonl",
        "path": str(path),
        "fields": {"url": "url", "text": "text", "title": "title", "country": "country"},
    }
    spec.update(extra)
    return spec


def curation_config(
    out: Path, inputs: list[dict], tasks: int = 1, workers: int = 1, language: bool = False, min_words: int = 5
) -> dict:
    """A permissive config (short texts pass; language ID optional) for the local executor."""
    return {
        "name": "reliability",
        "output": str(out),
        "inputs": inputs,
        "filters": {"language": {"languages": ["en"], "min_score": 0.5} if language else None, "min_words": min_words},
        "dedup": {"exact": True},
        "balance": {"by": "continent", "method": "none", "eval_fraction": 0.1, "seed": 0},
        "executor": {"type": "local", "tasks": tasks, "workers": workers},
    }
