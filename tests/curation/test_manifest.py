"""The manifest fingerprints exactly the files the readers read, nothing beside them."""

from __future__ import annotations

import json
import os

import pytest

from geocorpus.config import parse_config
from geocorpus.finalize.manifest import fingerprint_inputs, input_files
from geocorpus.readers import build_reader_steps


def _write_jsonl(path, n, tag):
    rows = [
        {"url": f"https://www.thehindu.com/news/{tag}-{i}.ece", "text": f"{tag} story {i} " * 20, "country": "in"}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def input_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _write_jsonl(folder / "a.jsonl", 3, "a")
    (folder / "README.md").write_text("# notes about this data\n")
    (folder / "notes.csv").write_text("col\n1\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _write_jsonl(elsewhere / "b.jsonl", 2, "b")
    (elsewhere / "more_notes.csv").write_text("x\n")
    os.symlink(elsewhere, folder / "linked")
    return folder


def _config(tmp_path, folder):
    return parse_config(
        {"output": str(tmp_path / "out"), "inputs": [{"name": "news", "format": "jsonl", "path": str(folder)}]}
    )


def test_manifest_lists_exactly_the_files_the_reader_reads(tmp_path, input_folder):
    config = _config(tmp_path, input_folder)
    listed = [path for _, path in input_files(config)]
    reader = build_reader_steps(config.inputs[0])[0]
    read_files = sorted({doc.metadata["source_file"] for doc in reader.run(None, 0, 1)})
    # datatrove's listing does not descend into symlinked folders: neither read nor fingerprinted
    assert sorted(os.path.basename(p) for p in listed) == ["a.jsonl"]
    assert sorted(os.path.relpath(p, input_folder) for p in listed) == read_files
    records = fingerprint_inputs(config)
    assert [r["input"] for r in records] == ["news"]
    assert all(r["bytes"] > 0 and len(r["xxh64"]) == 16 for r in records)
    assert not any(r["file"].endswith((".md", ".csv")) for r in records)


def test_single_file_input_is_fingerprinted_alone(tmp_path, input_folder):
    config = _config(tmp_path, input_folder / "a.jsonl")
    records = fingerprint_inputs(config)
    assert [os.path.basename(r["file"]) for r in records] == ["a.jsonl"]
    assert records[0]["bytes"] == (input_folder / "a.jsonl").stat().st_size
