"""Balancing, the eval split and the selection writer: invariants on synthetic frames and real fundus news."""

from __future__ import annotations

import hashlib
import json
import random

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geocorpus.finalize.balance import BalanceConfig, assign_split, balance
from geocorpus.finalize.shards import write_selection
from geocorpus.schema import CORPUS_SCHEMA

CONTINENT_OF = {
    "NG": "Africa",
    "KE": "Africa",
    "US": "America",
    "CA": "America",
    "IN": "Asia",
    "PK": "Asia",
    "GB": "Europe",
}


def synthetic(counts: dict[str, int], seed: int = 0, url_pool: int | None = None) -> pl.DataFrame:
    """``counts`` documents per country; n_tokens 50..549; optional URL reuse to create repeated URLs."""
    rng = random.Random(seed)
    rows = []
    for country, n in counts.items():
        for i in range(n):
            url = f"https://{country.lower()}.news/{rng.randrange(url_pool) if url_pool else i}"
            rows.append((f"{country}-{i}", url, country, CONTINENT_OF.get(country), rng.randrange(50, 550)))
    return pl.DataFrame(rows, schema=["id", "url_normalized", "country", "continent", "n_tokens"], orient="row")


def check_partition(frame: pl.DataFrame, result) -> None:
    selected, excluded = set(result.selected["id"]), set(result.excluded["id"])
    assert not selected & excluded
    assert selected | excluded == set(frame["id"])
    assert result.selected.height + result.excluded.height == frame.height


def with_meta(frame: pl.DataFrame, result) -> pl.DataFrame:
    return result.selected.join(frame, on="id")


ALL_METHODS = [
    {"method": "none"},
    {"method": "cap", "caps": {"default": 30, "Asia": 10}},
    {"method": "cap", "unit": "tokens", "caps": {"default": 9000}},
    {"method": "temperature", "temperature": 0.3},
    {"method": "temperature", "temperature": 0.5, "unit": "tokens", "total": 20000},
    {"method": "paper_interleave"},
]


@pytest.mark.parametrize("options", ALL_METHODS, ids=lambda o: "-".join(str(v) for v in o.values()))
def test_selected_and_excluded_partition_the_input_and_ignore_row_order(options):
    frame = synthetic({"NG": 40, "KE": 15, "US": 90, "IN": 60, "GB": 25, "FR": 5}, url_pool=150)
    config = BalanceConfig.from_dict(options | {"eval_fraction": 0.2, "eval_max_per_region": 8, "seed": 11})
    result = balance(frame, config)
    check_partition(frame, result)
    for split in ("train", "eval"):
        orders = result.selected.filter(pl.col("split") == split)["order"]
        assert orders.is_unique().all()
    shuffled = balance(frame.sample(fraction=1.0, shuffle=True, seed=5).lazy(), config)
    assert shuffled.selected.equals(result.selected)
    assert shuffled.excluded.equals(result.excluded)
    assert shuffled.report == result.report
    other_seed = balance(frame, BalanceConfig.from_dict(options | {"eval_fraction": 0.2, "seed": 12}))
    assert not other_seed.selected.equals(result.selected)


def test_document_caps_with_default_and_exact_targets_report_shortfall():
    frame = synthetic({"NG": 40, "US": 90, "IN": 60, "GB": 25})
    config = BalanceConfig(method="cap", caps={"default": 30, "Asia": 10}, targets={"Europe": 40, "America": 50})
    result = balance(frame, config)
    counts = dict(with_meta(frame, result).group_by("continent").len().iter_rows())
    assert counts == {"Africa": 30, "America": 30, "Asia": 10, "Europe": 25}
    assert result.report["Europe"]["shortfall"] == 15 and result.report["Europe"]["target"] == 40
    assert result.report["America"]["shortfall"] == 20  # the default cap is smaller than the target
    assert result.report["Asia"]["dropped"] == {"over_cap": 50}
    assert set(result.excluded["reason"]) == {"over_cap"}


def test_token_caps_are_never_exceeded_and_filled_greedily_in_hash_order():
    frame = synthetic({"NG": 80, "US": 120, "IN": 5})
    config = BalanceConfig(by="country", unit="tokens", method="cap", caps={"default": 10000, "IN": 100000})
    result = balance(frame, config)
    tokens = dict(with_meta(frame, result).group_by("country").agg(pl.col("n_tokens").sum()).iter_rows())
    assert tokens["NG"] <= 10000 and tokens["US"] <= 10000
    assert tokens["NG"] > 10000 - 550 and tokens["US"] > 10000 - 550  # a prefix stops only at the next doc
    assert tokens["IN"] == frame.filter(pl.col("country") == "IN")["n_tokens"].sum()
    assert result.report["US"]["selected_train_tokens"] == tokens["US"]


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.7, 1.0])
def test_temperature_selection_follows_n_to_the_alpha(alpha):
    counts = {"NG": 2000, "US": 40000, "IN": 20000, "GB": 8000}
    frame = synthetic(counts)
    result = balance(frame, BalanceConfig(by="country", method="temperature", temperature=alpha, seed=3))
    got = dict(with_meta(frame, result).group_by("country").len().iter_rows())
    weights = {c: n**alpha for c, n in counts.items()}
    expected = {c: w / sum(weights.values()) for c, w in weights.items()}
    total = sum(got.values())
    for country, share in expected.items():
        assert got[country] / total == pytest.approx(share, abs=0.002)
    assert got["NG"] == counts["NG"]  # without a total, the smallest relative region is kept whole
    if alpha == 1.0:
        assert result.excluded.height == 0


def test_temperature_with_token_budget_hits_budget_and_reports_shortfall():
    frame = synthetic({"NG": 300, "US": 3000, "IN": 1500})
    config = BalanceConfig(by="country", unit="tokens", method="temperature", temperature=0.5, total=300_000)
    result = balance(frame, config)
    report = result.report
    selected_tokens = sum(report[c]["selected_train_tokens"] for c in ("NG", "US", "IN"))
    assert 300_000 - 3 * 550 < selected_tokens <= 300_000
    assert sum(report[c]["target"] for c in ("NG", "US", "IN")) == 300_000
    available = frame.group_by("country").agg(pl.col("n_tokens").sum())
    for country, tokens in available.iter_rows():
        assert report[country]["selected_train_tokens"] <= min(tokens, report[country]["target"])
    big = balance(frame, BalanceConfig(by="country", method="temperature", temperature=0.0, total=3000))
    assert big.report["NG"]["target"] == 1000 and big.report["NG"]["shortfall"] == 700


def test_paper_interleave_cycles_through_continents_truncated_to_the_smallest():
    frame = synthetic({"NG": 30, "KE": 12, "US": 70, "IN": 55, "GB": 33, "FR": 4})  # FR has no continent
    config = BalanceConfig(method="paper_interleave", eval_fraction=0.1, seed=2)
    result = balance(frame, config)
    check_partition(frame, result)
    train = with_meta(frame, result).filter(pl.col("split") == "train").sort("order")
    continents = sorted(CONTINENT_OF[c] for c in ("NG", "US", "IN", "GB"))
    per_continent = dict(train.group_by("continent").len().iter_rows())
    smallest = min(per_continent.values())
    assert set(per_continent) == set(continents) and set(per_continent.values()) == {smallest}
    available_train = assign_split(frame, 0.1, 2).filter(pl.col("split") == "train", pl.col("continent").is_not_null())
    assert smallest == available_train.group_by("continent").len()["len"].min()
    assert train["continent"].to_list() == continents * smallest
    assert train["order"].to_list() == list(range(train.height))
    assert result.report["unknown"]["dropped"] == {"region_unknown": 4 - result.report["unknown"]["available_eval"]}
    assert "interleave_truncated" in set(result.excluded["reason"])


def test_leave_one_out_and_regional_only():
    frame = synthetic({"NG": 20, "KE": 20, "US": 20, "IN": 20, "GB": 20})
    left_out = with_meta(frame, balance(frame, BalanceConfig(exclude=["asia"], eval_fraction=0.3)))
    assert left_out.filter(pl.col("continent") == "Asia").height == 0
    assert left_out.height == 80
    no_kenya = with_meta(frame, balance(frame, BalanceConfig(exclude=["KE"])))
    assert set(no_kenya["country"]) == {"NG", "US", "IN", "GB"}
    africa_only = balance(frame, BalanceConfig(include=["Africa"], eval_fraction=0.3))
    assert set(with_meta(frame, africa_only)["continent"]) == {"Africa"}
    assert set(africa_only.excluded["reason"]) == {"region_not_included"}
    assert africa_only.report["Asia"]["dropped"] == {"region_not_included": 20}


def test_same_url_never_lands_in_both_splits_and_eval_cap_applies():
    frame = synthetic({"NG": 400, "US": 400}, url_pool=120).with_columns(
        pl.when(pl.col("id").str.ends_with("7")).then(None).otherwise(pl.col("url_normalized")).alias("url_normalized")
    )
    split = assign_split(frame, 0.25, seed=9)
    per_url = (
        split.filter(pl.col("url_normalized").is_not_null()).group_by("url_normalized").agg(pl.col("split").n_unique())
    )
    assert per_url["split"].max() == 1
    share = (split["split"] == "eval").mean()
    assert 0.12 < share < 0.40  # hashed by URL (120 per country), so the share is lumpy
    assert assign_split(frame.reverse(), 0.25, seed=9).sort("id").equals(split.sort("id"))
    assert (assign_split(frame, 0.0, seed=9)["split"] == "train").all()
    result = balance(frame, BalanceConfig(by="country", eval_fraction=0.25, eval_max_per_region=10, seed=9))
    evals = dict(with_meta(frame, result).filter(pl.col("split") == "eval").group_by("country").len().iter_rows())
    assert evals == {"NG": 10, "US": 10}
    assert result.report["NG"]["dropped"]["eval_over_cap"] == result.report["NG"]["available_eval"] - 10


def test_config_from_dict_names_the_bad_key():
    assert BalanceConfig.from_dict({"method": "cap", "caps": {"default": 5}}).caps == {"default": 5}
    bad = [
        ({"methd": "cap"}, "methd"),
        ({"method": "sample"}, "method"),
        ({"by": "city"}, "by"),
        ({"caps": {"Asia": "10"}}, "caps.Asia"),
        ({"temperature": "hot"}, "temperature"),
        ({"eval_fraction": 1.5}, "eval_fraction"),
        ({"total": 0}, "total"),
        ({"include": "Asia"}, "include"),
        ({"seed": True}, "seed"),
        ({"method": "paper_interleave", "unit": "tokens"}, "unit"),
    ]
    for options, key in bad:
        with pytest.raises(ValueError, match=key):
            BalanceConfig.from_dict(options)


def test_balance_rejects_missing_columns_and_bad_token_counts():
    frame = synthetic({"NG": 3})
    with pytest.raises(ValueError, match="n_tokens"):
        balance(frame.drop("n_tokens"), BalanceConfig())
    with pytest.raises(ValueError, match="NG-0"):
        balance(
            frame.with_columns(n_tokens=pl.when(pl.col("id") == "NG-0").then(None).otherwise(pl.col("n_tokens"))),
            BalanceConfig(unit="tokens", method="cap"),
        )


# ---------------------------------------------------------------------------------------------------
# write_selection
# ---------------------------------------------------------------------------------------------------


def _corpus_table(frame: pl.DataFrame) -> pa.Table:
    rows = []
    for i, row in enumerate(frame.iter_rows(named=True)):
        full = dict.fromkeys(CORPUS_SCHEMA.names)
        full.update(row, text=f"text of {row['id']} " * 20, source_file="in.jsonl", source_row=i)
        rows.append(full)
    return pa.Table.from_pylist(rows, schema=CORPUS_SCHEMA)


def _write_shards(table: pa.Table, folder, n_shards: int) -> list:
    folder.mkdir(parents=True)
    order = list(range(table.num_rows))
    random.Random(n_shards).shuffle(order)
    table = table.take(order)
    size = -(-table.num_rows // n_shards)
    paths = []
    for i in range(n_shards):
        path = folder / f"{i:05d}.parquet"
        pq.write_table(table.slice(i * size, size), path, row_group_size=37)
        paths.append(path)
    return paths


def _digest(paths) -> list[str]:
    return [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths]


def test_write_selection_streams_in_order_and_is_byte_identical_across_shardings(tmp_path):
    frame = synthetic({"NG": 120, "US": 300, "IN": 200, "GB": 90})
    table = _corpus_table(frame)
    config = BalanceConfig(method="paper_interleave", eval_fraction=0.15, seed=4)
    outputs = []
    for n_shards in (1, 4):
        shards = _write_shards(table, tmp_path / f"in{n_shards}", n_shards)
        result = balance(
            pl.from_arrow(pq.read_table(shards, columns=["id", "url_normalized", "country", "continent", "n_tokens"])),
            config,
        )
        written = write_selection(shards, result.selected, tmp_path / f"out{n_shards}", rows_per_shard=100)
        outputs.append((result, written))
    (result, written), (_, written4) = outputs
    assert _digest(written["files"]["train"] + written["files"]["eval"]) == _digest(
        written4["files"]["train"] + written4["files"]["eval"]
    )
    for split in ("train", "eval"):
        expected = result.selected.filter(pl.col("split") == split).sort("order")["id"].to_list()
        paths = written["files"][split]
        tables = [pq.read_table(p) for p in paths]
        assert all(t.schema.equals(CORPUS_SCHEMA) for t in tables)
        assert [t.num_rows for t in tables[:-1]] == [100] * (len(tables) - 1) and 0 < tables[-1].num_rows <= 100
        out = pa.concat_tables(tables)
        assert out.column("id").to_pylist() == expected
        assert set(out.column("split").to_pylist()) == {split}
        assert written["rows"][split] == len(expected)
        assert out.column("text").to_pylist()[0] == f"text of {expected[0]} " * 20
    assert not list((tmp_path / "out1").glob("_selection_tmp"))


def test_write_selection_reports_unknown_ids_and_bad_shards(tmp_path):
    frame = synthetic({"NG": 5})
    shards = _write_shards(_corpus_table(frame), tmp_path / "in", 1)
    selection = pl.DataFrame({"id": ["NG-0", "nope"], "split": ["train", "train"], "order": [0, 1]})
    with pytest.raises(ValueError, match="nope"):
        write_selection(shards, selection, tmp_path / "out", rows_per_shard=10)
    not_corpus = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["NG-0"], "text": ["x"]}), not_corpus)
    with pytest.raises(ValueError, match="bad.parquet"):
        write_selection([not_corpus], selection.head(1), tmp_path / "out", rows_per_shard=10)


# ---------------------------------------------------------------------------------------------------
# real data
# ---------------------------------------------------------------------------------------------------


def test_balance_and_write_real_fundus_news_tagged_by_publisher_country(shared_data, tmp_path):
    """Crude tagging: country = the fundus publisher folder (``uk`` -> GB), continent unknown."""
    path = shared_data / "news" / "fundus" / "fundus_articles.jsonl"
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        record = json.loads(line)
        full = dict.fromkeys(CORPUS_SCHEMA.names)
        country = record["fundus_country_dir"].upper().replace("UK", "GB")
        full.update(
            id=f"fundus-{i}",
            text=record["text"] or "",
            title=record["title"],
            url=record["url"],
            url_normalized=record["url"].split("#")[0],
            country=country,
            source_file=path.name,
            source_row=i,
            n_tokens=len((record["text"] or "").split()),
        )
        rows.append(full)
    table = pa.Table.from_pylist(rows, schema=CORPUS_SCHEMA)
    shards = _write_shards(table, tmp_path / "tagged", 3)
    frame = pl.from_arrow(table.drop_columns(["text"]))
    config = BalanceConfig(by="country", method="paper_interleave", eval_fraction=0.2, eval_max_per_region=2, seed=1)
    result = balance(frame, config)
    check_partition(frame, result)
    train = with_meta(frame, result).filter(pl.col("split") == "train").sort("order")
    per_country = train.group_by("country").len()
    assert per_country["len"].n_unique() == 1  # every country the same number of documents
    assert per_country.height == len(
        {c for c, s in assign_split(frame, 0.2, 1).select("country", "split").iter_rows() if s == "train"}
    )
    written = write_selection(shards, result.selected, tmp_path / "data", rows_per_shard=16)
    out = pa.concat_tables(pq.read_table(p) for p in written["files"]["train"])
    assert out.column("id").to_pylist() == train["id"].to_list()
    original = {r["id"]: r["text"] for r in rows}
    assert all(original[i] == t for i, t in zip(out.column("id").to_pylist(), out.column("text").to_pylist()))
    evals = pa.concat_tables(pq.read_table(p) for p in written["files"].get("eval", []))
    assert max(pl.from_arrow(evals.select(["country"])).group_by("country").len()["len"]) <= 2


def test_a_given_split_as_enum_or_strings_and_categorical_regions_balance_as_computed():
    """finalize hands balancing its split as an enum and regions as categoricals: the same selection as
    a split computed here from strings; a split that is missing on a row is refused either way."""
    frame = synthetic({"NG": 60, "US": 90, "IN": 40}, seed=5)
    config = BalanceConfig(method="cap", caps={"default": 30}, eval_fraction=0.2, seed=9)
    expected = balance(frame, config)
    split = assign_split(frame, config.eval_fraction, config.seed)["split"]
    strings = frame.drop("url_normalized").with_columns(split)
    enums = strings.with_columns(
        pl.col("split").cast(pl.Enum(["train", "eval"])), pl.col("country", "continent").cast(pl.Categorical)
    )
    for given in (strings, enums):
        result = balance(given, config, given_split=True)
        assert result.selected.equals(expected.selected) and result.excluded.equals(expected.excluded)
        assert result.report == expected.report
        with pytest.raises(ValueError, match="'train' or 'eval' on every row"):
            balance(
                given.with_columns(pl.when(pl.col("id") == "US-3").then(None).otherwise("split").alias("split")),
                config,
                given_split=True,
            )
    with pytest.raises(ValueError, match="'train' or 'eval' on every row"):
        balance(strings.with_columns(pl.lit("test").alias("split")), config, given_split=True)
