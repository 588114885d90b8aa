"""Under CI=true a missing real-data folder fails the run instead of silently skipping tests."""

from __future__ import annotations

import os
import subprocess
import sys

from geocorpus.paths import REPO_ROOT

PROBE = """
def test_needs_data(shared_data):
    assert shared_data.is_dir()
"""


def _run(folder, ci: str | None) -> subprocess.CompletedProcess:
    folder.mkdir()
    (folder / "test_probe.py").write_text(PROBE)
    (folder / "conftest.py").write_text((REPO_ROOT / "tests" / "conftest.py").read_text())
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["GEOCORPUS_SHARED"] = str(folder / "missing")
    if ci is not None:
        env["CI"] = ci
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(folder)]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_missing_shared_data_fails_under_ci(tmp_path):
    result = _run(tmp_path / "ci", "true")
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout and "must run, not skip" in result.stdout


def test_missing_shared_data_skips_on_a_developer_machine(tmp_path):
    result = _run(tmp_path / "dev", None)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout and "is not present" in result.stdout
