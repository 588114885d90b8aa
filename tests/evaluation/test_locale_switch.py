"""Locale switching: counts on a constructed case where one question follows the metadata."""

from __future__ import annotations

import shutil

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.tiny_models import train_on_texts

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.locale_switch import OUTCOMES, score_locale_switch, switch_outcomes, switch_table
from trainer_plugin.evaluation.protocols import Protocol
from trainer_plugin.evaluation.qa_data import load_switch_items
from trainer_plugin.evaluation.question_metadata import QuestionMetadata
from trainer_plugin.evaluation.runtime import load_causal_lm

OPTIONS = ["Dhaka", "Delhi", "London", "Boston"]
ROWS = [  # follows metadata after training: Bangladesh -> Dhaka, India -> Delhi
    {
        "id": "q1",
        "question": "Which city is the capital?",
        "options": OPTIONS,
        "split_type": "ambiguous",
        "target_country": "Bangladesh",
        "contrast_country": "India",
        "target_answer": "Dhaka",
        "contrast_answer": "Delhi",
    },
    # ignores metadata after training: always London
    {
        "id": "q2",
        "question": "Where is the news desk?",
        "options": OPTIONS,
        "split_type": "ambiguous",
        "target_country": "United Kingdom",
        "contrast_country": "United States",
        "target_answer": "London",
        "contrast_answer": "Boston",
    },
    {
        "id": "x",
        "question": "explicit row",
        "options": OPTIONS,
        "split_type": "explicit",
        "target_country": "Kenya",
        "contrast_country": "",
        "target_answer": "Dhaka",
        "contrast_answer": "",
    },
]


def _write(rows, path):
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_switch_counts_on_constructed_case(tiny_llama_dir, tmp_path):
    items = load_switch_items(_write(ROWS, tmp_path / "qa.parquet"))
    assert [i.id for i in items] == ["q1", "q2"]
    protocol = Protocol(name="cloze", metadata=QuestionMetadata(level="country"))
    q1, q2 = items

    def taught(item, country, answer):
        return protocol.context(item.question, item.options, country, "") + " " + item.options[answer]

    texts = [taught(q1, "BD", 0), taught(q1, "IN", 1), taught(q2, "GB", 2), taught(q2, "US", 2)]
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_dir, folder)
    train_on_texts(folder, texts, steps=150)
    model, tokenizer = load_causal_lm(folder, device="cpu")
    per_question = score_locale_switch(model, tokenizer, items, protocol, rule="raw", seeds=[41, 42])
    assert per_question.height == 4  # 2 questions x 2 option orders
    by_item = per_question.group_by("id", maintain_order=True).agg(pl.col("exact_pair", "margin_switch").mean())
    assert by_item["exact_pair"].to_list() == [1.0, 0.0]
    assert by_item["margin_switch"].to_list() == [1.0, 0.0]  # q2 prefers London under both locales
    q1_rows = per_question.filter(pl.col("id") == "q1")
    assert q1_rows["pred_target_metadata"].to_list() == [0, 0]  # original option indices, whatever the order
    assert q1_rows["pred_contrast_metadata"].to_list() == [1, 1]
    assert (q1_rows["target_margin"] > 0).all() and (q1_rows["contrast_margin"] > 0).all()
    table = switch_table(per_question, n_boot=100, min_n=2)
    assert dict(zip(table["pair"], table["exact_pair"])) == {"all": 0.5, "BD->IN": 1.0, "GB->US": 0.0}
    assert dict(zip(table["pair"], table["n"])) == {"all": 2, "BD->IN": 1, "GB->US": 1}  # items, not rows
    assert dict(zip(table["pair"], table["small_n"])) == {"all": False, "BD->IN": True, "GB->US": True}
    assert dict(zip(table["pair"], table["target_correct"]))["GB->US"] == 1.0


def test_margin_switch_differs_from_exact_pair_on_constructed_scores():
    # options: 0 = target answer, 1 = contrast answer, 2 = a distractor the model likes under both locales
    follows_but_distracted = {
        "target": np.array([-2.0, -3.0, -1.0, -5.0]),  # gold target beats gold contrast, but 2 is on top
        "contrast": np.array([-3.0, -2.0, -1.0, -5.0]),  # and the reverse under contrast metadata
        "none": np.array([-2.0, -2.5, -1.0, -5.0]),
    }
    outcome = switch_outcomes(follows_but_distracted, target=0, contrast=1)
    assert outcome["exact_pair"] == 0.0 and outcome["margin_switch"] == 1.0
    assert outcome["target_margin"] == 1.0 and outcome["contrast_margin"] == 1.0
    ignores_metadata = dict(follows_but_distracted, contrast=np.array([-2.0, -3.0, -4.0, -5.0]))
    outcome = switch_outcomes(ignores_metadata, target=0, contrast=1)
    assert outcome["margin_switch"] == 0.0 and outcome["contrast_margin"] == -1.0
    assert outcome["target_correct"] == 0.0 and outcome["contrast_correct"] == 0.0 and outcome["exact_pair"] == 0.0


def test_seeds_are_averaged_per_item_before_the_bootstrap():
    rows = []
    for item, successes in (("a", [1, 1, 1, 1]), ("b", [1, 0, 0, 0]), ("c", [0, 0, 0, 0])):
        for _seed, success in zip(range(4), successes):
            rows.append({"id": item, "pair": "BD->IN", **{o: float(success) for o in OUTCOMES}})
    table = switch_table(pl.DataFrame(rows), n_boot=500, min_n=1)
    overall = table.row(0, named=True)
    assert overall["n"] == 3 and overall["n_seeds"] == 4
    assert overall["margin_switch"] == pytest.approx((1 + 0.25 + 0) / 3)
    # resampling the three item means can only produce means of {1, 0.25, 0}: never 1/12-steps of rows
    assert overall["margin_switch_low"] >= 0.0 and overall["margin_switch_high"] <= 1.0
    assert overall["margin_switch_high"] - overall["margin_switch_low"] > 0.3


def test_switch_input_errors(tmp_path, shared_data):
    bad = dict(ROWS[0], contrast_answer="Dhaka")
    with pytest.raises(EvaluationError, match=r"row 0: target and contrast must differ"):
        load_switch_items(_write([bad], tmp_path / "same.parquet"))
    with pytest.raises(EvaluationError, match=r"missing column\(s\) \['contrast_answer'\]"):
        load_switch_items(
            _write([{k: v for k, v in ROWS[0].items() if k != "contrast_answer"}], tmp_path / "m.parquet")
        )
    real = load_switch_items(shared_data / "qa" / "localnewsqa_gold_20260516.parquet")
    assert len(real) == 1700
    assert len({(i.target_country, i.contrast_country) for i in real}) == 17
