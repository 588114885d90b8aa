"""Pre-tokenized shards: tokenize a tagged corpus once, train every condition from the token ids.

Why: on a GPU node the on-the-fly path (Parquet -> template -> tokenizer -> packing) needs a
tokenizer thread per few hundred thousand tokens/s; reading ids from a memory map is two orders of
magnitude faster. Why spans rather than rendered sequences: conditions differ only in which
metadata lines precede the body, so the store keeps each document's body tokens once and each
metadata line's tokens apart (``URL: ...\\n``, ``COUNTRY: in\\n``, ...), tokenized exactly as the
on-the-fly path tokenizes them (``MetadataTemplate.prefix_pieces``). A condition assembles
``[BOS] lines... separator body EOS``; the loss mask, document isolation, region filters, hash
ranges, sharding, shuffling and exact resume are the dataset's own and work unchanged.

Layout of ``geocorpus tokenize CORPUS --tokenizer T --out DIR``::

    DIR/tokenized.json             manifest: tokenizer fingerprint, separator ids, fields, files, counts
    DIR/<shard>.tokens.bin         every token id of the shard, flat, raw (uint16 when the vocabulary fits)
    DIR/<shard>.index.parquet      one row per document: id, country, continent, date, body_start/len,
                                   <field>_start/len per metadata field (null where the document has none)

The index keeps the source's row groups, so the dataset's units and exact slices carry over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trainer_plugin.conditions import Condition
from trainer_plugin.packing import backend_of, encode_texts
from trainer_plugin.shards import CorpusError, HashRange, Unit, UnitReader, expand_paths, files_fingerprint
from trainer_plugin.template import METADATA_FIELDS, PAPER_TEMPLATE, TemplateError
from trainer_plugin.tokenizer import tokenizer_fingerprint

MANIFEST = "tokenized.json"
FORMAT = "geocorpus-tokens/1"
#: source columns the index keeps for region filters, hash ranges and inspection
KEPT_COLUMNS = ("id", "country", "continent")


def is_tokenized(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


class TokenDoc(NamedTuple):
    """One document of a token store as the reader yields it: where its body and lines are (a tuple:
    the reader makes one per document, so it must be cheap)."""

    store: TokenStore
    shard: int
    id: str
    body: tuple[int, int]
    lines: tuple[tuple[int, int] | None, ...]  # one per field of the reading condition, in its order


class TokenStore:
    """A folder written by ``tokenize_corpus``; token files are memory-mapped on first use per process."""

    def __init__(self, folder: str | Path, tokenizer: Any | None = None) -> None:
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        if not path.is_file():
            raise CorpusError(f"{self.folder}: no {MANIFEST}; not a finished `geocorpus tokenize` output")
        self.manifest = json.loads(path.read_text(encoding="utf-8"))
        if self.manifest.get("format") != FORMAT:
            raise CorpusError(f"{path}: format {self.manifest.get('format')!r}; expected {FORMAT!r}")
        if tokenizer is not None and tokenizer_fingerprint(tokenizer) != self.manifest["tokenizer_fingerprint"]:
            raise CorpusError(
                f"{self.folder} was tokenized with another tokenizer ({self.manifest['tokenizer']}, fingerprint "
                f"{self.manifest['tokenizer_fingerprint']}); train with that tokenizer or tokenize again"
            )
        self.shards = [self.folder / s["index"] for s in self.manifest["shards"]]
        self._token_files = [self.folder / s["tokens"] for s in self.manifest["shards"]]
        self._shard_of = {str(p): i for i, p in enumerate(self.shards)}
        self.separator = np.asarray(self.manifest["separator_ids"], np.int64)
        self.dtype = np.dtype(self.manifest["dtype"])
        self._tokens: dict[int, np.ndarray] = {}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_tokens"] = {}  # memory maps are reopened in each process (spawned dataloader workers)
        return state

    def files(self) -> list[str]:
        """What the dataset's fingerprint covers: the index files and the token files."""
        return [str(p) for p in self.shards + self._token_files]

    def shard_files(self) -> list[str]:
        """The index files: the units the dataset shards and shuffles."""
        return [str(p) for p in self.shards]

    def shard_number(self, index_file: str) -> int:
        return self._shard_of[index_file]

    def columns(self, condition: Condition) -> list[str]:
        fields = list(condition.metadata)
        unknown = [f for f in fields if f not in self.manifest["fields"]]
        if unknown:
            raise CorpusError(f"{self.folder} has no token spans for metadata field(s) {unknown}; tokenize again")
        return [*KEPT_COLUMNS, "body_start", "body_len", *(f"{f}_{part}" for f in fields for part in ("start", "len"))]

    def tokens(self, shard: int) -> np.ndarray:
        array = self._tokens.get(shard)
        if array is None:
            path = self._token_files[shard]
            # a plain ndarray view of the map: slicing a np.memmap subclass costs a Python call per slice
            array = np.asarray(np.memmap(path, dtype=self.dtype, mode="r")) if path.stat().st_size else np.zeros(0)
            self._tokens[shard] = array
        return array

    def assemble(self, doc: TokenDoc, fields: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(prefix ids, body ids) of one document; ``fields`` are the condition's (or none in cooldown)."""
        tokens = self.tokens(doc.shard)
        body = tokens[doc.body[0] : doc.body[0] + doc.body[1]]
        if not fields:
            return np.zeros(0, np.int64), body
        parts = []
        for name, span in zip(fields, doc.lines):
            if span is None:
                if name == "year":  # optional: no date, no YEAR line (as MetadataTemplate)
                    continue
                raise TemplateError(
                    f"document {doc.id!r} has no value in column {METADATA_FIELDS[name]!r} needed by metadata field "
                    f"{name!r}"
                )
            parts.append(tokens[span[0] : span[0] + span[1]])
        if not parts:
            return np.zeros(0, np.int64), body
        return np.concatenate([*parts, self.separator]), body


class TokenReader(UnitReader):
    """Reads slices of kept index rows as TokenDocs (no text, no tokenizer)."""

    def __init__(self, stores: Sequence[TokenStore], condition: Condition, hash_range: HashRange | None) -> None:
        super().__init__(condition, hash_range, columns=stores[0].columns(condition))
        self.store_of = {file: store for store in stores for file in store.shard_files()}
        self.fields = list(condition.metadata)

    def rows(self, unit: Unit, start: int, stop: int) -> Iterator[Any]:
        table = self.slice(unit, start, stop)
        store = self.store_of[unit.file]
        shard = store.shard_number(unit.file)
        ids = table.column("id").to_pylist()
        body = zip(table.column("body_start").to_pylist(), table.column("body_len").to_pylist())
        spans = [
            zip(table.column(f"{f}_start").to_pylist(), table.column(f"{f}_len").to_pylist()) for f in self.fields
        ]
        lines = zip(*spans) if spans else ((),) * len(ids)
        for doc_id, body_span, line_spans in zip(ids, body, lines):
            yield TokenDoc(
                store,
                shard,
                doc_id,
                body_span,
                tuple(None if s is None else (s, n) for s, n in line_spans),
            )


def tokenize_corpus(
    corpus: Sequence[str | Path] | str | Path,
    tokenizer: Any,
    out_dir: str | Path,
    split: str = "train",
    batch: int = 512,
    tokenizer_name: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the token store of a corpus split; returns the manifest (with documents, tokens, seconds).

    Every document of the split is kept (regions and hash ranges are filtered at training time), so
    one store serves every condition and slice. Refuses an output folder holding files it did not write.
    """
    files = expand_paths(corpus, split)
    out = Path(out_dir)
    _check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # a store without its manifest is unfinished: never read
    backend = backend_of(tokenizer)
    dtype = np.uint16 if len(tokenizer) <= np.iinfo(np.uint16).max + 1 else np.uint32
    fields = list(METADATA_FIELDS)
    separator = PAPER_TEMPLATE.prefix_separator[1:]
    separator_ids = encode_texts(backend, [separator])[0] if separator else []
    started, n_docs, n_tokens = time.perf_counter(), 0, 0
    shards: list[dict[str, Any]] = []
    names = _shard_names(files)
    for number, (file, name) in enumerate(zip(files, names)):
        docs, tokens = _tokenize_file(Path(file), backend, out, name, dtype, fields, batch)
        shards.append(
            {
                "source": str(file),
                "index": f"{name}.index.parquet",
                "tokens": f"{name}.tokens.bin",
                "documents": docs,
                "tokens_count": tokens,
            }
        )
        n_docs, n_tokens = n_docs + docs, n_tokens + tokens
        if progress is not None:
            progress(number + 1, len(files))
    manifest = {
        "format": FORMAT,
        "tokenizer": tokenizer_name or str(getattr(tokenizer, "name_or_path", "")),
        "tokenizer_fingerprint": tokenizer_fingerprint(tokenizer),
        "vocab_size": len(tokenizer),
        "dtype": np.dtype(dtype).name,
        "split": split,
        "fields": fields,
        "line_formats": {f: PAPER_TEMPLATE.line_formats[f] for f in fields},
        "separator": separator,
        "separator_ids": separator_ids,
        "source_fingerprint": files_fingerprint(files),
        "shards": shards,
        "documents": n_docs,
        "tokens": n_tokens,
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def _check_output_folder(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise CorpusError(f"output {out} exists and is not a folder")
    foreign = [
        p.name for p in out.iterdir() if not (p.name == MANIFEST or p.name.endswith((".tokens.bin", ".index.parquet")))
    ]
    if foreign:
        raise CorpusError(
            f"output folder {out} holds files geocorpus tokenize did not write ({foreign[:3]}); use another"
        )


def _shard_names(files: Sequence[str]) -> list[str]:
    """File stems, made unique (two sources may both have train-00000.parquet)."""
    names: list[str] = []
    for file in files:
        stem = Path(file).name.removesuffix(".parquet")
        name, n = stem, 1
        while name in names:
            n += 1
            name = f"{stem}-{n}"
        names.append(name)
    return names


def _tokenize_file(
    file: Path, backend: Any, out: Path, name: str, dtype: Any, fields: list[str], batch: int
) -> tuple[int, int]:
    """One source shard: token ids appended to a raw file, index row groups mirroring the source's;
    memory is bounded by one row group."""
    parquet = pq.ParquetFile(file)
    present = set(parquet.schema_arrow.names)
    read = sorted({*KEPT_COLUMNS, "text", "title", *(METADATA_FIELDS[f] for f in fields)} & present)
    schema = _index_schema(fields)
    offset = n_docs = 0
    with (
        (out / f"{name}.tokens.bin").open("wb") as tokens_out,
        pq.ParquetWriter(out / f"{name}.index.parquet", schema) as writer,
    ):
        for group in range(parquet.num_row_groups):
            rows = parquet.read_row_group(group, columns=read).to_pylist()
            index: dict[str, list] = {column: [] for column in schema.names}
            for lo in range(0, len(rows), batch):
                part = rows[lo : lo + batch]
                texts: list[str] = []
                owners: list[tuple[int, str | None]] = []  # (document, field; None for the body)
                for k, row in enumerate(part):
                    for f in fields:
                        line = _line(f, row)
                        if line is not None:
                            texts.append(line + "\n")
                            owners.append((k, f))
                    texts.append(PAPER_TEMPLATE.body(row))
                    owners.append((k, None))
                spans: list[dict[str | None, tuple[int, int]]] = [{} for _ in part]
                chunks = []
                for (k, owner), ids in zip(owners, encode_texts(backend, texts)):
                    spans[k][owner] = (offset, len(ids))
                    chunks.append(np.asarray(ids, dtype))
                    offset += len(ids)
                if chunks:
                    tokens_out.write(np.concatenate(chunks).tobytes())
                for k, row in enumerate(part):
                    for column in KEPT_COLUMNS:
                        index[column].append(row.get(column))
                    index["body_start"].append(spans[k][None][0])
                    index["body_len"].append(spans[k][None][1])
                    for f in fields:
                        span = spans[k].get(f)
                        index[f"{f}_start"].append(None if span is None else span[0])
                        index[f"{f}_len"].append(None if span is None else span[1])
            table = pa.table(index, schema=schema)
            writer.write_table(table, row_group_size=max(1, table.num_rows))
            n_docs += table.num_rows
    return n_docs, offset


def _line(field: str, row: dict) -> str | None:
    try:
        return PAPER_TEMPLATE.line(field, row)
    except TemplateError:
        return None  # a missing value: the span is null; a condition that needs it fails at training time


def _index_schema(fields: Sequence[str]) -> pa.Schema:
    columns = [pa.field(c, pa.string()) for c in KEPT_COLUMNS]
    columns += [pa.field("body_start", pa.int64()), pa.field("body_len", pa.int32())]
    for f in fields:
        columns += [pa.field(f"{f}_start", pa.int64()), pa.field(f"{f}_len", pa.int32())]
    return pa.schema(columns)
