"""Per-region evaluation of (metadata-conditioned) causal LMs; see docs/evaluation.md.

Modules: ``scoring`` (exact-boundary NLL, batching, sliding window), ``perplexity`` and
``cross_matrix`` (per-region perplexity with/without metadata), ``mcq`` and ``locale_switch``
(localized QA), ``merge`` and ``merge_sweep`` (model merging), ``plots``, ``tables``, ``cli``.
"""

from trainer_plugin.evaluation.errors import EvaluationError

__all__ = ["EvaluationError"]
