"""The curation steps as datatrove PipelineSteps, usable in anyone's datatrove pipeline.

Each filter drops with a machine-readable reason (datatrove stores it in ``metadata["filter_reason"]``)
so that an ``ExclusionWriter`` keeps the document and its reason: nothing is lost silently. Heavy
objects (tagger, language model) are built lazily inside the worker, because datatrove pickles steps
to ship them to forkserver/Slurm/Ray workers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import xxhash
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter

from geocorpus.base_filter import PerTaskStatsFilter
from geocorpus.page_evidence import PAGE_SIGNALS_KEY
from geocorpus.shortlinks import REDIRECT_TARGET_KEY, is_shortener, is_shortlink
from geocorpus.urls import url_key, url_path
from geocorpus.writers import INPUT_COUNTRY_KEY

if TYPE_CHECKING:
    from geocorpus.config import TaggingConfig
    from geocorpus.langid import Predictor
    from geocorpus.tagging import RegionTagger
    from geocorpus.urls import URLVerifier


class VerifyURL(PerTaskStatsFilter):
    """Keep documents whose URL verifies; write url_normalized/url_key/url_status/host/domain/suffix.

    Rejected documents go to the exclusion writer with the verifier's reason (``relative_url``,
    ``ip_host``, ...); a document with no URL at all is rejected as ``missing_url``. A shortlink
    (:func:`geocorpus.shortlinks.is_shortlink`) is kept with ``url_status = unresolved_redirect``, or
    replaced by its target (``resolved_redirect``) where the reader recorded one (WARC 3xx records).
    """

    name = "🔗 Verify URL"

    def __init__(
        self, exclusion_writer: DiskWriter | None = None, url_key: str = "url", max_length: int = 2048
    ) -> None:
        super().__init__(exclusion_writer)
        self.url_key = url_key
        self.max_length = max_length
        self._verifier: URLVerifier | None = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self._verifier is None:
            from geocorpus.urls import URLVerifier

            self._verifier = URLVerifier(max_length=self.max_length)
        raw = doc.metadata.get(self.url_key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return False, "missing_url"
        result = self._verifier.verify(str(raw))
        if not result.ok:
            assert result.reason is not None  # a rejection always names its reason
            return False, result.reason
        meta = doc.metadata
        status = "ok"
        url = result.url
        assert url is not None  # an accepted URL always has its normalized form
        if is_shortener(result.host, result.domain) and is_shortlink(result.host, result.domain, url_path(url)):
            # A hop, not a page: follow it only where the input recorded where it leads (WARC 3xx records).
            status = "unresolved_redirect"
            target = meta.get(REDIRECT_TARGET_KEY)
            resolved = self._verifier.verify(str(target)) if target else None
            if (
                resolved is not None
                and resolved.url is not None
                and not is_shortlink(resolved.host, resolved.domain, url_path(resolved.url))
            ):
                result, url, status = resolved, resolved.url, "resolved_redirect"
            self.stat_update(status)
        meta["url_normalized"] = url
        meta["url_key"] = url_key(url)
        meta["url_status"] = status
        meta["host"] = result.host
        meta["domain"] = result.domain
        meta["suffix"] = result.suffix
        meta["url_unwrapped"] = result.unwrapped
        if result.unwrapped:
            self.stat_update("url_unwrapped")
        return True


class TagRegion(PipelineStep):
    """Write country, country_name, continent, tag_source, tag_conflict, tag_evidence and tag_confidence
    into doc.metadata (see :class:`geocorpus.tagging.RegionTagger`)."""

    name = "🗺 Tag region"
    type = "🏷 - TAGGER"

    def __init__(
        self,
        precedence: Sequence[str] = ("input", "user_registry", "registry", "cctld", "page", "classifier"),
        user_registry: str | None = None,
        continent_scheme: str = "paper",
        input_country_key: str = INPUT_COUNTRY_KEY,
        registry: str | None = None,
        page_evidence: str | None = None,
        classifier: str | None = None,
    ) -> None:
        super().__init__()
        self.precedence = tuple(precedence)
        self.user_registry = user_registry
        self.continent_scheme = continent_scheme
        self.input_country_key = input_country_key
        self.registry = registry  # a built registry file replacing the shipped one (None = shipped)
        self.page_evidence = page_evidence  # a page-signal calibration file (None = no page evidence)
        self.classifier = classifier  # a country classifier model file (None = no classifier)
        self._tagger: RegionTagger | None = None
        # Build once here so that a bad precedence or file fails before any worker starts.
        self._make_tagger()
        self._tagger = None

    @classmethod
    def from_config(cls, tagging: TaggingConfig) -> TagRegion:
        """The step a curation config's ``tagging`` section describes."""
        return cls(
            precedence=tagging.precedence,
            user_registry=tagging.user_registry,
            continent_scheme=tagging.continent_scheme,
            registry=tagging.registry,
            page_evidence=tagging.page_evidence,
            classifier=tagging.classifier,
        )

    def _make_tagger(self) -> RegionTagger:
        from geocorpus.tagging import RegionTagger

        page = classifier = None
        if self.page_evidence is not None:
            from geocorpus.page_evidence import PageEvidence

            page = PageEvidence.load(self.page_evidence)
        if self.classifier is not None:
            from geocorpus.country_classifier import CountryClassifier

            classifier = CountryClassifier.load(self.classifier)
        self._tagger = RegionTagger(
            precedence=self.precedence,
            user_registry=self.user_registry,
            builtin_registry=self.registry or True,
            continent_scheme=self.continent_scheme,
            page_evidence=page,
            classifier=classifier,
        )
        return self._tagger

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        tagger = self._tagger or self._make_tagger()
        tag = tagger.tag
        claim_key = self.input_country_key
        wants_text = tagger.classifier is not None
        counts: Counter[tuple[str | None, str, bool]] = Counter()
        try:
            for doc in data:
                meta = doc.metadata
                signals = meta.get(PAGE_SIGNALS_KEY)
                if isinstance(signals, str):  # a tagged shard read again
                    signals = json.loads(signals)
                result = tag(
                    meta.get("host"),
                    meta.get("domain"),
                    meta.get("suffix"),
                    meta.get(claim_key),
                    url=meta.get("url_normalized"),
                    page_signals=signals,
                    text=doc.text if wants_text else None,
                )
                if PAGE_SIGNALS_KEY in meta:  # kept as JSON, so that a later run can measure them
                    meta[PAGE_SIGNALS_KEY] = (
                        json.dumps(signals, sort_keys=True, ensure_ascii=False) if signals else None
                    )
                meta["country"] = result.country
                meta["country_name"] = result.country_name
                meta["continent"] = result.continent
                meta["tag_source"] = result.tag_source
                meta["tag_conflict"] = result.tag_conflict
                meta["tag_evidence"] = result.tag_evidence
                meta["tag_confidence"] = result.tag_confidence
                counts[(result.country, result.tag_source, result.tag_conflict is not None)] += 1
                yield doc
        finally:  # per-task stats: one update per distinct outcome, not per document
            for (country, source, conflict), n in counts.items():
                self.stat_update(f"country_{country or 'none'}", f"tag_source_{source}", value=n)
                if conflict:
                    self.stat_update("tag_conflict", value=n)


class RequireCountry(PerTaskStatsFilter):
    """Drop documents no evidence could place (``no_country``), or outside an allowed set."""

    name = "🧭 Require country"

    def __init__(self, exclusion_writer: DiskWriter | None = None, allowed: Sequence[str] | None = None) -> None:
        super().__init__(exclusion_writer)
        self.allowed = frozenset(c.upper() for c in allowed) if allowed else None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        country = doc.metadata.get("country")
        if not country:
            return False, "no_country"
        if self.allowed is not None and country not in self.allowed:
            return False, "country_not_selected"
        return True


class TextStats(PipelineStep):
    """Whitespace word count (``min_words``; balancing by tokens unless ``CountTokens`` recounts) and a text hash.

    Exact duplicates are identical texts (leading/trailing whitespace aside); texts that differ in
    spacing or a few words are near duplicates, MinHash's job. Hashing the raw text instead of a
    re-joined word list saves a full pass over every document. The words are counted, as ``str.split``
    would make them, by a compiled pass over the text's bytes (``word_kernels.whitespace_words``): making
    ~700 word objects to count them cost more than the rest of the step."""

    name = "🔢 Text stats"
    type = "🔢 - STATS"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from geocorpus.word_kernels import ASCII_WHITESPACE, WIDE_WHITESPACE, whitespace_words

        total = 0
        hexdigest = xxhash.xxh64_hexdigest
        try:
            for doc in data:
                text = doc.text
                meta = doc.metadata
                encoded = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
                meta["n_tokens"] = n = whitespace_words(encoded, ASCII_WHITESPACE, WIDE_WHITESPACE)
                meta["text_hash"] = hexdigest(text.strip())
                total += n
                yield doc
        finally:
            self.stat_update("n_tokens", value=total, unit="task")


class CountTokens(PipelineStep):
    """``n_tokens`` in the tokens of the model to be trained (``balance.tokenizer``), not whitespace words.

    Runs after the filters (``min_words`` still counts words) so only kept documents are tokenized;
    documents go through the Rust tokenizer in batches. Special tokens are not counted: what balancing
    compares is text, and every document gets the same BOS/EOS in training."""

    name = "🔢 Count tokens"
    type = "🔢 - STATS"

    def __init__(self, tokenizer: str, batch_size: int = 256) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    def _batches(self, data: DocumentsPipeline) -> Iterator[list[Document]]:
        batch: list[Document] = []
        for doc in data:
            batch.append(doc)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from tokenizers import Tokenizer

        from geocorpus.finalize.balance import tokenizer_file

        encoder = Tokenizer.from_file(str(tokenizer_file(self.tokenizer)))
        total = 0
        try:
            for batch in self._batches(data):
                encoded = encoder.encode_batch([doc.text for doc in batch], add_special_tokens=False)
                for doc, tokens in zip(batch, encoded, strict=True):
                    doc.metadata["n_tokens"] = n = len(tokens.ids)
                    total += n
                    yield doc
        finally:
            self.stat_update("n_target_tokens", value=total, unit="task")


class MinLengthFilter(PerTaskStatsFilter):
    """Drop documents shorter than ``min_words`` whitespace tokens (``too_short``)."""

    name = "📏 Min length"

    def __init__(self, min_words: int = 50, exclusion_writer: DiskWriter | None = None) -> None:
        super().__init__(exclusion_writer)
        self.min_words = min_words

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        n = doc.metadata.get("n_tokens")
        if n is None:
            n = len(doc.text.split())
        return True if n >= self.min_words else (False, "too_short")


class LanguageIDFilter(PerTaskStatsFilter):
    """Offline language ID (:mod:`geocorpus.langid`): fastText's lid.176 bundled in the package (default),
    py3langid, or a local fastText model file.

    datatrove's own LanguageFilter downloads lid.176.bin on first use; this one never touches the
    network. Drops with ``wrong_language`` or ``low_language_score``; writes ``language`` either way.
    Only the first ``max_chars`` characters are identified (default: the model's, see ``default_max_chars``).
    """

    name = "🌐 Language ID (offline)"

    def __init__(
        self,
        languages: Sequence[str] = ("en",),
        min_score: float = 0.5,
        model: str = "fasttext-lid176",
        exclusion_writer: DiskWriter | None = None,
        max_chars: int | None = None,
        batch_size: int = 256,
    ) -> None:
        from geocorpus.langid import check_model, default_max_chars

        super().__init__(exclusion_writer, batch_size=batch_size)
        self.languages = frozenset(languages)
        self.min_score = min_score
        self.model = model
        self.max_chars = max_chars if max_chars is not None else default_max_chars(model)
        check_model(model)  # a missing model file fails here, before any worker starts
        self._predict: Predictor | None = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        if self._predict is None:
            from geocorpus.langid import load_predictor

            self._predict = load_predictor(self.model)
        window = self.max_chars
        results: list[bool | tuple[bool, str]] = []
        for doc, (lang, score) in zip(batch, self._predict([doc.text[:window] for doc in batch])):
            doc.metadata["language"] = lang
            if lang not in self.languages:
                results.append((False, "wrong_language"))
            elif score < self.min_score:
                results.append((False, "low_language_score"))
            else:
                results.append(True)
        return results


class CountInput(PipelineStep):
    """Count the documents one input's reader emits into ``<folder>/<input>-<rank>.json``.

    Placed right after each reader (before any extraction step may drop a document); it counts only
    documents of its own input, because datatrove readers pass upstream documents through. This
    independent count is what the run reconciles against: input = kept + excluded. Written at the
    end of the task, so a killed task leaves no count and is re-run whole.
    """

    name = "🧮 Count input"
    type = "🔢 - STATS"

    def __init__(self, output_folder: DataFolderLike, input_name: str) -> None:
        super().__init__()
        self.output_folder = get_datafolder(output_folder)
        self.input_name = input_name

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        count = 0
        for doc in data:
            if doc.metadata.get("input_name") == self.input_name:
                count += 1
            yield doc
        self.stat_update("input_documents", value=count)
        with self.output_folder.open(f"{self.input_name}-{rank:05d}.json", "wt") as f:
            json.dump({"input": self.input_name, "rank": rank, "world_size": world_size, "documents": count}, f)
