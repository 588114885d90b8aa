"""What the packer and collator hand on besides tokens: a clean buffer after a flush, and the stream
position the loader needs for an exact resume.

Written for mutants of ``trainer_plugin/packing.py`` that every mapped test let survive
(``.ci/mutation.py packing``): a flush that left a stale label behind, and a collator that dropped (or
demanded) ``_pos``.
"""

from __future__ import annotations

import numpy as np
import pytest

from trainer_plugin.packing import PackedCollator, Packer
from trainer_plugin.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir):
    return load_tokenizer(tiny_tokenizer_dir)


def _doc(packer: Packer, prefix: list[int], body: list[int]):
    return packer.assemble(np.asarray(prefix, np.int64), np.asarray(body, np.int64))


def _rows(samples: list[dict]) -> list[tuple[list[int], list[int], list[int]]]:
    return [(s["input_ids"].tolist(), s["labels"].tolist(), s["position_ids"].tolist()) for s in samples]


@pytest.mark.parametrize("mask_metadata", [False, True])
def test_a_packer_reused_after_a_flush_packs_like_a_fresh_one(tokenizer, mask_metadata):
    used = Packer(tokenizer, 5, mask_metadata, eos_id=1, pad_id=0)
    list(used.add([_doc(used, [7, 8], [100, 101, 102])]))
    assert used.flush() is not None  # something was buffered and is now handed out
    fresh = Packer(tokenizer, 5, mask_metadata, eos_id=1, pad_id=0)
    docs = [[20, 21], [200, 201, 202, 203]], [[], [300, 301, 302]]
    got = list(used.add([_doc(used, *d) for d in docs])) + [used.flush()]
    want = list(fresh.add([_doc(fresh, *d) for d in docs])) + [fresh.flush()]
    assert _rows(got) == _rows(want)
    assert all(len(s["labels"]) == len(s["input_ids"]) == 5 for s in got)


def _samples(n: int, with_pos: bool) -> list[dict]:
    out = []
    for k in range(n):
        sample = {
            "input_ids": np.arange(4) + 10 * k,
            "labels": np.arange(4) + 10 * k,
            "position_ids": np.arange(4),
        }
        if with_pos:
            sample["_pos"] = {"epoch": 0, "produced": k + 1}
        out.append(sample)
    return out


def test_the_collator_hands_on_the_last_samples_stream_position_only_when_asked():
    with_position = PackedCollator(with_stream_position=True)
    batch = with_position(_samples(3, with_pos=True))
    assert batch["_pos"] == {"epoch": 0, "produced": 3}  # the last sample's: where the stream now stands
    assert "_pos" not in with_position(_samples(2, with_pos=False))  # nothing to hand on: no key, no error
    assert "_pos" not in PackedCollator()(_samples(2, with_pos=True))
