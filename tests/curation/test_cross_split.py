"""The cross-split near-duplicate check finds exactly the pairs datatrove's MinHash signatures give.

The reference is the check as it ran before it was split into tasks: datatrove's own
``MinhashDedupSignature`` signs every document, the eval documents' buckets go in a dict and every
train document is looked up in it. The tasks must report the same pairs, whatever the task count.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.finalize_inputs import finalize_config, run_finalize_tasks, unique_fundus_rows, write_tagged_shards
from support.tagged_corpus import tagged_row, write_tagged_file

from geocorpus.bucket_digests import UNSIGNED, Signer
from geocorpus.finalize import cross_split
from geocorpus.finalize.contamination import near_duplicate_pairs
from geocorpus.finalize.cross_split import CrossSplitCounts, DigestFile, EvalIndex, sign_files
from geocorpus.finalize.stage import report_task
from geocorpus.minhash import MinhashConfig, WhitespaceWordTokenizer
from geocorpus.schema import MINHASH_DIGESTS

#: geocorpus's defaults, and loose settings (single words, two hashes per bucket) under which many
#: buckets' first hashes agree while the whole bucket does not.
SETTINGS = {"default": MinhashConfig(), "loose": MinhashConfig(n_grams=1, num_buckets=16, hashes_per_bucket=2, seed=5)}
EDGE_TEXTS = [
    "",
    "one two three four",
    "one two three four five",
    "Café Ångström naïve São Paulo, 12 März 1971",
    "In 1971, 3.5% of 1,000 people said: 'no' -- twice!\n\tThen\u00a0again\u2014later.",
    "ünïcödé wörds ärë hërë ïn thïs sëntëncë",
]


def _datatrove_signer(settings: MinhashConfig):
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

    return MinhashDedupSignature("memory://unused", config=settings.to_datatrove(), language=WhitespaceWordTokenizer())


def reference_pairs(train: list[dict], evals: list[dict], settings: MinhashConfig) -> set[tuple[str, str]]:
    signer = _datatrove_signer(settings)

    def buckets(text: str) -> list[tuple[int, tuple[int, ...]]]:
        shingles = signer.get_shingles(text or "")
        if shingles.size == 0:
            return []
        return [(i, tuple(values)) for i, values in enumerate(signer.get_signature(shingles))]

    index: dict[tuple[int, tuple[int, ...]], list[str]] = {}
    for row in evals:
        for key in buckets(row["text"]):
            index.setdefault(key, []).append(row["id"])
    return {(e, row["id"]) for row in train for key in buckets(row["text"]) for e in index.get(key, ())}


@pytest.fixture(scope="module")
def fundus_texts(shared_data) -> list[str]:
    path = shared_data / "news/fundus/fundus_articles.jsonl"
    return [json.loads(line)["text"] for line in path.open(encoding="utf-8")]


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_signatures_are_datatroves(fundus_texts, name):
    """Every shared fundus text (several languages) and edge cases: the same shingles and signature values."""
    settings = SETTINGS[name]
    ours, theirs = Signer(settings), _datatrove_signer(settings)
    signed = 0
    for text in fundus_texts + EDGE_TEXTS:
        expected = theirs.get_shingles(text)
        shingles = ours.shingles(text)
        if expected.size == 0:
            assert shingles is None and ours.text_digests(text) == UNSIGNED, text[:80]
            continue
        assert shingles is not None and shingles.tolist() == expected.tolist(), text[:80]
        signature = [v for bucket in theirs.get_signature(expected) for v in bucket]
        assert ours.signature(shingles).tolist() == signature, text[:80]
        stored = np.frombuffer(ours.text_digests(text), "<u8")
        assert stored.tolist() == ours.digests(np.array(signature, np.uint64)).tolist()
        signed += 1
    assert signed >= len(fundus_texts) - 5 and signed >= 3  # the edge cases with five words and more


def _split_rows(texts: list[str]) -> tuple[list[dict], list[dict]]:
    """Real articles as train; eval: light and heavy edits of some, a reversed one, short and empty texts."""
    articles = [t for t in texts if len(t.split()) >= 150][:40]

    def row(doc_id: str, text: str, split: str) -> dict:
        return tagged_row(doc_id, text, f"https://news.example/{doc_id}", "GB", split=split)

    train = [row(f"t{i:02d}", text, "train") for i, text in enumerate(articles)]
    train.append(row("t-again", articles[3] + " Corrected on Friday.", "train"))  # eval e-light-3 pairs twice
    train += [row("t-short", "too short", "train"), row("t-empty", "", "train")]
    evals = []
    for i in (3, 7, 11):
        evals.append(row(f"e-light-{i}", articles[i].replace(" the ", " a ", 2) + " Updated at noon.", "eval"))
    for i in (15, 19):
        words = articles[i].split()
        evals.append(row(f"e-heavy-{i}", " ".join(words[: len(words) // 2] + ["new"] * 40), "eval"))
    evals += [row("e-reversed", articles[0][::-1], "eval"), row("e-short", "one two", "eval")]
    return train, evals


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_pairs_are_the_reference_pairs(fundus_texts, tmp_path, name):
    settings = SETTINGS[name]
    train, evals = _split_rows(fundus_texts)
    train_files = [
        write_tagged_file(train[:20], tmp_path / "train-0.parquet"),
        write_tagged_file(train[20:], tmp_path / "train-1.parquet"),
    ]
    eval_files = [write_tagged_file(evals, tmp_path / "eval-0.parquet")]
    expected = reference_pairs(train, evals, settings)
    assert {("e-light-3", "t03"), ("e-light-3", "t-again"), ("e-light-7", "t07")} <= expected
    assert not any(e == "e-short" for e, _ in expected)
    if name == "default":
        assert not any(e == "e-reversed" for e, _ in expected)
    assert near_duplicate_pairs(train_files, eval_files, settings) == expected
    # in blocks of a few matches (memory stays bounded): the same pairs
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cross_split, "_BLOCK_MATCHES", 3)
        assert near_duplicate_pairs(train_files, eval_files, settings) == expected


def test_without_eval_signatures_no_train_document_is_signed(fundus_texts, tmp_path, monkeypatch):
    train, evals = _split_rows(fundus_texts)
    train_file = write_tagged_file(train, tmp_path / "train.parquet")
    short_evals = write_tagged_file([dict(evals[-1])], tmp_path / "eval.parquet")  # "one two": no signature

    shingles, eval_texts = Signer.shingles, {evals[0]["text"], evals[-1]["text"]}

    def eval_only(self, text):
        if text not in eval_texts:
            raise AssertionError("a train document was signed although no eval document has a signature")
        return shingles(self, text)

    for eval_files in ([], [short_evals]):
        assert EvalIndex.build(*sign_files(eval_files, Signer()), 1).empty
        monkeypatch.setattr(Signer, "shingles", eval_only)
        assert near_duplicate_pairs([train_file], eval_files) == set()
        monkeypatch.undo()
    with pytest.raises(AssertionError, match="a train document was signed"):  # with a signed eval document, it is
        monkeypatch.setattr(Signer, "shingles", eval_only)
        near_duplicate_pairs([train_file], [write_tagged_file(evals[:1], tmp_path / "eval-1.parquet")])


@pytest.fixture(scope="module")
def tagged_rows(shared_data) -> list[dict]:
    return unique_fundus_rows(shared_data)


@pytest.mark.parametrize(("tasks", "stored"), [(1, False), (3, False), (3, True)])
def test_finalize_tasks_report_the_reference_pairs(tagged_rows, tmp_path, monkeypatch, tasks, stored):
    """Three copies of each fundus article: many eval/train pairs, found by the tasks wherever they sit,
    from the digests the tag stage stored (no text is signed in finalize) or, without them, from the text."""
    tagged = write_tagged_shards(tagged_rows, tmp_path / "tagged", 2, digests=stored)
    config = finalize_config(tmp_path / "out", tmp_path, tasks, rows_per_shard=60)
    signed = []
    shingles = Signer.shingles
    monkeypatch.setattr(Signer, "shingles", lambda self, text: signed.append(text) or shingles(self, text))
    run_finalize_tasks(config, tagged)
    assert (len(signed) == 0) is stored
    monkeypatch.undo()
    counts = config.layout.counts
    counts.mkdir(parents=True)
    (counts / "in-00000.json").write_text(json.dumps({"input": "in", "documents": len(tagged_rows)}))
    report = report_task(config)
    found = report["decontamination"]["cross_split"]

    def rows(split: str) -> list[dict]:
        files = config.layout.split_files(split)
        return [r for f in files for r in pq.read_table(f, columns=["id", "text"]).to_pylist()]

    train, evals = rows("train"), rows("eval")
    expected = reference_pairs(train, evals, MinhashConfig())
    assert len(config.layout.split_files("train")) > tasks  # the train rows are spread over several files
    assert len(expected) > 20
    assert found["pairs"] == len(expected)
    assert found["eval_docs_with_train_near_duplicate"] == len({e for e, _ in expected})
    assert found["examples"] == [{"eval": e, "train": t} for e, t in sorted(expected)[:10]]
    assert (found["eval_docs"], found["train_docs"]) == (len(evals), len(train))
    assert found["minhash_on"] is False and found["method"] == "minhash_lsh"
    scratch = config.layout.finalize_work / "cross_split"
    assert not list(scratch.glob("*.sig"))  # the eval signatures are scratch, removed with the shuffle's


def test_digest_files_that_do_not_fit_the_plan_are_refused(fundus_texts, tmp_path):
    signer = Signer()
    texts = [t for t in fundus_texts if len(t.split()) > 20][:3]

    def rows(*pairs: tuple[str, str]) -> pa.Table:
        return pa.table({"id": [i for i, _ in pairs], "text": [t for _, t in pairs]})

    first, second = DigestFile(tmp_path / "eval-0", signer), DigestFile(tmp_path / "eval-1", signer)
    first.add(rows(("a", texts[0]), ("b", texts[1])), np.array([0, 1]))
    second.add(rows(("c", texts[2]), ("d", "too short")), np.array([2, 3]))  # a row without a signature: left out
    assert (first.rows, second.rows) == (2, 1)
    index = EvalIndex.load([tmp_path / "eval-0", tmp_path / "eval-1"], 4, signer.buckets)
    digests = np.frombuffer(signer.text_digests(texts[2]), "<u8")
    assert all(index.rows[b][index.values[b] == digests[b]].tolist() == [2] for b in range(signer.buckets))
    assert all(sorted(r.tolist()) == [0, 1, 2] for r in index.rows)
    with pytest.raises(ValueError, match=r"eval-1\.pos: eval positions outside 0\.\.1"):
        EvalIndex.load([tmp_path / "eval-0", tmp_path / "eval-1"], 2, signer.buckets)  # the plan has fewer eval rows
    with pytest.raises(ValueError, match=r"eval-0\.pos: eval positions .* or seen twice"):
        EvalIndex.load([tmp_path / "eval-0", tmp_path / "eval-0"], 4, signer.buckets)
    sig = tmp_path / "eval-1.sig"
    sig.write_bytes(sig.read_bytes()[:-8])
    with pytest.raises(ValueError, match=r"eval-1\.sig: 13 values for 1 positions of 14 buckets"):
        EvalIndex.load([tmp_path / "eval-1"], 4, signer.buckets)
    # stored digests of another length (other minhash settings) are refused, naming the row
    stored = pa.table({"id": ["x"], "text": [texts[0]], MINHASH_DIGESTS: pa.array([b"\0" * 16], pa.binary())})
    with pytest.raises(ValueError, match=r"tagged row id='x': minhash_digests holds 16 bytes, expected 112"):
        first.add(stored, np.array([5]))


def test_the_smallest_pairs_are_found_from_a_bounded_set_of_candidates():
    """Pairs added block by block: the ten smallest (eval id, train id) are those of all pairs at once,
    and the candidates kept stay few."""
    rng = np.random.default_rng(0)
    eval_names = [f"e{rng.integers(0, 50):02d}-{i}" for i in range(200)]
    train_names = [f"t{rng.integers(0, 10**6):06d}" for _ in range(5000)]
    counts = CrossSplitCounts(pa.array(eval_names))
    everything = set()
    for _ in range(30):
        trains = rng.integers(0, len(train_names), 300)
        evals = rng.integers(0, len(eval_names), 300)
        block = sorted(set(zip(trains.tolist(), evals.tolist())) - everything)
        everything |= set(block)
        evals_of_block = np.array([e for _, e in block], np.int64)
        counts.add_candidates(np.array([t for t, _ in block], np.int64), counts.rank[evals_of_block])
        assert len(counts._trains) < len(everything) / 5  # about 10 of the 200 eval documents' pairs
    expected = sorted((eval_names[e], train_names[t]) for t, e in everything)[:10]
    assert counts.examples(lambda positions: [train_names[p] for p in positions]) == expected


def test_bucket_digests_tell_buckets_apart(fundus_texts):
    """A bucket's digest stands for its values: equal for equal buckets, and on real signatures (and on
    buckets that differ in one value only) never equal for different ones."""
    signer = Signer(SETTINGS["loose"])  # 16 buckets of 2 values
    signatures = np.stack([signer.signature(s) for t in fundus_texts[:300] if (s := signer.shingles(t)) is not None])
    buckets = signatures.reshape(-1, signer.width)
    digests = signer.digests(signatures).reshape(-1)
    assert digests.tolist() == [int(signer.digests(np.tile(b, signer.buckets))[0]) for b in buckets]
    distinct = {tuple(b) for b in buckets.tolist()}
    assert len(set(digests.tolist())) == len(distinct) > 1000
    changed = buckets.copy()
    changed[:, 1] += np.uint64(1)  # the same buckets but for one value
    assert not (signer.digests(np.tile(changed, (1, signer.buckets)))[:, 0] == digests).any()


def test_the_digest_step_signs_each_document_and_counts_per_task(fundus_texts):
    from datatrove.data import Document

    from geocorpus.bucket_digests import BucketDigests

    texts = [*fundus_texts[:5], "too short", ""]
    step = BucketDigests()
    out = list(step.run(Document(text=t, id=str(i)) for i, t in enumerate(texts)))
    signer = Signer()
    assert [doc.metadata[MINHASH_DIGESTS] for doc in out] == [signer.text_digests(t) for t in texts]
    assert step.stats["signed"].total == 5 and step.stats["too_short"].total == 2
    assert step.stats.time_stats.total > 0


@pytest.mark.parametrize(("block_rows", "candidate_rows"), [(1 << 16, 1 << 16), (64, 7), (37, 1)])
def test_the_train_scan_counts_each_pair_once_as_brute_force_does(tmp_path, monkeypatch, block_rows, candidate_rows):
    """Digests from a small alphabet: train documents share one to all buckets with many eval documents
    (copies of copies, as in a corpus cycled many times). The compiled scan, in blocks and with outputs too
    small for one document's matches, counts the pairs, hits and smallest pairs a brute force finds."""
    monkeypatch.setattr(cross_split, "_BLOCK_ROWS", block_rows)
    monkeypatch.setattr(cross_split, "_CANDIDATE_ROWS", candidate_rows)
    rng = np.random.default_rng(7)
    buckets, evals, trains = 4, 120, 400
    eval_digests = rng.integers(0, 6, size=(evals, buckets), dtype=np.uint64)
    train_digests = rng.integers(0, 9, size=(trains, buckets), dtype=np.uint64)  # some values no eval has
    eval_positions = rng.permutation(evals + 30)[:evals]  # eval documents without a signature: never hit
    train_positions = rng.permutation(trains * 2)[:trains]
    for stem, digests, positions in (
        ("eval-0", eval_digests, eval_positions),
        ("train-0", train_digests, train_positions),
    ):
        (tmp_path / f"{stem}.sig").write_bytes(digests.astype("<u8").tobytes())
        (tmp_path / f"{stem}.pos").write_bytes(positions.astype("<i8").tobytes())
    eval_names = [f"e{rng.integers(0, 40):02d}-{i}" for i in range(evals + 30)]
    index = EvalIndex.load([tmp_path / "eval-0"], evals + 30, buckets)
    counts = cross_split.scan_train(index, [tmp_path / "train-0"], buckets, CrossSplitCounts(pa.array(eval_names)))
    expected = {
        (int(t), int(e))
        for t, td in zip(train_positions, train_digests)
        for e, ed in zip(eval_positions, eval_digests)
        if (td == ed).any()
    }
    assert len(expected) > 5000  # most pairs share one bucket, some several
    assert counts.pairs == len(expected)
    assert np.flatnonzero(counts.hit).tolist() == sorted({e for _, e in expected})
    train_names = {int(p): f"t{int(p):04d}" for p in train_positions}
    smallest = sorted((eval_names[e], train_names[t]) for t, e in expected)[:10]
    assert counts.examples(lambda positions: [train_names[int(p)] for p in positions]) == smallest
    listed = {(int(train_positions[r]), int(e)) for rows, es in index.pairs(train_digests) for r, e in zip(rows, es)}
    assert listed == expected  # the listing path (near_duplicate_pairs) agrees


def test_the_pair_kernel_writes_the_new_pairs_within_the_bound_and_takes_documents_whole():
    from geocorpus.minhash_kernels import bucket_pairs

    rng = np.random.default_rng(3)
    eval_digests = rng.integers(0, 4, size=(30, 3), dtype=np.uint64)
    train_digests = rng.integers(0, 4, size=(50, 3), dtype=np.uint64)
    index = EvalIndex.build(eval_digests, np.arange(30), 30)
    ranges = index.ranges(train_digests)
    rank = rng.permutation(30).astype(np.int64)
    positions = np.arange(100, 150, dtype=np.int64)
    stamp = np.full(30, -1, np.int64)
    out_train, out_rank = np.empty(10_000, np.int64), np.empty(10_000, np.int64)
    stop, pairs, written = bucket_pairs(ranges, index.rows, positions, 0, stamp, rank, 12, out_train, out_rank)
    expected = [(100 + t, e) for t in range(50) for e in range(30) if (train_digests[t] == eval_digests[e]).any()]
    assert (stop, pairs) == (50, len(expected))
    got = sorted(zip(out_train[:written].tolist(), out_rank[:written].tolist()))
    assert got == sorted((t, int(rank[e])) for t, e in expected if rank[e] <= 12)
    assert np.flatnonzero(stamp >= 0).tolist() == sorted({e for _, e in expected})
    # outputs too small for the next document: it is left for the next call, whole
    first = int((ranges[1, 0] - ranges[0, 0]).sum())
    stamp[:] = -1
    small = np.empty(first, np.int64), np.empty(first, np.int64)
    stop, pairs, _ = bucket_pairs(ranges, index.rows, positions, 0, stamp, rank, 99, *small)
    assert stop >= 1 and pairs == sum(t < 100 + stop for t, _ in expected)
    assert bucket_pairs(ranges, index.rows, positions, 0, stamp, rank, 99, small[0][:0], small[1][:0])[:2] == (
        0,
        0,
    )


@pytest.mark.parametrize("column_type", [pa.binary(), pa.large_binary()])
def test_stored_digests_are_read_from_the_column_as_the_text_gives_them(fundus_texts, column_type):
    """Stored digests, nulls (signed here from the text) and empty values (too short to sign), in a
    column that is a slice of a larger one: the digests and signed rows of signing every text."""
    signer = Signer()
    texts = [*fundus_texts[:40], "too short", ""]
    stored = [signer.text_digests(t) if i % 3 else None for i, t in enumerate(texts)]
    column = pa.array([b"x" * 112, *stored], column_type).slice(1)  # an offset into its buffers
    digests, signed = signer.column_digests(column, pa.array(texts), pa.array([str(i) for i in range(len(texts))]))
    for i, text in enumerate(texts):
        expected = signer.text_digests(text)
        assert bool(signed[i]) == bool(expected), i
        assert digests[i].tolist() == (np.frombuffer(expected, "<u8").tolist() if expected else [0] * 14), i
    assert 20 < signed.sum() < len(texts)
