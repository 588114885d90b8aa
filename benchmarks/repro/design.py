"""The study corpora of the reproduction, built from the curated corpus by rules written here.

Why a design step after curation: the curated corpus is what the data gives (one continent can be
90% of it, headline documents repeat their title, URL slugs spell the title). A comparison of
conditions needs regions of comparable size, enough held-out text per region, the title once, and
controls whose answer is known in advance. Every rule below is generic (no source, domain or region
is named); the report prints what each rule did to this data.

Studies (each a folder of ``train-*.parquet`` / ``eval-*.parquet`` the trainer reads):

* ``real``: the curated documents, regions = continents that have enough text; the paper's
  countries that are missing are listed.
* ``real_noslug``: the same documents with the URL's slug segments removed, so that a URL-only model
  cannot read the title out of its URL.
* ``control_pos``: the single largest source split at random into pseudo-regions, each of which
  spells the source's most frequent words with its own suffix. A metadata model *must* gain here
  (positive control: the pipeline can see an effect of this kind).
* ``control_neg``: the same texts with the pseudo-region tags shuffled across documents: the prefix
  carries no information, so no metadata effect may show (negative control).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import polars as pl
import xxhash

from geocorpus.regions import PAPER_COUNTRIES

#: Columns the trainer and the scorer read; everything else of the curated corpus is dropped.
COLUMNS = ["id", "input", "url_normalized", "title", "text", "country", "continent", "n_words"]
_WORD = re.compile(r"[A-Za-z]{3,}")
_SLUG_PART = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class DesignSettings:
    """The design rules' numbers (the setting's ``design`` section)."""

    eval_words: int = 16_000  # held-out words per region (~20k+ BPE tokens); fewer: region dropped
    min_eval_tokens: int = 20_000  # checked after the tokenizer is trained (repro_mini.prepare)
    max_share: float = 0.35  # no region above this share of training words (or 1/n_regions if larger)
    pseudo_regions: int = 4
    control_eval_words: int = 6_000  # held-out words per pseudo-region (the controls' effects are large)
    variant_words: int = 40  # how many of the source's most frequent words get regional spellings
    seed: int = 0

    @classmethod
    def from_mapping(cls, raw: dict[str, Any] | None) -> DesignSettings:
        raw = dict(raw or {})
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise SystemExit(f"design: unknown key(s) {sorted(unknown)}")
        return cls(**raw)


def _rank(ids: pl.Series, seed: int) -> np.ndarray:
    """A stable pseudo-random order of documents (xxh64 of the id with the seed)."""
    return np.fromiter((xxhash.xxh64_intdigest(f"{seed}\0{i}") for i in ids), dtype=np.uint64, count=len(ids))


def load_curated(corpus_data: Path) -> pl.DataFrame:
    """Every kept document of the curated corpus (both of its splits: the design splits anew)."""
    frame = pl.read_parquet(corpus_data / "*.parquet")
    frame = frame.with_columns(pl.col("id").str.split("/").list.first().alias("input"))
    return frame.with_columns(pl.col("text").str.split(" ").list.len().alias("n_words")).select(COLUMNS)


def title_once(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Drop the title of documents whose text *is* the title (headlines): it would be scored twice."""
    same = pl.col("title").is_not_null() & (pl.col("title").str.strip_chars() == pl.col("text").str.strip_chars())
    count = int(frame.select(same.sum()).item())
    return frame.with_columns(pl.when(same).then(None).otherwise(pl.col("title")).alias("title")), count


def title_words(title: str | None) -> set[str]:
    return {w.lower() for w in _WORD.findall(title or "")}


def slug_overlap(url: str, title: str | None) -> float | None:
    """Share of the title's words (3+ letters) that the URL's path spells; None without a title."""
    words = title_words(title)
    if not words:
        return None
    path_words = {w.lower() for w in _WORD.findall(urlsplit(url).path)}
    return len(words & path_words) / len(words)


def strip_slug(url: str) -> str:
    """The URL without its slug segments and query: a path segment of three or more words (split at
    ``-``, ``_``, ``+`` or ``.``) is a slug; section names, dates and ids stay."""
    parts = urlsplit(url)
    kept = [seg for seg in parts.path.split("/") if len(_SLUG_PART.findall(seg)) < 3]
    path = "/".join(kept) or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def split_regions(frame: pl.DataFrame, settings: DesignSettings, region: str) -> tuple[pl.DataFrame, list[str]]:
    """Add ``split``: per region, documents in a stable random order go to eval until ``eval_words``,
    the rest to train. A region without ``eval_words`` of eval *and* as much of train is dropped."""
    notes, frames = [], []
    for (name,), rows in frame.group_by(region, maintain_order=True):
        rows = rows.with_columns(pl.Series("_rank", _rank(rows["id"], settings.seed))).sort("_rank")
        cumulative = rows["n_words"].cum_sum()
        is_eval = (cumulative - rows["n_words"]) < settings.eval_words
        total = int(rows["n_words"].sum())
        if total < 2 * settings.eval_words:
            notes.append(
                f"{name}: dropped, {rows.height} documents / {total:,} words (needs {2 * settings.eval_words:,}: "
                f"{settings.eval_words:,} held out and as many to train on)"
            )
            continue
        frames.append(
            rows.with_columns(pl.when(is_eval).then(pl.lit("eval")).otherwise(pl.lit("train")).alias("split"))
        )
    if not frames:
        raise SystemExit("design: no region has enough text; " + "; ".join(notes))
    return pl.concat(frames).drop("_rank"), notes


def cap_train_shares(frame: pl.DataFrame, settings: DesignSettings, region: str) -> tuple[pl.DataFrame, float]:
    """Drop training documents (stable random order) so that no region has more than the cap's share
    of training words; the cap is ``max_share`` or ``1/n_regions`` when fewer regions make it unreachable."""
    train = frame.filter(pl.col("split") == "train")
    words = {r: int(w) for r, w in train.group_by(region).agg(pl.col("n_words").sum()).iter_rows()}
    cap = max(settings.max_share, 1.0 / len(words))
    limits = dict(words)
    for _ in range(100):  # water-filling: the largest regions shrink until each is <= cap x total
        total = sum(limits.values())
        new = {r: min(words[r], int(cap * total)) for r in words}
        if new == limits:
            break
        limits = new
    kept = []
    for (name,), rows in train.group_by(region, maintain_order=True):
        rows = rows.with_columns(pl.Series("_rank", _rank(rows["id"], settings.seed + 1))).sort("_rank")
        kept.append(rows.filter(rows["n_words"].cum_sum() <= limits[name]).drop("_rank"))
    return pl.concat([*kept, frame.filter(pl.col("split") == "eval")]), cap


def write_study(frame: pl.DataFrame, folder: Path) -> Path:
    """``train-00000.parquet`` and ``eval-00000.parquet`` in ``folder`` (the trainer's plain layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    # rows in a stable random order: the trainer streams files in order through a bounded shuffle
    # buffer, so rows grouped by region would reach the model one region after the other
    frame = frame.with_columns(pl.Series("_rank", _rank(frame["id"], 7))).sort("_rank").drop("_rank")
    for split in ("train", "eval"):
        frame.filter(pl.col("split") == split).drop("split").write_parquet(folder / f"{split}-00000.parquet")
    return folder


def variant_vocabulary(texts: pl.Series, n_words: int) -> list[str]:
    """The source's most frequent lowercase words of three or more letters (data decides, not a list):
    frequent words give a small model many chances per step to learn the region -> spelling link."""
    counts = (
        texts.str.extract_all(r"\b[a-z]{3,}\b").explode().drop_nulls().value_counts(sort=True, name="n").head(n_words)
    )
    return counts.get_column(texts.name if texts.name in counts.columns else counts.columns[0]).to_list()


def spell_regionally(text: str, pattern: re.Pattern[str], suffix: str) -> str:
    return pattern.sub(lambda m: m.group(0) + suffix, text)


def pseudo_regions(frame: pl.DataFrame, settings: DesignSettings) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(positive control, negative control, facts): the largest input split into pseudo-regions."""
    largest = frame.group_by("input").agg(pl.col("n_words").sum()).sort("n_words", descending=True)["input"][0]
    source = frame.filter(pl.col("input") == largest)
    words = variant_vocabulary(source["text"], settings.variant_words)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b")
    suffixes = [chr(ord("a") + k) * 2 for k in range(settings.pseudo_regions)]  # aa, bb, cc, ...
    region_of = (_rank(source["id"], settings.seed + 2) % np.uint64(settings.pseudo_regions)).astype(np.int64)
    texts = [spell_regionally(t, pattern, suffixes[k]) for t, k in zip(source["text"], region_of)]
    names = [f"Pseudo{k + 1}" for k in region_of]
    hosts = [
        urlunsplit(("https", f"www.region{k + 1}.example", urlsplit(u).path, "", ""))
        for u, k in zip(source["url_normalized"], region_of)
    ]
    positive = source.with_columns(
        pl.Series("text", texts),
        pl.Series("continent", names),
        pl.Series("country", [f"P{k + 1}" for k in region_of]),
        pl.Series("url_normalized", hosts),
    )
    order = np.random.default_rng(settings.seed).permutation(positive.height)
    shuffled = positive.select(
        pl.col("url_normalized", "country", "continent").gather(pl.Series(order.tolist()))
    )  # tags of another document: independent of the spelling
    negative = positive.with_columns(shuffled)
    facts = {"source": largest, "documents": positive.height, "variant_words": words, "suffixes": suffixes}
    return positive, negative, facts


def build(corpus_data: Path, out: Path, settings: DesignSettings) -> dict[str, Any]:
    """Write every study under ``out`` and return the facts the report prints."""
    frame = load_curated(corpus_data)
    overlap = [slug_overlap(u, t) for u, t in zip(frame["url_normalized"], frame["title"])]
    frame, n_title = title_once(frame.with_columns(pl.Series("slug_overlap", overlap, dtype=pl.Float64)))
    present = set(frame["country"].unique().to_list())
    missing = sorted(set(PAPER_COUNTRIES) - present)
    real, notes = split_regions(frame, settings, "continent")
    real, cap = cap_train_shares(real, settings, "continent")
    studies = {"real": real}
    noslug = real.with_columns(pl.col("url_normalized").map_elements(strip_slug, return_dtype=pl.String))
    studies["real_noslug"] = noslug
    positive, negative, control = pseudo_regions(frame, settings)
    control_settings = replace(settings, eval_words=settings.control_eval_words)
    for name, corpus in (("control_pos", positive), ("control_neg", negative)):
        corpus, control_notes = split_regions(corpus, control_settings, "continent")
        studies[name] = corpus
        notes += [f"{name} {n}" for n in control_notes]
    for name, corpus in studies.items():
        write_study(corpus.drop("slug_overlap", strict=False), out / name)
    original_titles = frame.select("id", pl.col("title").fill_null(pl.col("text")).alias("_title"))
    with_titles = noslug.join(original_titles, on="id", how="left")
    overlap_after = [slug_overlap(u, t) for u, t in zip(with_titles["url_normalized"], with_titles["_title"])]
    summary = (
        real.group_by("continent", "split")
        .agg(pl.len().alias("docs"), pl.col("n_words").sum().alias("words"), pl.col("slug_overlap").mean())
        .sort("continent", "split")
    )
    return {
        "titles_dropped": n_title,
        "missing_countries": missing,
        "present_paper_countries": sorted(present & set(PAPER_COUNTRIES)),
        "region_notes": notes,
        "cap": cap,
        "summary": summary.to_dicts(),
        "slug_overlap_mean": float(np.nanmean([o for o in overlap if o is not None] or [np.nan])),
        "slug_overlap_after_strip": float(np.nanmean([o for o in overlap_after if o is not None] or [np.nan])),
        "regions": sorted(real["continent"].unique().to_list()),
        "control": control,
        "control_regions": sorted(positive["continent"].unique().to_list()),
    }
