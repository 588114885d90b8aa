"""The last curation stage: exact dedup, balancing and the eval split, then proof that nothing was lost.

It runs as a one-task datatrove step (so Slurm/Ray runs end the same way as local ones, and its
completion marker makes a re-run a no-op). Only small columns (id, URL, hash, region, length) are
held in memory; texts are streamed shard by shard.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from geocorpus.finalize.balance import balance
from geocorpus.finalize.exact_dedup import exact_dedup
from geocorpus.finalize.manifest import fingerprint_inputs, package_versions, registry_version
from geocorpus.finalize.shards import write_selection
from geocorpus.paths import RunLayout
from geocorpus.report import collect_stats, exclusions_by_stage, write_dataset_card, write_plots
from geocorpus.schema import CORPUS_SCHEMA, EXCLUSION_SCHEMA
from geocorpus.writers import exclusion_record

if TYPE_CHECKING:
    from geocorpus.config import CurateConfig

SELECTION_COLUMNS = [
    "id",
    "url_normalized",
    "text_hash",
    "source_file",
    "source_row",
    "country",
    "continent",
    "n_tokens",
]


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


def _write_exclusions(shards: list[Path], reasons: pl.DataFrame, out_dir: Path, compression: str) -> int:
    """Stream the shards and write the rows named in ``reasons`` (id, stage, reason) with all fields."""
    if reasons.height == 0:
        return 0
    out_dir.mkdir(parents=True, exist_ok=True)
    lookup = {row[0]: (row[1], row[2]) for row in reasons.select("id", "stage", "reason").iter_rows()}
    written = 0
    writer = None
    try:
        for shard in shards:
            table = pq.read_table(shard)
            ids = table.column("id").to_pylist()
            keep = [i for i, doc_id in enumerate(ids) if doc_id in lookup]
            if not keep:
                continue
            rows = table.take(keep).to_pylist()
            out_rows = []
            for row in rows:
                stage, reason = lookup[row["id"]]
                fields = {k: v for k, v in row.items() if k not in ("id", "text")}
                out_rows.append(exclusion_record(row["id"], stage, reason, row["text"], row["country"], fields))
            if writer is None:
                writer = pq.ParquetWriter(out_dir / "00000.parquet", EXCLUSION_SCHEMA, compression=compression)
            writer.write_table(pa.Table.from_pylist(out_rows, schema=EXCLUSION_SCHEMA))
            written += len(out_rows)
    finally:
        if writer is not None:
            writer.close()
    return written


def finalize_output(config: CurateConfig, input_folder: Path) -> dict:
    """Run the finalize stage in this process; returns the report. Raises ReconcileError when counts disagree."""
    out = config.output_dir
    layout = RunLayout(out)
    started = time.time()
    data_dir = layout.data
    final_excl = layout.exclusion_stage("finalize")
    for stale in (data_dir, final_excl):  # a killed earlier attempt of this stage leaves partial files
        shutil.rmtree(stale, ignore_errors=True)

    shards = list_parquet(Path(input_folder))
    if shards:
        frame = pl.read_parquet([str(s) for s in shards], columns=SELECTION_COLUMNS)
    else:
        frame = pl.DataFrame(CORPUS_SCHEMA.empty_table()).select(SELECTION_COLUMNS)
    excluded_parts = []
    if config.dedup.exact and frame.height:
        dedup = exact_dedup(frame)
        if dedup.excluded.height:
            excluded_parts.append(dedup.excluded.select("id", pl.lit("exact_dedup").alias("stage"), "reason"))
        frame = frame.join(dedup.kept.select("id"), on="id", how="semi")
    result = balance(frame, config.balance)
    if result.excluded.height:
        excluded_parts.append(result.excluded.select("id", pl.lit("balance").alias("stage"), "reason"))
    write_info = write_selection(
        shards, result.selected, data_dir, rows_per_shard=config.output_options.rows_per_shard
    )
    reasons = (
        pl.concat(excluded_parts)
        if excluded_parts
        else pl.DataFrame(schema={"id": pl.String, "stage": pl.String, "reason": pl.String})
    )
    _write_exclusions(shards, reasons, final_excl, config.output_options.compression)

    inputs = count_inputs(layout.counts)
    n_input = sum(inputs.values())
    kept = parquet_rows(list_parquet(data_dir))
    stats = collect_stats(out)
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
        "balance": result.report,
        "write": write_info,
        "stats": stats,
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
    return report


class FinalizeCorpus(PipelineStep):
    """The finalize stage as a datatrove step: run it alone, with tasks=1, after the tag stage.

    It does not take documents from a pipeline: it reads the tagged shards under ``input_folder``
    (so Slurm and Ray runs end the same way as local ones, and its completion marker makes a re-run a
    no-op). Placing it after another step is an error rather than silently dropping that step's output.
    """

    name = "🏁 Finalize corpus"
    type = "🏁 - FINALIZE"

    def __init__(self, config: CurateConfig, input_folder: Path | str) -> None:
        super().__init__()
        self.config = config
        self.input_folder = str(input_folder)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data is not None:
            for _ in data:
                raise ValueError(
                    "FinalizeCorpus reads the tagged shards itself; it must be the only step of its stage"
                )
        if rank == 0:
            report = finalize_output(self.config, Path(self.input_folder))
            self.stat_update("kept", value=report["reconcile"]["kept"])
        return iter(())
