"""Packed documents do not see each other: checked through the exact path the Trainer runs.

dataset -> ResumableDataLoader (collator) -> ``Trainer._prepare_inputs`` -> ``Trainer.compute_loss``
(the model forward): perturbing document A must leave document B's logits unchanged. With
``document_isolation: false`` positions run on across documents, as in the paper's Nanotron runs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.tagged_corpus import fundus_rows, write_tagged_corpus

from trainer_plugin.config import load_config
from trainer_plugin.packing import PackedCollator, document_offsets
from trainer_plugin.train import prepare_run

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def short_news(shared_data, tmp_path_factory):
    """Real fundus articles cut to 120 characters, so several documents share each sequence."""
    rows = [dict(r, text=r["text"][:120], split="train") for r in fundus_rows(shared_data)[:40]]
    return write_tagged_corpus(rows, tmp_path_factory.mktemp("short_news"), shards=1, row_group_size=40)


def run_config(data, tokenizer_dir, output_dir, attn: str, isolation: bool) -> dict:
    return {
        "output_dir": str(output_dir),
        "tokenizer": str(tokenizer_dir),
        "seed": 3,
        "data": {"train": str(data), "seq_len": 512, "shuffle_buffer": 1, "document_isolation": isolation},
        "condition": "url_country_continent",
        "model": {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "attn_implementation": attn},
        "training": {"max_steps": 1, "per_device_batch_size": 3},
    }


def trainer_logits(run, batch: dict) -> torch.Tensor:
    """Logits of one batch through the Trainer's own input preparation and loss computation."""
    trainer = run.trainer
    inputs = trainer._prepare_inputs(dict(batch))
    trainer.model.eval()  # no dropout either way; eval only makes the comparison deterministic
    with torch.no_grad():
        _, outputs = trainer.compute_loss(trainer.model, inputs, return_outputs=True)
    return outputs.logits


def segments(position_ids: torch.Tensor) -> list[tuple[int, int, int]]:
    """(row, start, stop) of every document piece: a piece starts where its position id is 0."""
    out = []
    for row, positions in enumerate(position_ids.tolist()):
        starts = [i for i, p in enumerate(positions) if p == 0] + [len(positions)]
        out += [(row, a, b) for a, b in zip(starts, starts[1:])]
    return out


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_perturbing_one_document_leaves_the_others_logits_unchanged(
    short_news, tiny_tokenizer_dir, tmp_path, attn, one_thread
):
    config = load_config(run_config(short_news, tiny_tokenizer_dir, tmp_path / "run", attn, isolation=True))
    run = prepare_run(config)
    batch = next(iter(run.trainer.get_train_dataloader()))
    assert "attention_mask" not in batch and batch["use_cache"] is False
    pieces = segments(batch["position_ids"])
    assert len(pieces) > 2 * batch["input_ids"].shape[0]  # several documents per sequence
    base = trainer_logits(run, batch)
    vocab = len(run.tokenizer)
    checked = 0
    for row, a_start, a_stop in pieces:
        perturbed = {**batch, "input_ids": batch["input_ids"].clone()}
        ids = perturbed["input_ids"][row, a_start:a_stop]
        perturbed["input_ids"][row, a_start:a_stop] = (ids + 17) % vocab  # document A, same length
        logits = trainer_logits(run, perturbed)
        assert (logits[row, a_start:a_stop] - base[row, a_start:a_stop]).abs().max() > 1e-3  # A did change
        others = torch.ones(base.shape[:2], dtype=torch.bool)
        others[row, a_start:a_stop] = False
        drift = (logits - base).abs().amax(-1)[others].max().item()
        assert drift < TOLERANCE, (attn, row, a_start, drift)
        checked += 1
    assert checked == len(pieces)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_without_isolation_positions_run_on_and_documents_see_each_other(
    short_news, tiny_tokenizer_dir, tmp_path, attn, one_thread
):
    config = load_config(run_config(short_news, tiny_tokenizer_dir, tmp_path / "run", attn, isolation=False))
    run = prepare_run(config)
    batch = next(iter(run.trainer.get_train_dataloader()))
    width = batch["input_ids"].shape[1]
    assert torch.equal(batch["position_ids"], torch.arange(width).expand_as(batch["position_ids"]))
    assert "attention_mask" not in batch and "use_cache" not in batch
    eos = run.tokenizer.eos_token_id
    first_eos = int((batch["input_ids"][0] == eos).nonzero()[0])  # the end of document A in row 0
    base = trainer_logits(run, batch)
    perturbed = {**batch, "input_ids": batch["input_ids"].clone()}
    perturbed["input_ids"][0, :first_eos] = (perturbed["input_ids"][0, :first_eos] + 17) % len(run.tokenizer)
    drift = (trainer_logits(run, perturbed) - base)[0, first_eos + 1 :].abs().max().item()
    assert drift > 1e-3  # document B attends to document A: the paper's continuous packing


def test_isolated_logits_equal_each_document_alone(short_news, tiny_tokenizer_dir, tmp_path, one_thread):
    """Stronger than invariance: a packed document's logits are those of the document run on its own."""
    run = prepare_run(load_config(run_config(short_news, tiny_tokenizer_dir, tmp_path / "r", "sdpa", True)))
    batch = next(iter(run.trainer.get_train_dataloader()))
    packed = trainer_logits(run, batch)
    model = run.trainer.model
    for row, start, stop in segments(batch["position_ids"])[:6]:
        with torch.no_grad():
            alone = model(input_ids=batch["input_ids"][row : row + 1, start:stop], use_cache=False).logits
        assert (alone[0] - packed[row, start:stop]).abs().max().item() < TOLERANCE


def reference_varlen_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """flash-attention's varlen contract on CPU: causal attention inside each ``cu_seq_lens`` segment of
    the flattened batch. Fails when the offsets do not reach the attention layer."""
    offsets = kwargs.get("cu_seq_lens_q")
    assert offsets is not None and kwargs.get("max_length_q") is not None, "varlen kwargs did not arrive"
    batch, heads, length, dim = query.shape
    q, k, v = (t.transpose(1, 2).reshape(batch * length, heads, dim) for t in (query, key, value))
    out = torch.empty_like(q)
    bounds = offsets.tolist()
    for a, b in zip(bounds, bounds[1:]):
        out[a:b] = torch.nn.functional.scaled_dot_product_attention(
            q[a:b].transpose(0, 1), k[a:b].transpose(0, 1), v[a:b].transpose(0, 1), is_causal=True, scale=scaling
        ).transpose(0, 1)
    return out.reshape(batch, length, heads, dim), None


def test_flash_attention_collation_keeps_documents_apart_at_any_batch_size(short_news, tiny_tokenizer_dir, tmp_path):
    """The flash_attention_2 collation (cu_seq_lens over the flattened batch), run on CPU through a
    reference varlen attention registered with transformers: same logits as sdpa's packed mask."""
    from transformers import AttentionInterface

    AttentionInterface.register("reference_varlen", reference_varlen_attention)
    run = prepare_run(load_config(run_config(short_news, tiny_tokenizer_dir, tmp_path / "r", "sdpa", True)))
    batch = next(iter(run.trainer.get_train_dataloader()))
    samples = [
        {"input_ids": i.numpy(), "labels": y.numpy(), "position_ids": p.numpy()}
        for i, y, p in zip(batch["input_ids"], batch["labels"], batch["position_ids"])
    ]
    flash = PackedCollator(attn_implementation="flash_attention_2")(samples)
    assert "use_cache" not in flash and "attention_mask" not in flash
    width = batch["input_ids"].shape[1]
    expected = [row * width + start for row, start, _ in segments(batch["position_ids"])] + [
        flash["input_ids"].numel()
    ]
    assert flash["cu_seq_lens_q"].tolist() == expected and flash["cu_seq_lens_q"].dtype == torch.int32
    assert flash["max_length_q"] == max(b - a for a, b in zip(expected, expected[1:]))
    np.testing.assert_array_equal(document_offsets(batch["position_ids"].numpy()), expected)

    sdpa_logits = trainer_logits(run, batch)
    model = run.trainer.model
    model.set_attn_implementation("reference_varlen")
    with torch.no_grad():
        flash_logits = model(**flash).logits
    assert (flash_logits - sdpa_logits).abs().max().item() < TOLERANCE
