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
    "train": (83, "90b805138540c59498b233b5ddc6e356bad53232d27b9fcd5d525b3d44c1b7f5"),
    "eval": (4, "366dc91bab8fc5c3e55724b18ac9023807adefd64020660d4d7c00b131f0bce4"),
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
