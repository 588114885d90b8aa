"""Balancing at its edges: every config value check, the split's argument checks, exact cap boundaries
and the seed's effect on which documents a cap keeps.

Each test here was written for a mutant of ``geocorpus/finalize/balance.py`` that the earlier tests let
survive (``.ci/mutation.py balance``): a validation that could be dropped, a ``>`` that could be
``>=``, a seed that could stop mattering.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from geocorpus.finalize.balance import BalanceConfig, assign_split, balance


def frame(per_region: dict[str, int], tokens: int = 10) -> pl.DataFrame:
    rows = [
        (f"{country}-{i}", f"https://{country.lower()}.example.org/{i}", country, continent, tokens)
        for (country, continent), n in ((k.split("/"), v) for k, v in per_region.items())
        for i in range(n)
    ]
    return pl.DataFrame(rows, schema=["id", "url_normalized", "country", "continent", "n_tokens"], orient="row")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"unit": "pages"}, r"balance.unit: expected one of \['documents', 'tokens'\]"),
        ({"by": "city"}, r"balance.by: expected one of"),
        ({"method": "random"}, r"balance.method: expected one of"),
        ({"seed": -1}, r"balance.seed: must be >= 0, got -1"),
        ({"eval_max_per_region": -1}, r"balance.eval_max_per_region: must be >= 0"),
        ({"total": 0}, r"balance.total: must be >= 1"),
        ({"caps": {"Asia": -1}}, r"balance.caps.Asia: must be >= 0"),
        ({"targets": {"Asia": -5}}, r"balance.targets.Asia: must be >= 0"),
        ({"caps": {"Asia": True}}, r"balance.caps.Asia: expected an integer, got True"),
        ({"temperature": -0.1}, r"balance.temperature: must be >= 0"),
        ({"eval_fraction": 1.0}, r"balance.eval_fraction: must be in \[0, 1\)"),
        ({"eval_fraction": -0.01}, r"balance.eval_fraction: must be in \[0, 1\)"),
        ({"method": "paper_interleave", "unit": "tokens"}, r"balance.unit: paper_interleave alternates documents"),
    ],
)
def test_every_bad_value_is_refused_naming_its_key(settings, message):
    with pytest.raises(ValueError, match=message):
        BalanceConfig(**settings)


@pytest.mark.parametrize(
    "settings",
    [
        {"eval_fraction": 0.0},
        {"eval_fraction": 0.999},
        {"temperature": 0.0},
        {"total": 1},
        {"seed": 0},
        {"caps": {"Asia": 0}},
    ],
)
def test_values_on_the_boundary_are_accepted(settings):
    config = BalanceConfig(**settings)
    assert all(getattr(config, key) == value for key, value in settings.items())


@pytest.mark.parametrize(
    ("fraction", "seed", "message"),
    [
        (1.0, 0, r"eval_fraction must be in \[0, 1\)"),
        (math.nan, 0, r"balance.eval_fraction: expected a finite number"),
        (True, 0, r"balance.eval_fraction: expected a finite number"),
        ("0.1", 0, r"balance.eval_fraction: expected a finite number"),
        (0.1, -1, r"balance.seed: must be >= 0"),
        (0.1, True, r"balance.seed: expected an integer"),
    ],
)
def test_assign_split_checks_its_arguments(fraction, seed, message):
    with pytest.raises(ValueError, match=message):
        assign_split(frame({"KE/Africa": 3}), fraction, seed)


def test_assign_split_hashes_the_url_and_falls_back_to_the_id():
    rows = frame({"KE/Africa": 400})
    split = assign_split(rows, 0.3, seed=1)
    eval_share = (split["split"] == "eval").mean()
    assert 0.2 < eval_share < 0.4
    assert (assign_split(rows, 0.0, seed=1)["split"] == "train").all()
    # the same URL under another id lands on the same side; without a URL the id decides
    renamed = rows.with_columns(("x" + pl.col("id")).alias("id"))
    assert assign_split(renamed, 0.3, seed=1)["split"].to_list() == split["split"].to_list()
    no_url = rows.with_columns(pl.lit(None, dtype=pl.String).alias("url_normalized"))
    by_id = assign_split(no_url, 0.3, seed=1)["split"]
    assert by_id.to_list() != split["split"].to_list() and 0.2 < (by_id == "eval").mean() < 0.4


def test_a_null_id_is_refused():
    rows = frame({"KE/Africa": 3}).with_columns(
        pl.when(pl.col("id") == "KE-0").then(None).otherwise(pl.col("id")).alias("id")
    )
    with pytest.raises(ValueError, match="ids must be unique and non-null"):
        balance(rows, BalanceConfig())


def test_a_token_cap_keeps_documents_that_reach_it_exactly():
    rows = frame({"KE/Africa": 5}, tokens=10)
    for cap, kept in ((30, 3), (29, 2), (50, 5), (0, 0)):
        result = balance(rows, BalanceConfig(method="cap", unit="tokens", caps={"default": cap}))
        assert result.selected.height == kept, (cap, result.selected.height)


def test_a_document_cap_and_an_exact_target_give_the_smaller_limit():
    rows = frame({"KE/Africa": 20, "IN/Asia": 20})
    only_target = balance(rows, BalanceConfig(method="cap", by="continent", targets={"Asia": 5}))
    kept = only_target.selected.join(rows, on="id")["continent"].value_counts().sort("continent")
    assert dict(kept.iter_rows()) == {"Africa": 20, "Asia": 5}
    both = balance(rows, BalanceConfig(method="cap", by="continent", caps={"default": 8}, targets={"Asia": 12}))
    kept = both.selected.join(rows, on="id")["continent"].value_counts().sort("continent")
    assert dict(kept.iter_rows()) == {"Africa": 8, "Asia": 8}


def test_the_seed_decides_which_documents_a_cap_keeps():
    rows = frame({"KE/Africa": 200})

    def kept(seed: int) -> set[str]:
        return set(balance(rows, BalanceConfig(method="cap", caps={"default": 20}, seed=seed)).selected["id"])

    picks = {seed: kept(seed) for seed in (0, 1, 2, 3)}
    assert all(len(p) == 20 for p in picks.values())
    assert len({frozenset(p) for p in picks.values()}) == 4, "two seeds kept the same documents"
    assert kept(2) == picks[2]  # and the same seed the same ones


def test_an_eval_cap_of_zero_keeps_no_eval_document():
    rows = frame({"KE/Africa": 100, "IN/Asia": 100})
    result = balance(rows, BalanceConfig(eval_fraction=0.3, eval_max_per_region=0))
    assert set(result.selected["split"]) == {"train"}
    assert set(result.excluded["reason"]) == {"eval_over_cap"}
    capped = balance(rows, BalanceConfig(eval_fraction=0.3, eval_max_per_region=4, by="continent"))
    per_region = capped.selected.filter(pl.col("split") == "eval").join(rows, on="id")["continent"].value_counts()
    assert sorted(per_region["count"].to_list()) == [4, 4]


def test_selected_rows_list_train_before_eval_each_in_order():
    result = balance(frame({"KE/Africa": 50, "IN/Asia": 50}), BalanceConfig(eval_fraction=0.3))
    splits = result.selected["split"].to_list()
    assert splits == sorted(splits, key=lambda s: s != "train") and "eval" in splits
    for split in ("train", "eval"):
        order = result.selected.filter(pl.col("split") == split)["order"].to_list()
        assert order == list(range(len(order)))
