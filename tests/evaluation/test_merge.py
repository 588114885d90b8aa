"""Model merging: exact endpoints, the mean at alpha 0.5, task arithmetic, clear mismatch errors."""

from __future__ import annotations

import pytest
import torch
import yaml
from support.tiny_models import build_merge_models, model_weights
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.merge import MergeSpec, merge_checkpoints


@pytest.fixture(scope="module")
def three_models(tiny_tokenizer_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    return build_merge_models(tiny_tokenizer_dir, root, seeds=(1, 2, 3))


def test_linear_merge_endpoints_and_mean(three_models, tmp_path):
    g, r = model_weights(three_models["global"]), model_weights(three_models["regional"])
    assert any(not torch.equal(g[k], r[k]) for k in g)
    for alpha, expected in ((0.0, g), (1.0, r)):
        out = merge_checkpoints(tmp_path / f"a{alpha}", three_models["global"], three_models["regional"], alpha=alpha)
        merged = model_weights(out)
        assert all(torch.equal(merged[k], expected[k]) for k in expected)
    half = model_weights(
        merge_checkpoints(tmp_path / "half", three_models["global"], three_models["regional"], alpha=0.5)
    )
    assert all(torch.equal(half[k], (g[k] + r[k]) / 2) for k in g)
    assert AutoTokenizer.from_pretrained(tmp_path / "half", local_files_only=True).pad_token == "<|pad|>"


def test_task_arithmetic(three_models, tmp_path):
    g, r, b = (model_weights(three_models[n]) for n in ("global", "regional", "base"))
    only_regional = model_weights(
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
    mixed = model_weights(
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
    with pytest.raises(EvaluationError, match=r"global has num_hidden_layers=2 but regional has 3"):
        merge_checkpoints(tmp_path / "y", three_models["global"], tmp_path / "deeper", alpha=0.5)
    with pytest.raises(EvaluationError, match="is not a local folder"):
        merge_checkpoints(tmp_path / "z", three_models["global"], tmp_path / "missing", alpha=0.5)
    with pytest.raises(EvaluationError, match="needs alpha"):
        merge_checkpoints(tmp_path / "w", three_models["global"], three_models["regional"])


def test_tied_and_untied_embeddings_are_refused(three_models, tmp_path):
    """A tied global merged with an untied regional at alpha 1 would silently take the regional lm_head."""
    config = AutoModelForCausalLM.from_pretrained(three_models["global"], local_files_only=True).config
    torch.manual_seed(5)
    tied = LlamaForCausalLM(LlamaConfig(**{**config.to_dict(), "tie_word_embeddings": True}))
    tied.save_pretrained(tmp_path / "tied")
    with pytest.raises(EvaluationError, match=r"global has tie_word_embeddings=True but regional has False"):
        merge_checkpoints(tmp_path / "x", tmp_path / "tied", three_models["regional"], alpha=1.0)
    half = AutoModelForCausalLM.from_pretrained(three_models["regional"], local_files_only=True).to(torch.bfloat16)
    half.save_pretrained(tmp_path / "bf16")
    with pytest.raises(EvaluationError, match=r"has dtype torch.float32 in global but torch.bfloat16 in regional"):
        merge_checkpoints(tmp_path / "y", three_models["global"], tmp_path / "bf16", alpha=0.5)


def test_ties_and_dare_follow_their_definitions(three_models, tmp_path):
    g, r, b = (model_weights(three_models[n]) for n in ("global", "regional", "base"))
    ties = model_weights(
        merge_checkpoints(
            tmp_path / "ties",
            three_models["global"],
            three_models["regional"],
            base_path=three_models["base"],
            spec=MergeSpec("ties", lam=1.0, mu=0.5, density=0.3),
        )
    )
    key = "model.layers.0.mlp.up_proj.weight"
    dr, dg = r[key] - b[key], g[key] - b[key]
    # independent TIES on one tensor: keep the top 30% by magnitude, elect the sign of the weighted sum,
    # average the weighted agreeing entries over the weights that agree
    kept = [torch.where(d.abs() >= d.abs().flatten().sort().values[-round(0.3 * d.numel())], d, 0.0) for d in (dr, dg)]
    weighted = [1.0 * kept[0], 0.5 * kept[1]]
    sign = torch.sign(weighted[0] + weighted[1])
    agree = [(torch.sign(w) == sign) & (w != 0) for w in weighted]
    total = agree[0] * 1.0 + agree[1] * 0.5
    expected = b[key] + torch.where(total > 0, (weighted[0] * agree[0] + weighted[1] * agree[1]) / total, 0.0)
    torch.testing.assert_close(ties[key], expected)
    assert (ties[key] == b[key]).float().mean() > 0.3  # trimmed entries fall back to the base
    dense = model_weights(
        merge_checkpoints(
            tmp_path / "dare",
            three_models["global"],
            three_models["regional"],
            base_path=three_models["base"],
            spec=MergeSpec("dare", lam=0.7, mu=0.4, density=1.0),
        )
    )
    for name in g:  # keeping every entry, DARE is task arithmetic
        torch.testing.assert_close(dense[name], b[name] + 0.7 * (r[name] - b[name]) + 0.4 * (g[name] - b[name]))
    recipe = yaml.safe_load((tmp_path / "ties" / "merge_recipe.yaml").read_text())
    assert recipe["merge_method"] == "ties" and recipe["parameters"] == {"normalize": True}
    assert recipe["base_model"] == str(three_models["base"].resolve())
    assert [m["parameters"] for m in recipe["models"]] == [
        {"weight": 1.0, "density": 0.3},
        {"weight": 0.5, "density": 0.3},
    ]
    with pytest.raises(EvaluationError, match="ties merging needs --base"):
        merge_checkpoints(
            tmp_path / "nobase", three_models["global"], three_models["regional"], spec=MergeSpec("ties")
        )
