"""Balancing in the target model's tokens: ``balance.tokenizer`` makes ``n_tokens`` count that tokenizer's
tokens (issue 13, item 5), so ``unit: tokens`` caps regions in the tokens training will see."""

from __future__ import annotations

import json

import polars as pl
import pytest
from tokenizers import Tokenizer

from geocorpus.config import ConfigError, parse_config
from pipelines.curate import run_curation
from trainer_plugin.tokenizer import train_bpe_tokenizer

CAP = 3_000


@pytest.fixture(scope="module")
def run(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("balance_tokens")
    articles = [
        json.loads(line) for line in (shared_data / "news/fundus/fundus_articles.jsonl").open(encoding="utf-8")
    ]
    tokenizer_dir = train_bpe_tokenizer([a["text"] for a in articles[:120]], tmp / "tokenizer", vocab_size=2000)
    raw = {
        "name": "tokens",
        "output": str(tmp / "out"),
        "inputs": [
            {
                "name": "fundus",
                "format": "jsonl",
                "path": str(shared_data / "news/fundus/fundus_articles.jsonl"),
                "fields": {"country": "fundus_country_dir", "title": "title"},
            }
        ],
        "filters": {"language": None, "min_words": 5},
        "balance": {"by": "country", "unit": "tokens", "method": "cap", "caps": {"US": CAP, "DE": CAP}},
        "executor": {"type": "local", "tasks": 1, "workers": 1},
    }
    raw["balance"]["tokenizer"] = str(tokenizer_dir)
    report = run_curation(parse_config(raw), show_progress=False)
    return tmp / "out", Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")), report


def test_n_tokens_counts_the_configured_tokenizers_tokens(run):
    out, tokenizer, report = run
    tagged = pl.read_parquet(out / "stages/tagged/*.parquet")
    assert tagged.height > 100
    expected = [len(tokenizer.encode(t, add_special_tokens=False).ids) for t in tagged["text"].to_list()]
    assert tagged["n_tokens"].to_list() == expected
    words = [len(t.split()) for t in tagged["text"].to_list()]
    assert sum(expected) > 1.1 * sum(words)  # a 2,000-token BPE splits words: these are not word counts
    assert report["reconcile"]["ok"]


def test_token_caps_hold_in_the_tokenizers_tokens(run):
    out, tokenizer, _ = run
    data = pl.read_parquet(out / "data/*.parquet")
    train = data.filter(pl.col("split") == "train")
    for country in ("US", "DE"):
        rows = train.filter(pl.col("country") == country)
        tokens = sum(len(tokenizer.encode(t, add_special_tokens=False).ids) for t in rows["text"].to_list())
        assert 0 < tokens <= CAP, (country, tokens)
        assert rows["n_tokens"].sum() == tokens


def test_a_missing_tokenizer_is_a_config_error_naming_the_key(tmp_path):
    raw = {
        "output": str(tmp_path / "out"),
        "inputs": [{"name": "a", "format": "jsonl", "path": __file__}],
        "balance": {"unit": "tokens", "tokenizer": str(tmp_path / "nowhere")},
    }
    with pytest.raises(ConfigError, match=r"balance\.tokenizer: .*nowhere"):
        parse_config(raw)
