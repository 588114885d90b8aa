"""Merging where the first tests did not look: DARE below density 1, and the documented default weights.

Written for mutants of ``trainer_plugin/evaluation/merge.py`` that survived ``tests/evaluation/test_merge.py``
(``.ci/mutation.py merge``): DARE's rescaling by 1/density could become a multiplication, and the
default ``lam = mu = 1`` could change, without a test noticing.
"""

from __future__ import annotations

import pytest
import torch
from support.tiny_models import build_merge_models, model_weights

from trainer_plugin.evaluation.merge import MergeSpec, merge_checkpoints, merged_model


@pytest.fixture(scope="module")
def models(tiny_tokenizer_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("merge_edges")
    return build_merge_models(tiny_tokenizer_dir, root, seeds=(11, 12, 13))


def test_dare_keeps_a_density_share_of_each_task_vector_rescaled_by_one_over_density(models, tmp_path):
    g, r, b = (model_weights(models[n]) for n in ("global", "regional", "base"))
    lam, mu, density = 0.8, 0.6, 0.4

    def dare(out, seed):
        spec = MergeSpec("dare", lam=lam, mu=mu, density=density, seed=seed)
        return model_weights(
            merge_checkpoints(out, models["global"], models["regional"], base_path=models["base"], spec=spec)
        )

    merged = dare(tmp_path / "dare", seed=3)
    key = "model.layers.0.mlp.up_proj.weight"
    change = merged[key] - b[key]
    dr, dg = lam * (r[key] - b[key]) / density, mu * (g[key] - b[key]) / density
    # every entry kept neither, one or both task-vector entries, each scaled by 1/density
    options = torch.stack([torch.zeros_like(dr), dr, dg, dr + dg])
    closest = (options - change).abs().min(0).values
    assert closest.max() < 1e-5
    kept_r = (change - dr).abs().lt(1e-5) | (change - dr - dg).abs().lt(1e-5)
    assert abs(kept_r.float().mean().item() - density) < 0.05  # about a density share of entries kept
    again = dare(tmp_path / "again", seed=3)
    other_seed = dare(tmp_path / "other", seed=4)
    assert torch.equal(again[key], merged[key]) and not torch.equal(other_seed[key], merged[key])


def test_default_weights_are_one_for_both_task_vectors(models, tmp_path):
    g, r, b = (model_weights(models[n]) for n in ("global", "regional", "base"))
    expected = {k: r[k] + g[k] - b[k] for k in b}  # base + 1 * (regional - base) + 1 * (global - base)
    saved = model_weights(
        merge_checkpoints(tmp_path / "ta", models["global"], models["regional"], base_path=models["base"])
    )
    in_memory = merged_model(models["global"], models["regional"], base_path=models["base"]).state_dict()
    for name in ("model.layers.0.mlp.up_proj.weight", "model.norm.weight"):
        torch.testing.assert_close(saved[name], expected[name])
        torch.testing.assert_close(in_memory[name], expected[name])
