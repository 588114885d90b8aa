"""Pre-tokenized shards: one tokenization serves every condition with exactly the on-the-fly stream
(ids, labels, positions), with the same sharding, filters, cooldown and exact resume."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from support.tagged_corpus import fundus_rows, write_tagged_corpus
from typer.testing import CliRunner

from pipelines.cli import app
from trainer_plugin.conditions import load_condition
from trainer_plugin.dataset import PackedDataset
from trainer_plugin.loader import ResumableDataLoader
from trainer_plugin.shards import CorpusError
from trainer_plugin.tokenized import MANIFEST, TokenStore, tokenize_corpus
from trainer_plugin.tokenizer import load_tokenizer, train_bpe_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir):
    return load_tokenizer(tiny_tokenizer_dir)


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    """Real fundus articles (texts cut to keep the test fast), two shards of uneven row groups; a third
    of them without a date, so the YEAR line is sometimes left out."""
    rows = [
        dict(r, text=r["text"][:1500], split="train", date=None if i % 3 == 0 else f"{2010 + i % 12}-05-01")
        for i, r in enumerate(fundus_rows(shared_data))
    ]
    return write_tagged_corpus(rows, tmp_path_factory.mktemp("corpus"), shards=2, row_group_size=17)


@pytest.fixture(scope="module")
def store(corpus, tokenizer, tmp_path_factory):
    out = tmp_path_factory.mktemp("tokens") / "store"
    tokenize_corpus(corpus, tokenizer, out, batch=40)
    return out


def stream(source, tokenizer, condition, **kwargs):
    settings = {"seq_len": 128, "seed": 4, "shuffle_buffer": 50, "tokenize_batch": 16, **kwargs}
    dataset = PackedDataset(source, tokenizer, condition, **settings)
    return dataset, list(dataset)


@pytest.mark.parametrize(
    "condition",
    [
        "url_country_continent",
        "meco",  # BOS, masked metadata
        "domain_only",
        "url_raw",
        "url_country_continent_year",  # an optional line
        "none",
        {"name": "regional", "include_regions": ["Europe"]},
        {"name": "url_country", "mask_metadata": True},
    ],
)
def test_the_token_store_gives_exactly_the_on_the_fly_stream(corpus, store, tokenizer, condition):
    text_ds, from_text = stream(corpus, tokenizer, condition, epochs=1)
    token_ds, from_tokens = stream(store, tokenizer, condition, epochs=1)
    assert token_ds.num_documents == text_ds.num_documents > 0
    assert len(from_tokens) == len(from_text) > 10
    for a, b in zip(from_text, from_tokens):
        for key in ("input_ids", "labels", "position_ids"):
            np.testing.assert_array_equal(a[key], b[key])


def test_cooldown_hash_ranges_and_ranks_work_on_tokens(corpus, store, tokenizer):
    for kwargs in (
        {"cooldown_after_sequences": 20, "condition": "cooldown"},
        {"hash_range": [0.2, 0.7], "condition": "url_country_continent"},
        {"rank": 1, "world_size": 3, "condition": "url_country_continent"},
    ):
        condition = kwargs.pop("condition")
        _, from_text = stream(corpus, tokenizer, condition, epochs=1, **kwargs)
        _, from_tokens = stream(store, tokenizer, condition, epochs=1, **kwargs)
        assert [s["input_ids"].tolist() for s in from_text] == [s["input_ids"].tolist() for s in from_tokens]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_exact_resume_from_tokens(store, tokenizer, num_workers):
    def dataset():
        return PackedDataset(store, tokenizer, "meco", seq_len=96, seed=2, epochs=2, cooldown_after_sequences=40)

    reference = [b["input_ids"] for b in ResumableDataLoader(dataset(), 4, num_workers=num_workers)]
    loader = ResumableDataLoader(dataset(), 4, num_workers=num_workers)
    taken = []
    for batch in loader:
        taken.append(batch["input_ids"])
        if len(taken) == 13:
            state = json.loads(json.dumps(loader.state_dict()))
            break
    del loader
    resumed = dataset()
    resumed.load_state_dict(state)
    rest = [b["input_ids"] for b in ResumableDataLoader(resumed, 4, num_workers=num_workers)]
    assert len(taken) + len(rest) == len(reference)
    assert all(torch.equal(a, b) for a, b in zip(taken + rest, reference))


def test_store_layout_keeps_line_spans_apart(corpus, store, tokenizer):
    manifest = json.loads((store / MANIFEST).read_text())
    assert manifest["documents"] == sum(pq.ParquetFile(f).metadata.num_rows for f in corpus.glob("train-*.parquet"))
    assert (
        manifest["dtype"] == "uint16"
        and manifest["separator_ids"] == tokenizer("\n", add_special_tokens=False)["input_ids"]
    )
    index = pq.read_table(store / manifest["shards"][0]["index"]).to_pylist()
    tokens = np.fromfile(store / manifest["shards"][0]["tokens"], dtype=np.uint16)
    row = index[0]
    country_line = tokens[row["country_start"] : row["country_start"] + row["country_len"]]
    assert tokenizer.decode(country_line.tolist()) == f"COUNTRY: {row['country'].lower()}\n"
    assert tokenizer.decode(tokens[row["body_start"] : row["body_start"] + 3].tolist()).startswith("TITLE")
    undated = [r for r in index if r["year_start"] is None]
    assert undated and all(r["year_len"] is None for r in undated)  # no date: no YEAR span


def test_a_store_of_another_tokenizer_or_an_unfinished_one_is_refused(corpus, store, tmp_path):
    other = load_tokenizer(train_bpe_tokenizer(["quite other text " * 50], tmp_path / "other", vocab_size=300))
    with pytest.raises(CorpusError, match="was tokenized with another tokenizer"):
        PackedDataset(store, other)
    with pytest.raises(CorpusError, match="no tokenized.json; not a finished"):
        TokenStore(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's file")
    with pytest.raises(CorpusError, match=r"holds files geocorpus tokenize did not write \(\['notes.txt'\]\)"):
        tokenize_corpus(corpus, other, mine)
    assert (mine / "notes.txt").read_text() == "a user's file"


def test_tokenize_command_and_training_from_the_store(corpus, tiny_tokenizer_dir, tmp_path, one_thread):
    from trainer_plugin.train import train

    out = tmp_path / "tokens"
    result = CliRunner().invoke(
        app, ["tokenize", str(corpus), "--tokenizer", str(tiny_tokenizer_dir), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "tokenized:" in result.output and (out / MANIFEST).is_file()
    again = CliRunner().invoke(
        app, ["tokenize", str(corpus), "--tokenizer", str(tiny_tokenizer_dir), "--out", str(out)]
    )
    assert again.exit_code == 0  # its own output may be rewritten
    summary = train(
        {
            "output_dir": str(tmp_path / "run"),
            "tokenizer": str(tiny_tokenizer_dir),
            "data": {"train": str(out), "seq_len": 64},
            "condition": load_condition("meco").name,
            "model": {"hidden_size": 32, "num_layers": 1, "num_heads": 4},
            "training": {"max_steps": 3, "per_device_batch_size": 2, "save_steps": 3},
        }
    )
    assert summary["global_step"] == 3
    state = json.loads((tmp_path / "run" / "checkpoint-3" / "dataset_state.json").read_text())
    assert state["signature"]["corpus"][0]["tokenized"] is True
