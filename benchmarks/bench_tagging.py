"""Tagging quality on real data: registry rule v2 vs v1, URL-only tagging of the fundus articles, a WARC
of the fundus pages (page evidence, classifier), the classifier left out of each source, shortlinks.

Truth: each fundus article's publisher country folder (``fundus_country_dir``). The registry graded
here is built *without* the fundus publisher list, so the test set never grades its own answers.
Nothing is tuned to this data: page signals are trusted only where they measure >= 98% precision
against the registry's countries, and the classifier's threshold is chosen on held-out outlets of its
training sources, both by the code.

Sections (each prints its table; quality bars print ``meets`` / ``MISSES``):

1. registry v2 vs v1: keys decided, keys dropped per conflict kind, keys decided per rule.
2. fundus, URL only (no input country): coverage and precision of v1 / v2 registries (+ ccTLD).
   Bar: registry v2 without fundus + ccTLD, coverage >= 95% at precision >= 99%.
3. a WARC built from the fundus HTML, no input country, through the real reader, ExtractHTML,
   VerifyURL and TagRegion steps: coverage and precision by tag_source.
4. leave-one-source-out classifier: trained without a source, measured on it (all its documents and
   those of outlets the training never saw). Bar: precision >= 98% on each left-out source.
5. shortlinks: listed shortener hosts whose ccTLD names a country, and how many get a ccTLD tag now.

    .venv/bin/python benchmarks/bench_tagging.py [--out benchmarks/results]   (~4 min on 2 cores)
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from geocorpus.country_classifier import LabeledDoc, Slice, train_classifier  # noqa: E402
from geocorpus.page_evidence import PAGE_SIGNALS_KEY, PageEvidence  # noqa: E402
from geocorpus.paths import shared_data_dir  # noqa: E402
from geocorpus.regions import cctld_country, normalize_country  # noqa: E402
from geocorpus.registry import V1_SOURCES, OutletRegistry, build_registry  # noqa: E402
from geocorpus.shortlinks import shortener_hosts  # noqa: E402
from geocorpus.tagging import RegionTagger  # noqa: E402
from geocorpus.urls import verify_url  # noqa: E402

ARTICLES = Path("news/fundus/fundus_articles.jsonl")
PAGES = Path("news/fundus/test_data")
ALL_BUT_FUNDUS = ("abyz", "awesome", "us_news", "us_local")
URL_ONLY = ("registry", "cctld")
TARGET_COVERAGE, TARGET_PRECISION, CLASSIFIER_PRECISION = 0.95, 0.99, 0.98


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def pct(value: float) -> str:
    return "  -  " if value != value else f"{value:6.1%}"


@dataclass
class Tally:
    total: int = 0
    tagged: int = 0
    correct: int = 0
    wrong: Counter = field(default_factory=Counter)

    def add(self, truth: str, predicted: str | None) -> None:
        self.total += 1
        if predicted is not None:
            self.tagged += 1
            self.correct += predicted == truth
            if predicted != truth:
                self.wrong[(truth, predicted)] += 1

    @property
    def precision(self) -> float:
        return self.correct / self.tagged if self.tagged else float("nan")

    @property
    def coverage(self) -> float:
        return self.tagged / self.total if self.total else float("nan")


# ------------------------------------------------------------------ 1. registries


def build_registries(shared: Path, work: Path) -> dict[str, tuple[object, OutletRegistry]]:
    builds = {
        "v1 (abyz+awesome+fundus)": {"sources": V1_SOURCES, "rule": "v1"},
        "v2 (all five lists)": {"rule": "v2"},
        "v1 without fundus": {"sources": ("abyz", "awesome"), "rule": "v1"},
        "v2 without fundus": {"sources": ALL_BUT_FUNDUS, "rule": "v2"},
    }
    out = {}
    for name, options in builds.items():
        path = work / (name.replace(" ", "_").replace("(", "").replace(")", "").replace("+", "_") + ".tsv")
        report = build_registry(shared, path, compare_v1=False, **options)  # type: ignore[arg-type]
        out[name] = (report, OutletRegistry.load(path))
    return out


def print_registry_table(registries: dict) -> None:
    print("\n== 1. registry v2 vs v1 (keys decided, keys dropped per conflict kind) ==")
    kinds = sorted({k for report, _ in registries.values() for k in report.conflicts_by_kind})
    print(f"{'build':<28}{'entries':>9}{'prefix':>8}{'dropped':>9}  " + " ".join(f"{k:>17}" for k in kinds))
    for name, (report, _) in registries.items():
        dropped = sum(v for k, v in report.conflicts_by_kind.items() if k not in ("majority", "priority"))
        print(
            f"{name:<28}{report.entries:>9,}{report.entries_by_level.get('prefix', 0):>8}{dropped:>9}  "
            + " ".join(f"{report.conflicts_by_kind.get(k, 0):>17}" for k in kinds)
        )
    for name, (report, _) in registries.items():
        if report.decided_by_rule:
            print(f"  {name}: keys decided per rule {report.decided_by_rule}; rows no evidence {report.ignored_rows}")


# ------------------------------------------------------------------ 2. fundus, URL only


@dataclass
class Article:
    url: str
    truth: str
    host: str
    domain: str
    suffix: str
    text: str


def load_articles(shared: Path) -> list[Article]:
    articles = []
    with (shared / ARTICLES).open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            result = verify_url(record["url"])
            if result.ok:
                truth = normalize_country(record["fundus_country_dir"])
                articles.append(Article(result.url, truth, result.host, result.domain, result.suffix, record["text"]))
    return articles


def url_only(articles: list[Article], tagger: RegionTagger) -> tuple[Tally, dict[str, Tally]]:
    overall, by_source = Tally(), defaultdict(Tally)
    for article in articles:
        tag = tagger.tag(article.host, article.domain, article.suffix, url=article.url)
        overall.add(article.truth, tag.country)
        if tag.country:
            by_source[tag.tag_source].add(article.truth, tag.country)
    return overall, dict(by_source)


def section_url_only(articles: list[Article], registries: dict) -> dict[str, Tally]:
    print(f"\n== 2. fundus articles, URL only, no input country (n = {len(articles)}) ==")
    conditions = {
        "v1 without fundus + ccTLD": registries["v1 without fundus"][1],
        "v2 without fundus + ccTLD": registries["v2 without fundus"][1],
        "v2 all lists + ccTLD (circular)": registries["v2 (all five lists)"][1],
        "ccTLD only": False,
    }
    results = {}
    print(f"{'condition':<34}{'tagged':>7}{'prec':>8}{'cov':>8}   by source (n, precision)")
    for name, registry in conditions.items():
        precedence = URL_ONLY if registry else ("cctld",)
        overall, by_source = url_only(articles, RegionTagger(precedence=precedence, builtin_registry=registry))
        results[name] = overall
        sources = ", ".join(f"{s} {t.tagged} {pct(t.precision).strip()}" for s, t in sorted(by_source.items()))
        print(f"{name:<34}{overall.tagged:>7}{pct(overall.precision):>8}{pct(overall.coverage):>8}   {sources}")
    bar = results["v2 without fundus + ccTLD"]
    ok = bar.coverage >= TARGET_COVERAGE and bar.precision >= TARGET_PRECISION
    print(
        f"bar: v2 without fundus, URL only: coverage {pct(bar.coverage).strip()} (>= {TARGET_COVERAGE:.0%}) at "
        f"precision {pct(bar.precision).strip()} (>= {TARGET_PRECISION:.0%}): {verdict(ok)}"
    )
    wrong = ", ".join(f"{t}->{p}: {n}" for (t, p), n in bar.wrong.most_common()) or "none"
    print(f"  wrong tags (v2 without fundus): {wrong}")
    return results


# ------------------------------------------------------------------ labeled pools for the classifier


def url_corpora(shared: Path) -> dict[str, list[tuple[str, str]]]:
    """(url, text) of the URL corpora: r/worldnews 2012, SemEval-2022 task 8, fwd/news headlines (title)."""
    pools: dict[str, list[tuple[str, str]]] = {"reddit": [], "semeval": [], "fwd_news": []}
    with (shared / "urls/reddit_worldnews_2012/worldnews_2012_scraped_metadata.csv").open(encoding="utf-8") as fh:
        pools["reddit"] = [(row["url"], "") for row in csv.DictReader(fh)]
    for path in sorted((shared / "urls/semeval2022_task8").glob("*.csv")):
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                pools["semeval"] += [(row.get("link1") or "", ""), (row.get("link2") or "", "")]
    headlines = json.loads((shared / "urls/fwd_news_headlines/headlines.json").read_text(encoding="utf-8"))
    pools["fwd_news"] = [(row.get("link") or "", row.get("title") or "") for row in headlines]
    return pools


def labeled_pools(shared: Path, registry: OutletRegistry, articles: list[Article]) -> dict[str, list[LabeledDoc]]:
    """Documents of known country per source: the URL corpora where the registry knows the outlet,
    fundus with its own country field (an input claim, as a user's field would be)."""
    tagger = RegionTagger(precedence=("registry",), builtin_registry=registry)
    pools: dict[str, list[LabeledDoc]] = {}
    for name, rows in url_corpora(shared).items():
        seen, docs = set(), []
        for url, text in rows:
            result = verify_url(url)
            if not result.ok or result.url in seen:
                continue
            seen.add(result.url)
            tag = tagger.tag(result.host, result.domain, result.suffix, url=result.url)
            if tag.country:
                docs.append(LabeledDoc(tag.country, text, result.url, result.domain))
        pools[name] = docs
    pools["fundus"] = [LabeledDoc(a.truth, a.text, a.url, a.domain) for a in articles]
    return pools


def evaluate_on(model, docs: list[LabeledDoc], seen_outlets: set[str]) -> tuple[Slice, Slice]:
    every, unseen = Slice(), Slice()
    for doc in docs:
        found = model.predict(doc.text, doc.url)
        for tally, applies in ((every, True), (unseen, doc.outlet not in seen_outlets)):
            if not applies:
                continue
            tally.documents += 1
            if found is not None:
                tally.predicted += 1
                tally.correct += found[0] == doc.country
    return every, unseen


def section_leave_one_out(pools: dict[str, list[LabeledDoc]], work: Path) -> None:
    from geocorpus.country_classifier import CountryClassifier

    print("\n== 4. classifier, leave one source out (url+text features; threshold for 98% on held-out outlets) ==")
    print(
        f"{'left out':<10}{'train docs':>11}{'threshold':>10}   {'on it: n, predicted, precision':>32}   unseen outlets"
    )
    for left_out, docs in pools.items():
        train = [doc for name, pool in pools.items() if name != left_out for doc in pool]
        path = work / f"loso_{left_out}.bin"
        report = train_classifier(train, path, feature_set="url+text")
        model = CountryClassifier.load(path)
        every, unseen = evaluate_on(model, docs, {doc.outlet for doc in train})
        ok = every.predicted == 0 or every.precision >= CLASSIFIER_PRECISION
        print(
            f"{left_out:<10}{len(train):>11,}{report.threshold:>10.3f}   {every.documents:>8,} {every.predicted:>7,} "
            f"{pct(every.precision):>8}   {unseen.documents:>6,} {unseen.predicted:>5,} {pct(unseen.precision):>7}"
            f"   precision >= 98%: {verdict(ok)}"
        )


# ------------------------------------------------------------------ 3. the WARC of fundus pages


def build_warc(shared: Path, path: Path) -> int:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    count = 0
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for info_path in sorted((shared / PAGES).glob("*/meta.info")):
            info = json.loads(info_path.read_text(encoding="utf-8"))
            for name, meta in sorted(info.items()):
                page = info_path.parent / name
                if not page.is_file():
                    continue
                html = gzip.decompress(page.read_bytes())
                headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], "HTTP/1.1")
                when = datetime.fromisoformat(meta["crawl_date"]) if meta.get("crawl_date") else datetime(2024, 1, 1)
                record = writer.create_warc_record(
                    meta["url"],
                    "response",
                    payload=io.BytesIO(html),
                    http_headers=headers,
                    warc_headers_dict={"WARC-Date": when.replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
                )
                writer.write_record(record)
                count += 1
    return count


def warc_documents(folder: Path) -> list:
    from geocorpus.readers.warc import ExtractHTML, WarcHtmlReader
    from geocorpus.steps import VerifyURL

    steps = [WarcHtmlReader(str(folder), "warc", glob_pattern="*.warc.gz"), ExtractHTML(), VerifyURL()]
    docs = None
    for step in steps:
        docs = step.run(docs) if docs is not None else step.run(None)
    return list(docs)


def section_warc(
    shared: Path, work: Path, registry_path: Path, pools: dict[str, list[LabeledDoc]], truth_by_url
) -> None:
    from geocorpus.steps import TagRegion

    folder = work / "warc"
    folder.mkdir()
    pages = build_warc(shared, folder / "fundus.warc.gz")
    docs = warc_documents(folder)
    # Page evidence: measured against the registry's countries on these very documents (no truth used).
    known = RegionTagger(precedence=("registry",), builtin_registry=OutletRegistry.load(registry_path))
    pairs = []
    for doc in docs:
        meta = doc.metadata
        tag = known.tag(meta["host"], meta["domain"], meta["suffix"], url=meta["url_normalized"])
        if tag.country and meta.get(PAGE_SIGNALS_KEY):
            pairs.append((meta[PAGE_SIGNALS_KEY], tag.country))
    calibration, measured = PageEvidence.calibrate(pairs)
    page_path = calibration.save(work / "page.json", measured)
    top = sorted(measured.items(), key=lambda kv: -kv[1].documents)[:6]
    print(f"\n== 3. WARC of the fundus pages ({pages} records, {len(docs)} extracted), no input country ==")
    print(
        f"page signals measured on the {len(pairs)} registry-known documents carrying any: "
        + ", ".join(f"{k} {s.correct}/{s.documents}" for k, s in top)
        + f"; trusted (>= 98% on >= 20): {sorted(calibration.trusted) or 'none'}"
    )
    model_path = work / "warc_classifier.bin"
    train = [doc for name, pool in pools.items() if name != "fundus" for doc in pool]
    report = train_classifier(train, model_path, feature_set="url+text")
    print(f"classifier (trained without fundus, {len(train):,} docs): threshold {report.threshold:.3f}")
    conditions = {
        "registry + ccTLD": {"precedence": ("registry", "cctld")},
        "+ page": {"precedence": ("registry", "cctld", "page"), "page_evidence": str(page_path)},
        "+ page + classifier": {
            "precedence": ("registry", "cctld", "page", "classifier"),
            "page_evidence": str(page_path),
            "classifier": str(model_path),
        },
    }
    print(f"{'condition':<22}{'tagged':>7}{'prec':>8}{'cov':>8}   by tag_source: tagged, precision")
    for name, options in conditions.items():
        step = TagRegion(registry=str(registry_path), **options)  # type: ignore[arg-type]
        copies = [type(doc)(text=doc.text, id=doc.id, metadata=dict(doc.metadata)) for doc in docs]
        overall, by_source = Tally(), defaultdict(Tally)
        for doc in step.run(iter(copies)):
            truth = truth_by_url.get(doc.metadata["url_normalized"])
            if truth is None:
                continue
            overall.add(truth, doc.metadata["country"])
            if doc.metadata["country"]:
                by_source[doc.metadata["tag_source"]].add(truth, doc.metadata["country"])
        sources = ", ".join(f"{s} {t.tagged} {pct(t.precision).strip()}" for s, t in sorted(by_source.items()))
        print(f"{name:<22}{overall.tagged:>7}{pct(overall.precision):>8}{pct(overall.coverage):>8}   {sources}")


# ------------------------------------------------------------------ 5. shortlinks


def section_shortlinks() -> None:
    tagger = RegionTagger(precedence=("cctld",), builtin_registry=False)
    with_cctld, tagged = 0, 0
    for host in shortener_hosts():
        result = verify_url(f"https://{host}/3xYzAb")
        if not result.ok:
            continue
        with_cctld += cctld_country(result.suffix) is not None
        tagged += tagger.tag(result.host, result.domain, result.suffix, url=result.url).country is not None
    print(f"\n== 5. shortlinks: {len(shortener_hosts())} listed hosts, {with_cctld} with a country ccTLD ==")
    print(f"shortlinks given a ccTLD country: {tagged} (bar: 0): {verdict(tagged == 0)}")


# ------------------------------------------------------------------ plot and main


def plot(results: dict[str, Tally], out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    xs = range(len(names))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar([x - 0.2 for x in xs], [results[n].precision * 100 for n in names], width=0.4, label="precision")
    ax.bar([x + 0.2 for x in xs], [results[n].coverage * 100 for n in names], width=0.4, label="coverage")
    ax.axhline(TARGET_COVERAGE * 100, color="grey", lw=0.8, ls="--")
    ax.set_xticks(list(xs), names, fontsize=7)
    ax.set_ylabel("% of fundus articles")
    ax.set_ylim(0, 110)
    ax.set_title("URL-only tagging of fundus articles (dashed: 95% coverage bar)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "tagging.png"
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
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        registries = build_registries(shared, work)
        print_registry_table(registries)
        articles = load_articles(shared)
        results = section_url_only(articles, registries)
        no_fundus = registries["v2 without fundus"][1]
        pools = labeled_pools(shared, no_fundus, articles)
        print(
            "\nlabeled documents per source (registry without fundus; fundus: its own field): "
            + ", ".join(f"{k} {len(v):,}" for k, v in pools.items())
        )
        registry_path = work / "v2_without_fundus.tsv"
        section_warc(shared, work, registry_path, pools, {a.url: a.truth for a in articles})
        section_leave_one_out(pools, work)
        section_shortlinks()
        print(f"\nchart: {plot(results, args.out)}; {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
