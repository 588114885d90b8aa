"""The MCQ answer key, checked against the file's own ``correct_answer`` text on the real 800 questions.

A test that trains a model on the loader's answers and then finds the model agrees with the loader
cannot see a loader whose answer index is off by one. Here the file is read independently (plain
``json``) and every loaded answer index must name the option whose text is ``correct_answer``; the
scorer's correctness must follow that text through the protocol's option shuffle.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from trainer_plugin.evaluation.mcq import score_mcq
from trainer_plugin.evaluation.protocols import Protocol
from trainer_plugin.evaluation.qa_data import load_mcq
from trainer_plugin.evaluation.scoring import ScoringSettings


@pytest.fixture(scope="module")
def mcq_file(shared_data) -> Path:
    return shared_data / "qa" / "localized_news_mcq_800.jsonl"


@pytest.fixture(scope="module")
def file_rows(mcq_file) -> list[dict]:
    return [json.loads(line) for line in mcq_file.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_loaded_answer_names_the_files_correct_answer_text(mcq_file, file_rows):
    items = load_mcq(mcq_file)
    assert len(items) == len(file_rows) == 800
    positions = Counter()
    for item, row in zip(items, file_rows):
        assert item.question == row["question"]
        assert item.options == tuple(row["options"])
        assert item.options[item.answer] == row["correct_answer"], item.id
        positions[item.answer] += 1
    # the file puts most answers first: the check above means something only because some are not
    assert positions[0] < 800 and sum(n for p, n in positions.items() if p > 0) >= 10
    assert Counter(item.continent for item in items) == {"Africa": 200, "America": 200, "Asia": 200, "Europe": 200}


@pytest.mark.parametrize("name", ["paper", "cloze"])
def test_scored_correctness_follows_the_answer_text_through_the_option_shuffle(
    name, mcq_file, file_rows, tiny_llama_dir, tiny_tokenizer_dir
):
    from transformers import AutoModelForCausalLM

    from trainer_plugin.tokenizer import load_tokenizer

    # the 20 questions whose answer is not the first option, and 20 whose answer is
    items = load_mcq(mcq_file)
    chosen = [i for i in items if i.answer > 0][:20] + [i for i in items if i.answer == 0][:20]
    correct_text = {f"{mcq_file.stem}-{n}": row["correct_answer"] for n, row in enumerate(file_rows)}
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    protocol = Protocol(name=name)
    table = score_mcq(model, tokenizer, chosen, protocol, ScoringSettings(batch_size=16))
    assert table.height == len(chosen)
    shuffled = 0
    for item, row in zip(chosen, table.iter_rows(named=True)):
        text = correct_text[item.id]
        assert item.options[row["answer"]] == text
        order = row["order"]
        assert sorted(order) == list(range(len(item.options)))
        assert [item.options[i] for i in order][row["answer_position"]] == text  # shown position of the answer
        shuffled += order != list(range(len(item.options)))
        picked = int(np.argmax(row["loglik"]))  # raw log-likelihood, back in original option order
        assert row["pred_acc"] == picked
        assert row["acc"] == float(item.options[picked] == text)
        assert row["first_option"] == float(row["answer_position"] == 0)
    if protocol.shuffle_seed is not None:
        assert shuffled > len(chosen) // 2, "the protocol's option shuffle did not reorder the options"
