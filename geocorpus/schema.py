"""The tagged-corpus schema: one explicit pyarrow schema shared by the writer, readers and trainer.

datatrove's ParquetWriter infers its schema from the first document it sees; a shard whose first
row has a null title would then get a null-typed column and break concatenation. Every geocorpus
writer passes this schema instead, and every consumer can validate against it.
"""

from __future__ import annotations

import pyarrow as pa

#: Columns of the tagged corpus, in order. ``metadata`` keys of a datatrove Document carry the same
#: names (everything except ``id`` and ``text``).
CORPUS_FIELDS: list[pa.Field] = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("title", pa.string()),
    pa.field("url", pa.string()),  # as it came in
    pa.field("url_normalized", pa.string()),
    pa.field("host", pa.string()),
    pa.field("domain", pa.string()),  # registrable domain, e.g. bbc.co.uk
    pa.field("suffix", pa.string()),  # public suffix, e.g. co.uk
    pa.field("url_unwrapped", pa.bool_()),  # True when taken out of an archive or AMP cache wrapper
    pa.field("url_key", pa.string()),  # loose identity for exact dedup (no scheme/www./trailing slash, sorted query)
    pa.field("url_status", pa.string()),  # ok | unresolved_redirect (a shortlink) | resolved_redirect
    pa.field("country", pa.string()),  # ISO 3166-1 alpha-2, upper case
    pa.field("country_name", pa.string()),
    pa.field("continent", pa.string()),
    pa.field("tag_source", pa.string()),  # input | registry | cctld | page | classifier | none
    pa.field("tag_conflict", pa.string()),  # e.g. "input=IN;registry=GB", null when evidence agrees
    pa.field("tag_evidence", pa.string()),  # the deciding signal, e.g. "registry:theguardian.com/au"
    pa.field("tag_confidence", pa.float64()),  # the classifier's probability when it decided, else null
    pa.field("page_signals", pa.string()),  # JSON of the page's locale signals (WARC input), see page_evidence
    pa.field("date", pa.string()),
    pa.field("language", pa.string()),
    pa.field("n_tokens", pa.int64()),  # whitespace words, or balance.tokenizer's tokens; what unit: tokens counts
    pa.field("text_hash", pa.string()),  # xxh64 of the text (stripped), for exact dedup
    pa.field("syndicated", pa.bool_()),  # MinHash found the story under other countries too (null: MinHash off)
    pa.field("syndicated_countries", pa.string()),  # those other countries, "IN,US" (the kept copy is `country`)
    pa.field("source_file", pa.string()),
    pa.field("source_row", pa.int64()),
    pa.field("split", pa.string()),  # train | eval, set by the balancing stage
]

CORPUS_SCHEMA = pa.schema(CORPUS_FIELDS)
METADATA_COLUMNS = [f.name for f in CORPUS_FIELDS if f.name not in ("id", "text")]

#: The tagged shards' one column more: each document's MinHash LSH bucket digests (``bucket_digests``),
#: 8 bytes a bucket, empty when the text is too short to sign, null when not computed. Finalize reads it
#: for the cross-split check and writes the corpus without it.
MINHASH_DIGESTS = "minhash_digests"
TAGGED_SCHEMA = CORPUS_SCHEMA.append(pa.field(MINHASH_DIGESTS, pa.binary()))
TAGGED_METADATA_COLUMNS = [*METADATA_COLUMNS, MINHASH_DIGESTS]

#: Rejected documents keep their original fields plus why and where they were dropped.
EXCLUSION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # the step that excluded it, e.g. verify_url
        pa.field("reason", pa.string(), nullable=False),  # machine-readable, e.g. relative_url
        pa.field("text", pa.string()),
        pa.field("url", pa.string()),
        pa.field("title", pa.string()),
        pa.field("country", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("source_row", pa.int64()),
        pa.field("metadata_json", pa.string()),  # every other original field, losslessly
    ]
)
