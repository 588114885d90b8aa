"""A fastText country classifier for documents no other evidence places (``tag_source = classifier``).

It learns from documents whose country is known with high confidence (the input's own field or the
outlet registry), from URL features (host labels, path words) and/or the text, and only answers when
its probability reaches a threshold chosen *by the code* on a held-out split to reach a target
precision (default 0.98). The split is by outlet (registrable domain): a classifier that has seen
an outlet's other articles would look far better than it is on the outlets it is actually used for,
which are the ones the registry does not know. The threshold, the feature set and the held-out
figures are stored beside the model (``<model>.json``), so a config names only ``model.bin``.

fastText comes from datatrove's ``fasttext-numpy2-wheel`` (``import fasttext``); training runs on one
thread with a fixed seed, so the same rows give the same model.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import xxhash

FEATURE_SETS = ("url", "text", "url+text")
#: Tag sources whose country counts as known with high confidence (what the classifier learns from).
TRUSTED_SOURCES = ("input", "registry")
DEFAULT_TARGET_PRECISION = 0.98
#: The threshold is only chosen among predictions with at least this many held-out documents above it.
MIN_SUPPORT = 20
#: Threshold stored when no threshold reaches the target precision: the model never answers.
NEVER = 1.01
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_TEXT_WORDS = 200


class ClassifierError(ValueError):
    """A model file or its metadata that cannot be used, or training input that cannot train one."""


@dataclass(frozen=True)
class LabeledDoc:
    """One training/evaluation document: its country, text, URL and outlet (what the split groups by)."""

    country: str
    text: str
    url: str
    outlet: str


def features(text: str | None, url: str | None, feature_set: str) -> str:
    """The fastText input line: ``h_<label>`` per host label, ``tld_<tld>``, ``p_<word>`` per path word,
    then the first words of the text (lower case). fastText's character n-grams of these tokens let
    it generalize to hosts it has never seen (``...zeitung``, ``...times``)."""
    parts: list[str] = []
    if "url" in feature_set and url:
        rest = url.split("://", 1)[-1]
        host, _, tail = rest.partition("/")
        labels = host.lower().split(":")[0].split(".")
        if labels and labels[0] == "www":
            labels = labels[1:]
        parts += [f"h_{label}" for label in labels[:-1]]
        if labels:
            parts.append(f"tld_{labels[-1]}")
        path = tail.split("?", 1)[0].lower()
        parts += [f"p_{word}" for word in _WORD.findall(path) if 1 < len(word) < 30][:30]
    if "text" in feature_set and text:
        parts += _WORD.findall(text[:5000].lower())[:_TEXT_WORDS]
    return " ".join(parts)


def split_by_outlet(outlet: str, seed: int = 0) -> str:
    """``train``, ``calibrate`` or ``test`` for every document of one outlet (stable hash, 80/10/10)."""
    bucket = xxhash.xxh64_intdigest(outlet, seed) % 10
    return "train" if bucket < 8 else ("calibrate" if bucket == 8 else "test")


def choose_threshold(scored: Sequence[tuple[float, bool]], target: float, min_support: int = MIN_SUPPORT) -> float:
    """The lowest probability threshold whose predictions (prob >= threshold) reach ``target``
    precision with at least ``min_support`` of them; :data:`NEVER` if none does."""
    ranked = sorted(scored, key=lambda item: -item[0])
    best = NEVER
    correct = 0
    for index, (probability, ok) in enumerate(ranked, start=1):
        correct += ok
        is_last_of_tie = index == len(ranked) or ranked[index][0] < probability
        if is_last_of_tie and index >= min_support and correct / index >= target:
            best = probability
    return best


@dataclass
class Slice:
    """Precision and coverage of thresholded predictions on a set of documents."""

    documents: int = 0
    predicted: int = 0
    correct: int = 0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else float("nan")

    @property
    def coverage(self) -> float:
        return self.predicted / self.documents if self.documents else float("nan")


@dataclass
class TrainReport:
    """What ``train_classifier`` learned from and how it does on outlets it never saw."""

    model_path: Path
    features: str
    target_precision: float
    threshold: float
    rows: dict[str, int]  # documents per split
    outlets: dict[str, int]  # outlets per split
    labels: list[str]
    calibrate: dict[str, Slice] = field(default_factory=dict)  # per country, "all" overall
    test: dict[str, Slice] = field(default_factory=dict)

    def summary(self) -> str:
        never = " (no threshold reaches it: the model never answers)" if self.threshold >= NEVER else ""
        lines = [
            f"country classifier {self.model_path} ({self.features}): {len(self.labels)} countries; "
            f"documents train {self.rows['train']}, calibrate {self.rows['calibrate']}, test {self.rows['test']} "
            f"(outlets {self.outlets['train']} / {self.outlets['calibrate']} / {self.outlets['test']}, split by outlet)",
            f"  threshold {self.threshold:.4f} chosen on the calibrate split for precision >= "
            f"{self.target_precision:.2f}{never}",
            "  held-out test split (outlets the model never saw): country, documents, predicted, precision, coverage",
        ]
        for country, tally in sorted(self.test.items(), key=lambda item: (item[0] != "all", -item[1].documents)):
            precision = "  -  " if tally.precision != tally.precision else f"{tally.precision:6.1%}"
            lines.append(
                f"    {country:<4} {tally.documents:>7} {tally.predicted:>7} {precision:>7} {tally.coverage:7.1%}"
            )
        return "\n".join(lines)


class CountryClassifier:
    """A trained model with its stored threshold; ``predict`` answers only at or above it."""

    def __init__(self, model: Any, threshold: float, feature_set: str, name: str) -> None:
        self._model = model
        self.threshold = threshold
        self.features = feature_set
        self.name = name

    @staticmethod
    def metadata_path(model_path: str | Path) -> Path:
        return Path(str(model_path) + ".json")

    @classmethod
    def load(cls, path: str | Path) -> CountryClassifier:
        """``model.bin`` and its ``model.bin.json`` (threshold, features); a clear error if either is bad."""
        path = Path(path)
        meta_path = cls.metadata_path(path)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            threshold, feature_set = float(meta["threshold"]), str(meta["features"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ClassifierError(f"{meta_path}: not a country classifier's metadata ({error})") from None
        if feature_set not in FEATURE_SETS:
            raise ClassifierError(f"{meta_path}: unknown feature set {feature_set!r}; known: {FEATURE_SETS}")
        import fasttext

        try:
            model = fasttext.load_model(str(path))
        except (ValueError, OSError) as error:
            raise ClassifierError(f"{path}: cannot load the fastText model: {error}") from None
        return cls(model, threshold, feature_set, meta.get("name") or path.name)

    def predict_raw(self, text: str | None, url: str | None) -> tuple[str, float] | None:
        """The most likely country and its probability, whatever the threshold (None: no features)."""
        line = features(text, url, self.features)
        if not line:
            return None
        labels, probabilities = self._model.predict(line, k=1)
        return labels[0].removeprefix("__label__"), min(1.0, float(probabilities[0]))

    def predict(self, text: str | None, url: str | None = None) -> tuple[str, float] | None:
        found = self.predict_raw(text, url)
        return found if found is not None and found[1] >= self.threshold else None


def _evaluate(classifier: CountryClassifier, docs: Iterable[LabeledDoc], threshold: float) -> dict[str, Slice]:
    tallies: dict[str, Slice] = defaultdict(Slice)
    for doc in docs:
        found = classifier.predict_raw(doc.text, doc.url)
        for key in (doc.country, "all"):
            tallies[key].documents += 1
        if found is None or found[1] < threshold:
            continue
        for key in (doc.country, "all"):
            tallies[key].predicted += 1
            tallies[key].correct += found[0] == doc.country
    return dict(tallies)


def train_classifier(
    docs: Iterable[LabeledDoc],
    out: str | Path,
    feature_set: str = "url+text",
    target_precision: float = DEFAULT_TARGET_PRECISION,
    seed: int = 0,
    epoch: int = 20,
    lr: float = 0.2,
    dim: int = 50,
) -> TrainReport:
    """Train on the ``train`` outlets, choose the threshold on ``calibrate``, report on ``test``
    (:func:`split_by_outlet`); write ``out`` and ``out.json``."""
    if feature_set not in FEATURE_SETS:
        raise ClassifierError(f"unknown feature set {feature_set!r}; known: {FEATURE_SETS}")
    if not 0 < target_precision <= 1:
        raise ClassifierError(f"target precision must be in (0, 1], got {target_precision}")
    out = Path(out)
    splits: dict[str, list[LabeledDoc]] = {"train": [], "calibrate": [], "test": []}
    for doc in docs:
        splits[split_by_outlet(doc.outlet, seed)].append(doc)
    labels = sorted({doc.country for doc in splits["train"]})
    if len(labels) < 2:
        raise ClassifierError(f"need training documents of at least 2 countries, found {labels or 'none'}")
    import fasttext

    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        with train_file.open("w", encoding="utf-8") as handle:
            for doc in splits["train"]:
                line = features(doc.text, doc.url, feature_set)
                if line:
                    handle.write(f"__label__{doc.country} {line}\n")
        model = fasttext.train_supervised(
            str(train_file),
            epoch=epoch,
            lr=lr,
            dim=dim,
            minn=3,
            maxn=5,
            wordNgrams=1,
            minCount=1,
            thread=1,
            seed=seed,
            verbose=0,
        )
    classifier = CountryClassifier(model, NEVER, feature_set, out.name)
    scored = []
    for doc in splits["calibrate"]:
        found = classifier.predict_raw(doc.text, doc.url)
        if found is not None:
            scored.append((found[1], found[0] == doc.country))
    threshold = choose_threshold(scored, target_precision)
    report = TrainReport(
        model_path=out,
        features=feature_set,
        target_precision=target_precision,
        threshold=threshold,
        rows={name: len(rows) for name, rows in splits.items()},
        outlets={name: len({doc.outlet for doc in rows}) for name, rows in splits.items()},
        labels=labels,
        calibrate=_evaluate(classifier, splits["calibrate"], threshold),
        test=_evaluate(classifier, splits["test"], threshold),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out))
    meta = {
        "name": out.name,
        "features": feature_set,
        "threshold": threshold,
        "target_precision": target_precision,
        "seed": seed,
        "rows": report.rows,
        "outlets": report.outlets,
        "labels": labels,
        "test": {country: asdict(tally) for country, tally in report.test.items()},
        "calibrate": {country: asdict(tally) for country, tally in report.calibrate.items()},
    }
    CountryClassifier.metadata_path(out).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    return report


def corpus_files(paths: Sequence[str | Path]) -> list[Path]:
    """The Parquet shards of a run folder, its ``data/`` folder, or the files themselves."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            data = path / "data" if (path / "data").is_dir() else path
            files += sorted(data.rglob("*.parquet"))
        elif path.is_file():
            files.append(path)
        else:
            raise ClassifierError(f"{path}: no such file or folder")
    if not files:
        raise ClassifierError(f"no Parquet files under {', '.join(map(str, paths))}")
    return files


def corpus_rows(paths: Sequence[str | Path], columns: Sequence[str]) -> Iterator[dict[str, Any]]:
    """``columns`` of every row of tagged Parquet; a file without them is a clear error."""
    import pyarrow.parquet as pq

    for file in corpus_files(paths):
        table = pq.read_table(file)
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise ClassifierError(f"{file}: not a tagged corpus shard (no column(s) {missing})")
        yield from table.select(list(columns)).to_pylist()


def corpus_docs(paths: Sequence[str | Path], sources: Sequence[str] = TRUSTED_SOURCES) -> Iterator[LabeledDoc]:
    """Training documents from tagged Parquet (a run folder, its ``data/`` folder, or files): rows
    whose ``tag_source`` is one of ``sources`` and that have a country and a text."""
    for row in corpus_rows(paths, ["text", "url_normalized", "domain", "country", "tag_source"]):
        if row["country"] and row["text"] and row["tag_source"] in sources:
            yield LabeledDoc(row["country"], row["text"], row["url_normalized"] or "", row["domain"] or "")
