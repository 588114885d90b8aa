"""The bundled default config's corpus is pinned: a refactor must not change a single row.

The digest was recorded from the output of the code before the package restructuring (whose Parquet
files were also byte-identical before and after). A change that alters the corpus on purpose updates
the digest in the same commit and says why.
"""

from __future__ import annotations

import hashlib
import json

import pyarrow.parquet as pq
import pytest

from geocorpus.config import load_config
from geocorpus.paths import REPO_ROOT, RunLayout
from pipelines.curate import run_curation

DEFAULT_CORPUS_DIGEST = {
    "train": (83, "b93ecb82a21478687a5bf91bf9a4119db92a1972ca1928db74778c3c95e53d63"),
    "eval": (4, "65961ab3fc1c3e9ab7f090e6dd6ba74f897dc9e2bcf24cd7f79e5e7680367c76"),
}


def corpus_digest(files) -> tuple[int, str]:
    """(rows, sha256 over every row of every file, in order, as canonical JSON)."""
    digest, rows = hashlib.sha256(), 0
    for path in files:
        for row in pq.read_table(path).to_pylist():
            digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8"))
            rows += 1
    return rows, digest.hexdigest()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_default_config_corpus_is_unchanged(shared_data, tmp_path):
    config = load_config(REPO_ROOT / "pipelines" / "configs" / "default.yaml")
    config.output = str(tmp_path / "default")
    report = run_curation(config, show_progress=False)
    assert report["reconcile"]["ok"]
    layout = RunLayout(config.output)
    for split, expected in DEFAULT_CORPUS_DIGEST.items():
        assert corpus_digest(layout.split_files(split)) == expected, split
