"""Every curation config key reaches the step it configures.

A key that is validated and then dropped on its way into the pipeline (``tagging.precedence`` once was)
passes every unit test of the step itself. Here, for each key of the config schema, the pipeline is
built from a config that sets it to a non-default value (``build_stages(parse_config(...))``) and the
step it configures is inspected. Each check must also *fail* on the config without that value, so no
entry can pass vacuously; and a key added to the schema without an entry here fails the test.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from datatrove.executor import LocalPipelineExecutor, SlurmPipelineExecutor
from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupSignature
from datatrove.pipeline.filters import C4QualityFilter
from support.curation_runs import english_text, real_news_urls

from geocorpus.config import CurateConfig, parse_config
from geocorpus.country_classifier import LabeledDoc, train_classifier
from geocorpus.decontaminate import NGramDecontamination
from geocorpus.finalize import FinalizeCorpus, SelectRows
from geocorpus.page_evidence import PageEvidence
from geocorpus.readers.records import RecordCsvReader
from geocorpus.readers.spec import EXTRACTORS
from geocorpus.regions import cctld_country
from geocorpus.steps import (
    CountInput,
    CountTokens,
    LanguageIDFilter,
    MinLengthFilter,
    RequireCountry,
    TagRegion,
    VerifyURL,
)
from geocorpus.urls import URLVerifier
from geocorpus.writers import CorpusWriter, ExclusionWriter
from pipelines import curate
from pipelines.curate import Stage, build_stages, make_executors, run_curation, tag_stage_steps
from trainer_plugin.tokenizer import train_bpe_tokenizer


# --------------------------------------------------------------------------------------------------
# the schema's keys
# --------------------------------------------------------------------------------------------------
def _dataclass_in(hint: Any) -> type | None:
    """The dataclass a field holds (directly, optionally, or as list items), else None."""
    if dataclasses.is_dataclass(hint):
        return hint  # type: ignore[return-value]
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg  # type: ignore[return-value]
    return None


def schema_keys(cls: type, prefix: str = "") -> list[str]:
    """Dotted key paths of every field (``inputs[].name``); an optional section is a key of its own."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        inner = _dataclass_in(hint)
        path = f"{prefix}{f.name}"
        if inner is None:
            keys.append(path)
            continue
        is_list = typing.get_origin(hint) is list
        optional = type(None) in typing.get_args(hint) or isinstance(hint, types.UnionType)
        if optional:
            keys.append(path)
        keys += schema_keys(inner, f"{path}[]." if is_list else f"{path}.")
    return keys


# --------------------------------------------------------------------------------------------------
# building a pipeline from a config
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Built:
    config: CurateConfig
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def all_steps(self, stage: str = "tag") -> list:
        """The stage's steps, with the per-input chains of a reading step (``ReadInputs``) flattened."""
        flat = []
        for step in self.stage(stage).steps:
            flat += [s for chain in getattr(step, "chains", []) for s in chain] or [step]
        return flat

    def steps(self, cls: type, stage: str = "tag") -> list:
        return [s for s in self.all_steps(stage) if isinstance(s, cls)]

    def one(self, cls: type, stage: str = "tag") -> Any:
        found = self.steps(cls, stage)
        assert len(found) == 1, f"expected one {cls.__name__} in stage {stage}, found {len(found)}"
        return found[0]

    def executors(self) -> list:
        return make_executors(self.config, self.stages)

    def finalize_configs(self) -> list[CurateConfig]:
        return [self.one(SelectRows, "finalize_select").config, self.one(FinalizeCorpus, "finalize").config]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wiring")
    (root / "folder").mkdir()
    record = {"url": "https://www.nation.co.ke/news/a", "text": "A report.", "title": "T", "country": "KE"}
    (root / "folder" / "a.jsonl").write_text(json.dumps(record) + "\n")
    (root / "folder" / "b.ndjson").write_text(json.dumps(record) + "\n")
    (root / "news.csv").write_text("url,text\nhttps://www.nation.co.ke/news/b,Another report.\n")
    (root / "registry.csv").write_text("domain,country\nnation.co.ke,KE\n")
    (root / "now" / "text").mkdir(parents=True)
    (root / "now" / "sources").mkdir()
    (root / "now" / "text" / "20-01-ke.txt").write_text("@@1 <h> Title <p> A report .\n")
    (root / "now" / "sources" / "2020-sources.txt").write_text(
        "1\t4\t20-01-01\tKE\tnation.co.ke\thttps://nation.co.ke/a\tTitle\n"
    )
    for name in ("eval.jsonl", "eval2.jsonl"):
        (root / name).write_text(json.dumps({"text": "an evaluation item", "question": "q"}) + "\n")
    PageEvidence({"html_lang=KE": 1.0}).save(root / "page.json")
    docs = [
        LabeledDoc(c, f"report {c} {i}", f"https://n{i}.example.com/{c}", f"n{i}.example.com")
        for i in range(40)
        for c in ("KE", "NG")
    ]
    train_classifier(docs, root / "model.bin", epoch=1)
    train_bpe_tokenizer(["A report on the news of the day."] * 20, root / "tokenizer", vocab_size=300)
    return {"root": root, "jsonl": root / "folder" / "a.jsonl", **{k: root / v for k, v in _FILES.items()}}


_FILES = {
    "folder": "folder",
    "csv": "news.csv",
    "registry": "registry.csv",
    "now": "now",
    "elsewhere": "elsewhere",
    "evalset": "eval.jsonl",
    "evalset2": "eval2.jsonl",
    "page": "page.json",
    "classifier": "model.bin",
    "tokenizer": "tokenizer",
}


def base_config(files: dict[str, Path]) -> dict:
    return {
        "output": str(files["root"] / "out"),
        "inputs": [{"name": "news", "format": "jsonl", "path": str(files["jsonl"])}],
        "executor": {"type": "local", "tasks": 2},
    }


def set_key(raw: dict, key: str, value: Any) -> dict:
    """``raw`` with the dotted ``key`` set (``inputs[].x`` sets it on every input)."""
    raw = copy.deepcopy(raw)
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        if part.endswith("[]"):
            for item in node[part[:-2]]:
                item[parts[-1]] = value
            return raw
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return raw


def build(raw: dict) -> Built:
    config = parse_config(raw)
    return Built(config, build_stages(config))


# --------------------------------------------------------------------------------------------------
# the table: key -> (value, optional base settings, check)
# --------------------------------------------------------------------------------------------------
Check = Callable[[Built, Any], None]


@dataclasses.dataclass
class Entry:
    value: Any
    check: Check
    #: other keys the base config needs for this one to apply (e.g. a Slurm executor for its partition)
    base: dict[str, Any] = dataclasses.field(default_factory=dict)


def _folder_of(step) -> str:
    return step.output_folder.path.rstrip("/")


def _check_output(b: Built, value: str) -> None:
    assert _folder_of(b.one(CorpusWriter)) == str(Path(value) / "stages" / "tagged")
    assert _folder_of(b.one(CountInput)).startswith(value)
    assert all(_folder_of(w).startswith(value) for w in _exclusion_writers(b))
    assert all(e.logging_dir.path.startswith(value) for e in b.executors())


def _exclusion_writers(b: Built) -> list[ExclusionWriter]:
    return [s.exclusion_writer for s in b.all_steps() if getattr(s, "exclusion_writer", None) is not None]


def _reader(b: Built):
    """The first input's reader (the first step of stage 1)."""
    return b.all_steps()[0]


def _language(b: Built) -> LanguageIDFilter:
    return b.one(LanguageIDFilter)


def _signature_config(b: Built):
    return b.one(MinhashDedupSignature, "minhash_signatures").config


def _finalize(attr: str) -> Check:
    """Finalize stages read these keys from the config they are given: it must carry the value."""

    def check(b: Built, value: Any) -> None:
        for config in b.finalize_configs():
            node: Any = config
            for part in attr.split("."):
                node = getattr(node, part)
            assert node == value, (attr, node, value)

    return check


def _executor_attr(attr: str, transform: Callable[[Any], Any] = lambda v: v) -> Check:
    def check(b: Built, value: Any) -> None:
        for executor in b.executors():
            assert getattr(executor, attr) == transform(value), (attr, getattr(executor, attr))

    return check


def _check_ray_address(b: Built, value: str) -> None:
    """``ray_address`` is used when the run connects to Ray: run it up to that point."""
    seen: list[str | None] = []

    class Connected(Exception):
        pass

    def connect(address: str | None) -> None:
        seen.append(address)
        raise Connected

    original = curate._connect_ray
    curate._connect_ray = connect
    try:
        with pytest.raises(Connected):
            run_curation(b.config, show_progress=False)
    finally:
        curate._connect_ray = original
    assert seen == [value]


def _check_tasks(b: Built, value: int) -> None:
    for name in ("tag", "finalize_scatter", "finalize_write"):
        assert b.stage(name).tasks == value
    assert b.executors()[0].tasks == value


#: datatrove's four MinHash stages, in order (geocorpus may add its own between them)
MINHASH_STAGES = ("minhash_signatures", "minhash_buckets", "minhash_clusters", "minhash_filter")
SLURM = {"executor": {"type": "slurm", "partition": "cpu", "tasks": 2}}
RAY = {"executor": {"type": "ray", "tasks": 2}}
MINHASH = {"dedup": {"minhash": {}}}
LANGUAGE = {"filters": {"language": {"model": "py3langid"}}}
DECONT = {"decontamination.sets": [{"path": "@evalset"}]}


def _decont(b: Built):
    return b.one(NGramDecontamination).config


TABLE: dict[str, Entry] = {
    "output": Entry("@elsewhere", _check_output),
    "inputs[].name": Entry(
        "renamed",
        lambda b, v: (
            _check_equal(_reader(b).input_name, v),
            _check_equal(b.one(CountInput).input_name, v),
        ),
    ),
    "inputs[].format": Entry(
        "csv",
        lambda b, v: _check_equal((type(_reader(b)), getattr(_reader(b), "delimiter", None)), (RecordCsvReader, ",")),
        base={"inputs[].path": "@csv"},
    ),
    "inputs[].path": Entry(
        "@folder", lambda b, v: _check_equal((_reader(b).data_folder.path, _reader(b).single_file), (v, None))
    ),
    "inputs[].glob": Entry(
        "**/*.ndjson", lambda b, v: _check_equal(_reader(b).glob_pattern, v), {"inputs[].path": "@folder"}
    ),
    "inputs[].fields": Entry({"text": "body"}, lambda b, v: _check_equal(_reader(b).fields["text"], "body")),
    "inputs[].country": Entry("KE", lambda b, v: _check_equal(_reader(b).country, v)),
    "inputs[].url_prefix": Entry("https://www.bbc.com", lambda b, v: _check_equal(_reader(b).url_prefix, v)),
    "inputs[].limit": Entry(7, lambda b, v: _check_equal(_reader(b).limit, v)),
    "inputs[].max_text_chars": Entry(1234, lambda b, v: _check_equal(_reader(b).max_text_chars, v)),
    "inputs[].max_line_bytes": Entry(4321, lambda b, v: _check_equal(_reader(b).max_line_bytes, v)),
    "inputs[].now_gaps": Entry(
        "marker",
        lambda b, v: _check_equal(_reader(b).now_gaps, v),
        {"inputs[].format": "now", "inputs[].path": "@now"},
    ),
    "name": Entry("wired-name", _finalize("name")),
    "url.max_length": Entry(100, lambda b, v: _check_equal(b.one(VerifyURL).max_length, v)),
    "tagging.precedence": Entry(
        ["cctld", "input"],
        lambda b, v: _check_equal(
            (b.one(TagRegion).precedence, b.one(TagRegion)._make_tagger().precedence), (tuple(v),) * 2
        ),
    ),
    "tagging.user_registry": Entry("@registry", lambda b, v: _check_equal(b.one(TagRegion).user_registry, v)),
    "tagging.registry": Entry("@registry", lambda b, v: _check_equal(b.one(TagRegion).registry, v)),
    "tagging.page_evidence": Entry("@page", lambda b, v: _check_equal(b.one(TagRegion).page_evidence, v)),
    "tagging.classifier": Entry("@classifier", lambda b, v: _check_equal(b.one(TagRegion).classifier, v)),
    "tagging.continent_scheme": Entry("m49", lambda b, v: _check_equal(b.one(TagRegion).continent_scheme, v)),
    "tagging.require_country": Entry(False, lambda b, v: _check_equal(b.steps(RequireCountry), [])),
    "tagging.countries": Entry(["ke", "NG"], lambda b, v: _check_equal(b.one(RequireCountry).allowed, {"KE", "NG"})),
    "filters.language": Entry(None, lambda b, v: _check_equal(b.steps(LanguageIDFilter), [])),
    "filters.language.languages": Entry(
        ["en", "fr"], lambda b, v: _check_equal(_language(b).languages, set(v)), LANGUAGE
    ),
    "filters.language.min_score": Entry(0.9, lambda b, v: _check_equal(_language(b).min_score, v), LANGUAGE),
    "filters.language.model": Entry("py3langid", lambda b, v: _check_equal(_language(b).model, v)),
    "filters.language.max_chars": Entry(500, lambda b, v: _check_equal(_language(b).max_chars, v), LANGUAGE),
    "filters.min_words": Entry(7, lambda b, v: _check_equal(b.one(MinLengthFilter).min_words, v)),
    "filters.quality": Entry(
        ["c4"],
        lambda b, v: _check_equal(
            _folder_of(b.one(C4QualityFilter).exclusion_writer).rsplit("/", 1)[-1], "quality_c4"
        ),
    ),
    "dedup.exact": Entry(False, _finalize("dedup.exact")),
    "dedup.minhash": Entry(
        {},
        lambda b, v: _check_equal(
            (
                [s.name for s in b.stages if s.name in MINHASH_STAGES],
                b.one(SelectRows, "finalize_select").input_folder,
            ),
            (list(MINHASH_STAGES), str(b.config.layout.minhash_out)),
        ),
    ),
    "dedup.minhash.num_buckets": Entry(
        3,
        lambda b, v: _check_equal(
            (
                _signature_config(b).num_buckets,
                b.stage("minhash_buckets").tasks,
                b.one(MinhashDedupBuckets, "minhash_buckets").config.num_buckets,
            ),
            (v, v, v),
        ),
        MINHASH,
    ),
    "dedup.minhash.hashes_per_bucket": Entry(
        4, lambda b, v: _check_equal(_signature_config(b).hashes_per_bucket, v), MINHASH
    ),
    "dedup.minhash.n_grams": Entry(3, lambda b, v: _check_equal(_signature_config(b).n_grams, v), MINHASH),
    "dedup.minhash.tasks": Entry(
        3,
        lambda b, v: _check_equal((b.stage("minhash_signatures").tasks, b.stage("minhash_filter").tasks), (v, v)),
        MINHASH,
    ),
    "dedup.minhash.workers_per_bucket": Entry(
        2, lambda b, v: _check_equal(b.stage("minhash_buckets").tasks, 14 * v), MINHASH
    ),
    "dedup.minhash.seed": Entry(7, lambda b, v: _check_equal(_signature_config(b).seed, v), MINHASH),
    "balance.by": Entry("country", _finalize("balance.by")),
    "balance.unit": Entry("tokens", _finalize("balance.unit")),
    "balance.method": Entry("cap", _finalize("balance.method")),
    "balance.caps": Entry({"Asia": 10}, _finalize("balance.caps")),
    "balance.targets": Entry({"Asia": 10}, _finalize("balance.targets")),
    "balance.temperature": Entry(0.5, _finalize("balance.temperature")),
    "balance.total": Entry(100, _finalize("balance.total")),
    "balance.include": Entry(["Asia"], _finalize("balance.include")),
    "balance.exclude": Entry(["Europe"], _finalize("balance.exclude")),
    "balance.eval_fraction": Entry(0.2, _finalize("balance.eval_fraction")),
    "balance.eval_max_per_region": Entry(5, _finalize("balance.eval_max_per_region")),
    "balance.seed": Entry(3, _finalize("balance.seed")),
    "balance.tokenizer": Entry(
        "@tokenizer",
        lambda b, v: _check_equal((b.one(CountTokens).tokenizer, b.finalize_configs()[0].balance.tokenizer), (v, v)),
    ),
    "executor.type": Entry(
        "slurm",
        lambda b, v: _check_equal({type(e) for e in b.executors()}, {SlurmPipelineExecutor}),
        {"executor.partition": "cpu"},
    ),
    "executor.tasks": Entry(3, _check_tasks),
    "executor.workers": Entry(
        1,
        lambda b, v: _check_equal(
            (b.stage("tag").workers, b.executors()[0].workers, type(b.executors()[0])), (v, v, LocalPipelineExecutor)
        ),
    ),
    "executor.partition": Entry("gpu", _executor_attr("partition"), SLURM),
    "executor.time": Entry("01:00:00", _executor_attr("time"), SLURM),
    "executor.cpus_per_task": Entry(4, _executor_attr("cpus_per_task"), SLURM),
    "executor.mem_per_cpu_gb": Entry(8, _executor_attr("mem_per_cpu_gb"), SLURM),
    "executor.job_name": Entry(
        "wired",
        lambda b, v: _check_equal([e.job_name for e in b.executors()], [f"{v}-{s.name}" for s in b.stages]),
        SLURM,
    ),
    "executor.sbatch_args": Entry({"account": "geo"}, _executor_attr("_sbatch_args"), SLURM),
    "executor.venv_path": Entry("/opt/venv", _executor_attr("venv_path"), SLURM),
    "executor.ray_address": Entry("ray://head:10001", _check_ray_address, RAY),
    "decontamination": Entry(
        {"sets": [{"path": "@evalset"}]},
        lambda b, v: _check_equal(
            _folder_of(b.one(NGramDecontamination).exclusion_writer).rsplit("/", 1)[-1], "decontamination"
        ),
    ),
    "decontamination.sets[].path": Entry("@evalset2", lambda b, v: _check_equal(_decont(b).sets[0].path, v), DECONT),
    "decontamination.sets[].name": Entry("mine", lambda b, v: _check_equal(_decont(b).sets[0].set_name, v), DECONT),
    "decontamination.sets[].fields": Entry(
        ["question"], lambda b, v: _check_equal(_decont(b).sets[0].fields, v), DECONT
    ),
    "decontamination.n_grams": Entry(9, lambda b, v: _check_equal(_decont(b).n_grams, v), DECONT),
    "decontamination.min_words": Entry(3, lambda b, v: _check_equal(_decont(b).min_words, v), DECONT),
    "decontamination.cross_split_check": Entry(False, _finalize("decontamination.cross_split_check"), DECONT),
    "card.license": Entry("cc-by-4.0", _finalize("card.license")),
    "card.pretty_name": Entry("Wired news", _finalize("card.pretty_name")),
    "card.language": Entry(["en", "fr"], _finalize("card.language")),
    "card.source_datasets": Entry(["fundus"], _finalize("card.source_datasets")),
    "output_options.rows_per_shard": Entry(1000, _finalize("output_options.rows_per_shard")),
    "output_options.compression": Entry("snappy", _finalize("output_options.compression")),
}

#: Keys with a single allowed value: nothing to wire yet (the test fails when a second value appears).
SINGLE_CHOICE = {"inputs[].extract": EXTRACTORS}


def _check_equal(actual: Any, expected: Any) -> None:
    assert actual == expected, f"{actual!r} != {expected!r}"


def _resolve(value: Any, files: dict[str, Path]) -> Any:
    """``@name`` stands for a test file's path (also inside lists and mappings)."""
    if isinstance(value, list):
        return [_resolve(v, files) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, files) for k, v in value.items()}
    return str(files[value[1:]]) if isinstance(value, str) and value.startswith("@") else value


def _base_with(files: dict[str, Path], settings: dict[str, Any]) -> dict:
    raw = base_config(files)
    for key, value in _flatten(settings).items():
        raw = set_key(raw, key, _resolve(value, files))
    return raw


def _flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"executor": {"type": "slurm"}}`` -> ``{"executor.type": "slurm"}``; dotted keys pass through."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict) and value and "." not in key and key not in ("minhash",):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_every_schema_key_has_a_wiring_check():
    keys = set(schema_keys(CurateConfig))
    assert "tagging.precedence" in keys and "inputs[].name" in keys and "dedup.minhash.seed" in keys
    missing = sorted(keys - set(TABLE) - set(SINGLE_CHOICE))
    assert not missing, f"config keys without a wiring check in {__file__}: {missing}"
    assert not sorted(set(TABLE) - keys), "the table names keys the schema no longer has"
    for key, choices in SINGLE_CHOICE.items():
        assert len(choices) == 1, f"{key} now has several values {choices}: add a wiring check for it"


@pytest.mark.parametrize("key", sorted(TABLE))
def test_config_key_reaches_its_step(key, files):
    entry = TABLE[key]
    value = _resolve(entry.value, files)
    base = _base_with(files, entry.base)
    configured = build(set_key(base, key, value))
    entry.check(configured, value)
    # the same check on the config without this value must fail, or it proves nothing
    default = build(base)
    with pytest.raises(AssertionError):
        entry.check(default, value)


# --------------------------------------------------------------------------------------------------
# behaviour: the configured precedence decides the tags of a real tag stage
# --------------------------------------------------------------------------------------------------
def _cctld_urls(shared: Path, n: int) -> list[tuple[str, str]]:
    """Real news URLs whose country-code TLD names a country other than the US: (url, country)."""
    verifier = URLVerifier()
    found = []
    for url in real_news_urls(shared, 5000):
        result = verifier.verify(url)
        country = cctld_country(result.suffix) if result.ok and result.suffix else None
        if country and country != "US":
            found.append((url, country))
            if len(found) == n:
                break
    return found


def _run_tag_stage(raw: dict) -> pl.DataFrame:
    """Stage 1's steps, as the config builds them, run in this process over the whole input."""
    config = parse_config(raw)
    data = None
    for step in tag_stage_steps(config):
        data = step(data, rank=0, world_size=1)
    for _ in data or ():
        pass
    return pl.read_parquet(config.layout.tagged / "*.parquet")


def test_configured_precedence_decides_the_tags_of_the_tag_stage(shared_data, tmp_path):
    import random

    urls = _cctld_urls(shared_data, 30)
    assert len(urls) == 30
    rng = random.Random(0)
    path = tmp_path / "claims.jsonl"
    # every document claims the US; its URL's ccTLD says otherwise
    path.write_text(
        "".join(json.dumps({"url": u, "text": english_text(rng, 80), "country": "US"}) + "\n" for u, _ in urls)
    )

    def run(precedence: list[str], out: str) -> pl.DataFrame:
        raw = {
            "output": str(tmp_path / out),
            "inputs": [{"name": "claims", "format": "jsonl", "path": str(path)}],
            "tagging": {"precedence": precedence},
            "filters": {"language": None, "min_words": 5},
        }
        return _run_tag_stage(raw).sort("url")

    input_first = run(["input", "cctld"], "input_first")
    cctld_first = run(["cctld", "input"], "cctld_first")
    expected = dict(urls)
    assert input_first.height == cctld_first.height == len(urls)
    assert set(input_first["country"]) == {"US"} and set(input_first["tag_source"]) == {"input"}
    assert set(cctld_first["tag_source"]) == {"cctld"}
    assert dict(zip(cctld_first["url"], cctld_first["country"])) == {u: expected[u] for u in cctld_first["url"]}
    assert cctld_first["tag_conflict"].null_count() == 0  # the overruled input claim is recorded
