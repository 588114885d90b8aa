"""Exact resume: after restoring a saved stream state, the next batches equal an uninterrupted run's."""

from __future__ import annotations

import json

import pytest
import torch
from support.tagged_corpus import synthetic_rows, write_tagged_corpus

from trainer_plugin.dataset import PackedDataset
from trainer_plugin.loader import ResumableDataLoader
from trainer_plugin.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir):
    return load_tokenizer(tiny_tokenizer_dir)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rows = synthetic_rows(docs_per_country=12, words_per_doc=40)
    return write_tagged_corpus(rows, tmp_path_factory.mktemp("resume"), shards=3, row_group_size=9)


def make_dataset(corpus, tokenizer, **kwargs):
    # two epochs and a cooldown: the resumed stream must also cross the epoch and the switch
    return PackedDataset(
        corpus,
        tokenizer,
        condition="cooldown",
        seq_len=96,
        seed=7,
        shuffle_buffer=32,
        epochs=2,
        tokenize_batch=16,
        cooldown_after_sequences=60,
        **kwargs,
    )


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("stop_after", [5, 37])
def test_resumed_stream_continues_with_identical_token_ids(corpus, tokenizer, num_workers, stop_after):
    reference = [
        b["input_ids"] for b in ResumableDataLoader(make_dataset(corpus, tokenizer), 4, num_workers=num_workers)
    ]
    assert len(reference) > stop_after + 10

    first = make_dataset(corpus, tokenizer)
    loader = ResumableDataLoader(first, 4, num_workers=num_workers)
    taken = []
    for batch in loader:
        taken.append(batch["input_ids"])
        if len(taken) == stop_after:
            state = json.loads(json.dumps(loader.state_dict()))  # as written into a checkpoint
            break
    del loader  # the interrupted run's workers go away

    resumed = make_dataset(corpus, tokenizer)
    resumed.load_state_dict(state)
    rest = [b["input_ids"] for b in ResumableDataLoader(resumed, 4, num_workers=num_workers)]
    assert len(taken) + len(rest) == len(reference)
    for step, (got, want) in enumerate(zip(taken + rest, reference)):
        assert torch.equal(got, want), f"batch {step} differs after resuming at {stop_after}"


def test_resume_with_another_worker_count_or_seed_is_refused(corpus, tokenizer):
    loader = ResumableDataLoader(make_dataset(corpus, tokenizer), 4, num_workers=0)
    next(iter(loader))
    state = loader.state_dict()
    other = make_dataset(corpus, tokenizer)
    other.load_state_dict(state)
    with pytest.raises(Exception, match="num_workers=0 with num_workers=2"):
        next(iter(ResumableDataLoader(other, 4, num_workers=2)))
    with pytest.raises(ValueError, match="seed=7 but this run has seed=8"):
        PackedDataset(corpus, tokenizer, seed=8).load_state_dict(state)
