"""The curation half of the reproduction: real news in, a tagged, continent-balanced corpus out.

The config is a plain mapping (the same shape as a YAML curation config) so the report can print the
exact config that produced its corpus; ``pipelines.curate.run_curation`` does the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.repro.headlines import headlines_to_jsonl
from geocorpus.paths import shared_data_dir
from geocorpus.regions import PAPER_COUNTRIES

#: The paper's four continents (America = North + South); others (Oceania, ...) are left out.
PAPER_CONTINENTS = tuple(sorted(set(PAPER_COUNTRIES.values())))


def require_shared_data() -> Path:
    """The real-data folder, or a clear error (the reproduction is about real data, nothing else)."""
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit(
            "the real-data folder was not found: set GEOCORPUS_SHARED or place shared/data beside the repository"
        )
    return Path(shared)


def curation_config(run_dir: Path, shared: Path, name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The curation mapping for ``run_dir``: four real news inputs, tagged, filtered, balanced, split.

    ``settings`` is the setting's ``curation`` section. The headlines are converted to JSONL inside
    ``run_dir`` first (the source is one JSON array).
    """
    headlines = run_dir / "inputs" / "headlines.jsonl"
    if not headlines.exists():
        headlines_to_jsonl(shared / "urls" / "fwd_news_headlines" / "headlines.json", headlines)
    limit = int(settings.get("input_limit", -1))
    news = shared / "news"
    inputs = [
        # Publisher country is the input claim; non-English pages fall to the language filter.
        {
            "name": "fundus",
            "format": "jsonl",
            "path": str(news / "fundus" / "fundus_articles.jsonl"),
            "fields": {
                "url": "url",
                "text": "text",
                "title": "title",
                "date": "publishing_date",
                "country": "fundus_country_dir",
            },
        },
        # BBC articles with relative URLs: resolved against bbc.com and claimed GB (bbc.com is a .com
        # no registry ties to a country); an explicit user decision recorded in the manifest.
        {
            "name": "masakhanews",
            "format": "tsv",
            "path": str(news / "masakhanews_eng"),
            "glob": "*.tsv",
            "fields": {"url": "url", "text": "text", "title": "headline"},
            "url_prefix": "https://www.bbc.com",
            "country": "GB",
        },
        {
            "name": "realnews",
            "format": "jsonl",
            "path": str(news / "grover_realnews"),
            "glob": "*.jsonl",
            "fields": {"url": "url", "text": "text", "title": "title", "date": "publish_date"},
        },
        # Short documents: a headline is the whole text.
        {
            "name": "headlines",
            "format": "jsonl",
            "path": str(headlines),
            "fields": {"url": "url", "text": "text", "title": "title", "date": "date"},
        },
    ]
    if limit > 0:
        for spec in inputs:
            spec["limit"] = limit
    return {
        "name": f"repro-mini-{name}",
        "output": str(run_dir / "corpus"),
        "inputs": inputs,
        "tagging": {
            "precedence": ["input", "registry", "cctld"],
            "continent_scheme": "paper",
            "require_country": True,
        },
        "filters": {
            "language": {"languages": ["en"], "min_score": 0.5, "model": "py3langid"},
            "min_words": int(settings.get("min_words", 5)),
        },
        "dedup": {"exact": True},
        "balance": {
            "by": "continent",
            "method": settings.get("balance_method", "none"),
            "include": list(PAPER_CONTINENTS),
            "eval_fraction": float(settings.get("eval_fraction", 0.15)),
            "eval_max_per_region": settings.get("eval_max_per_region"),
            "seed": 0,
        },
        "executor": {"type": "local", "tasks": 1, "workers": 1},
    }


def run(run_dir: Path, name: str, settings: dict[str, Any]) -> dict:
    """Curate into ``run_dir/corpus`` (skipped when its report exists: datatrove resumes by markers)."""
    from geocorpus.config import parse_config
    from pipelines.curate import run_curation

    raw = curation_config(run_dir, require_shared_data(), name, settings)
    report = run_curation(parse_config(raw, source="repro_mini curation"))
    return {"config": raw, "report": report or {}}
