"""Throughput and memory of the training data paths, against the raw batched tokenizer in the same run.

    .venv/bin/python benchmarks/bench_loader.py [--repeat 4] [--seq-len 1024] [--rounds 3]

Corpus: the real fundus articles (../shared/data), repeated ``--repeat`` times with fresh ids, as
CORPUS_SCHEMA Parquet. Tokenizer: a byte-level BPE (vocab 8k) trained on those texts. Condition
``url_country_continent``, batch 8. Prints, best of interleaved rounds (the machine may be shared),
each rate per wall second and per CPU second of the processes doing the work (the workers when
there are any); on a shared machine the second says what one free core gives:

  * baselines: the raw batched tokenizer on the same texts (prefix lines + body) in this process
    (its thread pool), and in a forked child, which is what a dataloader worker gets (HF tokenizers
    turns its pool off after a fork);
  * on-the-fly path (Parquet -> shuffle -> template -> tokenize -> pack -> batches) with 0, 1, 2
    workers, its ratio to the baselines and, per worker, to the forked baseline (target >= 0.85x);
    and the same 1-worker run with batches sent as torch tensors (the old collator), to show what
    the numpy hand-over saves;
  * pre-tokenized path (``geocorpus tokenize`` store -> assemble -> pack -> batches) with 0, 1, 2
    workers, tokens/s per worker (target >= 20M);
  * peak RSS of a fresh process streaming the corpus once and ten times, both paths;
  * the GPU run (the ~100M config: tokens/s, MFU, share of step time waiting for data) only when
    CUDA is present; otherwise it says so.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

PER_WORKER_TARGET = 0.85
TOKENIZED_TARGET = 20e6
CONDITION = "url_country_continent"


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def build_corpus(out: Path, repeat: int) -> tuple[Path, list[dict]]:
    from support.tagged_corpus import fundus_rows, write_tagged_corpus  # the tests' CORPUS_SCHEMA builder

    from geocorpus.paths import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        sys.exit("real data folder ../shared/data (or $GEOCORPUS_SHARED) is not present")
    base = [dict(r, split="train") for r in fundus_rows(shared)]
    rows = [dict(r, id=f"{r['id']}-r{k}") for k in range(repeat) for r in base]
    # row groups of 1024 documents: what datatrove's Parquet writer (batch_size 1000) gives a curated corpus
    return write_tagged_corpus(rows, out, shards=8, row_group_size=1024), rows


def train_tokenizer(rows: list[dict], out: Path) -> Path:
    """An 8k byte-level BPE on the corpus texts (the project's own trainer)."""
    from trainer_plugin.tokenizer import train_bpe_tokenizer

    return train_bpe_tokenizer((r["text"] for r in rows), out, vocab_size=8192)


def rendered_pieces(rows: list[dict]) -> list[str]:
    """The texts the loader tokenizes: each prefix line and each body, in order."""
    from trainer_plugin.conditions import load_condition

    template = load_condition(CONDITION).template()
    return [piece for r in rows for piece in (*template.prefix_pieces(r), template.body(r))]


class Rate(NamedTuple):
    """Tokens per wall second, and per CPU second of the processes doing the work (the workers when
    there are any): the second is what one dedicated core would give, whatever else shares the machine."""

    wall: float
    cpu: float

    def best(self, other: Rate) -> Rate:
        return Rate(max(self.wall, other.wall), max(self.cpu, other.cpu))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def raw_tokenizer_rate(tokenizer, texts: list[str], batch: int) -> Rate:
    """Tokens/s of the bare batched tokenizer on the texts."""
    from trainer_plugin.packing import backend_of, encode_texts

    backend = backend_of(tokenizer)
    start, cpu, tokens = time.perf_counter(), time.process_time(), 0
    for i in range(0, len(texts), batch):
        tokens += sum(len(ids) for ids in encode_texts(backend, texts[i : i + batch]))
    return Rate(tokens / (time.perf_counter() - start), tokens / (time.process_time() - cpu))


def _forked_rate(tokenizer, texts, batch, queue) -> None:
    queue.put(tuple(raw_tokenizer_rate(tokenizer, texts, batch)))


def forked_tokenizer_rate(tokenizer, texts: list[str], batch: int) -> Rate:
    """The raw tokenizer in a forked child: a dataloader worker's situation (one tokenizer thread)."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_forked_rate, args=(tokenizer, texts, batch, queue))
    child.start()
    rate = Rate(*queue.get())
    child.join()
    return rate


def loader_rate(
    source: Path, tokenizer, num_workers: int, seq_len: int, batch: int, tensors: bool = False, epochs: int = 1
) -> Rate:
    """Tokens/s (labels not -100) of ``epochs`` epochs through ResumableDataLoader, worker start included."""
    from trainer_plugin.dataset import PackedDataset
    from trainer_plugin.loader import ResumableDataLoader
    from trainer_plugin.packing import PackedCollator

    dataset = PackedDataset(source, tokenizer, CONDITION, seq_len=seq_len, epochs=epochs, tokenize_batch=batch)
    extra = {}
    if tensors:  # the old hand-over: tensors built in the worker, one shared-memory fd each
        extra["collate_fn"] = PackedCollator(with_stream_position=True, as_numpy=False)
    start, cpu, workers_cpu, tokens = time.perf_counter(), time.process_time(), children_cpu(), 0
    for item in ResumableDataLoader(dataset, batch_size=8, num_workers=num_workers, **extra):
        tokens += int((item["labels"] != -100).sum())
    wall = time.perf_counter() - start
    used = children_cpu() - workers_cpu if num_workers else time.process_time() - cpu  # workers are reaped
    return Rate(tokens / wall, tokens / used if used > 0 else 0.0)


def stream_peak_rss(source: Path, tokenizer_dir: Path, times: int, seq_len: int) -> None:
    """Child mode: stream the corpus listed ``times`` times; print peak RSS (MiB) and tokens as JSON."""
    from trainer_plugin.dataset import PackedDataset
    from trainer_plugin.loader import ResumableDataLoader
    from trainer_plugin.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_dir)
    dataset = PackedDataset([str(source)] * times, tokenizer, CONDITION, seq_len=seq_len, epochs=1)
    tokens = 0
    for item in ResumableDataLoader(dataset, batch_size=8):
        tokens += int((item["labels"] != -100).sum())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mib": peak_mib, "tokens": tokens}))


def measure_rss(source: Path, tokenizer_dir: Path, times: int, seq_len: int) -> dict:
    command = [sys.executable, __file__, "--child-rss", str(times), "--data", str(source)]
    command += ["--tokenizer", str(tokenizer_dir), "--seq-len", str(seq_len)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def gpu_run() -> str:
    import torch

    if not torch.cuda.is_available():
        return "GPU run (~100M config: tokens/s, MFU, data-wait share): not run, no CUDA device in this session"
    return "GPU run: a CUDA device is present; run benchmarks/bench_train_gpu.py for the step-time figures"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=4, help="copies of the fundus articles in the corpus")
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=128, help="documents per tokenizer call")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (best kept)")
    parser.add_argument("--store-epochs", type=int, default=10, help="epochs per pre-tokenized timing")
    parser.add_argument("--child-rss", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rss:
        stream_peak_rss(args.data, args.tokenizer, args.child_rss, args.seq_len)
        return

    from trainer_plugin.tokenized import tokenize_corpus
    from trainer_plugin.tokenizer import load_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        data, rows = build_corpus(Path(tmp) / "corpus", args.repeat)
        tokenizer_dir = train_tokenizer(rows, Path(tmp) / "tokenizer")
        tokenizer = load_tokenizer(tokenizer_dir)
        chars = sum(len(r["text"]) for r in rows)
        print(
            f"corpus: fundus x{args.repeat} = {len(rows)} documents, {chars / 1e6:.1f}M characters; "
            f"BPE vocab {len(tokenizer)}; seq_len {args.seq_len}; batch 8; {os.cpu_count()} CPU cores"
        )
        texts = rendered_pieces(rows)
        raw_tokenizer_rate(tokenizer, texts[:2000], args.batch)  # warm-up
        started = time.perf_counter()
        manifest = tokenize_corpus(data, tokenizer, Path(tmp) / "tokens", batch=512)
        tokenize_seconds = time.perf_counter() - started
        store = Path(tmp) / "tokens"

        zero = Rate(0.0, 0.0)
        raw = fork = old_ipc = zero
        fly = {0: zero, 1: zero, 2: zero}
        pre = {0: zero, 1: zero, 2: zero}
        for _ in range(args.rounds):  # interleaved: every figure sees the same load
            raw = raw.best(raw_tokenizer_rate(tokenizer, texts, args.batch))
            fork = fork.best(forked_tokenizer_rate(tokenizer, texts, args.batch))
            for workers in fly:
                fly[workers] = fly[workers].best(loader_rate(data, tokenizer, workers, args.seq_len, args.batch))
                # several epochs: the store is read so fast that one epoch would mostly time the worker start
                rate = loader_rate(store, tokenizer, workers, args.seq_len, args.batch, epochs=args.store_epochs)
                pre[workers] = pre[workers].best(rate)
            old_ipc = old_ipc.best(loader_rate(data, tokenizer, 1, args.seq_len, args.batch, tensors=True))

        def m(x: float) -> str:
            return f"{x / 1e6:.2f}M"

        print("tokens/s (wall) and tokens per CPU-second of the working processes (what one free core gives)")
        print(f"raw batched tokenizer, this process (baseline): {m(raw.wall)} wall, {m(raw.cpu)}/CPU-s")
        print(
            f"raw batched tokenizer, forked child (a worker's baseline): {m(fork.wall)} wall = "
            f"{fork.wall / raw.wall:.2f}x, {m(fork.cpu)}/CPU-s"
        )
        print(f"on-the-fly path, in process: {m(fly[0].wall)} wall = {fly[0].wall / raw.wall:.2f}x the raw tokenizer")
        for workers in (1, 2):
            per_wall = fly[workers].wall / (workers * fork.wall)
            per_cpu = fly[workers].cpu / fork.cpu
            print(
                f"on-the-fly path, num_workers={workers}: {m(fly[workers].wall)} wall = "
                f"{fly[workers].wall / raw.wall:.2f}x the raw tokenizer; per worker {per_wall:.2f}x the forked "
                f"tokenizer by wall time, {per_cpu:.2f}x by CPU time "
                f"(target >= {PER_WORKER_TARGET}x: wall {verdict(per_wall >= PER_WORKER_TARGET)}, "
                f"CPU {verdict(per_cpu >= PER_WORKER_TARGET)})"
            )
        print(
            f"on-the-fly path, num_workers=1, batches sent as torch tensors (old collator): {m(old_ipc.wall)} wall; "
            f"numpy hand-over {fly[1].wall / old_ipc.wall:.2f}x that"
        )
        print(
            f"geocorpus tokenize: {manifest['documents']:,} documents, {manifest['tokens']:,} tokens in "
            f"{tokenize_seconds:.1f} s = {m(manifest['tokens'] / tokenize_seconds)} tokens/s (once, for every condition)"
        )
        print(f"pre-tokenized timings read the store {args.store_epochs}x per run (worker start amortised)")
        for workers in (0, 1, 2):
            per_wall = pre[workers].wall / max(1, workers)
            print(
                f"pre-tokenized path, num_workers={workers}: {m(pre[workers].wall)} wall = "
                f"{pre[workers].wall / fly[workers].wall:.1f}x the on-the-fly path; per worker {m(per_wall)} wall, "
                f"{m(pre[workers].cpu)}/CPU-s (target >= {TOKENIZED_TARGET / 1e6:.0f}M: wall "
                f"{verdict(per_wall >= TOKENIZED_TARGET)}, CPU {verdict(pre[workers].cpu >= TOKENIZED_TARGET)})"
            )
        for name, source in (("on-the-fly", data), ("pre-tokenized", store)):
            once = measure_rss(source, tokenizer_dir, 1, args.seq_len)
            tenfold = measure_rss(source, tokenizer_dir, 10, args.seq_len)
            print(
                f"peak RSS streaming {name} 1x: {once['peak_rss_mib']:.0f} MiB ({once['tokens']:,} tokens); "
                f"10x: {tenfold['peak_rss_mib']:.0f} MiB ({tenfold['tokens']:,} tokens); "
                f"ratio {tenfold['peak_rss_mib'] / once['peak_rss_mib']:.2f}"
            )
        print(gpu_run())


if __name__ == "__main__":
    main()
