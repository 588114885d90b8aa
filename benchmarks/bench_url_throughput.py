"""Throughput of ``URLVerifier.verify`` against ``urllib.parse.urlsplit`` on the same real URLs.

Both paths run in this one process on the same list (>= 100k real news URLs from
../shared/data/urls), best of 3 with ``time.perf_counter``; the figure that matters is the ratio
(target: verify >= 0.7x urlsplit). Each measured path is one function taking the URL list, so
further paths (e.g. country tagging) can be added to ``MEASURED_PATHS``.

    .venv/bin/python benchmarks/bench_url_throughput.py [--min-count 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.real_urls import load_real_urls
from geocorpus.paths import shared_data_dir
from geocorpus.registry import OutletRegistry
from geocorpus.tagging import RegionTagger
from geocorpus.urls import URLVerifier


def run_urlsplit(urls: list[str]) -> None:
    """Baseline: the standard library's split, which checks and normalizes almost nothing."""
    split = urlsplit
    for url in urls:
        try:  # noqa: SIM105  (contextlib.suppress costs more per URL in this hot loop)
            split(url)
        except ValueError:  # e.g. unbalanced IPv6 brackets; the verifier has to cope with those too
            pass


def run_verify(urls: list[str]) -> None:
    """A fresh verifier per run, so the host cache is filled inside the timed region."""
    verify = URLVerifier().verify
    for url in urls:
        verify(url)


_LONG_LIVED_VERIFIER: URLVerifier | None = None


def run_verify_warm(urls: list[str]) -> None:
    """One verifier across runs, as in a long pipeline worker: after the first run every host is cached."""
    global _LONG_LIVED_VERIFIER
    if _LONG_LIVED_VERIFIER is None:
        _LONG_LIVED_VERIFIER = URLVerifier()
    verify = _LONG_LIVED_VERIFIER.verify
    for url in urls:
        verify(url)


def run_verify_and_tag(urls: list[str]) -> None:
    """The curation hot path: verify + normalize + tag (registry, ccTLD), fresh caches per run."""
    verify = URLVerifier().verify
    tag = RegionTagger(builtin_registry=_registry()).tag
    for url in urls:
        result = verify(url)
        if result.ok:
            tag(result.host, result.domain, result.suffix, None)


_REGISTRY = None


def _registry():
    """The built-in registry is loaded once per process (as in a pipeline worker), not per run."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = OutletRegistry.builtin()
    return _REGISTRY


MEASURED_PATHS: dict[str, Callable[[list[str]], None]] = {
    "urlsplit": run_urlsplit,
    "URLVerifier.verify": run_verify,
    "verify, warm cache": run_verify_warm,
    "verify + tag": run_verify_and_tag,
}
BASELINE = "urlsplit"


def best_seconds(paths: dict[str, Callable[[list[str]], None]], urls: list[str], repeats: int) -> dict[str, float]:
    """Best wall time per path; the paths take turns in each round, so load from other processes
    on the machine hits them alike rather than whichever happened to run during a busy spell."""
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(repeats):
        for name, run in paths.items():
            start = time.perf_counter()
            run(urls)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-count", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    shared = shared_data_dir()
    if shared is None:
        print("real data folder ../shared/data (or $GEOCORPUS_SHARED) is not present", file=sys.stderr)
        return 2
    urls = load_real_urls(shared, min_count=args.min_count)
    URLVerifier()  # load the bundled suffix list before timing: a one-off per process
    _registry()
    seconds = best_seconds(MEASURED_PATHS, urls, args.repeats)
    rates = {name: len(urls) / took for name, took in seconds.items()}
    baseline = rates[BASELINE]
    print(f"{len(urls):,} URLs, best of {args.repeats}")
    for name, rate in rates.items():
        print(f"{name:<22} {rate:>12,.0f} URLs/s   {rate / baseline:5.2f}x {BASELINE}")
    print("target: verify + tag (host caches filled inside each timed run) >= 0.70x urlsplit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
