"""Exact dedup (which copy survives, independence of row order) and the datatrove MinHash stages end to end."""

from __future__ import annotations

import json
import random

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.tagged_corpus import tagged_row

from geocorpus.finalize.exact_dedup import exact_dedup
from geocorpus.minhash import MinhashConfig, minhash_pipelines
from geocorpus.schema import MINHASH_DIGESTS, TAGGED_SCHEMA


def _rows(*specs):
    """specs: (id, url_normalized, text_hash, source_file, source_row)."""
    return pl.DataFrame(
        specs,
        schema=["id", "url_normalized", "text_hash", "source_file", "source_row"],
        orient="row",
    )


def test_exact_dedup_keeps_smallest_source_position_whatever_the_row_order():
    frame = _rows(
        ("c", "https://a.com/1", "h1", "b.jsonl", 0),
        ("a", "https://a.com/1", "h2", "a.jsonl", 7),
        ("b", "https://a.com/1", "h3", "a.jsonl", 3),  # smallest (source_file, source_row): survives
        ("d", "https://a.com/2", "h3", "a.jsonl", 9),  # same text as b -> duplicate_text of b
        ("e", None, "h9", "z.jsonl", 0),
        ("f", None, "h8", "z.jsonl", 1),  # null urls never collide
        ("g", "https://a.com/3", None, "z.jsonl", 2),
        ("h", "https://a.com/4", None, "z.jsonl", 3),  # null text hashes never collide
    )
    expected = {
        "a": ("duplicate_url", "b"),
        "c": ("duplicate_url", "b"),
        "d": ("duplicate_text", "b"),
    }
    for seed in range(5):
        shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
        result = exact_dedup(shuffled.lazy() if seed % 2 else shuffled)
        got = {r["id"]: (r["reason"], r["duplicate_of"]) for r in result.excluded.iter_rows(named=True)}
        assert got == expected
        assert sorted(result.kept["id"]) == ["b", "e", "f", "g", "h"]


def test_exact_dedup_text_survivor_is_chosen_among_url_survivors():
    # x loses on url to w; y shares x's text but x is already gone, so y survives its text group.
    frame = _rows(
        ("w", "https://n.org/a", "t-w", "f", 0),
        ("x", "https://n.org/a", "t-xy", "f", 1),
        ("y", "https://n.org/b", "t-xy", "f", 2),
        ("z", "https://n.org/c", "t-xy", "f", 3),
    )
    result = exact_dedup(frame)
    assert sorted(result.kept["id"]) == ["w", "y"]
    assert result.excluded.sort("id").rows() == [
        ("x", "duplicate_url", "w"),
        ("z", "duplicate_text", "y"),
    ]


def test_exact_dedup_partitions_a_large_frame_exactly():
    rng = random.Random(3)
    n = 5000
    frame = pl.DataFrame(
        {
            "id": [f"doc{i}" for i in range(n)],
            "url_normalized": [
                f"https://s.com/{rng.randrange(3000)}" if rng.random() < 0.9 else None for _ in range(n)
            ],
            "text_hash": [f"{rng.randrange(3500):x}" for _ in range(n)],
            "source_file": [f"shard{rng.randrange(4)}" for _ in range(n)],
            "source_row": list(range(n)),
        }
    )
    result = exact_dedup(frame)
    kept, excluded = set(result.kept["id"]), set(result.excluded["id"])
    assert not kept & excluded and kept | excluded == set(frame["id"])
    survivors = frame.filter(pl.col("id").is_in(kept))
    assert survivors.filter(pl.col("url_normalized").is_not_null())["url_normalized"].is_unique().all()
    assert survivors["text_hash"].is_unique().all()
    assert set(result.excluded["duplicate_of"]) <= kept


def _reference_dedup(frame: pl.DataFrame) -> dict[str, tuple[str, str]]:
    """Exact dedup as specified, row by row: every row in survivor order, url groups, then text groups
    among the url survivors; a url duplicate of a copy that lost on text points at that text's survivor."""
    from geocorpus.urls import url_key

    rows = sorted(frame.iter_rows(named=True), key=lambda r: (r["source_file"], r["source_row"], r["id"]))
    first_url: dict[str, str] = {}
    by_url: dict[str, str] = {}
    for row in rows:
        key = url_key(row["url_normalized"]) if row["url_normalized"] is not None else None
        if key is not None and key in first_url:
            by_url[row["id"]] = first_url[key]
        elif key is not None:
            first_url[key] = row["id"]
    first_text: dict[str, str] = {}
    by_text: dict[str, str] = {}
    for row in rows:
        if row["id"] in by_url or row["text_hash"] is None:
            continue
        if row["text_hash"] in first_text:
            by_text[row["id"]] = first_text[row["text_hash"]]
        else:
            first_text[row["text_hash"]] = row["id"]
    return {i: ("duplicate_url", by_text.get(k, k)) for i, k in by_url.items()} | {
        i: ("duplicate_text", k) for i, k in by_text.items()
    }


def test_exact_dedup_is_the_row_by_row_reference_on_a_large_frame():
    """Only rows whose key repeats are sorted and grouped: the fates are those of every row in order."""
    rng = random.Random(11)
    n = 4000
    frame = pl.DataFrame(
        {
            "id": [f"doc{i}" for i in rng.sample(range(n), n)],
            "url_normalized": [
                f"https://s.com/{rng.randrange(2500)}" if rng.random() < 0.9 else None for _ in range(n)
            ],
            "text_hash": [f"{rng.randrange(3000):x}" if rng.random() < 0.95 else None for _ in range(n)],
            "source_file": [f"shard{rng.randrange(3)}" for _ in range(n)],
            "source_row": [rng.randrange(n // 2) for _ in range(n)],  # ties: the id decides
        }
    )
    expected = _reference_dedup(frame)
    got = {r["id"]: (r["reason"], r["duplicate_of"]) for r in exact_dedup(frame).excluded.iter_rows(named=True)}
    assert {r for r, _ in expected.values()} == {"duplicate_url", "duplicate_text"}
    assert got == expected


def test_exact_dedup_rejects_bad_input():
    with pytest.raises(ValueError, match="text_hash"):
        exact_dedup(pl.DataFrame({"id": ["a"], "url_normalized": ["u"], "source_file": ["f"], "source_row": [0]}))
    with pytest.raises(ValueError, match="unique"):
        exact_dedup(_rows(("a", "u1", "h1", "f", 0), ("a", "u2", "h2", "f", 1)))


def test_minhash_config_from_dict_validates_keys_and_types():
    config = MinhashConfig.from_dict({"num_buckets": 4, "hashes_per_bucket": 4, "tasks": 2})
    assert config.stage_tasks() == {"signatures": 2, "buckets": 4, "clusters": 1, "syndication": 1, "filter": 2}
    with pytest.raises(ValueError, match="num_bucket"):
        MinhashConfig.from_dict({"num_bucket": 4})
    with pytest.raises(ValueError, match="n_grams"):
        MinhashConfig.from_dict({"n_grams": "5"})
    with pytest.raises(ValueError, match="tasks"):
        MinhashConfig.from_dict({"tasks": 0})


_WORDS = [
    "minister",
    "parliament",
    "budget",
    "farmers",
    "harvest",
    "rainfall",
    "election",
    "court",
    "police",
    "market",
    "football",
    "coach",
    "hospital",
    "vaccine",
    "school",
    "teachers",
    "strike",
    "railway",
    "airport",
    "bridge",
    "flood",
    "drought",
    "energy",
    "solar",
    "tariff",
    "exports",
    "currency",
    "inflation",
    "bank",
    "loan",
    "village",
    "city",
    "council",
    "mayor",
    "river",
    "coast",
    "port",
    "fishing",
    "tourism",
]


def _article(rng: random.Random, n_words: int = 120) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n_words))


def _corpus_row(doc_id: str, text: str, country: str, row: int) -> dict:
    url = f"https://news.example/{doc_id}"
    row_dict = tagged_row(
        doc_id, text, url, country, title=f"title {doc_id}", source_file="input.jsonl", source_row=row
    )
    # every column, as the minhash output has them, and digests as the tag stage stores them
    return {**dict.fromkeys(TAGGED_SCHEMA.names), **row_dict, MINHASH_DIGESTS: f"digests of {doc_id}".encode()}


def test_minhash_pipelines_remove_near_duplicates_end_to_end(tmp_path):
    from datatrove.executor import LocalPipelineExecutor

    rng = random.Random(7)
    originals = [_article(rng) for _ in range(12)]
    rows = [_corpus_row(f"orig{i}", text, "IN" if i % 2 else "GB", i) for i, text in enumerate(originals)]
    # near duplicates: the same article with one word changed at the very end
    for i in (0, 3, 5):
        words = originals[i].split()
        words[-1] = "breaking"
        rows.append(_corpus_row(f"near{i}", " ".join(words), rows[i]["country"], 100 + i))
    tagged = tmp_path / "tagged"
    tagged.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=TAGGED_SCHEMA), tagged / "00000.parquet")

    config = MinhashConfig(num_buckets=4, hashes_per_bucket=4, n_grams=3)
    out, exclusions = tmp_path / "minhash", tmp_path / "exclusions" / "minhash_dedup"
    stages = minhash_pipelines(tagged, out, tmp_path / "work", exclusions, config)
    assert list(stages) == ["signatures", "buckets", "clusters", "syndication", "filter"]
    for name, steps in stages.items():
        LocalPipelineExecutor(
            steps, tasks=config.stage_tasks()[name], workers=1, logging_dir=str(tmp_path / "logs" / name)
        ).run()

    kept = pa.concat_tables(pq.read_table(p) for p in sorted(out.glob("*.parquet")))
    dropped = pa.concat_tables(pq.read_table(p) for p in sorted(exclusions.glob("*.parquet")))
    assert kept.schema.equals(TAGGED_SCHEMA)
    kept_ids, dropped_ids = set(kept.column("id").to_pylist()), set(dropped.column("id").to_pylist())
    assert kept_ids | dropped_ids == {r["id"] for r in rows} and not kept_ids & dropped_ids
    # one copy of each near-duplicate pair survives; datatrove keeps the one read first (the original)
    assert dropped_ids == {"near0", "near3", "near5"}
    assert set(dropped.column("stage").to_pylist()) == {"minhash_dedup"}
    assert set(dropped.column("reason").to_pylist()) == {"near_duplicate"}
    # an exclusion keeps the record's fields, not the digests derived from its text
    assert all(MINHASH_DIGESTS not in json.loads(m) for m in dropped.column("metadata_json").to_pylist())
    # every schema column (the digests too) survived the datatrove round trip (MinHash fills syndicated:
    # same-country pairs)
    by_id = {r["id"]: r for r in kept.to_pylist()}
    for original in rows[:12]:
        assert by_id[original["id"]] == {**original, "syndicated": False}


@pytest.mark.parametrize("dtype", [pl.UInt64, pl.UInt128, pl.String])
def test_repeated_keys_are_found_exactly_and_nulls_never_repeat(dtype):
    """``_repeated`` sorts only the non-null keys and screens 128-bit keys on their high half: against a
    count of each key, including 128-bit keys whose high halves collide but whose low halves differ."""
    from collections import Counter

    from geocorpus.finalize.exact_dedup import _repeated

    rng = random.Random(5)
    values = [rng.randrange(40) for _ in range(500)] + [None] * 7 + [rng.randrange(10**6) for _ in range(300)]
    rng.shuffle(values)
    if dtype == pl.UInt128:
        # the high half is the value, the low half one of two: equal high halves that differ in full
        keys = pl.DataFrame({"v": values, "low": [rng.randrange(2) for _ in values]}).select(
            (pl.col("v").cast(pl.UInt128) * (1 << 64) + pl.col("low").cast(pl.UInt128)).alias("k")
        )["k"]
    else:
        keys = pl.Series(values).cast(pl.String if dtype == pl.String else dtype)
    counts = Counter(k for k in keys.to_list() if k is not None)
    expected = [k is not None and counts[k] > 1 for k in keys.to_list()]
    found = _repeated(keys)
    assert found.tolist() == expected
    assert any(expected) and not all(expected)
    if dtype == pl.UInt128:  # some keys share only their high half: the screen alone would call them repeated
        high = Counter(v for v in values if v is not None)
        assert any(high[v] > 1 and not e for v, e in zip(values, expected) if v is not None)
