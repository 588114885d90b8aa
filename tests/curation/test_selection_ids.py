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
