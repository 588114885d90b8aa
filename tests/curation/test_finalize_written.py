"""Finalize deletes and overwrites only files it wrote itself, as recorded before each was created."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from support.finalize_inputs import finalize_config, run_finalize_tasks, unique_fundus_rows, write_tagged_shards

from geocorpus.finalize import finalize_files
from geocorpus.finalize.stage import report_task, write_task
from geocorpus.finalize.written import ForeignFileError, WrittenFiles


@pytest.fixture(scope="module")
def tagged_rows(shared_data) -> list[dict]:
    return unique_fundus_rows(shared_data)


def test_a_retry_deletes_what_its_earlier_attempt_wrote_and_nothing_else(tmp_path):
    record = tmp_path / "records" / "task-00000.txt"
    first = WrittenFiles(tmp_path, record)
    first.reset()
    ours = first.claim(tmp_path / "data" / "a.parquet")
    ours.write_bytes(b"partial")
    replaced = first.claim(tmp_path / "data" / "b.parquet")
    replaced.write_bytes(b"finished")
    first.seal()
    replaced.unlink()  # a user put their own file where ours was (the inode number may well be reused)
    replaced.write_bytes(b"the user's")
    users = tmp_path / "data" / "c.parquet"
    users.write_bytes(b"the user's too")

    retry = WrittenFiles(tmp_path, record)
    assert retry.reset() == [ours]
    assert not ours.exists() and replaced.read_bytes() == b"the user's" and users.read_bytes() == b"the user's too"
    assert retry.claim(ours) == ours  # free again: ours to write
    for foreign in (replaced, users):
        with pytest.raises(ForeignFileError, match=f"{foreign.name} already exists and was not written by"):
            retry.claim(foreign)
    with pytest.raises(ValueError, match="only writes inside the run folder"):
        retry.claim(tmp_path.parent / "elsewhere.parquet")
    assert retry.listed() == [ours]


def test_finalize_never_deletes_or_overwrites_a_users_file(tagged_rows, tmp_path):
    tagged = write_tagged_shards(tagged_rows, tmp_path / "tagged", 2)
    config = finalize_config(tmp_path / "out", tmp_path, 2)
    run_finalize_tasks(config, tagged)
    data = tmp_path / "out" / "data"
    original = (data / "train-00001.parquet").read_bytes()

    # a retry of a write task whose shard a user has since replaced refuses instead of deleting it
    shard = data / "train-00001.parquet"
    shard.unlink()
    shard.write_bytes(b"the user's own train-00001")
    with pytest.raises(ForeignFileError, match="train-00001.parquet already exists"):
        write_task(config, 1, 2)
    assert shard.read_bytes() == b"the user's own train-00001"
    assert (data / "train-00000.parquet").exists()  # rank 0's files are not rank 1's to touch
    shard.rename(tmp_path / "moved-away.parquet")  # the user moves it away; the retry then works
    write_task(config, 1, 2)
    assert shard.read_bytes() == original

    # a user's file beside the shards is neither deleted, nor counted, nor read
    stray = data / "notes.parquet"
    stray.write_bytes(b"a user's file in data/")
    counts = config.layout.counts
    counts.mkdir(parents=True)
    (counts / "in-00000.json").write_text(json.dumps({"input": "in", "documents": len(tagged_rows)}))
    report = report_task(config)
    assert report["reconcile"]["ok"], report["reconcile"]
    assert report["reconcile"]["kept"] == sum(pq.ParquetFile(p).metadata.num_rows for p in data.glob("*-0*.parquet"))
    assert stray.read_bytes() == b"a user's file in data/"
    written = set(finalize_files(config.layout))
    assert {p for p in data.iterdir() if p != stray} <= written and stray not in written
    assert not any(p.exists() for p in written if p.parent.name == "scatter" and p.suffix == ".arrow")
