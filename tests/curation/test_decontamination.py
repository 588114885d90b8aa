"""Decontamination: a document quoting an evaluation item is excluded, its neighbours are kept, and the
report counts exclusions per region and near duplicates across the corpus's own splits."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from geocorpus.bucket_digests import Signer
from geocorpus.config import ConfigError, parse_config
from geocorpus.decontaminate import (
    DECONTAMINATION_STAGE,
    DecontaminationConfig,
    EvalSetConfig,
    NGramDecontamination,
    build_index,
)
from geocorpus.finalize.contamination import near_duplicate_pairs
from geocorpus.paths import RunLayout
from geocorpus.writers import ExclusionWriter
from pipelines.curate import run_curation

#: A LocalNewsQA explicit question (16 words), quoted with other case and punctuation in the planted text.
QUOTED = "In Bangladesh, which date is observed as Victory Day, commemorating the country's victory in the 1971 Liberation War?"
PLANTED_SENTENCE = (
    " A reader wrote in to ask: in bangladesh which date is observed as victory day -- commemorating "
    "the country's victory in the 1971 liberation war? We checked. "
)


@pytest.fixture(scope="module")
def english_articles(shared_data) -> list[dict]:
    """Real fundus articles in English prose (at least 150 words, common English function words)."""
    rows = [json.loads(line) for line in (shared_data / "news/fundus/fundus_articles.jsonl").open(encoding="utf-8")]
    return [r for r in rows if len(r["text"].split()) >= 150 and r["text"].count(" the ") >= 10]


def _sets(shared: Path, **overrides) -> DecontaminationConfig:
    return DecontaminationConfig(
        sets=[
            EvalSetConfig(path=str(shared / "qa/localized_news_mcq_800.jsonl"), fields=["question", "correct_answer"]),
            EvalSetConfig(
                path=str(shared / "qa/localnewsqa_gold_20260516.parquet"), fields=["question", "correct_answer"]
            ),
        ],
        **overrides,
    )


def _planted(text: str) -> str:
    middle = len(text) // 2
    cut = text.index(" ", middle)
    return text[:cut] + PLANTED_SENTENCE + text[cut:]


def test_planted_localnewsqa_question_is_excluded_and_neighbours_kept(shared_data, english_articles, tmp_path):
    assert QUOTED in pl.read_parquet(shared_data / "qa/localnewsqa_gold_20260516.parquet")["question"].to_list()
    neighbours = english_articles[:30]
    docs = [Document(text=a["text"], id=f"n{i}", metadata={"title": a["title"]}) for i, a in enumerate(neighbours)]
    docs.insert(12, Document(text=_planted(neighbours[12]["text"]), id="planted", metadata={"title": "Readers ask"}))
    step = NGramDecontamination(
        _sets(shared_data),
        exclusion_writer=ExclusionWriter(str(tmp_path / DECONTAMINATION_STAGE), stage=DECONTAMINATION_STAGE),
    )
    kept = [doc.id for doc in step.run(iter(docs))]
    assert kept == [f"n{i}" for i in range(30)]  # the article the question was planted in survives unquoted
    excluded = pq.read_table(next((tmp_path / DECONTAMINATION_STAGE).glob("*.parquet"))).to_pylist()
    assert [(r["id"], r["stage"], r["reason"]) for r in excluded] == [
        ("planted", "decontamination", "localnewsqa_gold_20260516")
    ]
    matched = json.loads(excluded[0]["metadata_json"])["contaminated_ngram"]
    assert len(matched.split()) == 13 and matched in "in bangladesh which date is observed as victory day " + (
        "commemorating the country s victory in the 0 liberation war"
    )
    assert step.stats.stats["dropped_localnewsqa_gold_20260516"].total == 1


def test_short_items_whole_answers_never_and_configurable_n(shared_data, tmp_path):
    index = build_index(_sets(shared_data))
    coverage = index.coverage["localized_news_mcq_800"]
    assert coverage["items"] == 800 and 600 < coverage["checkable_items"] < 800  # 7-word questions cannot be
    # an 8-word MCQ question is matched whole; a 7-word one and a one-word answer never are
    assert index.find("Many wonder: which river is the longest river in Nigeria?")[0] == "localized_news_mcq_800"
    assert index.find("What is the capital city of Nigeria? It is Abuja.") is None
    assert build_index(_sets(shared_data, min_words=0)).find("which river is the longest river in nigeria") is None
    mcq = tmp_path / "mine.jsonl"
    mcq.write_text(json.dumps({"text": "the quick brown fox jumps over the lazy dog"}) + "\n")
    five = build_index(DecontaminationConfig(sets=[EvalSetConfig(path=str(mcq))], n_grams=5))
    assert five.find("A lazy dog? No: the fox jumps over the lazy dog again.") == ("mine", "fox jumps over the lazy")
    assert five.find("the quick brown fox sleeps") is None


def test_decontamination_config_is_validated(shared_data, tmp_path):
    news = tmp_path / "news.jsonl"
    news.write_text(json.dumps({"url": "https://www.bbc.co.uk/news/a", "text": "t"}) + "\n")
    base = {"output": str(tmp_path / "out"), "inputs": [{"name": "a", "format": "jsonl", "path": str(news)}]}
    good = parse_config({**base, "decontamination": {"sets": [{"path": "${shared}/qa/localized_news_mcq_800.jsonl"}]}})
    assert good.decontamination.sets[0].set_name == "localized_news_mcq_800"
    assert good.decontamination.sets[0].path == str(shared_data / "qa/localized_news_mcq_800.jsonl")
    cases = {
        "decontamination.ngrams": {"ngrams": 13},
        "decontamination.sets[0]: path: evaluation set not found": {"sets": [{"path": str(tmp_path / "x.jsonl")}]},
        "min_words: must lie in 0..n_grams": {"n_grams": 5, "min_words": 8},
        "decontamination.n_grams: expected int": {"n_grams": "13"},
    }
    for message, section in cases.items():
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_config({**base, "decontamination": section})
    bad = tmp_path / "rows.jsonl"
    bad.write_text(json.dumps({"question": "q"}) + "\n")
    with pytest.raises(ValueError, match=r"rows\.jsonl row 0: missing column\(s\) \['text'\]"):
        build_index(DecontaminationConfig(sets=[EvalSetConfig(path=str(bad))]))


def test_near_duplicate_pairs_straddling_files(english_articles, tmp_path):
    from support.tagged_corpus import tagged_row, write_tagged_file

    texts = [a["text"] for a in english_articles[:12]]
    train = [tagged_row(f"t{i}", t, f"https://news.example/{i}", "GB", split="train") for i, t in enumerate(texts)]
    edited = texts[3].replace(" the ", " a ", 1) + " Updated at noon."
    evals = [
        tagged_row("e-copy", edited, "https://news.example/copy", "GB", split="eval"),
        tagged_row("e-new", texts[0][::-1], "https://news.example/new", "GB", split="eval"),
    ]
    pairs = near_duplicate_pairs(
        [write_tagged_file(train, tmp_path / "train.parquet")], [write_tagged_file(evals, tmp_path / "eval.parquet")]
    )
    assert ("e-copy", "t3") in pairs
    assert not any(e == "e-new" for e, _ in pairs)


def _input_rows(articles: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
    """Real articles made unique per copy, one planted quote, and 20 near-duplicate pairs."""
    rows, pairs = [], []
    for i, article in enumerate(articles[:40]):
        url = article["url"].split("?")[0].rstrip("/") + f"/copy-{i}"
        rows.append({"url": url, "title": article["title"], "text": article["text"] + f" (copy {i})", "country": "GB"})
    rows.append({**rows[5], "url": rows[5]["url"] + "-quoted", "text": _planted(rows[5]["text"]), "country": "KE"})
    for j, article in enumerate(articles[40:60]):
        base_url = article["url"].split("?")[0].rstrip("/")
        first = {"url": f"{base_url}/dup-{j}-a", "title": article["title"], "text": article["text"], "country": "IN"}
        second = {
            **first,
            "url": f"{base_url}/dup-{j}-b",
            "text": article["text"].replace(" the ", " a ", 1) + " Updated.",
        }
        rows += [first, second]
        pairs.append((first["url"], second["url"]))
    return rows, pairs


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_curation_run_decontaminates_and_reports_cross_split_near_duplicates(shared_data, english_articles, tmp_path):
    rows, planted_pairs = _input_rows(english_articles)
    source = tmp_path / "news.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    reports = {}
    for minhash in (None, {}):
        config = parse_config(
            {
                "name": "decont",
                "output": str(tmp_path / f"out-{minhash is not None}"),
                "inputs": [
                    {
                        "name": "news",
                        "format": "jsonl",
                        "path": str(source),
                        "fields": {"url": "url", "text": "text", "title": "title", "country": "country"},
                    }
                ],
                "filters": {"language": None, "min_words": 5},
                "dedup": {"exact": True, "minhash": minhash},
                "balance": {"by": "continent", "method": "none", "eval_fraction": 0.3, "seed": 0},
                "decontamination": {
                    "sets": [
                        {
                            "path": str(shared_data / "qa/localized_news_mcq_800.jsonl"),
                            "fields": ["question", "correct_answer"],
                        },
                        {
                            "path": str(shared_data / "qa/localnewsqa_gold_20260516.parquet"),
                            "fields": ["question", "correct_answer"],
                        },
                    ]
                },
                "executor": {"type": "local", "tasks": 1, "workers": 1},
            }
        )
        report = run_curation(config, show_progress=False)
        assert report["reconcile"]["ok"], report["reconcile"]["line"]
        assert report["exclusions"]["decontamination"] == {"localnewsqa_gold_20260516": 1}
        section = report["decontamination"]["sets"]["localnewsqa_gold_20260516"]
        assert section["excluded_by_country"] == {"KE": 1} and section["excluded_by_continent"] == {"Africa": 1}
        assert report["decontamination"]["sets"]["localized_news_mcq_800"]["excluded"] == 0
        layout = RunLayout(config.output)
        kept_urls = pl.read_parquet(layout.data_files())["url"].to_list()
        assert rows[5]["url"] in kept_urls  # the neighbour the question was planted into
        assert rows[40]["url"] not in kept_urls and rows[41]["url"] in kept_urls  # planted out, next one in
        reports[minhash is not None] = (report["decontamination"]["cross_split"], layout)
    off, layout_off = reports[False]
    data = pl.read_parquet(layout_off.data_files()).select("url", "split")
    split_of = dict(data.iter_rows())
    straddling = [
        p for p in planted_pairs if p[0] in split_of and p[1] in split_of and split_of[p[0]] != split_of[p[1]]
    ]
    assert straddling  # with 20 pairs and a 30% eval split, some land on both sides
    assert off["minhash_on"] is False and off["eval_docs_with_train_near_duplicate"] >= len(straddling)
    on, _ = reports[True]
    assert on["minhash_on"] is True and on["pairs"] == 0 and on["eval_docs"] > 0


def test_words_are_datatroves_simplified_words(shared_data):
    """``words`` skips datatrove's per-character diacritics pass: the words must stay exactly datatrove's, on
    every real shared text (German, French, isiZulu ... among them) and on marks that stand alone."""
    from datatrove.utils.text import simplify_text

    from geocorpus.simplified_words import _unicode_words, joined_words, words

    texts = [
        json.loads(line)["text"] for line in (shared_data / "news/fundus/fundus_articles.jsonl").open(encoding="utf-8")
    ]
    texts += pl.read_parquet(shared_data / "qa/localnewsqa_gold_20260516.parquet")["question"].to_list()[:2000]
    texts += [
        "Café Ångström naïve São Paulo",
        "a \u0301 b",
        "e\u0301\u0302x",
        "Ｆｕｌｌ width ２０２４",
        "İstanbul ǅ",
        "\u212aelvin 3.5% of $1,200.75 in 2024",
        "٣٫٥ and ۱۲ à 1.2.3",
        "tab\tnew\nline\x0bvt\x1cfs",
        # the compiled ASCII pass: numbers at every edge, separators of every kind, bytes that are neither
        "1.2.3 1,234,567 12, .5 3. x1.5y 007.08.09 A1B2 9,9.9 ,1 1..2 1,,2",
        "MiXeD CaSe--dash_under'quote\"dq(paren)[br]{cu}<a>@#$%^&*+=|\\/~`!?;:",
        "ctrl\x00nul\x01\x7fdel \x1d\x1e\x1f end\r\n\x0c",
        "   leading and trailing   ",
        "...",
        "",
    ]
    assert sum(not t.isascii() for t in texts) > 50 and sum(t.isascii() for t in texts) > 1000
    for text in texts:
        expected = simplify_text(text).split()
        assert words(text) == expected, text[:80]
        assert joined_words(text) == " ".join(expected).encode("utf-8"), text[:80]
        assert _unicode_words(text) == expected, text[:80]  # the Python path, which non-ASCII text takes


def test_a_title_and_text_are_split_apart_and_a_text_once(shared_data):
    """The decontamination step splits the title and the text on their own (their words, joined, are those
    of title newline text), so the text's words are there for the MinHash digest step after it, which
    asks for the same text object; the kept result never answers for another text."""
    from geocorpus import simplified_words
    from geocorpus.simplified_words import joined_words, words

    rows = [json.loads(line) for line in (shared_data / "news/fundus/fundus_articles.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if r.get("title") and r["text"]]
    assert len(rows) > 100 and sum(not (r["title"] + r["text"]).isascii() for r in rows) > 10
    for row in rows:
        assert [*words(row["title"]), *words(row["text"])] == words(f"{row['title']}\n{row['text']}")
    text = rows[0]["text"]
    first = joined_words(text)
    assert joined_words(text) is first  # the same object: the same buffer, not simplified again
    copy = "".join(list(text))  # an equal text, another object
    assert copy is not text and joined_words(copy) == first and joined_words(copy) is not first
    simplified_words._last = ("", b"")
    doc = Document(text=text, id="a", metadata={"title": rows[0]["title"]})
    assert NGramDecontamination(_sets(shared_data)).filter(doc) is True
    assert simplified_words._last[0] is doc.text  # what the digest step will ask for next
    assert Signer().text_digests(doc.text) == Signer().text_digests(copy)


@pytest.mark.parametrize("min_words", [8, 3])
def test_anchor_prefilter_finds_what_a_full_scan_finds(shared_data, english_articles, min_words):
    """``find`` first rules documents out by their windows of the shortest key length: it must find a match
    exactly when trying every key length at every position does (real articles, planted quotes, and
    every indexed item's own text)."""
    from geocorpus.simplified_words import words

    index = build_index(_sets(shared_data, min_words=min_words))
    lengths = sorted({key.count(b" ") + 1 for key in index.grams})

    def full_scan(text: str) -> bool:
        tokens = words(text)
        return any(
            " ".join(tokens[p : p + n]).encode("utf-8") in index.grams
            for p in range(len(tokens))
            for n in lengths
            if p + n <= len(tokens)
        )

    items = pl.read_parquet(shared_data / "qa/localnewsqa_gold_20260516.parquet")["question"].to_list()[:300]
    texts = [a["text"] for a in english_articles] + [_planted(a["text"]) for a in english_articles[:20]]
    texts += [f"Some words first. {q} And after." for q in items]
    found = [index.find(t) is not None for t in texts]
    assert found == [full_scan(t) for t in texts]
    assert 0 < sum(found) < len(texts)


def test_a_long_document_is_scanned_without_missing_a_window(shared_data, english_articles):
    """Every window of a long document is checked (here ~20,000 words, the real articles one after the
    other): a quote must be found wherever it stands, at the very start and end too, and the first quote in
    the text is the one reported."""
    index = build_index(_sets(shared_data))
    article = " ".join(" ".join(a["text"] for a in english_articles).split()[:20_000])
    assert index.find(article) is None
    quote = "In Bangladesh which date is observed as Victory Day commemorating the country's victory in the 1971"
    tokens = article.split()
    assert len(tokens) == 20_000
    for position in [0, 1, 37, 4_999, 5_000, 12_345, 19_999, 20_000]:
        text = " ".join([*tokens[:position], quote, *tokens[position:]])
        hit = index.find(text)
        assert hit is not None and hit[1].startswith("in bangladesh which date"), position
    two = " ".join([*tokens[:45], "Which river is the longest river in Nigeria?", *tokens[45:60], quote])
    assert index.find(two) == ("localized_news_mcq_800", "which river is the longest river in nigeria")


@pytest.mark.parametrize(("n_grams", "min_words"), [(13, 8), (13, 0), (5, 3), (2, 2)])
def test_the_index_holds_every_fields_ngrams_short_fields_whole_and_the_ngrams_across_fields(
    shared_data, n_grams, min_words
):
    """The index, built from byte spans of the joined fields, holds exactly what the definition says: each
    field's n-grams (or the field whole when short and at least ``min_words``), and every n-gram of the
    fields' words joined, each with the first set that has it; and the same items count as checkable."""
    from geocorpus.decontaminate import item_pieces
    from geocorpus.simplified_words import words

    config = _sets(shared_data, n_grams=n_grams, min_words=min_words)
    expected: dict[bytes, str] = {}
    coverage = {}

    def put(tokens: list[str], name: str) -> None:
        expected.setdefault(" ".join(tokens).encode("utf-8"), name)

    for spec in config.sets:
        items, checkable = item_pieces(spec), 0
        for pieces in items:
            fields = [words(p) for p in pieces]
            ok = False
            for tokens in fields:
                if len(tokens) >= n_grams:
                    for p in range(len(tokens) - n_grams + 1):
                        put(tokens[p : p + n_grams], spec.set_name)
                    ok = True
                elif min_words and len(tokens) >= max(min_words, 2):
                    put(tokens, spec.set_name)
                    ok = True
            joined = [w for tokens in fields for w in tokens]
            for p in range(len(joined) - n_grams + 1):
                put(joined[p : p + n_grams], spec.set_name)
            checkable += ok or len(joined) >= n_grams
        coverage[spec.set_name] = {"items": len(items), "checkable_items": checkable}
    index = build_index(config)
    assert index.grams == expected
    assert index.coverage == coverage
    assert len(expected) > 10_000
