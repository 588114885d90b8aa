"""Write a selection of the tagged shards as the final train/eval shards: bounded memory, in parallel.

The output order is a seeded shuffle, so rows must move between files. That is a disk shuffle in two
steps, each of which runs as several tasks:

1. **scatter** (a task per group of tagged shards) streams each shard record batch by record batch
   and routes every selected row, with its output position, to the *piece* it belongs to: a run of
   ``piece_rows`` consecutive positions of one output shard, sized so that a piece holds about
   ``PIECE_BYTES``. Buffered rows are flushed as record batches of the task's one scratch file whenever
   the buffer reaches ``PIECE_BYTES``; an index says which batches hold which piece. The scratch file is
   an Arrow IPC file (zstd buffers), not Parquet: there is one batch per piece per flush, so pieces x
   flushes, which grows with the square of the corpus, and every write task opens every scratch file.
   An IPC footer holds 24 bytes per batch; a Parquet footer ~2 KB per row group (metadata of each column).
   Excluded rows go, with their stage and reason, to the task's exclusion file.
2. **gather** (a task per group of output shards) reads, for each piece of its shard in turn, that
   piece's batches from every scatter file, sorts them by position (one piece in memory) and
   appends them to the shard.

Memory per task is therefore a few ``PIECE_BYTES`` plus one record batch, whatever the corpus size
(measured: ``benchmarks/bench_scale.py``). Row groups of the output hold at most ``ROW_GROUP_ROWS``
rows and ``ROW_GROUP_TEXT_BYTES`` of text, cut from the ordered row stream, so the bytes written depend
only on the selected rows and their order: not on task counts, on how the tagged shards were cut, or
on the piece size.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc
import pyarrow.parquet as pq

from geocorpus.paths import SPLITS
from geocorpus.schema import CORPUS_SCHEMA, EXCLUSION_SCHEMA
from geocorpus.writers import exclusion_record

#: What one piece of the shuffle (and the scatter buffer) holds in memory, uncompressed.
PIECE_BYTES = 64 << 20
#: Output row groups: at most this many rows ...
ROW_GROUP_ROWS = 4096
#: ... and at most this much text (UTF-8 bytes), so long documents do not make huge row groups.
ROW_GROUP_TEXT_BYTES = 64 << 20
#: Rows per record batch when streaming a tagged shard.
READ_BATCH_ROWS = 1024
#: Column of the scratch files holding a row's position in its output stream.
POSITION = "_geocorpus_position"
#: A row's fate in a selection plan, row by row in tagged-shard order (see ``selection.py``).
PLAN_SCHEMA = pa.schema(
    [
        pa.field("split", pa.string()),  # train | eval when kept
        pa.field("position", pa.int64()),  # output position within its split when kept
        pa.field("stage", pa.string()),  # exclusion stage when excluded
        pa.field("reason", pa.string()),
    ]
)
_SCATTER_SCHEMA = CORPUS_SCHEMA.append(pa.field(POSITION, pa.int64()))
#: The shuffle scratch is written once and read once: LZ4, as Spark compresses its shuffle files. On 1 GB of
#: the benchmark corpus, scatter + write took 7.5 s of CPU with it and 8.5 s with zstd (level 1), for
#: scratch files 1.5x as large (0.54 against 0.36 GB; 0.90 GB uncompressed, 5.7 s).
_SCATTER_IPC = pa.ipc.IpcWriteOptions(compression="lz4")

Claim = Callable[[Path], Path]


def _no_claim(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------------------------------
# layout of the output
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputShard:
    """One final file: ``<name>-<shard:05d>.parquet``, positions ``[start, start + rows)`` of its stream."""

    name: str
    stream: int
    shard: int
    start: int
    rows: int

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.shard:05d}.parquet"


@dataclass(frozen=True)
class ShardLayout:
    """Which output file and which piece every output position falls in.

    ``streams`` are (file name prefix, rows): ``train`` then ``eval`` (or one ``part`` stream holding
    train then eval). ``offsets`` says where each split starts in which stream.
    """

    streams: tuple[tuple[str, int], ...]
    offsets: tuple[tuple[str, int, int], ...]  # (split, stream index, first position in that stream)
    rows_per_shard: int
    piece_rows: int

    @classmethod
    def plan(
        cls,
        rows: dict[str, int],
        rows_per_shard: int,
        row_bytes: float,
        prefix_by_split: bool = True,
        piece_bytes: int | None = None,
    ) -> ShardLayout:
        """Layout for ``rows`` selected per split; pieces hold ~``piece_bytes`` (default PIECE_BYTES)
        at ``row_bytes`` per row."""
        piece_bytes = piece_bytes or PIECE_BYTES
        if not isinstance(rows_per_shard, int) or isinstance(rows_per_shard, bool) or rows_per_shard < 1:
            raise ValueError(f"rows_per_shard must be a positive integer, got {rows_per_shard!r}")
        piece_rows = int(max(1, min(rows_per_shard, piece_bytes // max(row_bytes, 1.0))))
        if prefix_by_split:
            streams = tuple((split, int(rows.get(split, 0))) for split in SPLITS)
            offsets = tuple((split, i, 0) for i, split in enumerate(SPLITS))
        else:
            total, offset_list = 0, []
            for split in SPLITS:
                offset_list.append((split, 0, total))
                total += int(rows.get(split, 0))
            streams, offsets = (("part", total),), tuple(offset_list)
        return cls(streams=streams, offsets=offsets, rows_per_shard=rows_per_shard, piece_rows=piece_rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "streams": [list(s) for s in self.streams],
            "offsets": [list(o) for o in self.offsets],
            "rows_per_shard": self.rows_per_shard,
            "piece_rows": self.piece_rows,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShardLayout:
        return cls(
            streams=tuple((str(n), int(r)) for n, r in data["streams"]),
            offsets=tuple((str(s), int(i), int(o)) for s, i, o in data["offsets"]),
            rows_per_shard=int(data["rows_per_shard"]),
            piece_rows=int(data["piece_rows"]),
        )

    @property
    def pieces_per_shard(self) -> int:
        return math.ceil(self.rows_per_shard / self.piece_rows)

    def outputs(self) -> list[OutputShard]:
        """Every output file, in output order."""
        files = []
        for index, (name, rows) in enumerate(self.streams):
            for shard, start in enumerate(range(0, rows, self.rows_per_shard)):
                files.append(OutputShard(name, index, shard, start, min(self.rows_per_shard, rows - start)))
        return files

    def _first_shard(self, stream: int) -> int:
        return sum(math.ceil(rows / self.rows_per_shard) for _, rows in self.streams[:stream])

    def piece(self, output: OutputShard, j: int) -> tuple[int, int, int]:
        """(piece id, first stream position, rows) of piece ``j`` of ``output``."""
        first = output.start + j * self.piece_rows
        rows = min(self.piece_rows, output.start + output.rows - first)
        return (self._first_shard(output.stream) + output.shard) * self.pieces_per_shard + j, first, rows

    def pieces(self, output: OutputShard) -> int:
        return math.ceil(output.rows / self.piece_rows)

    def place(self, split: str, positions: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """(stream index, stream positions, piece ids) of rows of ``split`` at ``positions`` in that split."""
        stream, offset = next((i, o) for s, i, o in self.offsets if s == split)
        at = positions.astype(np.int64) + offset
        shard = self._first_shard(stream) + at // self.rows_per_shard
        piece = shard * self.pieces_per_shard + (at % self.rows_per_shard) // self.piece_rows
        return stream, at, piece


def average_row_bytes(shards: Iterable[Path]) -> float:
    """Mean uncompressed bytes per row of tagged shards, from the Parquet footers (no data read)."""
    size = rows = 0
    for path in shards:
        meta = pq.ParquetFile(path).metadata
        rows += meta.num_rows
        size += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return size / rows if rows else 1.0


# --------------------------------------------------------------------------------------------------
# scatter
# --------------------------------------------------------------------------------------------------


class _ExclusionFile:
    """Excluded rows of one scatter task, with their stage and reason and every original field."""

    def __init__(self, path: Path, compression: str, claim: Claim) -> None:
        self.path, self.compression, self.claim = path, compression, claim
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def add(self, rows: pa.Table, stages: pa.Array, reasons: pa.Array) -> None:
        records = []
        for row, stage, reason in zip(rows.to_pylist(), stages.to_pylist(), reasons.to_pylist()):
            fields = {k: v for k, v in row.items() if k not in ("id", "text")}
            records.append(exclusion_record(row["id"], stage, reason, row["text"], row["country"], fields))
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.claim(self.path), EXCLUSION_SCHEMA, compression=self.compression)
        self.writer.write_table(pa.Table.from_pylist(records, schema=EXCLUSION_SCHEMA))
        self.rows += len(records)

    def close(self) -> int:
        if self.writer is not None:
            self.writer.close()
        return self.rows


class Scatter:
    """One scatter task: selected rows to pieces in ``path`` (+ ``path.json`` index), excluded rows to
    ``exclusions`` (``None``: the plan may not exclude anything); ``on_rows`` also sees the kept rows."""

    def __init__(
        self,
        layout: ShardLayout,
        path: Path,
        exclusions: Path | None = None,
        compression: str = "zstd",
        claim: Claim = _no_claim,
        piece_bytes: int | None = None,
        on_rows: Callable[[str, pa.Table, np.ndarray], None] | None = None,
        side_columns: tuple[str, ...] = (),
    ) -> None:
        self.layout, self.path, self.claim = layout, Path(path), claim
        # sees (split, rows, positions within the split) of every routed batch; its rows also hold those
        # of ``side_columns`` that the shard has (columns read for it, never written to the corpus)
        self.on_rows = on_rows
        self.side_columns = side_columns
        self.piece_bytes = piece_bytes or PIECE_BYTES
        self.exclusions = _ExclusionFile(Path(exclusions), compression, claim) if exclusions else None
        self.buffers: dict[int, list[pa.Table]] = {}
        self.buffered = 0
        self.writer: pa.ipc.RecordBatchFileWriter | None = None
        self.batches = 0
        self.index: dict[int, list[int]] = {}
        self.selected = 0

    def add_shard(self, path: Path, plan: pa.Table) -> None:
        """Stream one tagged shard; ``plan`` (PLAN_SCHEMA) gives the fate of each of its rows, in order."""
        shard = open_shard(path)
        if shard.metadata.num_rows != plan.num_rows:
            raise ValueError(
                f"{path}: {shard.metadata.num_rows} rows, but the selection plan has {plan.num_rows}: "
                "the tagged shards changed after finalize selected from them"
            )
        offset = 0
        side = [name for name in self.side_columns if name in shard.schema_arrow.names]
        for batch in shard.iter_batches(batch_size=READ_BATCH_ROWS, columns=[*CORPUS_SCHEMA.names, *side]):
            fate = plan.slice(offset, batch.num_rows)
            offset += batch.num_rows
            table = pa.Table.from_batches([batch])
            rows = cast_rows(table, CORPUS_SCHEMA, path)
            for name in side:
                rows = rows.append_column(name, table.column(name))
            excluded = pc.is_valid(fate.column("stage"))
            if self.exclusions is not None and pc.any(excluded).as_py():
                self.exclusions.add(
                    rows.select(CORPUS_SCHEMA.names).filter(excluded),
                    fate.column("stage").filter(excluded),
                    fate.column("reason").filter(excluded),
                )
            elif pc.any(excluded).as_py():
                raise ValueError("Scatter: the plan excludes rows but no exclusion file was given")
            for split in SPLITS:
                kept = pc.and_(pc.is_valid(fate.column("position")), pc.equal(fate.column("split"), split))
                kept = pc.fill_null(kept, False)
                if pc.any(kept).as_py():
                    self._route(rows.filter(kept), split, fate.column("position").filter(kept))
            if self.buffered >= self.piece_bytes:
                self._flush()

    def _route(self, rows: pa.Table, split: str, positions: pa.ChunkedArray) -> None:
        within = positions.to_numpy()
        _, at, piece = self.layout.place(split, within)
        if self.on_rows is not None:
            self.on_rows(split, rows, within)
        rows = rows.select(CORPUS_SCHEMA.names)
        index = rows.schema.get_field_index("split")
        rows = rows.set_column(index, "split", pa.array([split] * rows.num_rows, pa.string()))
        rows = rows.append_column(POSITION, pa.array(at, pa.int64()))
        order = np.argsort(piece, kind="stable")
        piece, rows = piece[order], rows.take(pa.array(order))
        starts = np.flatnonzero(np.r_[True, piece[1:] != piece[:-1]])
        ends = np.r_[starts[1:], len(piece)]
        for start, end in zip(starts, ends):
            part = rows.slice(int(start), int(end - start))
            self.buffers.setdefault(int(piece[start]), []).append(part)
            self.buffered += part.nbytes
        self.selected += rows.num_rows

    def _flush(self) -> None:
        if not self.buffers:
            return
        if self.writer is None:
            self.writer = pa.ipc.new_file(str(self.claim(self.path)), _SCATTER_SCHEMA, options=_SCATTER_IPC)
        for piece in sorted(self.buffers):
            table = pa.concat_tables(self.buffers[piece]).combine_chunks()
            for batch in table.to_batches():  # one: the columns are single chunks
                self.writer.write_batch(batch)
                self.index.setdefault(piece, []).append(self.batches)
                self.batches += 1
        self.buffers, self.buffered = {}, 0

    def close(self) -> dict[str, Any]:
        """Flush, close, write the index beside the scratch file; returns selected/excluded counts."""
        self._flush()
        if self.writer is not None:
            self.writer.close()
        excluded = self.exclusions.close() if self.exclusions else 0
        index_path = self.claim(index_file(self.path))
        index_path.write_text(json.dumps({"rows": self.selected, "pieces": self.index}), encoding="utf-8")
        return {"selected": self.selected, "excluded": excluded}


def index_file(scatter_path: Path) -> Path:
    return scatter_path.with_suffix(".json")


# --------------------------------------------------------------------------------------------------
# gather
# --------------------------------------------------------------------------------------------------


class ScatterFiles:
    """The scatter files of a run, opened once per gather task (only their footers are read)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.files: list[tuple[pa.ipc.RecordBatchFileReader | None, dict[int, list[int]]]] = []
        for path in paths:
            index = json.loads(index_file(Path(path)).read_text(encoding="utf-8"))
            pieces = {int(k): v for k, v in index["pieces"].items()}
            self.files.append((_open_scatter(Path(path)) if pieces else None, pieces))

    def read_piece(self, piece: int) -> pa.Table:
        batches = [f.get_batch(i) for f, idx in self.files if f is not None for i in idx.get(piece, ())]
        return pa.Table.from_batches(batches, _SCATTER_SCHEMA)


def _open_scatter(path: Path) -> pa.ipc.RecordBatchFileReader:
    # a plain file, not a memory map: batches are read (and decompressed) one piece at a time
    try:
        reader = pa.ipc.open_file(pa.OSFile(str(path)))
    except (OSError, pa.ArrowException) as error:
        raise ValueError(f"{path}: not a readable scatter file ({error}); re-run finalize") from error
    if not reader.schema.equals(_SCATTER_SCHEMA):
        raise ValueError(f"{path}: scatter file with another schema (written by another version?); re-run finalize")
    return reader


def write_memory_pool() -> pa.MemoryPool:
    """The Arrow memory pool write tasks allocate from: jemalloc, else the system allocator.

    Why not the default (mimalloc in the wheels): a write task reads each piece as many small parts
    (one per scatter flush, more of them the larger the corpus), and mimalloc kept the freed pages even
    after ``release_unused``: a write task's RSS between output shards crept from ~240 to ~330 MB and
    its peak from 525 to 594 MB at four times the parts per piece, with the same live Arrow memory.
    jemalloc held it flat at a 450 MB peak, the system allocator at 510 MB (measured on 1 GB of input).
    """
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow build without jemalloc
        return pa.system_memory_pool()


@contextlib.contextmanager
def writing_memory_pool() -> Iterator[pa.MemoryPool]:
    """``write_memory_pool()`` as Arrow's default while the block runs; the previous default after."""
    previous = pa.default_memory_pool()
    pool = write_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield pool
    finally:
        pa.set_memory_pool(previous)


class _ShardFile:
    """One output file; row groups are cut at ROW_GROUP_ROWS rows or ROW_GROUP_TEXT_BYTES of text."""

    def __init__(self, path: Path) -> None:
        self.writer = pq.ParquetWriter(path, CORPUS_SCHEMA, compression="zstd")
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.pending_text = 0
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        text_bytes = pc.binary_length(table.column("text")).to_numpy(zero_copy_only=False)
        start = 0
        while start < table.num_rows:
            room = ROW_GROUP_ROWS - self.pending_rows
            cumulative = np.cumsum(text_bytes[start : start + room]) + self.pending_text
            full = np.flatnonzero(cumulative >= ROW_GROUP_TEXT_BYTES)
            take = int(full[0]) + 1 if len(full) else min(room, table.num_rows - start)
            self.pending.append(table.slice(start, take))
            self.pending_rows += take
            self.pending_text = int(cumulative[take - 1])
            start += take
            if self.pending_rows == ROW_GROUP_ROWS or self.pending_text >= ROW_GROUP_TEXT_BYTES:
                self._flush()
        if self.pending:  # a copy of the rows left over, so they do not keep the whole of ``table`` alive
            rest = pa.concat_tables(self.pending)
            self.pending = [rest.take(pa.array(np.arange(rest.num_rows)))]

    def _flush(self) -> None:
        if self.pending_rows:
            group = pa.concat_tables(self.pending)
            self.writer.write_table(group, row_group_size=group.num_rows)
            self.rows += group.num_rows
        self.pending, self.pending_rows, self.pending_text = [], 0, 0

    def close(self) -> int:
        self._flush()
        self.writer.close()
        return self.rows


def gather(output: OutputShard, layout: ShardLayout, scatter: ScatterFiles, path: Path) -> int:
    """Write one output file from the scatter files, piece by piece in position order; returns its rows."""
    sink = _ShardFile(path)
    try:
        for j in range(layout.pieces(output)):
            piece, first, rows = layout.piece(output, j)
            table = scatter.read_piece(piece)
            table = table.sort_by(POSITION)
            positions = table.column(POSITION).to_numpy()
            if table.num_rows != rows or not np.array_equal(positions, np.arange(first, first + rows)):
                raise ValueError(
                    f"{path.name}: piece {j} should hold positions {first}..{first + rows - 1} but the scatter "
                    f"files hold {table.num_rows} row(s) for it; a scatter task did not finish or ran twice"
                )
            sink.add(cast_rows(table.drop_columns([POSITION]), CORPUS_SCHEMA, path))
            del table, positions
            # hand the piece's freed pages back to the system: the allocator kept them (measured: a write
            # task's RSS rose ~150 MB over its first pieces with its live Arrow memory unchanged)
            pa.default_memory_pool().release_unused()
    finally:
        written = sink.close()
    return written


# --------------------------------------------------------------------------------------------------
# shared helpers and the one-process convenience
# --------------------------------------------------------------------------------------------------


def open_shard(path: Path) -> pq.ParquetFile:
    try:
        shard = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as error:
        raise ValueError(f"{path}: not a readable Parquet file ({error})") from error
    missing = [name for name in CORPUS_SCHEMA.names if name not in shard.schema_arrow.names]
    if missing:
        raise ValueError(f"{path}: not a tagged-corpus shard, missing column(s) {missing}")
    return shard


def cast_rows(table: pa.Table, schema: pa.Schema, path: Path | str) -> pa.Table:
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ValueError(f"{path}: rows do not fit CORPUS_SCHEMA ({error})") from error


def write_selection(
    shard_paths: list[Path],
    selection: pl.DataFrame,
    out_dir: Path,
    rows_per_shard: int,
    prefix_by_split: bool = True,
    *,
    piece_bytes: int | None = None,
) -> dict:
    """Write the selected rows of ``shard_paths`` to ``out_dir`` in CORPUS_SCHEMA with ``split`` set.

    One process, the same scatter/gather as the pipeline's finalize tasks. ``selection`` has id, split
    and order (unique within a split). With ``prefix_by_split`` the files are ``train-00000.parquet``
    ... and ``eval-00000.parquet`` ..., each split in ``order`` order; otherwise ``part-00000.parquet``
    ... hold train then eval. Returns ``{"files": {name: [paths]}, "rows": {split: count}}``.
    """
    wanted = _check_selection(selection)
    paths = [Path(p) for p in shard_paths]
    plans = _plans_by_id(paths, wanted)
    rows = {split: int(n) for split, n in wanted.group_by("split").len().iter_rows()}
    layout = ShardLayout.plan(rows, rows_per_shard, average_row_bytes(paths), prefix_by_split, piece_bytes)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = out_dir / "_selection_tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        scratch_file = scratch / "00000.arrow"
        scatter = Scatter(layout, scratch_file, piece_bytes=piece_bytes)
        for path, plan in zip(paths, plans):
            scatter.add_shard(path, plan)
        scatter.close()
        files: dict[str, list[str]] = {name: [] for name, _ in layout.streams}
        sources = ScatterFiles([scratch_file])
        for output in layout.outputs():
            target = out_dir / output.filename
            gather(output, layout, sources, target)
            files[output.name].append(str(target))
        return {"files": files, "rows": {split: rows.get(split, 0) for split in SPLITS}}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _check_selection(selection: pl.DataFrame) -> pl.DataFrame:
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
    return table.sort("split", "order").with_columns(pl.int_range(pl.len()).over("split").alias("position"))


def _plans_by_id(paths: list[Path], wanted: pl.DataFrame) -> list[pa.Table]:
    """A plan per shard from a selection keyed by id (rows not selected are neither kept nor excluded)."""
    plans, seen = [], []
    for path in paths:
        ids = pl.DataFrame(open_shard(path).read(columns=["id"])).with_row_index("_row")
        plan = ids.join(wanted.select("id", "split", "position"), on="id", how="left").sort("_row")
        seen.append(plan.filter(pl.col("position").is_not_null())["id"])
        plans.append(
            plan.select(
                "split",
                "position",
                pl.lit(None, pl.String).alias("stage"),
                pl.lit(None, pl.String).alias("reason"),
            )
            .to_arrow()
            .cast(PLAN_SCHEMA)
        )
    found = pl.concat(seen) if seen else pl.Series("id", [], pl.String)
    if found.len() != wanted.height or found.n_unique() != found.len():
        repeated = found.filter(found.is_duplicated()).unique().sort().head(5).to_list()
        if repeated:
            raise ValueError(f"write_selection: selected id(s) occur in more than one input row: {repeated}")
        absent = wanted.join(found.to_frame("id"), on="id", how="anti")["id"].sort().head(5).to_list()
        raise ValueError(
            f"write_selection: {wanted.height - found.len()} selected id(s) not found in the shards, e.g. {absent}"
        )
    return plans
