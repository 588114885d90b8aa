"""finalize_write's memory does not grow with the corpus (issue 11: bounded memory at any size).

A write task holds one shuffle piece (and its sorted copy) and one output row group, whatever the corpus
size. The same real fundus articles are finalized at two corpus sizes (4 and 16 unique copies) into one
output shard each, the largest job one write task can get, with small pieces and row groups. The write
task then runs alone in a fresh process, which reports the peak of the Arrow memory pool it allocates
from and of Python's allocations (tracemalloc) during the task: both must stay the same at 4x the corpus. A task that reads a
whole scatter file, buffers the shard before writing it, or holds the rows as Python objects fails here.
"""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc
from support.finalize_inputs import finalize_config, unique_fundus_rows, write_tagged_shards

from geocorpus.finalize import shards as shards_module
from geocorpus.finalize.stage import scatter_task, select_task

REPO = Path(__file__).resolve().parents[2]
PIECE_BYTES = 512 << 10
ROW_GROUP_ROWS = 64

#: Runs write task 0 of the pickled config in a fresh process; prints the peaks as JSON.
_WRITE_ALONE = """
import json, pickle, sys, tracemalloc
from geocorpus.finalize import shards
from geocorpus.finalize.stage import write_task
shards.ROW_GROUP_ROWS = int(sys.argv[2])
config = pickle.loads(open(sys.argv[1], "rb").read())
pool = shards.write_memory_pool()  # what write_task allocates from
before = pool.max_memory()
tracemalloc.start()
result = write_task(config, 0, 1)
python_peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"arrow_peak": pool.max_memory(), "arrow_before": before, "python_peak": python_peak,
                  "rows": sum(result["files"].values())}))
"""


def write_task_peaks(shared_data: Path, tmp: Path, copies: int, monkeypatch) -> dict:
    rows = unique_fundus_rows(shared_data, copies=copies)
    tagged = write_tagged_shards(rows, tmp / "tagged", 4)
    config = finalize_config(tmp / "out", tmp, 1, rows_per_shard=10**6)
    config.balance.method, config.balance.eval_fraction = "none", 0.0
    monkeypatch.setattr(shards_module, "PIECE_BYTES", PIECE_BYTES)
    select_task(config, tagged)
    scatter_task(config, 0, 1)
    monkeypatch.undo()
    pickled = tmp / "config.pickle"
    pickled.write_bytes(pickle.dumps(config))
    done = subprocess.run(
        [sys.executable, "-c", _WRITE_ALONE, str(pickled), str(ROW_GROUP_ROWS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    peaks = json.loads(done.stdout.strip().splitlines()[-1])
    assert peaks["arrow_before"] < PIECE_BYTES  # nothing large was allocated before the task started
    scatter = tmp / "out/stages/finalize/scatter/00000.arrow"
    peaks["scatter_batches"] = pa.ipc.open_file(str(scatter)).num_record_batches
    tail = scatter.read_bytes()[-10:]  # IPC file: ... footer, its length (int32), b"ARROW1"
    assert tail[-6:] == b"ARROW1"
    peaks["scatter_footer"] = struct.unpack("<i", tail[:4])[0]
    return peaks


def test_the_write_task_peak_does_not_grow_with_the_corpus(shared_data, tmp_path, monkeypatch):
    small = write_task_peaks(shared_data, tmp_path / "small", 4, monkeypatch)
    large = write_task_peaks(shared_data, tmp_path / "large", 16, monkeypatch)
    assert large["rows"] > 3.5 * small["rows"] > 1000, (small, large)
    # the corpus is cut into many pieces, and the scatter file into many row groups
    assert large["scatter_batches"] > 100
    # the peaks: one piece (~PIECE_BYTES) read, its sorted copy and a row group, at either size
    assert small["arrow_peak"] > PIECE_BYTES  # the task really held a piece
    assert large["arrow_peak"] < 1.25 * small["arrow_peak"], (small, large)
    assert large["arrow_peak"] < 6 * PIECE_BYTES, large
    assert large["python_peak"] < 1.25 * small["python_peak"] + (1 << 20), (small, large)


def test_scatter_file_footers_stay_small(shared_data, tmp_path, monkeypatch):
    # one part per piece per flush: the footer every write task holds grows with the square of the corpus.
    # Parquet's held ~2 KB per row group (each column's metadata, statistics were ~4 KB); IPC's a block of
    # 24 bytes per batch, plus the schema once
    peaks = write_task_peaks(shared_data, tmp_path, 2, monkeypatch)
    assert peaks["scatter_batches"] > 10
    assert peaks["scatter_footer"] < 4096 + 40 * peaks["scatter_batches"], peaks
