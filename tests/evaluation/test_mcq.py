"""Localized MCQ: protocol prompts verbatim, the taught option wins, shuffling defeats a position bias."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from support.tiny_models import train_on_texts

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.mcq import accuracy_table, combined_scores, option_pairs, score_mcq
from trainer_plugin.evaluation.protocols import Protocol, option_order
from trainer_plugin.evaluation.qa_data import load_mcq
from trainer_plugin.evaluation.question_metadata import DEFAULT_OUTLETS, QuestionMetadata
from trainer_plugin.evaluation.runtime import load_causal_lm
from trainer_plugin.evaluation.scoring import ScoringSettings, encode

CLOZE_PLAIN = Protocol(name="cloze", metadata=QuestionMetadata(level="none"), shuffle_seed=None)


@pytest.fixture(scope="module")
def all_items(shared_data):
    return load_mcq(shared_data / "qa" / "localized_news_mcq_800.jsonl")


@pytest.fixture(scope="module")
def real_items(all_items):
    # two questions from each continent, so the per-continent table has every row
    picked, per_continent = [], {}
    for item in all_items:
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


def test_real_mcq_file_is_read_with_iso_countries(all_items, shared_data):
    assert len(all_items) == 800
    assert {i.continent for i in all_items} == {"Africa", "America", "Asia", "Europe"}
    assert sum(i.country == "US" for i in all_items) == 68  # "United States" and "USA" rows together
    assert sum(i.answer == 0 for i in all_items) == 780  # why options are shuffled by default
    explicit = load_mcq(shared_data / "qa" / "localnewsqa_gold_20260516.parquet", "explicit", limit=50)
    assert len(explicit) == 50 and all(len(i.options) == 4 for i in explicit)


def test_each_protocol_renders_the_exact_prompt(all_items):
    item = all_items[0]  # "Who was the President of Nigeria in 2016?", Nigeria, answer listed first
    shown = [item.options[i] for i in option_order(item.key, 4, None)]
    options = "A: Muhammadu Buhari\nB: Goodluck Jonathan\nC: Olusegun Obasanjo\nD: Yemi Osinbajo"
    question = "Question: Who was the President of Nigeria in 2016?\n\nOptions:\n" + options + "\n\n"
    block = (
        "URL: www.globalfactcheck.org/ng\nCOUNTRY: ng\nCONTINENT: Africa\n\nTITLE: Facts about the country ng\n\n"
        "CONTENT:\n"
    )
    paper = Protocol()
    assert paper.context(item.question, shown, "NG", "Africa") == (
        block + question + "Answer with the correct option.\n\nAnswer:\n"
    )
    assert paper.candidates(shown)[:2] == [" Muhammadu Buhari", " Goodluck Jonathan"]
    # the paper's no-metadata variant starts at CONTENT:; its code default has no answer cue (l.75)
    assert Protocol(answer_cue="none").context(item.question, shown, "NG", "Africa", with_metadata=False) == (
        "CONTENT:\n" + question + "Answer with the correct option.\n"
    )
    # the appendix's 1B setting: exact-text instruction and "Final answer:"
    appendix = Protocol(answer_cue="final_answer_colon", exact_option_text=True)
    assert appendix.context(item.question, shown, "NG", "Africa").endswith(
        "D: Yemi Osinbajo\n\nAnswer with the exact text of the correct option.\n\nFinal answer:\n"
    )
    letter = Protocol(name="letter", metadata=QuestionMetadata(level="country"))
    assert letter.context(item.question, shown, "NG", "Africa") == (
        "COUNTRY: ng\n\nTITLE: Facts about the country ng\n\nCONTENT:\n"
        + question
        + "Answer with only the correct option letter (A, B, C, or D).\n\nAnswer:\n"
    )
    assert letter.candidates(shown) == [" A", " B", " C", " D"]
    cloze = Protocol(name="cloze")
    assert cloze.context(item.question, shown, "NG", "Africa") == (
        "URL: www.globalfactcheck.org/ng\nCOUNTRY: ng\nCONTINENT: Africa\n\n"
        "Question: Who was the President of Nigeria in 2016?\nAnswer:"
    )
    assert Protocol(name="cloze", metadata=QuestionMetadata(level="continent")).context(
        item.question, shown, "NG", "Africa"
    ) == ("CONTINENT: Africa\n\nQuestion: Who was the President of Nigeria in 2016?\nAnswer:")
    masked = Protocol(calibration="question_masked_no_metadata").calibration_context(shown, "NG", "Africa")
    assert (
        masked
        == "CONTENT:\nQuestion: N/A\n\nOptions:\n" + options + "\n\nAnswer with the correct option.\n\nAnswer:\n"
    )
    outlet = QuestionMetadata(level="full", outlets=DEFAULT_OUTLETS).prefix("KE", "Africa")
    assert outlet == "URL: https://www.nation.africa/\nCOUNTRY: ke\nCONTINENT: Africa\n\n"
    with pytest.raises(EvaluationError, match="unknown protocol 'mmlu'"):
        Protocol(name="mmlu")


def test_paper_shuffle_moves_the_answer_off_the_first_position(all_items):
    first = [option_order(i.key, len(i.options), 42).index(i.answer) == 0 for i in all_items]
    # 800 fair draws of a 1-in-4 event: a 99.9% binomial interval is about 0.25 +- 0.05
    assert 0.20 < np.mean(first) < 0.30
    assert option_order(all_items[0].key, 4, 42) == option_order(all_items[0].key, 4, 42)  # seeded, stable
    assert len({option_order(i.key, 4, 7) for i in all_items[:50]}) > 10  # orders differ between items


def test_taught_answers_win_and_match_independent_scoring(taught_model, real_items):
    model, tokenizer = taught_model
    per_question = score_mcq(model, tokenizer, real_items, CLOZE_PLAIN)
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
    # shuffled, the picks still name the same (original) options and log-likelihoods keep original order
    shuffled = score_mcq(model, tokenizer, real_items, Protocol(name="cloze", metadata=QuestionMetadata("none")))
    assert shuffled["pred_acc"].to_list() == per_question["pred_acc"].to_list()
    np.testing.assert_allclose(shuffled["loglik"][0].to_list(), reference, rtol=1e-5)
    table = accuracy_table(per_question, n_boot=100, min_n=3)
    assert table.filter(table["level"] == "all")["acc"][0] == 1.0
    assert set(table.filter(table["level"] == "continent")["region"]) == {"Africa", "America", "Asia", "Europe"}
    assert table.filter(table["level"] == "all")["small_n"][0] is False  # 8 questions >= 3
    assert table.filter(table["level"] == "continent")["small_n"].all()  # 2 questions each < 3
    assert table["chance"].to_list() == [0.25] * table.height


def test_shuffling_makes_a_first_option_scorer_land_at_chance(all_items, tiny_llama_dir, tmp_path):
    """A model taught to answer "A" whatever the question: 97.5% on the file's order, chance shuffled."""
    letter = Protocol(name="letter", metadata=QuestionMetadata(level="none"), shuffle_seed=None)
    teach = [letter.context(i.question, i.options, i.country, i.continent) + " A" for i in all_items[300:306]]
    folder = tmp_path / "says_a"
    shutil.copytree(tiny_llama_dir, folder)
    train_on_texts(folder, teach, steps=40)
    model, tokenizer = load_causal_lm(folder, device="cpu")
    items = all_items[::4]  # 200 questions from every country, none of them taught
    settings = ScoringSettings(batch_size=64, max_length=128)
    in_file_order = score_mcq(model, tokenizer, items, letter, settings)
    shuffled = score_mcq(model, tokenizer, items, Protocol(name="letter", metadata=QuestionMetadata("none")), settings)
    for frame in (in_file_order, shuffled):  # the model always picks the first shown option...
        shown_pick = [order.index(p) for order, p in zip(frame["order"].to_list(), frame["pred_acc"].to_list())]
        assert shown_pick == [0] * len(items)
        assert frame["acc"].to_list() == frame["first_option"].to_list()
    assert in_file_order["acc"].mean() == pytest.approx(np.mean([i.answer == 0 for i in items]))
    assert in_file_order["acc"].mean() > 0.9  # ...which the file's order rewards
    assert 0.15 < shuffled["acc"].mean() < 0.35  # ...and shuffling exposes: 200 draws of p = 0.25


def test_metadata_prefix_changes_scores_but_not_items(taught_model, real_items):
    model, tokenizer = taught_model
    plain = score_mcq(model, tokenizer, real_items[:2], CLOZE_PLAIN)
    with_meta = score_mcq(model, tokenizer, real_items[:2], Protocol(name="cloze", shuffle_seed=None))
    assert plain["id"].to_list() == with_meta["id"].to_list()
    assert plain["loglik"][0].to_list() != with_meta["loglik"][0].to_list()
    outlets = Protocol(metadata=QuestionMetadata(level="full", outlets={}))
    with pytest.raises(EvaluationError, match=rf"no outlet domain .*\['{real_items[0].country}'\]"):
        score_mcq(model, tokenizer, real_items[:1], outlets)


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


def test_decision_rules_length_exponent_and_calibration():
    from trainer_plugin.evaluation.mcq import choices

    options = ["Abuja", "Port Harcourt"]  # 5 and 13 characters
    loglik = np.array([-6.0, -10.0])  # raw prefers Abuja; per character (-1.2 vs -0.77) the long one
    picks = choices(loglik, np.array([2, 6]), options)
    assert picks == {"acc": 0, "acc_norm": 1, "acc_norm_tokens": 1}
    assert choices(loglik, np.array([2, 2]), options)["acc_norm_tokens"] == 0  # -3 vs -5 per token
    # n_tokens**alpha: at alpha 0.25 the 6-token option pays 6**0.25 = 1.57 vs 2**0.25 = 1.19
    assert choices(loglik, np.array([2, 6]), options, alpha=0.25)["acc_norm_tokens"] == 0
    assert choices(loglik, np.array([2, 6]), options, alpha=1.25)["acc_norm_tokens"] == 1
    calibrated = Protocol(calibration="question_masked", calibration_beta=0.5)
    scores = combined_scores(
        calibrated, (loglik, np.array([2, 6])), (np.array([-2.0, -12.0]), np.array([2, 6])), np.array([5.0, 13.0])
    )
    np.testing.assert_allclose(scores["acc"], [-6.0 + 1.0, -10.0 + 6.0])  # minus 0.5 x the null score
    np.testing.assert_allclose(scores["acc_norm_tokens"], [-3.0 + 0.5, -10 / 6 + 1.0])
