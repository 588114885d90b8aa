"""The finalize stages: selection (exact dedup, balancing, eval split), shuffle-write, the cross-split
near-duplicate check, reconcile and report."""

from geocorpus.finalize.stage import (
    CheckCrossSplit,
    FinalizeCorpus,
    ReconcileError,
    ScatterRows,
    SelectRows,
    WriteShards,
    finalize_files,
    finalize_output,
)

__all__ = [
    "CheckCrossSplit",
    "FinalizeCorpus",
    "ReconcileError",
    "ScatterRows",
    "SelectRows",
    "WriteShards",
    "finalize_files",
    "finalize_output",
]
