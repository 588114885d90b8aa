"""Helpers of ``benchmarks/repro_mini.py``: the paper's findings reproduced at small scale."""
