"""`geocorpus tokenizer` trains a BPE on a curated corpus that transformers loads back offline, and
``load_tokenizer`` (shared by training, evaluation and merging) loads tokenizers offline only."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from geocorpus.schema import CORPUS_SCHEMA
from pipelines.cli import app
from trainer_plugin.tokenizer import TokenizerError, TokenizerNotFoundError, corpus_texts, load_tokenizer


def _shard(path: Path) -> None:
    rows = []
    for i, (country, continent) in enumerate([("IN", "Asia"), ("KE", "Africa"), ("GB", "Europe")] * 20):
        row = dict.fromkeys(CORPUS_SCHEMA.names)
        row.update(
            id=str(i),
            text=f"Parliament debated the budget in {country} on day {i}.",
            title=f"Budget {i}",
            url_normalized=f"https://news.example.com/{country.lower()}/{i}",
            country=country,
            continent=continent,
            split="train" if i % 5 else "eval",
        )
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows, schema=CORPUS_SCHEMA), path)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_tokenizer_command_trains_and_round_trips(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _shard(data / "train-00000.parquet")
    out = tmp_path / "tok"
    result = CliRunner().invoke(app, ["tokenizer", str(data), "--out", str(out), "--vocab-size", "400"])
    assert result.exit_code == 0, result.output
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    text = "URL: https://news.example.com/in/3\nCOUNTRY: in\nCONTINENT: Asia\n\nTITLE: Budget 3"
    assert tok.decode(tok(text)["input_ids"]) == text
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token == "<|pad|>"
    assert 300 < len(tok) <= 400


def test_tokenizer_command_fails_clearly_without_data(tmp_path):
    missing = CliRunner().invoke(app, ["tokenizer", str(tmp_path / "missing"), "--out", str(tmp_path / "t")])
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    (tmp_path / "empty").mkdir()
    empty = CliRunner().invoke(app, ["tokenizer", str(tmp_path / "empty"), "--out", str(tmp_path / "t")])
    assert empty.exit_code == 2 and "no Parquet files" in empty.output


def test_load_tokenizer_is_offline_fast_and_names_what_is_missing(tmp_path, tiny_tokenizer_dir):
    tok = load_tokenizer(tiny_tokenizer_dir)
    assert tok.is_fast and tok.pad_token == "<|pad|>"
    with pytest.raises(TokenizerNotFoundError, match=r"tokenizer folder '.*missing' does not exist") as info:
        load_tokenizer(tmp_path / "missing")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizerNotFoundError, match="empty' folder holds no loadable tokenizer"):
        load_tokenizer(tmp_path / "empty")
    with pytest.raises(
        TokenizerNotFoundError, match="'no-such-org/no-such-model' is neither a local folder nor in the local"
    ):
        load_tokenizer("no-such-org/no-such-model")  # a hub id not in the cache: never downloaded


def test_load_tokenizer_borrows_pad_from_eos_and_training_requires_eos(tmp_path, tiny_tokenizer_dir):
    from transformers import AutoTokenizer

    no_pad = AutoTokenizer.from_pretrained(tiny_tokenizer_dir, local_files_only=True)
    no_pad.pad_token = None
    no_pad.save_pretrained(tmp_path / "no_pad")
    tok = load_tokenizer(tmp_path / "no_pad", require_eos=True)
    assert tok.pad_token == tok.eos_token == "<|endoftext|>"
    no_eos = AutoTokenizer.from_pretrained(tiny_tokenizer_dir, local_files_only=True)
    no_eos.eos_token = None
    no_eos.save_pretrained(tmp_path / "no_eos")
    assert load_tokenizer(tmp_path / "no_eos").eos_token is None  # evaluation can do without
    with pytest.raises(TokenizerError, match="no_eos' has no EOS token"):
        load_tokenizer(tmp_path / "no_eos", require_eos=True)


def test_corpus_texts_reads_a_run_folder_by_its_layout(tmp_path):
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "stages" / "tagged").mkdir(parents=True)
    _shard(run / "data" / "train-00000.parquet")
    _shard(run / "stages" / "tagged" / "00000.parquet")  # work files: never read
    from_root = list(corpus_texts([run]))
    assert from_root == list(corpus_texts([run / "data"])) and len(from_root) == 48  # 60 rows, 12 eval
    with pytest.raises(FileNotFoundError, match="no Parquet files in .*run'"):
        list(corpus_texts([run], split="eval"))  # no data/eval-*.parquet in this run
