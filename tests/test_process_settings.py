"""Process-wide settings the ``geocorpus`` launcher makes before anything else loads (issue 11: memory).

polars' allocator keeps freed pages for up to a second by default; finalize_select's sorts and joins run back to
back, so the process held every step's scratch at once (~510 bytes per document at 1M rows, ~320 with the
pages returned at once). The launcher sets polars' allocator option unless the user set it, and the
option must still take effect with the installed polars (a renamed variable would silently do nothing).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipelines.entry import POLARS_ALLOCATOR

REPO = Path(__file__).resolve().parents[1]
VARIABLE, VALUE = POLARS_ALLOCATOR

_LAUNCH = f"""
import os, sys
from pipelines.entry import main
sys.argv = ["geocorpus", "--version"]
try:
    main()
except SystemExit:
    pass
print(os.environ.get({VARIABLE!r}))
"""

_RELEASE = """
import time, psutil, numpy as np, polars as pl
p = psutil.Process()
base = p.memory_info().rss
frame = pl.DataFrame({"x": np.arange(30_000_000, dtype=np.int64)}).with_columns((pl.col("x") * 3).alias("y"))
frame = frame.sort("y", descending=True)
high = p.memory_info().rss
del frame
time.sleep(0.5)
print(high - base, p.memory_info().rss - base)
"""


def _run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_the_launcher_sets_the_allocator_option_unless_the_user_did():
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    # polars puts its own defaults in front when it loads; the allocator reads options left to right
    assert _run(_LAUNCH, env).endswith(VALUE)
    kept = _run(_LAUNCH, env | {VARIABLE: "dirty_decay_ms:5000"})
    assert kept.endswith("dirty_decay_ms:5000") and VALUE not in kept


def test_with_the_option_polars_returns_freed_memory_at_once():
    env = {k: v for k, v in os.environ.items() if k != VARIABLE} | {VARIABLE: VALUE}
    grew, left = map(int, _run(_RELEASE, env).split())
    assert grew > 300 << 20  # the frame and its sorted copy really took memory
    assert left < grew / 4, f"{left >> 20} MB of {grew >> 20} MB still held after the frame was dropped"
