"""Exact resume: after restoring a saved stream state, the next batches equal an uninterrupted run's."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from support.tagged_corpus import synthetic_rows, write_tagged_corpus

from trainer_plugin.dataset import PackedDataset, ResumeError
from trainer_plugin.loader import ResumableDataLoader
from trainer_plugin.tokenizer import load_tokenizer, train_bpe_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir):
    return load_tokenizer(tiny_tokenizer_dir)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rows = synthetic_rows(docs_per_country=12, words_per_doc=40)
    return write_tagged_corpus(rows, tmp_path_factory.mktemp("resume"), shards=3, row_group_size=9)


def make_dataset(corpus, tokenizer, **kwargs):
    # two epochs and a cooldown: the resumed stream must also cross the epoch and the switch
    settings = {
        "condition": "cooldown",
        "seq_len": 96,
        "seed": 7,
        "shuffle_buffer": 32,
        "epochs": 2,
        "tokenize_batch": 16,
        "cooldown_after_sequences": 60,
        **kwargs,
    }
    return PackedDataset(corpus, tokenizer, **settings)


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
    with pytest.raises(ResumeError, match=r"saved with num_workers=0 \(data.num_workers\), this run has 2"):
        ResumableDataLoader(other, 4, num_workers=2)  # refused when the loader is built, not mid-training
    with pytest.raises(ResumeError, match="seed 7 -> 8"):
        PackedDataset(corpus, tokenizer, seed=8, condition="cooldown", seq_len=96, shuffle_buffer=32).load_state_dict(
            state
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seq_len": 384}, r"seq_len 96 -> 384 \(positions count sequences of the old length: resuming would skip 4x"),
        (
            {"seq_len": 48},
            r"seq_len 96 -> 48 \(.*resuming would restart at 0.5x the tokens trained on and repeat the rest",
        ),
        ({"condition": "url_country_continent"}, r"condition changed \(other prefixes.*cooldown_fraction 0.9 -> None"),
        ({"world_size": 2, "rank": 0}, "world_size 1 -> 2"),
        ({"document_isolation": False}, "document_isolation True -> False"),
        ({"hash_range": [0.0, 0.5]}, r"hash_range None -> \[0.0, 0.5\]"),
    ],
)
def test_a_resume_onto_another_stream_is_refused_with_the_reason(corpus, tokenizer, change, message):
    loader = ResumableDataLoader(make_dataset(corpus, tokenizer), 4)
    next(iter(loader))
    state = json.loads(json.dumps(loader.state_dict()))
    with pytest.raises(ResumeError, match=message):
        make_dataset(corpus, tokenizer, **change).load_state_dict(state)


def test_a_changed_corpus_or_tokenizer_is_refused(tmp_path, tokenizer, tiny_tokenizer_dir):
    rows = synthetic_rows(countries=["IN", "KE"], docs_per_country=6, words_per_doc=40)
    data = write_tagged_corpus(rows, tmp_path / "a", shards=1)
    loader = ResumableDataLoader(make_dataset(data, tokenizer), 4)
    next(iter(loader))
    state = json.loads(json.dumps(loader.state_dict()))
    moved = tmp_path / "moved"
    shutil.copytree(data.parent, moved)
    make_dataset(moved / "data", tokenizer).load_state_dict(state)  # the same files elsewhere: fine
    write_tagged_corpus(rows + synthetic_rows(countries=["GB"], docs_per_country=1), tmp_path / "a", shards=1)
    with pytest.raises(ResumeError, match=r"corpus changed \(other files or contents\)"):
        make_dataset(data, tokenizer).load_state_dict(state)
    other = load_tokenizer(train_bpe_tokenizer(["other words entirely " * 40], tmp_path / "tok", vocab_size=300))
    with pytest.raises(ResumeError, match=r"tokenizer \w+ -> \w+ \(other token ids and lengths\)"):
        make_dataset(moved / "data", other).load_state_dict(state)
