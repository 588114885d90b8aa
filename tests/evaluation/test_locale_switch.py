"""Locale switching: counts on a constructed case where one question follows the metadata."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.tiny_models import train_on_texts

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.locale_switch import score_locale_switch, switch_table
from trainer_plugin.evaluation.mcq import option_pairs
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
    metadata = QuestionMetadata(fields=("country", "continent"))
    q1, q2 = items

    def taught(item, country, continent, answer):
        context, option = option_pairs(item.question, item.options, metadata.prefix(country, continent))[answer]
        return context + option

    texts = [
        taught(q1, "BD", "Asia", 0),
        taught(q1, "IN", "Asia", 1),
        taught(q2, "GB", "Europe", 2),
        taught(q2, "US", "America", 2),
    ]
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama_dir, folder)
    train_on_texts(folder, texts, steps=150)
    model, tokenizer = load_causal_lm(folder, device="cpu")
    per_question = score_locale_switch(model, tokenizer, items, metadata, rule="raw")
    assert per_question["switched"].to_list() == [1.0, 0.0]
    assert per_question["pred_target_metadata"].to_list() == [0, 2]
    assert per_question["pred_contrast_metadata"].to_list() == [1, 2]
    table = switch_table(per_question, n_boot=100)
    rates = dict(zip(table["pair"], table["switch_rate"]))
    assert rates == {"all": 0.5, "BD->IN": 1.0, "GB->US": 0.0}
    assert dict(zip(table["pair"], table["follows_target"]))["GB->US"] == 1.0


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
