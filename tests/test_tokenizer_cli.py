"""`geocorpus tokenizer` trains a BPE on a curated corpus that transformers loads back offline."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from geocorpus.cli import app
from geocorpus.schema import CORPUS_SCHEMA


def _shard(path: Path) -> None:
    rows = []
    for i, (country, continent) in enumerate([("IN", "Asia"), ("KE", "Africa"), ("GB", "Europe")] * 20):
        row = {name: None for name in CORPUS_SCHEMA.names}
        row.update(
            id=str(i), text=f"Parliament debated the budget in {country} on day {i}.", title=f"Budget {i}",
            url_normalized=f"https://news.example.com/{country.lower()}/{i}", country=country,
            continent=continent, split="train" if i % 5 else "eval",
        )
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows, schema=CORPUS_SCHEMA), path)


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
