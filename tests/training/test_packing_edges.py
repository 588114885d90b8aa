"""The Packer at its edges: the shortest sequence, padding, a document that ends exactly at a row
boundary, and the token ids it falls back on.

Written for mutants of ``trainer_plugin/packing.py`` that the dataset tests let survive
(``.ci/mutation.py packing``).
"""

from __future__ import annotations

import numpy as np
import pytest

from trainer_plugin.packing import IGNORE_INDEX, Packer, document_offsets
from trainer_plugin.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir):
    return load_tokenizer(tiny_tokenizer_dir)


def _docs(packer: Packer, lengths: list[int]) -> list:
    """Documents of the given body lengths (EOS appended by the packer), token ids counting up."""
    out, start = [], 100
    for n in lengths:
        out.append(packer.assemble(np.zeros(0, np.int64), np.arange(start, start + n, dtype=np.int64)))
        start += n
    return out


@pytest.mark.parametrize("seq_len", [1, 0, -3])
def test_sequences_need_at_least_two_tokens(tokenizer, seq_len):
    with pytest.raises(ValueError, match=f"seq_len must be at least 2, got {seq_len}"):
        Packer(tokenizer, seq_len)


def test_the_shortest_sequence_packs_every_token(tokenizer):
    packer = Packer(tokenizer, 2, eos_id=1, pad_id=0)
    rows = list(packer.add(_docs(packer, [3, 0, 1])))  # 4 + 1 + 2 tokens with EOS
    tail = packer.flush()
    ids = [t for r in rows for t in r["input_ids"].tolist()] + tail["input_ids"].tolist()
    assert ids == [100, 101, 102, 1, 1, 103, 1, 0]
    assert all(len(r["input_ids"]) == 2 for r in [*rows, tail])
    assert tail["labels"].tolist() == [1, IGNORE_INDEX] and tail["attention_mask"].tolist() == [1, 0]
    assert packer.flush() is None  # the buffer is empty after a flush


def test_a_document_ending_at_a_row_boundary_starts_the_next_row_at_position_zero(tokenizer):
    packer = Packer(tokenizer, 4, eos_id=1)
    rows = list(packer.add(_docs(packer, [3, 2, 1])))  # 4 | 3 + 1 | (2 buffered)
    assert [r["position_ids"].tolist() for r in rows] == [[0, 1, 2, 3], [0, 1, 2, 0]]
    tail = packer.flush()
    # the last document's EOS continues at a row start (position 0), the padding is a segment of its own
    assert tail["input_ids"].tolist()[0] == 1 and tail["position_ids"].tolist() == [0, 0, 1, 2]
    flat = np.stack([r["position_ids"] for r in rows])
    assert document_offsets(flat).tolist() == [0, 4, 7, 8]


def test_pad_falls_back_to_eos_and_eos_is_required(tokenizer):
    packer = Packer(tokenizer, 8, eos_id=7)
    if tokenizer.pad_token_id is None:
        assert packer.pad_id == 7
    else:
        assert packer.pad_id == tokenizer.pad_token_id
    assert Packer(tokenizer, 8, eos_id=7, pad_id=3).pad_id == 3
    assert Packer(None, 8, eos_id=5).eos_id == 5
    with pytest.raises(ValueError, match="no eos_token_id"):
        Packer(None, 8)


def test_masked_prefix_and_bos_are_ignored_in_labels_only(tokenizer):
    packer = Packer(tokenizer, 16, mask_metadata=True, eos_id=1, bos_id=2)
    doc = packer.assemble(np.array([50, 51], np.int64), np.array([60, 61, 62], np.int64))
    sample = packer.flush() if not list(packer.add([doc])) else None
    assert sample["input_ids"].tolist()[:7] == [2, 50, 51, 60, 61, 62, 1]
    assert sample["labels"].tolist()[:7] == [IGNORE_INDEX] * 3 + [60, 61, 62, 1]
    unmasked = Packer(tokenizer, 16, mask_metadata=False, eos_id=1, bos_id=2)
    doc = unmasked.assemble(np.array([50, 51], np.int64), np.array([60], np.int64))
    list(unmasked.add([doc]))
    assert unmasked.flush()["labels"].tolist()[:5] == [2, 50, 51, 60, 1]
