"""Empty inputs end, with nothing: a reader with no records must finish, never spin.

A reader loop that waits for a first record forever hangs its test instead of failing it; the
per-test timeout (pytest-timeout, ``timeout`` in pyproject) turns such a hang into a failure, and the
short timeouts here make it a quick one. Covered: every curation input format over an empty file, a
folder without matching files (refused at config time), and training readers whose share of the corpus
is empty (more dataloader workers than documents, repeating forever).
"""

from __future__ import annotations

import gzip
import json
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.tagged_corpus import synthetic_rows, write_tagged_corpus

from geocorpus.config import ConfigError, parse_config
from pipelines.curate import tag_stage_steps


def _empty_inputs(folder: Path) -> dict[str, dict]:
    """One empty file per input format (and empty compressed members), as config input specs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.jsonl").write_bytes(b"")
    (folder / "blank_lines.jsonl").write_text("\n\n  \n")
    with gzip.open(folder / "empty.jsonl.gz", "wb"):
        pass
    (folder / "empty.csv").write_bytes(b"")
    (folder / "header_only.tsv").write_text("url\ttext\ttitle\n")
    pq.write_table(
        pa.table({"url": pa.array([], pa.string()), "text": pa.array([], pa.string())}), folder / "empty.parquet"
    )
    (folder / "empty.warc").write_bytes(b"")
    (folder / "now" / "text").mkdir(parents=True)
    (folder / "now" / "sources").mkdir()
    (folder / "now" / "text" / "20-01-us.txt").write_bytes(b"")
    (folder / "now" / "sources" / "2020-sources.txt").write_text(
        "textID\t#words\tdate\tcountry\twebsite\turl\ttitle\n"
    )
    specs = {
        "jsonl": ("jsonl", "empty.jsonl"),
        "jsonl_blank": ("jsonl", "blank_lines.jsonl"),
        "jsonl_gz": ("jsonl", "empty.jsonl.gz"),
        "csv": ("csv", "empty.csv"),
        "tsv_header": ("tsv", "header_only.tsv"),
        "parquet": ("parquet", "empty.parquet"),
        "warc": ("warc", "empty.warc"),
        "now": ("now", "now"),
    }
    return {name: {"name": name, "format": fmt, "path": str(folder / path)} for name, (fmt, path) in specs.items()}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["jsonl", "jsonl_blank", "jsonl_gz", "csv", "tsv_header", "parquet", "warc", "now"])
def test_a_reader_over_an_empty_file_finishes_with_no_documents(tmp_path, name):
    spec = _empty_inputs(tmp_path / "in")[name]
    config = parse_config({"output": str(tmp_path / "out"), "inputs": [spec], "filters": {"language": None}})
    data = None
    for step in tag_stage_steps(config):
        data = step(data, rank=0, world_size=1)
    assert list(data or ()) == []
    counts = [json.loads(p.read_text()) for p in config.layout.counts.glob("*.json")]
    assert [c["documents"] for c in counts] == [0], counts
    assert not list(config.layout.exclusions.rglob("*.parquet")), "an empty input excluded something"


def test_a_folder_without_input_files_is_refused_before_the_run(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("not an input")
    raw = {
        "output": str(tmp_path / "out"),
        "inputs": [{"name": "news", "format": "jsonl", "path": str(tmp_path / "in")}],
    }
    with pytest.raises(ConfigError, match=r"inputs\[0\].*no files match '\*\*/\*\.jsonl\*'"):
        parse_config(raw)


@pytest.mark.timeout(60)
def test_training_readers_with_an_empty_share_end_instead_of_spinning(tmp_path, tiny_tokenizer_dir):
    """Two documents, four dataloader workers, endless epochs: two workers have nothing to read."""
    from trainer_plugin.dataset import PackedDataset
    from trainer_plugin.loader import ResumableDataLoader
    from trainer_plugin.tokenizer import load_tokenizer

    corpus = write_tagged_corpus(
        synthetic_rows(countries=["KE"], docs_per_country=2, words_per_doc=40), tmp_path, shards=1
    )
    dataset = PackedDataset(corpus, load_tokenizer(tiny_tokenizer_dir), seq_len=16, epochs=None, shuffle_buffer=1)
    loader = ResumableDataLoader(dataset, batch_size=1, num_workers=4)
    batches = list(islice(iter(loader), 12))  # the two workers with a share repeat it forever
    assert len(batches) == 12
    shares = [len(list(dataset.documents(epoch=0, worker=w, num_workers=4))) for w in range(4)]
    assert sorted(shares) == [0, 0, 1, 1], "the test needs workers with an empty share"
