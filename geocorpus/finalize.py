"""The last curation stage: exact dedup, balancing and the eval split, then proof that nothing was lost.

It runs as a one-task datatrove step (so Slurm/Ray runs end the same way as local ones, and its
completion marker makes a re-run a no-op). Only small columns (id, URL, hash, region, length) are
held in memory; texts are streamed shard by shard.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from importlib import metadata as importlib_metadata
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from geocorpus.schema import CORPUS_SCHEMA, EXCLUSION_SCHEMA
from geocorpus.writers import exclusion_record

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
FINGERPRINT_FULL_LIMIT = 1 << 30  # hash whole files up to 1 GiB; larger ones by head+tail+size


class ReconcileError(RuntimeError):
    """input != kept + excluded: a document was lost or duplicated somewhere."""


def parquet_rows(paths) -> int:
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


def fingerprint_inputs(raw_config: dict) -> list[dict]:
    """Size and xxh64 of every input file, so a manifest says exactly what went in."""
    from datatrove.io import get_datafolder

    out = []
    for spec in raw_config.get("inputs", []):
        path = spec.get("path")
        if not path:
            continue
        p = Path(path)
        if p.is_file():
            files = [p]
        elif p.is_dir():
            folder = get_datafolder(str(p))
            files = [p / f for f in folder.list_files(glob_pattern=spec.get("glob"))]
        else:
            files = []
        for f in files:
            size = f.stat().st_size
            h = xxhash.xxh64()
            with open(f, "rb") as fh:
                if size <= FINGERPRINT_FULL_LIMIT:
                    for chunk in iter(lambda: fh.read(1 << 22), b""):
                        h.update(chunk)
                    how = "xxh64"
                else:
                    h.update(fh.read(64 << 20))
                    fh.seek(size - (64 << 20))
                    h.update(fh.read())
                    how = "xxh64(head64MiB+tail64MiB)"
            out.append({"input": spec.get("name"), "file": str(f), "bytes": size, how: h.hexdigest()})
    return out


def package_versions() -> dict[str, str]:
    names = ["geocorpus", "datatrove", "polars", "pyarrow", "tldextract", "pycountry", "py3langid"]
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def finalize_output(raw_config: dict, input_folder: Path) -> dict:
    """Run stage 3 in this process; returns the report. Raises ReconcileError when counts disagree."""
    from geocorpus.balance import balance, write_selection
    from geocorpus.config import parse_config
    from geocorpus.dedup import exact_dedup
    from geocorpus.report import collect_stats, exclusions_by_stage, write_dataset_card, write_plots
    from pipelines.curate import layout

    config = parse_config(raw_config)
    out = config.output_dir
    paths = layout(out)
    started = time.time()
    data_dir = paths["data"]
    final_excl = paths["exclusions"] / "finalize"
    for stale in (data_dir, final_excl):  # a killed earlier attempt of this stage leaves partial files
        shutil.rmtree(stale, ignore_errors=True)

    shards = list_parquet(Path(input_folder))
    if shards:
        frame = pl.read_parquet([str(s) for s in shards], columns=SELECTION_COLUMNS)
    else:
        frame = pl.from_arrow(CORPUS_SCHEMA.empty_table()).select(SELECTION_COLUMNS)
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
    reasons = pl.concat(excluded_parts) if excluded_parts else pl.DataFrame(
        schema={"id": pl.String, "stage": pl.String, "reason": pl.String}
    )
    _write_exclusions(shards, reasons, final_excl, config.output_options.compression)

    inputs = count_inputs(paths["counts"])
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
        "config": raw_config,
        "inputs": fingerprint_inputs(raw_config),
        "versions": package_versions(),
        "registry_version": _registry_version(),
        "counts": {"input_by_source": inputs, "kept": kept, "excluded": excluded, "reconcile": reconcile},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    write_plots(stats, out / "plots")
    write_dataset_card(out, config, stats, reconcile)
    if not reconcile["ok"]:
        raise ReconcileError(f"counts do not reconcile: {reconcile['line']} (see {out / 'report.json'})")
    return report


def _registry_version() -> str | None:
    try:
        from geocorpus.registry import OutletRegistry

        return OutletRegistry.builtin().version
    except Exception as exc:  # the manifest records what it can; a broken registry fails earlier, in tagging
        return f"unavailable: {exc}"


class FinalizeCorpus(PipelineStep):
    """datatrove step wrapping :func:`finalize_output`; run it with tasks=1 after the tag stage."""

    name = "🏁 Finalize corpus"
    type = "🏁 - FINALIZE"

    def __init__(self, raw_config: dict, input_folder: Path | str):
        super().__init__()
        self.raw_config = raw_config
        self.input_folder = str(input_folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        if rank == 0:
            report = finalize_output(self.raw_config, Path(self.input_folder))
            self.stat_update("kept", value=report["reconcile"]["kept"])
