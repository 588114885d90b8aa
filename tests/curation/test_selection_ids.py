"""finalize_select holds each id as its 64-bit balancing hash, and selects exactly what the ids select.

The id strings (~60 bytes a document) were the largest column finalize_select held for the whole corpus,
and every sort and join of exact dedup and balancing copied them (issue 11: selection memory per
document). The hash must change nothing: same plan, same counts, same balancing report as with the ids
themselves; and when the hashes are not unique (a collision, or ids that really repeat) the ids are read
again, so a repeated id is still reported by name.
"""

from __future__ import annotations

import polars as pl
import pytest
from support.finalize_inputs import finalize_config, unique_fundus_rows, write_tagged_shards

from geocorpus.finalize.selection import read_selection_columns, select_rows, selection_columns
from geocorpus.finalize.stage import list_parquet, select_task


def test_hashed_ids_select_exactly_what_the_ids_select(shared_data, tmp_path):
    tagged = write_tagged_shards(unique_fundus_rows(shared_data, copies=3, duplicates=7), tmp_path / "tagged", 3)
    config = finalize_config(tmp_path / "out", tmp_path, 1)
    shards = list_parquet(tagged)
    hashed = read_selection_columns(shards, config.balance)
    plain = read_selection_columns(shards, config.balance, hash_ids=False)
    assert hashed.schema["id"] == pl.UInt64 and plain.schema["id"] == pl.String
    assert hashed["id"].estimated_size() == 8 * hashed.height < plain["id"].estimated_size()
    assert selection_columns(shards, config.balance).schema["id"] == pl.UInt64  # the hashes were unique

    by_hash, by_id = select_rows(hashed, True, config.balance), select_rows(plain, True, config.balance)
    assert by_hash.plan.equals(by_id.plan)
    assert by_hash.rows == by_id.rows and by_hash.balance == by_id.balance
    stages = by_hash.plan.group_by("stage").len()
    # both dedup and balancing excluded rows, and rows were kept in both splits: the comparison means something
    assert {"exact_dedup", "balance", None} <= set(stages["stage"].to_list()), stages
    assert by_hash.rows["train"] > 0 and by_hash.rows["eval"] > 0


def test_a_repeated_id_is_still_named(shared_data, tmp_path):
    rows = unique_fundus_rows(shared_data, copies=2, duplicates=0)
    rows[5] = dict(rows[5], id=rows[40]["id"], url_normalized="https://other.example/x", text_hash="f" * 16)
    tagged = write_tagged_shards(rows, tmp_path / "tagged", 2)
    config = finalize_config(tmp_path / "out", tmp_path, 1)
    assert selection_columns(list_parquet(tagged), config.balance).schema["id"] == pl.String  # read again
    with pytest.raises(ValueError, match=f"ids must be unique.*{rows[40]['id']}"):
        select_task(config, tagged)


@pytest.mark.parametrize("method", ["none", "cap", "temperature", "paper_interleave"])
def test_every_method_and_region_filter_selects_from_the_held_columns(shared_data, tmp_path, method):
    """finalize_select holds country and continent as categoricals and the ids as hashes: region filters
    (which compare lower-cased names) and every method must select from them exactly what balancing
    selects from plain strings."""
    from geocorpus.finalize.balance import BalanceConfig, balance

    rows = unique_fundus_rows(shared_data, copies=2, duplicates=0)
    frame = pl.DataFrame(rows).select("id", "url_normalized", "country", "continent", "n_tokens")
    continents = frame.group_by("continent").len().sort("len", descending=True)["continent"].to_list()
    assert len(continents) >= 3
    dropped_country = frame.filter(pl.col("continent") == continents[0])["country"][0]
    config = BalanceConfig(
        method=method,
        caps={"default": 40},
        temperature=0.5,
        include=[continents[0].lower(), continents[1]],  # case-insensitive
        exclude=[dropped_country],
        eval_fraction=0.2,
        seed=4,
    )
    held = read_selection_columns(list_parquet(write_tagged_shards(rows, tmp_path / "tagged", 2)), config)
    assert held.schema["country"] == pl.Categorical and held.schema["id"] == pl.UInt64
    chosen = select_rows(held, False, config)
    expected = balance(frame, config)
    assert chosen.balance == expected.report
    assert chosen.rows == {s: int((expected.selected["split"] == s).sum()) for s in ("train", "eval")}
    reasons = {r for region in expected.report.values() for r in region["dropped"]}
    assert {"region_not_included", "region_excluded"} <= reasons


def _plan_by_joins(frame: pl.DataFrame, config) -> pl.DataFrame:
    """The plan built the plain way (what finalize_select did before it numbered fates by row index):
    exact dedup and balancing on the ids, every row's fate joined back by id."""
    from geocorpus.finalize.balance import balance
    from geocorpus.finalize.exact_dedup import DEDUP_COLUMNS, exact_dedup

    dedup = exact_dedup(frame.select(DEDUP_COLUMNS))
    survivors = frame.join(dedup.excluded.select("id"), on="id", how="anti")
    result = balance(
        survivors.select("id", "rank_hash", "split", "n_tokens", "country", "continent"), config, given_split=True
    )
    kept = result.selected.select("id", "split", pl.int_range(pl.len()).over("split").alias("position"))
    fates = pl.concat(
        [
            kept,
            dedup.excluded.select("id", pl.lit("exact_dedup").alias("stage"), "reason"),
            result.excluded.select("id", pl.lit("balance").alias("stage"), "reason"),
        ],
        how="diagonal",
    )
    return frame.select("id", "_file", "_row").join(fates, on="id", how="left", maintain_order="left").drop("id")


@pytest.mark.parametrize("method", ["cap", "temperature", "paper_interleave"])
def test_the_plan_numbered_by_row_index_equals_the_plan_joined_by_id(shared_data, tmp_path, method):
    """select_rows writes each fate at its row's index (no join); the same plan, row for row, as joining
    dedup's and balancing's results back by id, with duplicates, caps, an eval cap and a region filter."""
    from geocorpus.finalize.balance import BalanceConfig

    rows = [row | {"url_key": row["url_normalized"]} for row in unique_fundus_rows(shared_data, 3, duplicates=9)]
    # same text under another URL (and another source row: a tie on file and row goes by the id's hash)
    rows += [
        rows[i]
        | {"id": f"text-dup-{i}", "url_normalized": f"https://elsewhere.example/{i}", "source_row": 20_000 + i}
        | {"url_key": f"https://elsewhere.example/{i}"}
        for i in range(4)
    ]
    tagged = write_tagged_shards(rows, tmp_path / "tagged", 3)
    config = BalanceConfig(
        method=method, caps={"default": 50}, exclude=["Europe"], eval_fraction=0.2, eval_max_per_region=9, seed=7
    )
    shards = list_parquet(tagged)
    expected = _plan_by_joins(read_selection_columns(shards, config, hash_ids=False), config)
    plan = select_rows(read_selection_columns(shards, config), True, config).plan
    as_strings = plan.with_columns(pl.col("split", "stage", "reason").cast(pl.String))
    assert as_strings.equals(expected.select(as_strings.columns).with_columns(pl.col("position").cast(pl.Int64)))
    reasons = set(plan["reason"].drop_nulls().cast(pl.String))
    assert {"duplicate_url", "duplicate_text", "region_excluded", "eval_over_cap"} <= reasons, reasons
    assert plan["split"].drop_nulls().n_unique() == 2


def test_a_row_given_no_fate_or_two_fates_or_repeated_positions_is_refused():
    import numpy as np

    from geocorpus.finalize.selection import _Fates

    fates = _Fates(4)
    fates.keep(np.array([0, 2]), "train", np.array([1, 0]))
    with pytest.raises(RuntimeError, match="row 1 has no fate"):
        fates.plan(pl.DataFrame({"_file": [0] * 4, "_row": [0, 1, 2, 3]}))
    with pytest.raises(RuntimeError, match="two fates"):
        fates.exclude(np.array([1, 2]), "balance", pl.Series(["over_cap", "over_cap"]))
    with pytest.raises(RuntimeError, match="positions are not 0 .. 1, each once"):
        _Fates(2).keep(np.array([0, 1]), "eval", np.array([1, 1]))
    fates.exclude(np.array([1, 3]), "balance", pl.Series(["over_cap", "eval_over_cap"]))
    plan = fates.plan(pl.DataFrame({"_file": [0] * 4, "_row": [0, 1, 2, 3]}))
    assert plan["position"].to_list() == [1, None, 0, None]
    assert plan["reason"].cast(pl.String).to_list() == [None, "over_cap", None, "eval_over_cap"]
