"""Localized MCQ: the option a model was taught scores highest; bad QA files fail clearly."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from support.tiny_models import train_on_texts

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.mcq import accuracy_table, option_pairs, score_mcq
from trainer_plugin.evaluation.qa_data import load_mcq
from trainer_plugin.evaluation.question_metadata import QuestionMetadata
from trainer_plugin.evaluation.runtime import load_causal_lm
from trainer_plugin.evaluation.scoring import encode


@pytest.fixture(scope="module")
def real_items(shared_data):
    items = load_mcq(shared_data / "qa" / "localized_news_mcq_800.jsonl")
    # two questions from each continent, so the per-continent table has every row
    picked, per_continent = [], {}
    for item in items:
        if per_continent.get(item.continent, 0) < 2:
            per_continent[item.continent] = per_continent.get(item.continent, 0) + 1
            picked.append(item)
    return picked


@pytest.fixture(scope="module")
def taught_model(real_items, tiny_llama_dir, tmp_path_factory):
    """The tiny model after a few steps on the *correct* answer of each picked question."""
    folder = tmp_path_factory.mktemp("taught")
    shutil.copytree(tiny_llama_dir, folder, dirs_exist_ok=True)
    texts = [c + t for item in real_items for c, t in [option_pairs(item.question, item.options, "")[item.answer]]]
    train_on_texts(folder, texts, steps=60)
    return load_causal_lm(folder, device="cpu")


def test_real_mcq_file_is_read_with_iso_countries(shared_data):
    items = load_mcq(shared_data / "qa" / "localized_news_mcq_800.jsonl")
    assert len(items) == 800
    assert {i.continent for i in items} == {"Africa", "America", "Asia", "Europe"}
    assert sum(i.country == "US" for i in items) == 68  # "United States" and "USA" rows together
    assert all(i.options[i.answer] for i in items)
    explicit = load_mcq(shared_data / "qa" / "localnewsqa_gold_20260516.parquet", "explicit", limit=50)
    assert len(explicit) == 50 and all(len(i.options) == 4 for i in explicit)


def test_taught_answers_win_and_match_independent_scoring(taught_model, real_items):
    model, tokenizer = taught_model
    per_question = score_mcq(model, tokenizer, real_items)
    assert per_question["acc"].to_list() == [1.0] * len(real_items)
    # independent check of one question's option log-likelihoods with plain forward passes
    item = real_items[0]
    reference = []
    for context, option in option_pairs(item.question, item.options, ""):
        ids = [tokenizer.bos_token_id] + encode(tokenizer, context) + encode(tokenizer, option)
        n = len(encode(tokenizer, option))
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, :-1].double(), -1)
        reference.append(float(logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])][-n:].sum()))
    np.testing.assert_allclose(per_question["loglik"][0].to_list(), reference, rtol=1e-5)
    table = accuracy_table(per_question, n_boot=100)
    assert table.filter(table["level"] == "all")["acc"][0] == 1.0
    assert set(table.filter(table["level"] == "continent")["region"]) == {"Africa", "America", "Asia", "Europe"}


def test_metadata_prefix_changes_scores_but_not_items(taught_model, real_items):
    model, tokenizer = taught_model
    plain = score_mcq(model, tokenizer, real_items[:2])
    with_meta = score_mcq(model, tokenizer, real_items[:2], QuestionMetadata(fields=("url", "country", "continent")))
    assert plain["id"].to_list() == with_meta["id"].to_list()
    assert plain["loglik"][0].to_list() != with_meta["loglik"][0].to_list()
    prefix = QuestionMetadata(fields=("url", "country", "continent")).prefix("KE", "Africa")
    assert prefix == "URL: https://www.nation.africa/\nCOUNTRY: ke\nCONTINENT: Africa\n\n"
    with pytest.raises(EvaluationError, match=rf"no outlet domain .*\['{real_items[0].country}'\]"):
        score_mcq(model, tokenizer, real_items[:1], QuestionMetadata(fields=("url",), outlets={}))


def test_bad_qa_files_fail_with_file_and_row(tmp_path):
    good = {"question": "q?", "options": ["a", "b"], "correct_answer": "a", "country": "Kenya"}
    cases = {
        "unknown.jsonl": ([good, dict(good, country="Atlantis")], r"unknown\.jsonl row 1: unknown country 'Atlantis'"),
        "answer.jsonl": ([dict(good, correct_answer="c")], r"answer\.jsonl row 0: correct_answer 'c' is not one"),
        "columns.jsonl": ([{"question": "q", "options": ["a", "b"]}], r"columns\.jsonl: missing column"),
        "options.jsonl": ([dict(good, options="a")], r"options\.jsonl row 0: 'options' must be a list"),
    }
    for name, (rows, message) in cases.items():
        path = tmp_path / name
        path.write_text("\n".join(json.dumps(r) for r in rows))
        with pytest.raises(EvaluationError, match=message):
            load_mcq(path)
    with pytest.raises(EvaluationError, match="no 'split_type' column"):
        load_mcq(tmp_path / "answer.jsonl", split_type="explicit")


def test_decision_rules_normalise_by_characters_and_tokens():
    from trainer_plugin.evaluation.mcq import choices

    options = ["Abuja", "Port Harcourt"]  # 5 and 13 characters
    loglik = np.array([-6.0, -10.0])  # raw prefers Abuja; per character (-1.2 vs -0.77) the long one
    picks = choices(loglik, np.array([2, 6]), options)
    assert picks == {"acc": 0, "acc_norm": 1, "acc_norm_tokens": 1}
    assert choices(loglik, np.array([2, 2]), options)["acc_norm_tokens"] == 0  # -3 vs -5 per token
