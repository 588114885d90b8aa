"""Write a balancing selection (id, split, order) of the tagged shards as the final train/eval shards.

Texts never sit in memory all at once. Pass 1 streams each tagged shard batch by batch with pyarrow,
keeps the selected ids (a hash lookup against the small selection) and appends them, with their
split and output position, to one temporary Parquet file. Pass 2 lets duckdb sort that file by
position (an external sort that spills to disk beyond ``memory_limit``) and streams the sorted rows
into shards of ``rows_per_shard``. Row groups have a fixed size chosen here, so the bytes written do
not depend on how the input was sharded or how duckdb chunks its output.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import NoReturn

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from geocorpus.schema import CORPUS_SCHEMA

SPLITS = ("train", "eval")
_ORDER = "_geocorpus_order"
_READ_BATCH_ROWS = 4096
_ROW_GROUP_ROWS = 4096


def write_selection(
    shard_paths: list[Path],
    selection: pl.DataFrame,
    out_dir: Path,
    rows_per_shard: int,
    prefix_by_split: bool = True,
    *,
    memory_limit: str = "1GB",
) -> dict:
    """Write the selected rows of ``shard_paths`` to ``out_dir`` in CORPUS_SCHEMA with ``split`` set.

    With ``prefix_by_split`` the files are ``train-00000.parquet`` ... and ``eval-00000.parquet`` ...,
    each split in ``order`` order; otherwise ``part-00000.parquet`` ... hold train then eval.
    Returns ``{"files": {split: [paths]}, "rows": {split: count}}``.
    """
    if not isinstance(rows_per_shard, int) or rows_per_shard < 1:
        raise ValueError(f"write_selection: rows_per_shard must be a positive integer, got {rows_per_shard!r}")
    wanted = _check_selection(selection)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = out_dir / "_selection_tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        staged = scratch / "selected.parquet"
        found = _stage_selected_rows([Path(p) for p in shard_paths], wanted, staged)
        if found != wanted.num_rows:
            _raise_unmatched(staged, wanted)
        return _write_sorted_shards(staged, scratch, out_dir, rows_per_shard, prefix_by_split, memory_limit)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _check_selection(selection: pl.DataFrame) -> pa.Table:
    missing = [c for c in ("id", "split", "order") if c not in selection.columns]
    if missing:
        raise ValueError(f"write_selection: selection lacks column(s) {missing}; needs id, split, order")
    table = selection.select(
        pl.col("id").cast(pl.String), pl.col("split").cast(pl.String), pl.col("order").cast(pl.Int64)
    )
    bad_split = table.filter(~pl.col("split").is_in(SPLITS) | pl.col("split").is_null())
    if bad_split.height:
        raise ValueError(
            f"write_selection: split must be train or eval; id {bad_split['id'][0]!r} has {bad_split['split'][0]!r}"
        )
    if table["id"].null_count() or table["id"].n_unique() != table.height:
        raise ValueError("write_selection: selection ids must be unique and non-null")
    if table["order"].null_count() or table.select(pl.struct("split", "order").is_duplicated().any()).item():
        raise ValueError("write_selection: order must be non-null and unique within each split")
    return table.to_arrow()


def _stage_selected_rows(shard_paths: list[Path], wanted: pa.Table, staged: Path) -> int:
    """Pass 1: stream every shard, keep selected rows with their split and order; return the count."""
    staged_schema = CORPUS_SCHEMA.append(pa.field(_ORDER, pa.int64()))
    wanted_ids = wanted.column("id").combine_chunks()
    wanted_split = wanted.column("split").combine_chunks()
    wanted_order = wanted.column("order").combine_chunks()
    found = 0
    with pq.ParquetWriter(staged, staged_schema, compression="zstd") as writer:
        for path in shard_paths:
            shard = _open_shard(path)
            for batch in shard.iter_batches(batch_size=_READ_BATCH_ROWS, columns=CORPUS_SCHEMA.names):
                position = pc.index_in(batch.column("id"), value_set=wanted_ids)
                keep = pc.is_valid(position)
                if not pc.any(keep).as_py():
                    continue
                rows = pa.Table.from_batches([batch]).filter(keep)
                position = position.filter(keep)
                rows = rows.set_column(rows.schema.get_field_index("split"), "split", wanted_split.take(position))
                rows = rows.append_column(_ORDER, wanted_order.take(position))
                writer.write_table(_cast(rows, staged_schema, path))
                found += rows.num_rows
    return found


def _open_shard(path: Path) -> pq.ParquetFile:
    try:
        shard = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as error:
        raise ValueError(f"{path}: not a readable Parquet file ({error})") from error
    missing = [name for name in CORPUS_SCHEMA.names if name not in shard.schema_arrow.names]
    if missing:
        raise ValueError(f"{path}: not a tagged-corpus shard, missing column(s) {missing}")
    return shard


def _cast(table: pa.Table, schema: pa.Schema, path: Path | str) -> pa.Table:
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ValueError(f"{path}: rows do not fit CORPUS_SCHEMA ({error})") from error


def _raise_unmatched(staged: Path, wanted: pa.Table) -> NoReturn:
    seen = pl.read_parquet(staged, columns=["id"])["id"]
    repeated = seen.filter(seen.is_duplicated()).unique().sort().head(5).to_list()
    if repeated:
        raise ValueError(f"write_selection: selected id(s) occur in more than one input row: {repeated}")
    absent = sorted(set(wanted.column("id").to_pylist()) - set(seen.to_list()))
    raise ValueError(f"write_selection: {len(absent)} selected id(s) not found in the shards, e.g. {absent[:5]}")


def _write_sorted_shards(
    staged: Path, scratch: Path, out_dir: Path, rows_per_shard: int, prefix_by_split: bool, memory_limit: str
) -> dict:
    """Pass 2: duckdb sorts by (split, order) out of core; rows stream into fixed-size shards."""
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET temp_directory = ?", [str(scratch / "duckdb")])
        streams = [(split, f"WHERE split = '{split}'") for split in SPLITS] if prefix_by_split else [("part", "")]
        files: dict[str, list[str]] = {}
        rows: dict[str, int] = dict.fromkeys(SPLITS, 0)
        for name, where in streams:
            query = (
                f"SELECT * EXCLUDE ({_ORDER}) FROM read_parquet({_sql_string(staged)}) {where} "
                f"ORDER BY split = 'eval', {_ORDER}"
            )
            reader = _arrow_batches(con.sql(query))
            sink = _ShardSink(out_dir, name, rows_per_shard)
            for batch in reader:
                sink.add(pa.Table.from_batches([batch]))
            files[name] = sink.close()
        counts = con.execute("SELECT split, count(*) FROM read_parquet(?) GROUP BY split", [str(staged)]).fetchall()
        rows.update({split: int(n) for split, n in counts})
        return {"files": files, "rows": rows}
    finally:
        con.close()


def _sql_string(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _arrow_batches(relation: duckdb.DuckDBPyRelation) -> pa.RecordBatchReader:
    """Stream a duckdb relation as Arrow batches (``to_arrow_reader`` in duckdb 2, older name before)."""
    if hasattr(relation, "to_arrow_reader"):
        return relation.to_arrow_reader(_READ_BATCH_ROWS)
    return relation.fetch_arrow_reader(_READ_BATCH_ROWS)


class _ShardSink:
    """Cuts a row stream into ``<name>-NNNNN.parquet`` files of ``rows_per_shard`` rows, writing
    row groups of a fixed size so the output bytes depend only on the rows."""

    def __init__(self, out_dir: Path, name: str, rows_per_shard: int) -> None:
        self.out_dir, self.name, self.rows_per_shard = out_dir, name, rows_per_shard
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.writer: pq.ParquetWriter | None = None
        self.rows_in_shard = 0
        self.paths: list[str] = []

    def add(self, table: pa.Table) -> None:
        self.pending.append(_cast(table, CORPUS_SCHEMA, "duckdb output"))
        self.pending_rows += table.num_rows
        while self.pending_rows >= self._next_group_size():
            self._flush(self._next_group_size())

    def close(self) -> list[str]:
        while self.pending_rows:
            self._flush(min(self.pending_rows, self._next_group_size()))
        if self.writer:
            self.writer.close()
        return self.paths

    def _next_group_size(self) -> int:
        return min(_ROW_GROUP_ROWS, self.rows_per_shard - self.rows_in_shard)

    def _flush(self, n: int) -> None:
        combined = pa.concat_tables(self.pending)
        group, rest = combined.slice(0, n), combined.slice(n)
        self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        if self.writer is None:
            path = self.out_dir / f"{self.name}-{len(self.paths):05d}.parquet"
            self.writer = pq.ParquetWriter(path, CORPUS_SCHEMA, compression="zstd")
            self.paths.append(str(path))
        self.writer.write_table(group, row_group_size=n)
        self.rows_in_shard += n
        if self.rows_in_shard == self.rows_per_shard:
            self.writer.close()
            self.writer, self.rows_in_shard = None, 0
