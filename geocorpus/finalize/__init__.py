"""The finalize stages: selection (exact dedup, balancing, eval split), shuffle-write, reconcile and report."""

from geocorpus.finalize.stage import (
    FinalizeCorpus,
    ReconcileError,
    ScatterRows,
    SelectRows,
    WriteShards,
    finalize_files,
    finalize_output,
)

__all__ = [
    "FinalizeCorpus",
    "ReconcileError",
    "ScatterRows",
    "SelectRows",
    "WriteShards",
    "finalize_files",
    "finalize_output",
]
