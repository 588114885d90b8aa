"""Where the real external data lives: ``$GEOCORPUS_SHARED`` or ``../shared/data`` beside the repo.

Tests, benchmarks and the bundled default sample read real data through this one function, so a
user (or CI) can point it elsewhere without editing code.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """The shared data folder, or None when it is not present."""
    env = os.environ.get("GEOCORPUS_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return None
