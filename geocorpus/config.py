"""The curation config: one YAML file, validated up front so a typo fails before any work starts.

Every section is a dataclass checked by the one validator (:mod:`geocorpus.typed_config`); unknown
keys and wrong types raise ``ConfigError`` naming the key path (e.g. ``filters.language.min_scor``).
YAML is read with ``yaml.safe_load`` only. ``${shared}`` in a path expands to the real-data folder
(``$GEOCORPUS_SHARED`` or ``../shared/data``). The config is parsed once; every stage receives the
parsed :class:`CurateConfig`.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from geocorpus.decontaminate import DecontaminationConfig
from geocorpus.finalize.balance import BalanceConfig
from geocorpus.minhash import MinhashConfig
from geocorpus.paths import RunLayout, shared_data_dir
from geocorpus.readers.spec import InputSpec
from geocorpus.regions import CONTINENT_SCHEMES
from geocorpus.tagging import EVIDENCE_SOURCES
from geocorpus.typed_config import ConfigError, at_least, choice, from_mapping

__all__ = ["ConfigError", "CurateConfig", "load_config", "parse_config"]


@dataclass
class ExecutorConfig:
    """Which datatrove executor runs the pipeline, and its resources."""

    type: str = "local"  # local | slurm | ray
    tasks: int = 1
    workers: int = -1  # local: parallel processes (-1 = tasks)
    # Slurm
    partition: str | None = None
    time: str = "04:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    job_name: str = "geocorpus"
    sbatch_args: dict[str, Any] = field(default_factory=dict)
    venv_path: str | None = None
    # Ray: the cluster to connect to (None = start or join a local one)
    ray_address: str | None = None

    def validate(self) -> None:
        choice(self.type, ("local", "slurm", "ray"), "executor.type")
        at_least(self.tasks, 1, "executor.tasks")
        if self.workers != -1 and self.workers < 1:
            raise ConfigError(f"executor.workers: must be >= 1 (or -1: one per task), got {self.workers}")
        at_least(self.cpus_per_task, 1, "executor.cpus_per_task")
        at_least(self.mem_per_cpu_gb, 1, "executor.mem_per_cpu_gb")
        if self.type == "slurm" and not self.partition:
            raise ConfigError("executor.partition: required when executor.type is 'slurm'")


@dataclass
class URLConfig:
    max_length: int = 2048

    def validate(self) -> None:
        at_least(self.max_length, 1, "url.max_length")


@dataclass
class TaggingConfig:
    precedence: list[str] = field(
        default_factory=lambda: ["input", "user_registry", "registry", "cctld", "page", "classifier"]
    )
    user_registry: str | None = None
    #: a table written by ``geocorpus registry build`` used instead of the shipped one (None = shipped)
    registry: str | None = None
    #: a page-signal calibration (``geocorpus classifier train`` writes one beside the model); None = off
    page_evidence: str | None = None
    #: a country classifier model (``geocorpus classifier train ... --out model.bin``); None = off
    classifier: str | None = None
    continent_scheme: str = "paper"
    #: false keeps documents no evidence could place, with ``country = null`` (balanced as region ``unknown``)
    require_country: bool = True
    countries: list[str] | None = None  # keep only these ISO codes (None = all)

    def validate(self) -> None:
        for source in self.precedence:
            choice(source, EVIDENCE_SOURCES, "tagging.precedence")
        choice(self.continent_scheme, CONTINENT_SCHEMES, "tagging.continent_scheme")
        for name in ("user_registry", "registry", "page_evidence", "classifier"):
            value = getattr(self, name)
            if value and not Path(value).is_file():
                raise ConfigError(f"tagging.{name}: file not found: {value}")


@dataclass
class LanguageConfig:
    languages: list[str] = field(default_factory=lambda: ["en"])
    min_score: float = 0.5
    #: fasttext-lid176 (bundled in the package) | py3langid | the path of a local fastText model
    model: str = "fasttext-lid176"
    #: leading characters identified (None = the model's default, see geocorpus.langid)
    max_chars: int | None = None

    def validate(self) -> None:
        from geocorpus.langid import LanguageModelError, check_model

        try:
            check_model(self.model)
        except LanguageModelError as exc:
            raise ConfigError(f"filters.language.model: {exc}") from None
        if self.max_chars is not None:
            at_least(self.max_chars, 1, "filters.language.max_chars")


QUALITY_FILTERS = ("gopher_quality", "gopher_repetition", "c4", "fineweb_quality")


@dataclass
class FilterConfig:
    language: LanguageConfig | None = field(default_factory=LanguageConfig)
    min_words: int = 50
    quality: list[str] = field(default_factory=list)

    def validate(self) -> None:
        for name in self.quality:
            choice(name, QUALITY_FILTERS, "filters.quality")


@dataclass
class DedupConfig:
    exact: bool = True
    #: MinHash near-duplicate removal; a mapping (``{}`` for the defaults) turns it on.
    minhash: MinhashConfig | None = None


PARQUET_COMPRESSIONS = ("zstd", "snappy", "gzip", "brotli", "lz4", "none")


@dataclass
class OutputConfig:
    rows_per_shard: int = 100_000
    compression: str = "zstd"

    def validate(self) -> None:
        at_least(self.rows_per_shard, 1, "output_options.rows_per_shard")
        choice(self.compression, PARQUET_COMPRESSIONS, "output_options.compression")


@dataclass
class CardConfig:
    """What the dataset card's YAML header says that the data cannot: its licence, name and sources.

    ``license`` is an SPDX-style id or ``other`` (news texts belong to their publishers: the default
    claims nothing); ``language`` defaults to the language filter's languages.
    """

    license: str = "other"
    pretty_name: str | None = None
    language: list[str] = field(default_factory=list)
    source_datasets: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if not self.license.strip():
            raise ConfigError("card.license must not be empty (use 'other' when unsure)")


@dataclass
class CurateConfig:
    output: str
    inputs: list[InputSpec]
    name: str = "geocorpus"
    url: URLConfig = field(default_factory=URLConfig)
    tagging: TaggingConfig = field(default_factory=TaggingConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    decontamination: DecontaminationConfig | None = None  # n-gram overlap with evaluation sets
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    output_options: OutputConfig = field(default_factory=OutputConfig)
    card: CardConfig = field(default_factory=CardConfig)

    def validate(self) -> None:
        if not self.inputs:
            raise ConfigError("inputs: at least one input is required")
        names = [spec.name for spec in self.inputs]
        if len(set(names)) != len(names):
            raise ConfigError(f"inputs: names must be unique, got {names}")
        for index, spec in enumerate(self.inputs):
            _check_input_files(spec, f"inputs[{index}] ({spec.name})")
        problem = output_path_problem(self.output, [spec.path for spec in self.inputs])
        if problem:
            raise ConfigError(f"output: {problem}")

    @property
    def output_dir(self) -> Path:
        return Path(self.output)

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.output)

    def to_dict(self) -> dict[str, Any]:
        """The parsed config as plain data (what the manifest records)."""
        return dataclasses.asdict(self)

    def with_output(self, output: str) -> CurateConfig:
        """A copy writing to ``output`` (CLI ``--output``), whose path is checked like the config's."""
        problem = output_path_problem(output, [spec.path for spec in self.inputs])
        if problem:
            raise ConfigError(f"output: {problem}")
        return dataclasses.replace(self, output=output)

    def with_executor(self, **overrides: Any) -> CurateConfig:
        """A copy with executor settings replaced (CLI ``--tasks``/``--workers``), validated again."""
        executor = dataclasses.replace(self.executor, **overrides)
        executor.validate()
        return dataclasses.replace(self, executor=executor)


def output_path_problem(output: str, input_paths: Iterable[str]) -> str | None:
    """Why ``output`` may not be a run folder for these inputs, or None (see geocorpus.run_guard).

    A run rewrites ``data/`` and ``README.md`` in its folder: ``""`` would be the working folder, ``/`` the
    root; an output inside an input folder would be read back by the readers, an input inside it rewritten.
    """
    if not output.strip():
        return "is empty: it would write into the working folder; name a folder"
    out = Path(output).expanduser().resolve()
    if out == Path(out.anchor):
        return f"{output!r} is the filesystem root; name a folder for this run"
    for raw in input_paths:
        if "://" in raw:
            continue
        path = Path(raw).expanduser().resolve()
        if out == path or out.is_relative_to(path):
            return f"{output!r} lies inside input path {raw!r}: the readers would read the run's own files"
        if path.is_relative_to(out):
            return f"input path {raw!r} lies inside the output folder {output!r}: a run rewrites files there"
    return None


def _check_input_files(spec: InputSpec, where: str) -> None:
    """The path is a regular file or a folder, and the reader finds at least one file to read.

    Why here: ``/dev/zero`` as input reads forever, and a glob matching nothing gives a run that reads
    nothing and reconciles; both are config mistakes to name before any work starts.
    """
    if "://" in spec.path:
        return
    try:
        mode = os.stat(spec.path).st_mode
    except OSError:
        raise ConfigError(f"{where}.path: path does not exist: {spec.path}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ConfigError(f"{where}.path: not a regular file or folder: {spec.path}")
    if stat.S_ISREG(mode):
        return
    from geocorpus.readers.spec import DEFAULT_GLOBS, build_reader_steps

    try:
        files = build_reader_steps(spec)[0].all_files()
    except FileNotFoundError:
        files = []
    if not files:
        pattern = spec.glob or DEFAULT_GLOBS[spec.format]
        raise ConfigError(f"{where}.glob: no files match {pattern!r} under {spec.path}")
    irregular = next((f for f in files if not stat.S_ISREG(os.stat(f).st_mode)), None)
    if irregular is not None:
        raise ConfigError(f"{where}.glob: matches {irregular}, which is not a regular file")


#: Most values (strings, numbers, list items, mapping entries) a config may hold with its YAML aliases
#: expanded; a real config with 1,000 inputs holds ~10,000. A 1 KB alias tree expands to billions.
MAX_CONFIG_VALUES = 1_000_000


def _check_expanded_size(data: dict[Any, Any], limit: int = MAX_CONFIG_VALUES) -> None:
    """Refuse configs whose YAML aliases expand beyond ``limit`` values, naming the top-level key.

    Sizes are computed on the shared structure PyYAML builds (memoised by object id, no recursion), so
    the check costs the size of the YAML text, not of its expansion.
    """
    sizes: dict[int, int] = {}
    for key, value in data.items():
        if _expanded_size(value, sizes, key) > limit:
            raise ConfigError(f"{key}: YAML aliases expand to more than {limit:,} values; write the values out")


def _expanded_size(root: Any, sizes: dict[int, int], key: object) -> int:
    stack: list[tuple[Any, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, (dict, list)) or id(node) in sizes:
            continue
        children = list(node.values()) if isinstance(node, dict) else node
        if children_done:
            on_path.discard(id(node))
            total = 1
            for child in children:
                total += sizes.get(id(child), 1) if isinstance(child, (dict, list)) else 1
            sizes[id(node)] = min(total, MAX_CONFIG_VALUES + 1)
            continue
        if id(node) in on_path:
            raise ConfigError(f"{key}: a YAML alias refers to a value that contains it (endless expansion)")
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if isinstance(child, (dict, list)))
    return sizes.get(id(root), 1)


def _expand(value: Any, key: str) -> Any:
    """Expand ``${shared}`` and ``~`` / environment variables in string values."""
    if isinstance(value, str):
        if "${shared}" in value:
            shared = shared_data_dir()
            if shared is None:
                raise ConfigError(
                    f"{key}: uses ${{shared}} but the real-data folder was not found "
                    "(set GEOCORPUS_SHARED or place shared/data beside the repository)"
                )
            value = value.replace("${shared}", str(shared))
        return os.path.expanduser(os.path.expandvars(value))
    if isinstance(value, list):
        return [_expand(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand(v, f"{key}.{k}" if key else k) for k, v in value.items()}
    return value


def parse_config(data: Any, source: str = "config") -> CurateConfig:
    """Validate a loaded mapping into a CurateConfig."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    # Unknown top-level keys fail before any expansion work (a YAML alias bomb is refused cheaply).
    allowed = {f.name for f in dataclasses.fields(CurateConfig)}
    unknown = sorted(set(data) - allowed, key=str)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; allowed here: {sorted(allowed)}")
    _check_expanded_size(data)
    data = _expand(data, "")
    dedup = data.get("dedup")
    if isinstance(dedup, dict) and dedup.get("minhash") is True:  # `minhash: true` = the defaults
        data = {**data, "dedup": {**dedup, "minhash": {}}}
    elif isinstance(dedup, dict) and dedup.get("minhash") is False:
        data = {**data, "dedup": {**dedup, "minhash": None}}
    return from_mapping(CurateConfig, data, "")


def load_config(path: str | Path) -> CurateConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_config(data, str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
