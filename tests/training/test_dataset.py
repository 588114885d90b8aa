"""The streaming dataset: exact sharding, deterministic shuffle, mixing, packing, cooldown, bad input."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.tagged_corpus import fundus_rows, synthetic_rows, write_tagged_corpus

from trainer_plugin.conditions import load_condition
from trainer_plugin.dataset import PackedDataset, region_sources
from trainer_plugin.loader import ResumableDataLoader
from trainer_plugin.packing import IGNORE_INDEX, Packer
from trainer_plugin.shards import CorpusError, expand_paths
from trainer_plugin.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir):
    return load_tokenizer(tiny_tokenizer_dir)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """340 synthetic documents, 17 countries, 3 files with row groups of 7 (units of uneven size)."""
    return write_tagged_corpus(
        synthetic_rows(docs_per_country=20, words_per_doc=30),
        tmp_path_factory.mktemp("syn"),
        shards=3,
        row_group_size=7,
    )


def test_ranks_and_workers_see_every_document_exactly_once(corpus, tokenizer):
    all_ids = [r["id"] for r in synthetic_rows(docs_per_country=20, words_per_doc=30)]
    for world in (1, 2, 3):
        for workers in (1, 2, 4):
            seen = []
            for rank in range(world):
                ds = PackedDataset(corpus, tokenizer, seq_len=64, rank=rank, world_size=world, seed=3)
                per_reader = [[d["id"] for d in ds.documents(0, w, workers)] for w in range(workers)]
                sizes = [len(p) for p in per_reader]
                assert max(sizes) - min(sizes) <= 1, (world, workers, sizes)
                seen += [i for p in per_reader for i in p]
            assert sorted(seen) == sorted(all_ids), (world, workers)


def test_shuffle_is_seeded_and_changes_per_epoch(corpus, tokenizer):
    def order(seed, epoch):
        return [d["id"] for d in PackedDataset(corpus, tokenizer, seed=seed, shuffle_buffer=50).documents(epoch)]

    assert order(1, 0) == order(1, 0)
    assert order(1, 0) != order(1, 1) and sorted(order(1, 0)) == sorted(order(1, 1))
    assert order(1, 0) != order(2, 0)


def test_packing_keeps_every_token_and_restarts_positions(corpus, tokenizer):
    ds = PackedDataset(corpus, tokenizer, condition="url_country_continent", seq_len=64, shuffle_buffer=1)
    samples = list(ds)
    packer = Packer(tokenizer, 64)
    expected = [t for d in ds.documents() for t in packer.encode([ds.template.render(d)])[0].ids]
    stream = [t for s in samples for t, m in zip(s["input_ids"], s.get("attention_mask", [1] * 64)) if m]
    assert stream == expected  # documents joined with EOS, in order, nothing dropped
    assert all(len(s["input_ids"]) == 64 for s in samples)
    assert stream.count(tokenizer.eos_token_id) == ds.num_documents == 340
    eos = tokenizer.eos_token_id
    for s in samples:
        ids, positions = s["input_ids"].tolist(), s["position_ids"].tolist()
        starts = [i for i, p in enumerate(positions) if p == 0]
        assert starts[0] == 0  # every sequence starts a segment (a new or a continued document)
        # a segment starts right after every EOS, and nowhere else
        assert starts[1:] == [i + 1 for i, t in enumerate(ids[:-1]) if t == eos]
        assert all(b == a + 1 for a, b in zip(positions, positions[1:]) if b)  # positions count up within


def test_metadata_tokens_are_masked_only_when_asked(corpus, tokenizer):
    doc = next(PackedDataset(corpus, tokenizer).documents())
    prefix, body = load_condition("url_country_continent").template().render(doc)
    n_prefix = len(tokenizer(prefix, add_special_tokens=False)["input_ids"])
    for mask in (False, True):
        packer = Packer(tokenizer, 512, mask_metadata=mask)
        samples = list(packer.add(packer.encode([(prefix, body)]))) or [packer.flush()]
        labels = samples[0]["labels"]
        assert (labels[:n_prefix].tolist() == [IGNORE_INDEX] * n_prefix) is mask
        assert labels[n_prefix] == samples[0]["input_ids"][n_prefix]  # the body is always scored
        assert tokenizer.decode(samples[0]["input_ids"][:n_prefix].tolist()) == prefix


def test_regional_condition_reads_only_its_region(corpus, tokenizer):
    asia = load_condition("regional", include_regions=["Asia"])
    docs = list(PackedDataset(corpus, tokenizer, condition=asia).documents())
    assert {d["continent"] for d in docs} == {"Asia"} and len(docs) == 7 * 20
    loo = load_condition("leave_one_out", exclude_regions=["Africa", "GB"])
    docs = list(PackedDataset(corpus, tokenizer, condition=loo).documents())
    assert len(docs) == (17 - 5 - 1) * 20 and not {"Africa"} & {d["continent"] for d in docs}


def test_weighted_mixing_by_region_follows_the_weights(tmp_path, tokenizer):
    rows = synthetic_rows(countries=["IN", "KE"], docs_per_country=400, words_per_doc=5)
    data = write_tagged_corpus(rows, tmp_path, shards=2, row_group_size=50)
    ds = PackedDataset(region_sources(data, {"Asia": 0.8, "Africa": 0.2}), tokenizer, condition="none", seed=0)
    counts = Counter(d["country"] for d in ds.documents())
    assert counts["IN"] == 400  # Asia (weight 0.8) runs out first and ends the epoch
    assert 0.15 < counts["KE"] / sum(counts.values()) < 0.25
    assert [d["id"] for d in ds.documents()] == [d["id"] for d in ds.documents()]  # seeded


def test_cooldown_drops_metadata_after_the_configured_sequences(corpus, tokenizer):
    cooldown = load_condition("cooldown")
    ds = PackedDataset(
        corpus,
        tokenizer,
        condition=cooldown,
        seq_len=64,
        tokenize_batch=8,
        cooldown_after_sequences=30,
        shuffle_buffer=1,
    )
    samples = list(ds)
    text_before = tokenizer.decode([t for s in samples[:25] for t in s["input_ids"]])
    text_after = tokenizer.decode([t for s in samples[40:] for t in s["input_ids"]])
    assert "COUNTRY: " in text_before and "CONTINENT: " in text_before
    assert "COUNTRY: " not in text_after and "TITLE: " in text_after


def test_missing_columns_are_named_before_training(tmp_path, tokenizer):
    table = pa.table({"id": ["a"], "text": ["hello"], "title": ["t"], "country": ["IN"], "continent": ["Asia"]})
    pq.write_table(table, tmp_path / "train-00000.parquet")
    with pytest.raises(CorpusError, match=r"train-00000.parquet: missing column\(s\) \['url_normalized'\]"):
        PackedDataset(tmp_path, tokenizer, condition="url")
    assert PackedDataset(tmp_path, tokenizer, condition="country").num_documents == 1


def test_region_without_documents_and_empty_folder_are_errors(corpus, tmp_path, tokenizer):
    with pytest.raises(CorpusError, match=r"no documents for condition 'regional' \(include_regions=\['Oceania'\]"):
        PackedDataset(corpus, tokenizer, condition=load_condition("regional", include_regions=["Oceania"]))
    with pytest.raises(CorpusError, match="no train-\\*.parquet files in folder"):
        PackedDataset(tmp_path, tokenizer)
    (tmp_path / "train-00000.parquet").write_text("not parquet")
    with pytest.raises(CorpusError, match="not a readable Parquet file"):
        PackedDataset(tmp_path, tokenizer)


def test_real_fundus_documents_stream_through_every_metadata_condition(shared_data, tmp_path, tokenizer):
    data = write_tagged_corpus(fundus_rows(shared_data), tmp_path, shards=2, row_group_size=20)
    for name in ("url_country_continent", "domain_only"):
        ds = PackedDataset(data, tokenizer, condition=name, seq_len=256, epochs=1)
        loader = ResumableDataLoader(ds, batch_size=4)
        batches = list(loader)
        eos = sum(int((b["input_ids"] == tokenizer.eos_token_id).sum()) for b in batches)
        assert eos == ds.num_documents > 200
        assert batches[0]["input_ids"].shape == (4, 256) and "_pos" not in batches[0]


def test_a_reader_with_no_documents_ends_instead_of_spinning(tmp_path, tokenizer):
    data = write_tagged_corpus(synthetic_rows(countries=["IN", "KE"], docs_per_country=1), tmp_path, shards=1)
    # rank 0 of 2 with 2 workers: 4 readers for 2 documents, so rank 0's worker 0 owns nothing
    ds = PackedDataset(data, tokenizer, seq_len=32, epochs=None, rank=0, world_size=2)
    batches = []
    for batch in ResumableDataLoader(ds, batch_size=1, num_workers=2):
        batches.append(batch)
        if len(batches) == 6:
            break
    assert len(batches) == 6  # worker 1 keeps going, epoch after epoch; worker 0 stopped at once


def test_a_run_folder_and_its_data_folder_name_the_same_shards(tmp_path):
    data = write_tagged_corpus(synthetic_rows(countries=["IN"], docs_per_country=4), tmp_path / "run", shards=2)
    stages = tmp_path / "run" / "stages" / "tagged"
    stages.mkdir(parents=True)
    (stages / "train-00000.parquet").write_text("work file, never read")
    expected = [str(data / "train-00000.parquet"), str(data / "train-00001.parquet")]
    assert expand_paths(tmp_path / "run") == expand_paths(data) == expected
    assert expand_paths(str(data / "train-*.parquet")) == expected  # a glob
    with pytest.raises(CorpusError, match=r"no eval-\*.parquet files in folder .*run/data"):
        expand_paths(tmp_path / "run", split="eval")


def test_meco_starts_documents_with_bos_and_masks_bos_and_metadata(tmp_path, tokenizer):
    data = write_tagged_corpus(synthetic_rows(countries=["IN", "KE"], docs_per_country=6), tmp_path, shards=1)
    ds = PackedDataset(data, tokenizer, condition="meco", seq_len=1024, shuffle_buffer=1, epochs=1)
    doc = next(ds.documents())
    sample = next(iter(ds))
    ids, labels = sample["input_ids"].tolist(), sample["labels"].tolist()
    prefix = tokenizer(f"URL: {doc['host']}\n", add_special_tokens=False)["input_ids"]
    prefix += tokenizer("\n", add_special_tokens=False)["input_ids"]
    assert ids[: 1 + len(prefix)] == [tokenizer.bos_token_id, *prefix]
    assert labels[: 1 + len(prefix)] == [IGNORE_INDEX] * (1 + len(prefix))  # BOS + metadata: not scored
    assert labels[1 + len(prefix)] == ids[1 + len(prefix)]  # TITLE: ... is scored
    starts = [i for i, p in enumerate(sample["position_ids"]) if p == 0]
    assert all(ids[s] == tokenizer.bos_token_id for s in starts[:-1])  # every document begins with BOS


def test_prefix_tokenized_line_by_line_equals_the_whole_text_for_byte_level_bpe(shared_data, tokenizer):
    """Why the pre-tokenized store can keep one span per field: for a GPT-2-style byte-level BPE the
    line-wise tokens are exactly those of the rendered text tokenized in one piece."""
    template = load_condition("url_country_continent").template()
    packer = Packer(tokenizer, 64)
    checked = 0
    for row in fundus_rows(shared_data)[:80]:
        pieces, body = template.prefix_pieces(row), template.body(row)
        ids = packer.encode([(pieces, body)])[0].ids
        whole = tokenizer("".join(pieces) + body, add_special_tokens=False)["input_ids"]
        assert ids.tolist() == whole + [tokenizer.eos_token_id], row["id"]
        checked += 1
    assert checked == 80
