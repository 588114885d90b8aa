"""The fastText country classifier: outlet-grouped splits, a threshold chosen by the code for the target
precision and stored with the model, ``geocorpus classifier train``, and the tagger's ``classifier`` source."""

from __future__ import annotations

import json
import math

import pytest
from datatrove.data import Document
from typer.testing import CliRunner

from geocorpus.country_classifier import (
    NEVER,
    ClassifierError,
    CountryClassifier,
    LabeledDoc,
    choose_threshold,
    corpus_docs,
    features,
    split_by_outlet,
    train_classifier,
)
from geocorpus.registry import OutletRegistry
from geocorpus.steps import TagRegion
from geocorpus.tagging import RegionTagger
from geocorpus.urls import verify_url
from tests.support.tagged_corpus import tagged_row, write_tagged_corpus


def test_features_read_host_labels_path_words_and_text():
    line = features(
        "Der Bundestag hat 2024 beschlossen", "https://www.motorsport-magazin.com/superbike/news-1", "url+text"
    )
    assert line.split() == [
        "h_motorsport-magazin",
        "tld_com",
        "p_superbike",
        "p_news",
        "der",
        "bundestag",
        "hat",
        "beschlossen",
    ]
    assert features("text only", "https://x.com/a", "text") == "text only"
    assert features(None, None, "url+text") == ""


def test_choose_threshold_reaches_the_target_with_enough_support():
    scored = [(0.99, True)] * 30 + [(0.9, True)] * 10 + [(0.9, False)] * 2 + [(0.5, False)] * 20
    assert choose_threshold(scored, 0.98) == 0.99  # 0.9 would give 40/42 = 95%
    assert choose_threshold(scored, 0.95) == 0.9
    assert choose_threshold(scored, 0.98, min_support=31) == NEVER  # 30 documents are not enough
    assert choose_threshold([], 0.98) == NEVER
    # ties are kept together: a threshold can only take all documents of one probability
    assert choose_threshold([(0.7, True)] * 25 + [(0.7, False)], 0.98) == NEVER


def test_split_by_outlet_keeps_each_outlet_in_one_split():
    splits = {split_by_outlet(f"outlet{i}.com") for i in range(200)}
    assert splits == {"train", "calibrate", "test"}
    assert all(split_by_outlet("bbc.co.uk") == split_by_outlet("bbc.co.uk") for _ in range(3))


@pytest.fixture(scope="module")
def headlines(shared_data) -> list[LabeledDoc]:
    """Real fwd/news headlines (title + link) whose outlet the built-in registry knows."""
    registry = OutletRegistry.builtin()
    docs = []
    for row in json.loads((shared_data / "urls/fwd_news_headlines/headlines.json").read_text(encoding="utf-8")):
        result = verify_url(row.get("link"))
        if result.ok and (country := registry.lookup(result.host, result.domain, result.url)):
            docs.append(LabeledDoc(country, row.get("title") or "", result.url, result.domain))
    assert len(docs) > 5000
    return docs


@pytest.fixture(scope="module")
def trained(headlines, tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "model.bin"
    return train_classifier(headlines, path, feature_set="url+text", target_precision=0.9, epoch=5), path


def test_training_stores_the_threshold_chosen_on_held_out_outlets(trained, headlines):
    report, path = trained
    meta = json.loads(CountryClassifier.metadata_path(path).read_text())
    assert meta["threshold"] == report.threshold and meta["features"] == "url+text"
    assert sum(report.rows.values()) == len(headlines)
    outlets = {split: {d.outlet for d in headlines if split_by_outlet(d.outlet) == split} for split in report.rows}
    assert not outlets["train"] & outlets["test"] and not outlets["train"] & outlets["calibrate"]
    if report.threshold < NEVER:  # the chosen threshold does reach the target where it was chosen
        assert report.calibrate["all"].precision >= 0.9 and report.calibrate["all"].predicted >= 20
    assert "held-out test split" in report.summary()
    model = CountryClassifier.load(path)
    assert model.threshold == report.threshold
    for doc in headlines[:300]:
        raw, kept = model.predict_raw(doc.text, doc.url), model.predict(doc.text, doc.url)
        assert raw is not None and 0 <= raw[1] <= 1
        assert (kept is not None) == (raw[1] >= model.threshold)


def test_training_is_deterministic(trained, headlines, tmp_path):
    report, _ = trained
    again = train_classifier(headlines, tmp_path / "again.bin", feature_set="url+text", target_precision=0.9, epoch=5)
    assert again.threshold == report.threshold
    assert again.test["all"].predicted == report.test["all"].predicted


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ClassifierError, match="at least 2 countries"):
        train_classifier([LabeledDoc("GB", "t", "https://x.co.uk/a", "x.co.uk")] * 5, tmp_path / "m.bin")
    with pytest.raises(ClassifierError, match="unknown feature set"):
        train_classifier([], tmp_path / "m.bin", feature_set="html")
    (tmp_path / "junk.bin").write_bytes(b"not a model")
    with pytest.raises(ClassifierError, match="junk.bin.json"):
        CountryClassifier.load(tmp_path / "junk.bin")
    with pytest.raises(ClassifierError, match="no such file"):
        list(corpus_docs([tmp_path / "missing"]))


def test_tagger_uses_the_classifier_only_when_nothing_else_decides(trained):
    _, path = trained
    model = CountryClassifier.load(path)
    model.threshold = 0.0  # answer always, to see the wiring
    tagger = RegionTagger(precedence=("registry", "cctld", "classifier"), classifier=model)
    known = verify_url("https://www.thehindu.com/news/national/x.ece")
    tag = tagger.tag(known.host, known.domain, known.suffix, url=known.url, text="Delhi")
    assert tag.tag_source == "registry" and tag.tag_confidence is None
    unknown = verify_url("https://some-unlisted-news-site.com/politics/election-results")
    tag = tagger.tag(unknown.host, unknown.domain, unknown.suffix, url=unknown.url, text="The senate voted")
    assert tag.tag_source == "classifier" and tag.country is not None
    assert 0 < tag.tag_confidence <= 1 and tag.tag_evidence == "classifier:model.bin"
    model.threshold = NEVER
    tag = tagger.tag(unknown.host, unknown.domain, unknown.suffix, url=unknown.url, text="The senate voted")
    assert tag.tag_source == "none" and tag.tag_confidence is None


def test_cli_trains_from_a_tagged_corpus_and_tag_region_loads_it(shared_data, tmp_path, headlines):
    from pipelines.cli import app

    rows = [
        tagged_row(f"d{i}", doc.text or "x", doc.url, doc.country, source_row=i)
        for i, doc in enumerate(headlines[:3000])
    ]
    for row in rows:
        row["tag_source"] = "registry"
    rows.append({**rows[0], "id": "cctld-only", "tag_source": "cctld", "country": "ZZ"})  # not learned from
    data = write_tagged_corpus(rows, tmp_path / "run")
    out = tmp_path / "model.bin"
    result = CliRunner().invoke(
        app,
        [
            "classifier",
            "train",
            str(tmp_path / "run"),
            "--out",
            str(out),
            "--target-precision",
            "0.9",
            "--page-evidence",
            str(tmp_path / "page.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "held-out test split" in result.output and "tagging.classifier" in result.output
    assert "page signals measured: 0" in result.output  # these rows carry no page signals
    assert json.loads((tmp_path / "page.json").read_text())["trusted"] == {}
    meta = json.loads(CountryClassifier.metadata_path(out).read_text())
    assert sum(meta["rows"].values()) == 3000 and "ZZ" not in meta["labels"]
    step = TagRegion(precedence=("classifier",), classifier=str(out))
    doc = Document(text=headlines[0].text, id="x", metadata={"url_normalized": headlines[0].url})
    (tagged,) = list(step.run(iter([doc])))
    confidence = tagged.metadata["tag_confidence"]
    assert (tagged.metadata["tag_source"] == "classifier") == (confidence is not None)
    assert confidence is None or (confidence >= meta["threshold"] and not math.isnan(confidence))
    assert data.is_dir()
