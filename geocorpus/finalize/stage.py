"""The last curation stages: select, scatter, write, check the splits, then prove that nothing was lost.

Finalize runs as five datatrove stages, so Slurm and Ray runs end the same way as local ones, each
stage's completion markers make a re-run skip finished work, and the heavy part runs on many nodes:

* ``finalize_select`` (1 task): exact dedup, balancing and the eval split on the metadata columns
  only (~100 bytes per document; ``selection.py``); writes the plan.
* ``finalize_scatter`` (``executor.tasks`` tasks): each task streams its own tagged shards, writes
  their excluded rows to ``exclusions/finalize/`` and routes their kept rows to shuffle pieces; it
  also keeps the MinHash digests of the rows it routes, per split, for the cross-split check
  (``cross_split.py``).
* ``finalize_write`` (``executor.tasks`` tasks): each task writes its share of ``data/*.parquet``.
* ``finalize_cross_split`` (``executor.tasks`` tasks): each task streams its share of the train digests
  past the eval documents' and counts eval/train near duplicates.
* ``finalize`` (1 task): reconcile, manifest, report, plots, dataset card; removes the scratch.

Every file these tasks create is first put on the task's record (``written.py``): a retried task
deletes only what its own earlier attempt wrote, and never a file geocorpus did not write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from geocorpus.bucket_digests import Signer
from geocorpus.finalize.contamination import cross_split_enabled, cross_split_summary, decontamination_report
from geocorpus.finalize.cross_split import CrossSplitCounts, DigestFile, EvalIndex, eval_ids, ids_at, scan_train
from geocorpus.finalize.manifest import fingerprint_inputs, package_versions, registry_version
from geocorpus.finalize.selection import SELECTION_COLUMNS, select_rows, selection_columns
from geocorpus.finalize.shards import (
    PLAN_SCHEMA,
    Scatter,
    ScatterFiles,
    ShardLayout,
    average_row_bytes,
    gather,
    writing_memory_pool,
)
from geocorpus.finalize.written import WrittenFiles, recorded_files
from geocorpus.minhash import MinhashConfig
from geocorpus.paths import SPLITS, RunLayout
from geocorpus.report import collect_stats, exclusions_by_stage, write_dataset_card, write_plots
from geocorpus.schema import MINHASH_DIGESTS

if TYPE_CHECKING:
    from geocorpus.config import CurateConfig

__all__ = [
    "SELECTION_COLUMNS",
    "CheckCrossSplit",
    "FinalizeCorpus",
    "ReconcileError",
    "ScatterRows",
    "SelectRows",
    "WriteShards",
    "finalize_files",
    "finalize_output",
]

SELECT, SCATTER, WRITE, FINALIZE = "finalize_select", "finalize_scatter", "finalize_write", "finalize"
CROSS_SPLIT = "finalize_cross_split"


class ReconcileError(RuntimeError):
    """input != kept + excluded: a document was lost or duplicated somewhere."""


def parquet_rows(paths: Iterable[str | Path]) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def list_parquet(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.parquet")) if folder.exists() else []


def count_inputs(counts_dir: Path) -> dict[str, int]:
    totals: dict[str, int] = {}
    for path in sorted(counts_dir.glob("*.json")):
        record = json.loads(path.read_text())
        totals[record["input"]] = totals.get(record["input"], 0) + int(record["documents"])
    return totals


class _Work:
    """Where finalize keeps its plan, scratch, per-task results and written-file records."""

    def __init__(self, layout: RunLayout) -> None:
        self.layout = layout
        self.root = layout.finalize_work
        self.plan_info = self.root / "plan.json"
        self.records = self.root / "written"

    def plan_file(self, index: int) -> Path:
        return self.root / "plan" / f"{index:05d}.parquet"

    def scatter_file(self, rank: int) -> Path:
        return self.root / "scatter" / f"{rank:05d}.arrow"

    def result_file(self, stage: str, rank: int) -> Path:
        return self.root / "results" / f"{stage}-{rank:05d}.json"

    def digests(self, split: str, rank: int) -> Path:
        """Stem of the digest files of ``split`` that scatter task ``rank`` writes."""
        return self.root / "cross_split" / f"{split}-{rank:05d}"

    def hits_file(self, rank: int) -> Path:
        return self.root / "results" / f"{CROSS_SPLIT}-{rank:05d}.hits.npy"

    def written(self, stage: str, rank: int) -> WrittenFiles:
        return WrittenFiles(self.layout.root, self.records / f"{stage}-{rank:05d}.txt")

    def stage_files(self, stage: str) -> list[Path]:
        files: list[Path] = []
        for record in sorted(self.records.glob(f"{stage}-*.txt")) if self.records.is_dir() else []:
            files += WrittenFiles(self.layout.root, record).listed()
        return files

    def read_plan(self) -> dict[str, Any]:
        if not self.plan_info.is_file():
            raise RuntimeError(f"{self.plan_info} is missing: the {SELECT} stage has not finished")
        return json.loads(self.plan_info.read_text(encoding="utf-8"))


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# the five tasks
# --------------------------------------------------------------------------------------------------


def select_task(config: CurateConfig, input_folder: Path) -> dict[str, Any]:
    """``finalize_select``: decide every tagged row's fate from the metadata columns; write the plan."""
    work = _Work(config.layout)
    written = work.written(SELECT, 0)
    written.reset()
    shards = list_parquet(Path(input_folder))
    frame = selection_columns(shards, config.balance)
    selection = select_rows(frame, config.dedup.exact, config.balance)
    del frame
    layout = ShardLayout.plan(selection.rows, config.output_options.rows_per_shard, average_row_bytes(shards))
    # the plan comes in (shard, row) order: each shard's part is a slice of it, not a copy
    bounds = np.searchsorted(selection.plan["_file"].to_numpy(), np.arange(len(shards) + 1))
    for index in range(len(shards)):
        part = selection.plan.slice(int(bounds[index]), int(bounds[index + 1] - bounds[index]))
        table = part.select(PLAN_SCHEMA.names).to_arrow().cast(PLAN_SCHEMA)
        pq.write_table(table, written.claim(work.plan_file(index)), compression="zstd")
    info = {
        "files": [str(s) for s in shards],
        "layout": layout.to_dict(),
        "rows": selection.rows,
        "tasks": config.executor.tasks,
        "balance": selection.balance,
        "excluded": {
            f"{stage}/{reason}": n
            for stage, reason, n in selection.plan.drop_nulls("stage").group_by("stage", "reason").len().iter_rows()
        },
    }
    _write_json(written.claim(work.plan_info), info)
    written.seal()
    return info


def _check_tasks(info: dict[str, Any], stage: str, world_size: int) -> None:
    if world_size != info["tasks"]:
        raise RuntimeError(
            f"{stage} runs with {world_size} tasks but the plan was made for {info['tasks']}; "
            "finalize the run with the task count it was started with"
        )


def _start_task(
    config: CurateConfig, stage: str, rank: int, world_size: int
) -> tuple[_Work, dict[str, Any], WrittenFiles]:
    """The plan a task works from (checked against its task count) and its written-file record, reset:
    a task redone after a kill starts from nothing it wrote before."""
    work = _Work(config.layout)
    info = work.read_plan()
    _check_tasks(info, stage, world_size)
    written = work.written(stage, rank)
    written.reset()
    return work, info, written


def scatter_task(config: CurateConfig, rank: int, world_size: int) -> dict[str, Any]:
    """``finalize_scatter``: stream tagged shards rank, rank + world_size, ...; exclusions and pieces."""
    work, info, written = _start_task(config, SCATTER, rank, world_size)
    digests: dict[str, DigestFile] = {}
    if cross_split_enabled(config):
        signer = Signer(config.dedup.minhash)
        digests = {split: DigestFile(work.digests(split, rank), signer, claim=written.claim) for split in SPLITS}

    def keep_digests(split: str, rows: Any, positions: np.ndarray) -> None:
        if digests:
            digests[split].add(rows, positions)

    scatter = Scatter(
        ShardLayout.from_dict(info["layout"]),
        work.scatter_file(rank),
        exclusions=config.layout.exclusion_stage("finalize") / f"{rank:05d}.parquet",
        compression=config.output_options.compression,
        claim=written.claim,
        on_rows=keep_digests,
        side_columns=(MINHASH_DIGESTS,),
    )
    for index in range(rank, len(info["files"]), world_size):
        scatter.add_shard(Path(info["files"][index]), pq.read_table(work.plan_file(index)))
    counts = scatter.close()
    _write_json(written.claim(work.result_file(SCATTER, rank)), counts)
    written.seal()
    return counts


def write_task(config: CurateConfig, rank: int, world_size: int) -> dict[str, Any]:
    """``finalize_write``: output files rank, rank + world_size, ... of ``data/``."""
    work, info, written = _start_task(config, WRITE, rank, world_size)
    layout = ShardLayout.from_dict(info["layout"])
    files: dict[str, int] = {}
    with writing_memory_pool():
        sources = ScatterFiles(work.scatter_file(r) for r in range(info["tasks"]))
        for output in layout.outputs()[rank::world_size]:
            path = written.claim(config.layout.data / output.filename)
            files[output.filename] = gather(output, layout, sources, path)
        del sources
    result = {"files": files}
    _write_json(written.claim(work.result_file(WRITE, rank)), result)
    written.seal()
    return result


def _split_files(config: CurateConfig, info: dict[str, Any], split: str) -> list[Path]:
    return [
        config.layout.data / o.filename for o in ShardLayout.from_dict(info["layout"]).outputs() if o.name == split
    ]


def cross_split_task(config: CurateConfig, rank: int, world_size: int) -> dict[str, Any]:
    """``finalize_cross_split``: the train digests of scatter tasks rank, rank + world_size, ... against
    every eval document's."""
    work, info, written = _start_task(config, CROSS_SPLIT, rank, world_size)
    result: dict[str, Any] = {"skipped": True}
    if cross_split_enabled(config):
        buckets = (config.dedup.minhash or MinhashConfig()).num_buckets
        stems = [work.digests("eval", r) for r in range(info["tasks"])]
        index = EvalIndex.load(stems, int(info["rows"].get("eval", 0)), buckets)
        counts = CrossSplitCounts(eval_ids(_split_files(config, info, "eval")))
        train_files = _split_files(config, info, "train")
        scan_train(index, [work.digests("train", r) for r in range(rank, info["tasks"], world_size)], buckets, counts)
        with written.claim(work.hits_file(rank)).open("wb") as handle:
            np.save(handle, counts.hit)
        examples = counts.examples(lambda positions: ids_at(train_files, positions))
        result = {"pairs": counts.pairs, "examples": [list(pair) for pair in examples]}
    _write_json(written.claim(work.result_file(CROSS_SPLIT, rank)), result)
    written.seal()
    return result


def _cross_split(config: CurateConfig, info: dict[str, Any]) -> dict[str, Any] | None:
    """The report's ``cross_split`` section from the tasks' results (None when the check is off)."""
    if not cross_split_enabled(config):
        return None
    work = _Work(config.layout)
    results = [json.loads(work.result_file(CROSS_SPLIT, r).read_text(encoding="utf-8")) for r in range(info["tasks"])]
    hits = [np.load(work.hits_file(r)) for r in range(info["tasks"])]
    train, eval_ = _split_files(config, info, "train"), _split_files(config, info, "eval")
    return cross_split_summary(config.dedup.minhash, train, eval_, results, hits)


def report_task(config: CurateConfig) -> dict:
    """``finalize``: reconcile, manifest, report, plots and card; then drop the shuffle scratch."""
    out = config.output_dir
    layout = RunLayout(out)
    work = _Work(layout)
    started = time.time()
    info = work.read_plan()
    written_files: dict[str, int] = {}
    for rank in range(info["tasks"]):
        written_files.update(json.loads(work.result_file(WRITE, rank).read_text(encoding="utf-8"))["files"])
    shard_layout = ShardLayout.from_dict(info["layout"])
    files: dict[str, list[str]] = {name: [] for name, _ in shard_layout.streams}
    for output in shard_layout.outputs():
        if written_files.get(output.filename) != output.rows:
            raise ReconcileError(
                f"{output.filename}: the write stage reports {written_files.get(output.filename)} rows, "
                f"the plan {output.rows}"
            )
        files[output.name].append(str(layout.data / output.filename))
    write_info = {"files": files, "rows": info["rows"]}

    inputs = count_inputs(layout.counts)
    n_input = sum(inputs.values())
    kept = parquet_rows(p for names in files.values() for p in names)
    stats = collect_stats(out, data_files=[Path(p) for names in files.values() for p in names])
    excluded = exclusions_by_stage(stats)
    n_excluded = sum(sum(r.values()) for r in excluded.values())
    reconcile = {
        "input": n_input,
        "kept": kept,
        "excluded": n_excluded,
        "ok": n_input == kept + n_excluded,
        "line": f"input {n_input} = kept {kept} + excluded {n_excluded}"
        + "".join(f" ({stage}: {sum(r.values())})" for stage, r in excluded.items()),
    }
    report = {
        "name": config.name,
        "reconcile": reconcile,
        "inputs": inputs,
        "exclusions": excluded,
        "balance": info["balance"],
        "write": write_info,
        "stats": stats,
        "decontamination": decontamination_report(config, layout, _cross_split(config, info)),
    }
    manifest = {
        "name": config.name,
        "created_unix": started,
        "finished_unix": time.time(),
        "config": config.to_dict(),
        "inputs": fingerprint_inputs(config),
        "versions": package_versions(),
        "registry_version": registry_version(),
        "counts": {"input_by_source": inputs, "kept": kept, "excluded": excluded, "reconcile": reconcile},
    }
    layout.manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    layout.report.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    write_plots(stats, layout.plots)
    write_dataset_card(out, config, stats, reconcile)
    if not reconcile["ok"]:
        raise ReconcileError(f"counts do not reconcile: {reconcile['line']} (see {layout.report})")
    for path in work.stage_files(SCATTER):  # the shuffle scratch is as large as the corpus
        signatures = work.digests("eval", 0).parent
        scratch = {(work.scatter_file(0).parent, ".arrow"), (signatures, ".sig"), (signatures, ".pos")}
        if (path.parent, path.suffix) in scratch and path.is_file():
            path.unlink()
    return report


def finalize_output(config: CurateConfig, input_folder: Path) -> dict:
    """All five finalize stages in this process, one task after another; returns the report.

    Raises ReconcileError when counts disagree.
    """
    select_task(config, input_folder)
    tasks = config.executor.tasks
    for rank in range(tasks):
        scatter_task(config, rank, tasks)
    for rank in range(tasks):
        write_task(config, rank, tasks)
    for rank in range(tasks):
        cross_split_task(config, rank, tasks)
    return report_task(config)


def finalize_files(layout: RunLayout) -> list[Path]:
    """Every file the finalize stages of the run in ``layout`` wrote (from their records)."""
    return recorded_files(layout.root, _Work(layout).records)


# --------------------------------------------------------------------------------------------------
# datatrove steps
# --------------------------------------------------------------------------------------------------


class _FinalizeStep(PipelineStep):
    """A finalize stage reads the run folder itself: it takes no documents and must run alone."""

    def __init__(self, config: CurateConfig) -> None:
        super().__init__()
        self.config = config

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data is not None:
            for _ in data:
                raise ValueError(
                    f"{type(self).__name__} reads the run folder itself; it must be the only step of its stage"
                )
        self.run_task(rank, world_size)
        return iter(())

    def run_task(self, rank: int, world_size: int) -> None:
        raise NotImplementedError


class SelectRows(_FinalizeStep):
    """``finalize_select``: run with one task after the tag (or MinHash) stage."""

    name = "🧮 Select rows"
    type = "🏁 - FINALIZE"

    def __init__(self, config: CurateConfig, input_folder: Path | str) -> None:
        super().__init__(config)
        self.input_folder = str(input_folder)

    def run_task(self, rank: int, world_size: int) -> None:
        if rank == 0:
            info = select_task(self.config, Path(self.input_folder))
            self.stat_update("selected", value=sum(info["rows"].values()))


class ScatterRows(_FinalizeStep):
    """``finalize_scatter``: run with ``executor.tasks`` tasks after ``finalize_select``."""

    name = "🔀 Scatter rows"
    type = "🏁 - FINALIZE"

    def run_task(self, rank: int, world_size: int) -> None:
        counts = scatter_task(self.config, rank, world_size)
        self.stat_update("selected", value=counts["selected"])
        self.stat_update("excluded", value=counts["excluded"])


class WriteShards(_FinalizeStep):
    """``finalize_write``: run with ``executor.tasks`` tasks after ``finalize_scatter``."""

    name = "💾 Write shards"
    type = "🏁 - FINALIZE"

    def run_task(self, rank: int, world_size: int) -> None:
        result = write_task(self.config, rank, world_size)
        self.stat_update("kept", value=sum(result["files"].values()))


class CheckCrossSplit(_FinalizeStep):
    """``finalize_cross_split``: run with ``executor.tasks`` tasks after ``finalize_write``."""

    name = "🔎 Cross-split near duplicates"
    type = "🏁 - FINALIZE"

    def run_task(self, rank: int, world_size: int) -> None:
        result = cross_split_task(self.config, rank, world_size)
        self.stat_update("pairs", value=int(result.get("pairs", 0)))


class FinalizeCorpus(_FinalizeStep):
    """``finalize``: run with one task last; reconcile, manifest, report, plots and dataset card."""

    name = "🏁 Finalize corpus"
    type = "🏁 - FINALIZE"

    def run_task(self, rank: int, world_size: int) -> None:
        if rank == 0:
            report = report_task(self.config)
            self.stat_update("kept", value=report["reconcile"]["kept"])
