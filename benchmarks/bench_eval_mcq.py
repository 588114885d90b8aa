"""Time per 1,000 localized MCQ questions for a tiny random Llama on CPU, batched vs unbatched, per protocol.

The baseline is the same scorer with batch size 1 (no padding), measured in the same run, so the
printed ratio is what batching buys. Each protocol is timed: the paper's prompt lists the options and
carries a metadata block, so it is several times longer than the cloze prompt.
Run: .venv/bin/python benchmarks/bench_eval_mcq.py [N] [THREADS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from geocorpus.paths import shared_data_dir
from trainer_plugin.evaluation.mcq import score_mcq
from trainer_plugin.evaluation.protocols import PROTOCOLS, Protocol
from trainer_plugin.evaluation.qa_data import load_mcq
from trainer_plugin.evaluation.scoring import ScoringSettings

#: Batching must at least halve the scoring time of the unbatched scorer.
TARGET_SPEED_UP = 2.0


def tiny_model_and_tokenizer(texts: list[str]):
    """A byte-level BPE (vocab 1,000) fitted to the questions and a 2-layer, 64-wide Llama."""
    from trainer_plugin.tokenizer import load_tokenizer, train_bpe_tokenizer

    folder = train_bpe_tokenizer(texts, Path(tempfile.mkdtemp(prefix="mcq-bench-tok-")), vocab_size=1000)
    tokenizer = load_tokenizer(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return LlamaForCausalLM(config).eval(), tokenizer


def seconds_per_1000(model, tokenizer, items, protocol, batch_size: int, repeats: int = 3) -> float:
    """Best of ``repeats`` runs: other processes share this machine, the minimum is the least disturbed."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        score_mcq(model, tokenizer, items, protocol, ScoringSettings(batch_size=batch_size))
        best = min(best, time.perf_counter() - start)
    return best / len(items) * 1000


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    torch.set_num_threads(threads)
    data = shared_data_dir()
    if data is None:
        sys.exit("shared data folder not found")
    items = load_mcq(data / "qa" / "localized_news_mcq_800.jsonl")[:n]
    model, tokenizer = tiny_model_and_tokenizer([i.question + " " + " ".join(i.options) for i in items])
    for name in PROTOCOLS:
        protocol = Protocol(name=name)  # full question metadata, shuffled options: the defaults
        score_mcq(model, tokenizer, items[:20], protocol)  # warm-up: first calls pay for lazy initialisation
        baseline = seconds_per_1000(model, tokenizer, items, protocol, batch_size=1)
        for batch_size in (8, 32, 64):
            batched = seconds_per_1000(model, tokenizer, items, protocol, batch_size)
            speed_up = baseline / batched
            verdict = "meets" if speed_up >= TARGET_SPEED_UP else "MISSES"
            print(
                f"{name:>6} batch {batch_size:>2}: {batched:6.2f} s / 1,000 questions (4 options, full metadata, "
                f"{threads} thread(s)); baseline batch 1: {baseline:6.2f} s; speed-up x{speed_up:.2f} "
                f"({verdict} target x{TARGET_SPEED_UP:.1f})"
            )
