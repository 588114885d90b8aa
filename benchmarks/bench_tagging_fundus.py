"""Tagging quality on real articles whose country is known: the fundus parser test set.

Each fundus article sits in its publisher's country folder (``fundus_country_dir``: ``uk`` = GB,
some alpha-3 such as ``ind``), which is the truth here. The tagger sees only the URL (precedence
``registry, cctld``: no ``input`` claim), so this measures what a user without country metadata gets.

The built-in registry has the fundus publisher list as one of its sources, which makes that
condition circular (the test set grades its own answers). So a second registry is built without
fundus (``sources=("abyz", "awesome")``) and both are reported side by side, with ccTLD alone as
the floor. Nothing here is tuned to this set.

    .venv/bin/python benchmarks/bench_tagging_fundus.py [--out benchmarks/results]

Precision = correct / tagged; coverage = tagged / all articles with a verifiable URL.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from geocorpus.paths import shared_data_dir  # noqa: E402
from geocorpus.regions import normalize_country  # noqa: E402
from geocorpus.registry import OutletRegistry, build_registry  # noqa: E402
from geocorpus.tagging import RegionTagger  # noqa: E402
from geocorpus.urls import URLVerifier  # noqa: E402

ARTICLES = Path("news/fundus/fundus_articles.jsonl")
URL_ONLY_PRECEDENCE = ("registry", "cctld")


@dataclass
class Article:
    url: str
    truth: str  # ISO alpha-2 from the fundus country folder
    host: str | None
    domain: str | None
    suffix: str | None


@dataclass
class Tally:
    """Counts for one slice (overall, one tag source, or one country)."""

    total: int = 0
    tagged: int = 0
    correct: int = 0
    wrong: Counter = field(default_factory=Counter)  # (truth, predicted) -> articles

    def add(self, truth: str, predicted: str | None) -> None:
        self.total += 1
        if predicted is None:
            return
        self.tagged += 1
        if predicted == truth:
            self.correct += 1
        else:
            self.wrong[(truth, predicted)] += 1

    @property
    def precision(self) -> float:
        return self.correct / self.tagged if self.tagged else float("nan")

    @property
    def coverage(self) -> float:
        return self.tagged / self.total if self.total else float("nan")


def load_articles(path: Path) -> tuple[list[Article], Counter]:
    """Articles with a verified URL and a readable country folder; rejections are counted, not hidden."""
    verifier = URLVerifier()
    articles: list[Article] = []
    skipped: Counter = Counter()
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            record = json.loads(line)
            try:
                truth = normalize_country(record["fundus_country_dir"])
            except (KeyError, ValueError) as error:
                raise ValueError(f"{path}:{line_no}: unusable fundus_country_dir: {error}") from None
            result = verifier.verify(record.get("url"))
            if not result.ok:
                skipped[f"url_{result.reason}"] += 1
                continue
            articles.append(Article(result.url, truth, result.host, result.domain, result.suffix))
    return articles, skipped


def evaluate(articles: list[Article], tagger: RegionTagger) -> dict[str, object]:
    """Overall, per tag source and per country tallies for one tagger."""
    overall, by_source, by_country = Tally(), defaultdict(Tally), defaultdict(Tally)
    for article in articles:
        tag = tagger.tag(article.host, article.domain, article.suffix, None)
        overall.add(article.truth, tag.country)
        by_country[article.truth].add(article.truth, tag.country)
        if tag.country is not None:
            by_source[tag.tag_source].add(article.truth, tag.country)
    return {"overall": overall, "by_source": dict(by_source), "by_country": dict(by_country)}


def conditions(shared: Path, workdir: Path) -> dict[str, RegionTagger]:
    """The taggers compared: built-in registry (circular), leave-fundus-out registry, ccTLD only."""
    loo_path = workdir / "registry_without_fundus.tsv"
    report = build_registry(shared, loo_path, sources=("abyz", "awesome"))
    print(f"leave-fundus-out registry: {report.entries:,} entries (abyz + awesome)")
    builtin = OutletRegistry.builtin()
    print(f"built-in registry: {len(builtin):,} entries, sources {builtin.sources}")
    return {
        "builtin+cctld": RegionTagger(precedence=URL_ONLY_PRECEDENCE, builtin_registry=builtin),
        "no-fundus+cctld": RegionTagger(
            precedence=URL_ONLY_PRECEDENCE, builtin_registry=OutletRegistry.load(loo_path)
        ),
        "cctld only": RegionTagger(precedence=("cctld",), builtin_registry=False),
    }


def fmt(value: float) -> str:
    return "  -  " if value != value else f"{value:5.1%}"


def print_tables(results: dict[str, dict], countries: list[str]) -> None:
    names = list(results)
    print("\n== overall and per tag source (precision / coverage; n = articles in the slice) ==")
    print(
        f"{'condition':<18}{'n':>5}{'tagged':>8}{'prec':>8}{'cov':>8}   {'registry: n prec':>18}   {'cctld: n prec':>15}"
    )
    for name in names:
        o, src = results[name]["overall"], results[name]["by_source"]
        reg, cc = src.get("registry", Tally()), src.get("cctld", Tally())
        print(
            f"{name:<18}{o.total:>5}{o.tagged:>8}{fmt(o.precision):>8}{fmt(o.coverage):>8}"
            f"   {reg.tagged:>10} {fmt(reg.precision):>7}   {cc.tagged:>7} {fmt(cc.precision):>7}"
        )
    print("\n== per country (correct/tagged of n) ==")
    print(f"{'country':<8}{'n':>4}" + "".join(f"{name:>18}" for name in names))
    for country in countries:
        n = results[names[0]]["by_country"][country].total
        cells = []
        for name in names:
            t = results[name]["by_country"][country]
            cells.append(f"{t.correct}/{t.tagged}")
        print(f"{country:<8}{n:>4}" + "".join(f"{c:>18}" for c in cells))
    print("\n== wrong tags (truth -> predicted: articles) ==")
    for name in names:
        wrong = results[name]["overall"].wrong
        text = ", ".join(f"{t}->{p}: {n}" for (t, p), n in wrong.most_common()) or "none"
        print(f"{name}: {text}")


def plot(results: dict[str, dict], out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    precision = [results[n]["overall"].precision * 100 for n in names]
    coverage = [results[n]["overall"].coverage * 100 for n in names]
    xs = range(len(names))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar([x - 0.2 for x in xs], precision, width=0.4, label="precision")
    ax.bar([x + 0.2 for x in xs], coverage, width=0.4, label="coverage")
    for x, (p, c) in enumerate(zip(precision, coverage)):
        ax.text(x - 0.2, p + 1, f"{p:.0f}", ha="center", fontsize=8)
        ax.text(x + 0.2, c + 1, f"{c:.0f}", ha="center", fontsize=8)
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("%")
    ax.set_ylim(0, 110)
    ax.set_title("URL-only tagging on fundus articles (truth: publisher country)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "tagging_fundus.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="folder for the PNG chart")
    args = parser.parse_args(argv)
    shared = shared_data_dir()
    if shared is None:
        print("shared data folder not found (set GEOCORPUS_SHARED); nothing to measure", file=sys.stderr)
        return 2
    articles, skipped = load_articles(shared / ARTICLES)
    print(
        f"fundus articles with a verified URL: {len(articles)} (skipped: {dict(skipped) or 'none'}); "
        f"{len({a.truth for a in articles})} countries; precedence {URL_ONLY_PRECEDENCE} (no input claim)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        taggers = conditions(shared, Path(tmp))
        results = {name: evaluate(articles, tagger) for name, tagger in taggers.items()}
        # A few big publishers dominate the article count; one article per outlet shows the spread.
        outlets = list({a.domain: a for a in articles}.values())
        per_outlet = {name: evaluate(outlets, tagger)["overall"] for name, tagger in taggers.items()}
    countries = sorted({a.truth for a in articles}, key=lambda c: (-sum(a.truth == c for a in articles), c))
    print_tables(results, countries)
    print(f"\n== one article per outlet (registrable domain), n = {len(outlets)} ==")
    for name, tally in per_outlet.items():
        print(f"{name:<18} tagged {tally.tagged:>3}  precision {fmt(tally.precision)}  coverage {fmt(tally.coverage)}")
    print(f"\nchart: {plot(results, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
