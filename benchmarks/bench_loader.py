"""Throughput and memory of the training data path, against the raw batched tokenizer in the same run.

    .venv/bin/python benchmarks/bench_loader.py [--repeat 4] [--seq-len 1024]

Corpus: the real fundus articles (../shared/data), repeated ``--repeat`` times with fresh ids to
reach a measurable size, written as CORPUS_SCHEMA Parquet. Tokenizer: a byte-level BPE (vocab 8k)
trained on the fly on those texts. Prints:
  * tokens/s of the full path (Parquet read -> shuffle -> template -> tokenize -> pack -> tensors)
    in process and with 1 and 2 dataloader workers, and its ratio to the raw batched tokenizer
    on the same rendered texts (target >= 0.85x for the in-process path; best of interleaved
    rounds, since the machine may be shared);
  * peak RSS of a fresh process streaming the corpus once and ten times (same shards listed 10
    times): flat means the loader never holds the corpus.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def build_corpus(out: Path, repeat: int) -> tuple[Path, list[dict]]:
    from support.tagged_corpus import fundus_rows, write_tagged_corpus  # the tests' CORPUS_SCHEMA builder

    from geocorpus.paths import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        sys.exit("real data folder ../shared/data (or $GEOCORPUS_SHARED) is not present")
    base = [dict(r, split="train") for r in fundus_rows(shared)]
    rows = [dict(r, id=f"{r['id']}-r{k}") for k in range(repeat) for r in base]
    return write_tagged_corpus(rows, out, shards=8, row_group_size=64), rows


def train_tokenizer(rows: list[dict], out: Path) -> Path:
    """An 8k byte-level BPE on the corpus texts (the project's own trainer)."""
    from trainer_plugin.tokenizer import train_bpe_tokenizer

    return train_bpe_tokenizer((r["text"] for r in rows), out, vocab_size=8192)


def raw_tokenizer_rate(tokenizer, rows: list[dict], batch: int) -> float:
    """Tokens/s of the bare batched tokenizer on the rendered (prefix + body) texts."""
    from trainer_plugin.conditions import load_condition
    from trainer_plugin.packing import backend_of, encode_texts

    template = load_condition("url_country_continent").template()
    texts = ["".join(template.render(r)) for r in rows]
    backend = backend_of(tokenizer)
    start, tokens = time.perf_counter(), 0
    for i in range(0, len(texts), batch):
        tokens += sum(len(ids) for ids in encode_texts(backend, texts[i : i + batch]))
    return tokens / (time.perf_counter() - start)


def loader_rate(data: Path, tokenizer, num_workers: int, seq_len: int, batch: int) -> tuple[float, int]:
    """Tokens/s (non-padding) of one epoch through ResumableDataLoader."""
    from trainer_plugin.dataset import PackedDataset
    from trainer_plugin.loader import ResumableDataLoader

    dataset = PackedDataset(data, tokenizer, "url_country_continent", seq_len=seq_len, epochs=1, tokenize_batch=batch)
    start, tokens = time.perf_counter(), 0
    for item in ResumableDataLoader(dataset, batch_size=8, num_workers=num_workers):
        tokens += int(item["attention_mask"].sum())
    return tokens / (time.perf_counter() - start), tokens


def stream_peak_rss(data: Path, tokenizer_dir: Path, times: int, seq_len: int) -> None:
    """Child mode: stream the corpus listed ``times`` times; print peak RSS (MiB) and tokens as JSON."""
    from trainer_plugin.dataset import PackedDataset
    from trainer_plugin.loader import ResumableDataLoader
    from trainer_plugin.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_dir)
    dataset = PackedDataset([str(data)] * times, tokenizer, "url_country_continent", seq_len=seq_len, epochs=1)
    tokens = 0
    for item in ResumableDataLoader(dataset, batch_size=8):
        tokens += int(item["attention_mask"].sum())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mib": peak_mib, "tokens": tokens}))


def measure_rss(data: Path, tokenizer_dir: Path, times: int, seq_len: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child-rss",
        str(times),
        "--data",
        str(data),
        "--tokenizer",
        str(tokenizer_dir),
        "--seq-len",
        str(seq_len),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=4, help="copies of the fundus articles in the corpus")
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=128, help="documents per tokenizer call")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (best kept)")
    parser.add_argument("--child-rss", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rss:
        stream_peak_rss(args.data, args.tokenizer, args.child_rss, args.seq_len)
        return

    from trainer_plugin.tokenizer import load_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        data, rows = build_corpus(Path(tmp) / "corpus", args.repeat)
        tokenizer_dir = train_tokenizer(rows, Path(tmp) / "tokenizer")
        tokenizer = load_tokenizer(tokenizer_dir)
        chars = sum(len(r["text"]) for r in rows)
        print(
            f"corpus: fundus x{args.repeat} = {len(rows)} documents, {chars / 1e6:.1f}M characters; "
            f"BPE vocab {len(tokenizer)}; seq_len {args.seq_len}"
        )
        raw_tokenizer_rate(tokenizer, rows[:200], args.batch)  # warm-up
        # best of --rounds, baseline and loader interleaved: the machine may be shared, and the
        # ratio should compare the two under the same load
        raw = path = 0.0
        for _ in range(args.rounds):
            raw = max(raw, raw_tokenizer_rate(tokenizer, rows, args.batch))
            rate, tokens = loader_rate(data, tokenizer, 0, args.seq_len, args.batch)
            path = max(path, rate)
        print(f"raw batched tokenizer (baseline): {raw:,.0f} tokens/s (best of {args.rounds})")
        print(
            f"full loader path, in process: {path:,.0f} tokens/s ({tokens:,} tokens per epoch) "
            f"= {path / raw:.2f}x the raw tokenizer (target >= 0.85x)"
        )
        for workers in (1, 2):
            rate = max(loader_rate(data, tokenizer, workers, args.seq_len, args.batch)[0] for _ in range(2))
            print(
                f"full loader path, num_workers={workers}: {rate:,.0f} tokens/s = {rate / raw:.2f}x the raw tokenizer"
            )
        once = measure_rss(data, tokenizer_dir, 1, args.seq_len)
        tenfold = measure_rss(data, tokenizer_dir, 10, args.seq_len)
        print(
            f"peak RSS streaming 1x: {once['peak_rss_mib']:.0f} MiB ({once['tokens']:,} tokens); "
            f"10x: {tenfold['peak_rss_mib']:.0f} MiB ({tenfold['tokens']:,} tokens); "
            f"ratio {tenfold['peak_rss_mib'] / once['peak_rss_mib']:.2f}"
        )


if __name__ == "__main__":
    main()
