"""Writers: data never names files, and the datatrove internals that guarantee it are still there."""

from __future__ import annotations

import inspect

import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.writers.disk_base import DiskWriter

from geocorpus.writers import CorpusWriter, ExclusionWriter


def test_datatrove_private_filename_hook_is_still_the_one_we_override():
    """``_RankOnlyFilename`` overrides DiskWriter._get_output_filename (private API): pyproject pins
    datatrove to the tested minor version; if this fails after an upgrade, re-check writers.py."""
    hook = getattr(DiskWriter, "_get_output_filename", None)
    assert hook is not None, "datatrove no longer has DiskWriter._get_output_filename: writers.py must change"
    assert list(inspect.signature(hook).parameters) == ["self", "document", "rank", "kwargs"]
    assert "_get_output_filename" in inspect.getsource(DiskWriter.write)


def test_metadata_cannot_choose_the_output_file(tmp_path):
    hostile = Document(text="t", id="x", metadata={"rank": "../../escape", "id": "../y", "url": "https://a.com/"})
    with CorpusWriter(str(tmp_path / "corpus")) as writer:
        writer.write(hostile, rank=3)
    with ExclusionWriter(str(tmp_path / "excl"), stage="s") as writer:
        writer.write(hostile, rank=3)
    for folder in ("corpus", "excl"):
        (written,) = [p for p in (tmp_path / folder).rglob("*") if p.is_file()]
        assert written.parent == tmp_path / folder and written.name.endswith("00003.parquet")
    assert not list(tmp_path.parent.rglob("escape*")) and not list(tmp_path.rglob("y.parquet"))
    (shard,) = (tmp_path / "corpus").iterdir()
    assert pq.read_table(shard).column("id").to_pylist() == ["x"]
