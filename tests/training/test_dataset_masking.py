"""``mask_metadata`` through the dataset: what training sees, not only what the Packer does alone.

A dataset that built its Packer without the condition's ``mask_metadata`` passes every Packer test.
Here the condition goes in through ``PackedDataset`` (and through a condition mapping, as a trainer
YAML gives it), and the packed stream that comes out is checked document by document against the
template's own prefix text.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.tagged_corpus import synthetic_rows, write_tagged_corpus

from trainer_plugin.conditions import load_condition
from trainer_plugin.dataset import PackedDataset
from trainer_plugin.packing import IGNORE_INDEX
from trainer_plugin.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir):
    return load_tokenizer(tiny_tokenizer_dir)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tagged_corpus(
        synthetic_rows(countries=["IN", "KE", "GB", "US"], docs_per_country=6, words_per_doc=25),
        tmp_path_factory.mktemp("masking"),
        shards=2,
        row_group_size=5,
    )


def _stream(ds: PackedDataset) -> tuple[np.ndarray, np.ndarray]:
    """Input ids and labels of every packed sequence, concatenated, padding removed."""
    ids, labels = [], []
    for sample in ds:
        keep = np.asarray(sample.get("attention_mask", np.ones(len(sample["input_ids"]))), bool)
        ids.append(np.asarray(sample["input_ids"])[keep])
        labels.append(np.asarray(sample["labels"])[keep])
    return np.concatenate(ids), np.concatenate(labels)


def _documents(ids: np.ndarray, labels: np.ndarray, eos: int) -> list[tuple[np.ndarray, np.ndarray]]:
    ends = np.flatnonzero(ids == eos) + 1
    return list(zip(np.split(ids, ends)[:-1], np.split(labels, ends)[:-1]))


@pytest.mark.parametrize("as_mapping", [False, True], ids=["condition", "mapping"])
def test_dataset_masks_exactly_the_metadata_prefix_of_every_document(corpus, tokenizer, as_mapping):
    masked_condition = (
        {"name": "url_country_continent", "mask_metadata": True}
        if as_mapping
        else load_condition("url_country_continent", mask_metadata=True)
    )
    kwargs = {"seq_len": 48, "shuffle_buffer": 1, "tokenize_batch": 5}
    masked = PackedDataset(corpus, tokenizer, condition=masked_condition, **kwargs)
    plain = PackedDataset(corpus, tokenizer, condition="url_country_continent", **kwargs)
    assert masked.condition.mask_metadata is True and plain.condition.mask_metadata is False

    masked_ids, masked_labels = _stream(masked)
    plain_ids, plain_labels = _stream(plain)
    assert np.array_equal(masked_ids, plain_ids)  # masking changes what is scored, never what is seen
    assert np.array_equal(plain_labels, plain_ids)  # unmasked: every real token is scored

    docs = list(masked.documents())  # shuffle_buffer=1: the packing order
    pieces = _documents(masked_ids, masked_labels, tokenizer.eos_token_id)
    assert len(pieces) == len(docs) == 24
    template = masked.template
    for doc, (ids, labels) in zip(docs, pieces):
        prefix, body = template.render(doc)
        n_masked = int((labels == IGNORE_INDEX).sum())
        assert n_masked > 0, f"document {doc['id']}: no token masked"
        assert (labels[:n_masked] == IGNORE_INDEX).all(), "masked tokens must be the leading ones"
        assert np.array_equal(labels[n_masked:], ids[n_masked:]), "body tokens and EOS are scored"
        assert tokenizer.decode(ids[:n_masked].tolist()) == prefix
        assert tokenizer.decode(ids[n_masked:-1].tolist()) == body


def test_condition_without_metadata_masks_nothing_even_when_asked(corpus, tokenizer):
    ds = PackedDataset(corpus, tokenizer, condition=load_condition("none", mask_metadata=True), seq_len=48)
    ids, labels = _stream(ds)
    assert np.array_equal(labels, ids)
