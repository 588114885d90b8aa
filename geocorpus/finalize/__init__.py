"""The finalize stage: exact dedup, balancing, the eval split, final shards, manifest and reconcile."""

from geocorpus.finalize.stage import FinalizeCorpus, ReconcileError, finalize_output

__all__ = ["FinalizeCorpus", "ReconcileError", "finalize_output"]
