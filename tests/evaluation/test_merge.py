"""Model merging: exact endpoints, the mean at alpha 0.5, task arithmetic, clear mismatch errors."""

from __future__ import annotations

import pytest
import torch
from support.tiny_models import build_tiny_llama
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.merge import merge_checkpoints


@pytest.fixture(scope="module")
def three_models(tiny_tokenizer_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    return {
        name: build_tiny_llama(tiny_tokenizer_dir, root / name, seed=seed)
        for name, seed in (("global", 1), ("regional", 2), ("base", 3))
    }


def _state(path):
    return AutoModelForCausalLM.from_pretrained(path, local_files_only=True).state_dict()


def test_linear_merge_endpoints_and_mean(three_models, tmp_path):
    g, r = _state(three_models["global"]), _state(three_models["regional"])
    assert any(not torch.equal(g[k], r[k]) for k in g)
    for alpha, expected in ((0.0, g), (1.0, r)):
        out = merge_checkpoints(tmp_path / f"a{alpha}", three_models["global"], three_models["regional"], alpha=alpha)
        merged = _state(out)
        assert all(torch.equal(merged[k], expected[k]) for k in expected)
    half = _state(merge_checkpoints(tmp_path / "half", three_models["global"], three_models["regional"], alpha=0.5))
    assert all(torch.equal(half[k], (g[k] + r[k]) / 2) for k in g)
    assert AutoTokenizer.from_pretrained(tmp_path / "half", local_files_only=True).pad_token == "<|pad|>"


def test_task_arithmetic(three_models, tmp_path):
    g, r, b = (_state(three_models[n]) for n in ("global", "regional", "base"))
    only_regional = _state(
        merge_checkpoints(
            tmp_path / "r",
            three_models["global"],
            three_models["regional"],
            base_path=three_models["base"],
            lam=1.0,
            mu=0.0,
        )
    )
    assert all(torch.equal(only_regional[k], r[k]) for k in r)
    mixed = _state(
        merge_checkpoints(
            tmp_path / "m",
            three_models["global"],
            three_models["regional"],
            base_path=three_models["base"],
            lam=0.7,
            mu=0.4,
        )
    )
    for key in g:
        torch.testing.assert_close(mixed[key], b[key] + 0.7 * (r[key] - b[key]) + 0.4 * (g[key] - b[key]))


def test_mismatched_models_are_refused(three_models, tiny_tokenizer_dir, tmp_path):
    config = AutoModelForCausalLM.from_pretrained(three_models["global"], local_files_only=True).config
    wider = LlamaForCausalLM(LlamaConfig(**{**config.to_dict(), "intermediate_size": 48}))
    wider.save_pretrained(tmp_path / "wider")
    with pytest.raises(EvaluationError, match=r"mlp\.\w+_proj\.weight has shape \(64, 32\) in global but \(48, 32\)"):
        merge_checkpoints(tmp_path / "x", three_models["global"], tmp_path / "wider", alpha=0.5)
    deeper = LlamaForCausalLM(LlamaConfig(**{**config.to_dict(), "num_hidden_layers": 3}))
    deeper.save_pretrained(tmp_path / "deeper")
    with pytest.raises(EvaluationError, match=r"parameter names differ; .*only in regional: \['model\.layers\.2"):
        merge_checkpoints(tmp_path / "y", three_models["global"], tmp_path / "deeper", alpha=0.5)
    with pytest.raises(EvaluationError, match="is not a local folder"):
        merge_checkpoints(tmp_path / "z", three_models["global"], tmp_path / "missing", alpha=0.5)
    with pytest.raises(EvaluationError, match="needs alpha"):
        merge_checkpoints(tmp_path / "w", three_models["global"], three_models["regional"])
