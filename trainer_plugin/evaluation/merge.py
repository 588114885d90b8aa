"""Merge a regional model into a global one: linear, task arithmetic, TIES or DARE.

Linear:          theta = (1 - alpha) * global + alpha * regional
                 (alpha = 0 gives the global model, alpha = 1 the regional one, both bit-exact).
Task arithmetic: theta = base + lam * (regional - base) + mu * (global - base)   (Ilharco et al. 2023)
TIES:            task vectors trimmed to their top ``density`` share by magnitude, a sign elected per
                 entry from the weighted sum, and the weighted mean of the agreeing vectors added to
                 the base (Yadav et al. 2023; mergekit's ``ties`` with ``normalize: true``).
DARE:            each task vector entry dropped with probability 1 - density and the rest rescaled
                 by 1 / density (seeded), then task arithmetic (Yu et al. 2024; mergekit ``dare_linear``).

Every method but linear needs ``base``: the checkpoint both models were trained from (the trainer's
``init_from``). Merging two models trained from different random initialisations averages unrelated
weights; the result is meaningless whatever the formula.

Models must agree in architecture, ``tie_word_embeddings``, parameter names, every shape and every
dtype; the first difference is named. (A tied model has one embedding matrix serving as the output
layer; merged with an untied model at alpha 1, the regional output layer would silently overwrite
the embedding.) Arithmetic runs in float32 and is cast back to the global model's dtype; integer
buffers must agree. The merged folder holds the model, its tokenizer, ``merge_recipe.yaml`` (the
mergekit config that describes the merge) and a model card ``README.md``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import yaml

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.runtime import require_local_dir
from trainer_plugin.tokenizer import load_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedModel

StateDict = Mapping[str, torch.Tensor]
METHODS = ("linear", "task_arithmetic", "ties", "dare")
#: Config attributes that must agree: a difference changes what the same tensor names mean.
CONFIG_KEYS = ("model_type", "tie_word_embeddings", "vocab_size", "hidden_size", "num_hidden_layers")
RECIPE_FILE = "merge_recipe.yaml"
CARD_FILE = "README.md"


@dataclass(frozen=True)
class MergeSpec:
    """Which merge and its weights; ``describe`` of it goes into the recipe and the card."""

    method: str = "linear"
    alpha: float | None = None  # linear
    lam: float = 1.0  # weight of (regional - base)
    mu: float = 1.0  # weight of (global - base)
    density: float = 0.2  # TIES: share kept by magnitude; DARE: share kept at random
    seed: int = 0  # DARE's drop mask

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise EvaluationError(f"unknown merge method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.method == "linear" and self.alpha is None:
            raise EvaluationError("linear merging needs alpha (or give a base model for task arithmetic)")
        if not 0.0 < self.density <= 1.0:
            raise EvaluationError(f"density must lie in (0, 1], got {self.density}")


def load_for_merge(path: str | Path) -> PreTrainedModel:
    """The model at ``path`` on CPU in its stored dtype (merging needs no accelerator)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(require_local_dir(path, "model"), local_files_only=True, dtype="auto")


def check_compatible(named_models: Mapping[str, PreTrainedModel]) -> None:
    """Same architecture, config keys, parameter names, shapes and dtypes; else an error naming the difference."""
    (first_name, first), *others = named_models.items()
    first_state = first.state_dict()
    for name, model in others:
        for attribute in CONFIG_KEYS:
            a, b = getattr(first.config, attribute, None), getattr(model.config, attribute, None)
            if a != b:
                raise EvaluationError(f"cannot merge: {first_name} has {attribute}={a!r} but {name} has {b!r}")
        if list(first.config.architectures or []) != list(model.config.architectures or []):
            raise EvaluationError(
                f"cannot merge: {first_name} architectures {first.config.architectures} != "
                f"{name} architectures {model.config.architectures}"
            )
        state = model.state_dict()
        only_first, only_other = sorted(set(first_state) - set(state)), sorted(set(state) - set(first_state))
        if only_first or only_other:
            raise EvaluationError(
                f"cannot merge: parameter names differ; only in {first_name}: {only_first[:5]}, "
                f"only in {name}: {only_other[:5]}"
            )
        for key, tensor in first_state.items():
            if tensor.shape != state[key].shape:
                raise EvaluationError(
                    f"cannot merge: {key} has shape {tuple(tensor.shape)} in {first_name} but "
                    f"{tuple(state[key].shape)} in {name}"
                )
            if tensor.dtype != state[key].dtype:
                raise EvaluationError(
                    f"cannot merge: {key} has dtype {tensor.dtype} in {first_name} but {state[key].dtype} in {name}; "
                    "convert one model first"
                )


def _non_float(key: str, states: list[StateDict]) -> torch.Tensor:
    reference = states[0][key]
    for other in states[1:]:
        if not torch.equal(reference, other[key]):
            raise EvaluationError(f"cannot merge: non-float tensor {key} differs between models")
    return reference.clone()


def combine(states: list[StateDict], weights: list[float]) -> dict[str, torch.Tensor]:
    """sum_i weights[i] * states[i] per floating tensor (float32), cast to states[0]'s dtype."""
    merged: dict[str, torch.Tensor] = {}
    for key, reference in states[0].items():
        if not reference.is_floating_point():
            merged[key] = _non_float(key, states)
            continue
        total = torch.zeros(reference.shape, dtype=torch.float32)
        for state, weight in zip(states, weights):
            total += weight * state[key].to(torch.float32)
        merged[key] = total.to(reference.dtype)
    return merged


def linear_state(global_state: StateDict, regional_state: StateDict, alpha: float) -> dict[str, torch.Tensor]:
    """(1 - alpha) * global + alpha * regional."""
    return combine([global_state, regional_state], [1.0 - alpha, alpha])


def task_arithmetic_state(
    base_state: StateDict, regional_state: StateDict, global_state: StateDict, lam: float, mu: float
) -> dict[str, torch.Tensor]:
    """base + lam * (regional - base) + mu * (global - base), written as one weighted sum."""
    return combine([base_state, regional_state, global_state], [1.0 - lam - mu, lam, mu])


def trim_top(delta: torch.Tensor, density: float) -> torch.Tensor:
    """``delta`` with all but its top ``density`` share of entries (by magnitude) set to zero."""
    keep = max(1, round(density * delta.numel()))
    if keep >= delta.numel():
        return delta
    threshold = delta.abs().flatten().kthvalue(delta.numel() - keep + 1).values
    return torch.where(delta.abs() >= threshold, delta, torch.zeros_like(delta))


def ties_state(
    base_state: StateDict, task_states: list[StateDict], weights: list[float], density: float
) -> dict[str, torch.Tensor]:
    """TIES-merging: trim, elect sign, disjoint weighted mean of the agreeing task vectors, add to base."""
    merged: dict[str, torch.Tensor] = {}
    for key, base in base_state.items():
        if not base.is_floating_point():
            merged[key] = _non_float(key, [base_state, *task_states])
            continue
        base32 = base.to(torch.float32)
        deltas = torch.stack(
            [w * trim_top(state[key].to(torch.float32) - base32, density) for state, w in zip(task_states, weights)]
        )
        sign = torch.sign(deltas.sum(0))
        agree = (torch.sign(deltas) == sign) & (deltas != 0)
        weight = torch.tensor(weights, dtype=torch.float32).view(-1, *([1] * base.dim()))
        total_weight = (agree * weight.abs()).sum(0)
        mean = (deltas * agree).sum(0) / total_weight.clamp(min=1e-12)
        merged[key] = (base32 + torch.where(total_weight > 0, mean, torch.zeros_like(mean))).to(base.dtype)
    return merged


def dare_state(
    base_state: StateDict, task_states: list[StateDict], weights: list[float], density: float, seed: int
) -> dict[str, torch.Tensor]:
    """DARE: drop task-vector entries at random (kept share ``density``), rescale, then weighted sum."""
    generator = torch.Generator().manual_seed(seed)
    merged: dict[str, torch.Tensor] = {}
    for key, base in base_state.items():
        if not base.is_floating_point():
            merged[key] = _non_float(key, [base_state, *task_states])
            continue
        total = base.to(torch.float32).clone()
        for state, weight in zip(task_states, weights):
            delta = state[key].to(torch.float32) - base.to(torch.float32)
            mask = torch.rand(delta.shape, generator=generator) < density
            total += weight * delta * mask / density
        merged[key] = total.to(base.dtype)
    return merged


def merged_state(
    spec: MergeSpec, global_model: PreTrainedModel, regional_model: PreTrainedModel, base_model: PreTrainedModel | None
) -> dict[str, torch.Tensor]:
    """The merged state dict for ``spec`` (models already checked compatible)."""
    g, r = global_model.state_dict(), regional_model.state_dict()
    if spec.method == "linear":
        return linear_state(g, r, float(spec.alpha or 0.0))
    if base_model is None:
        raise EvaluationError(f"{spec.method} merging needs --base: the checkpoint both models were trained from")
    b = base_model.state_dict()
    if spec.method == "task_arithmetic":
        return task_arithmetic_state(b, r, g, spec.lam, spec.mu)
    if spec.method == "ties":
        return ties_state(b, [r, g], [spec.lam, spec.mu], spec.density)
    return dare_state(b, [r, g], [spec.lam, spec.mu], spec.density, spec.seed)


def merged_model(
    global_path: str | Path,
    regional_path: str | Path,
    alpha: float | None = None,
    base_path: str | Path | None = None,
    lam: float = 1.0,
    mu: float = 1.0,
    spec: MergeSpec | None = None,
) -> PreTrainedModel:
    """The merged model in memory: linear when ``base_path`` is None, task arithmetic otherwise (or ``spec``)."""
    if spec is None:
        spec = MergeSpec("linear" if base_path is None else "task_arithmetic", alpha, lam, mu)
    if spec.method != "linear" and base_path is None:
        raise EvaluationError(f"{spec.method} merging needs --base: the checkpoint both models were trained from")
    global_model, regional_model = load_for_merge(global_path), load_for_merge(regional_path)
    named = {"global": global_model, "regional": regional_model}
    base_model = None
    if spec.method != "linear" and base_path is not None:
        base_model = load_for_merge(base_path)
        named["base"] = base_model
    check_compatible(named)
    global_model.load_state_dict(merged_state(spec, global_model, regional_model, base_model))
    return global_model


def recipe(
    spec: MergeSpec, global_path: str | Path, regional_path: str | Path, base_path: str | Path | None, dtype: str
) -> dict:
    """A mergekit-style configuration describing this merge."""
    g, r = str(Path(global_path).resolve()), str(Path(regional_path).resolve())
    if spec.method == "linear":
        alpha = float(spec.alpha or 0.0)
        models = [{"model": g, "parameters": {"weight": 1.0 - alpha}}, {"model": r, "parameters": {"weight": alpha}}]
        return {"merge_method": "linear", "models": models, "parameters": {"normalize": False}, "dtype": dtype}
    parameters: dict[str, dict[str, float]] = {"global": {"weight": spec.mu}, "regional": {"weight": spec.lam}}
    if spec.method in ("ties", "dare"):
        for entry in parameters.values():
            entry["density"] = spec.density
    config: dict = {
        "merge_method": {"task_arithmetic": "task_arithmetic", "ties": "ties", "dare": "dare_linear"}[spec.method],
        "base_model": str(Path(base_path).resolve()) if base_path is not None else None,
        "models": [
            {"model": r, "parameters": parameters["regional"]},
            {"model": g, "parameters": parameters["global"]},
        ],
        "dtype": dtype,
    }
    if spec.method == "ties":
        config["parameters"] = {"normalize": True}
    if spec.method == "dare":
        config["parameters"] = {"normalize": False, "seed": spec.seed}
    return config


def model_card(spec: MergeSpec, merge_config: dict) -> str:
    """A short README for the merged folder: what was merged, how, and the caveat."""
    from geocorpus.finalize.manifest import package_versions

    lines = [
        "# Merged model (geocorpus eval merge)",
        "",
        f"Method: **{spec.method}**. Made {time.strftime('%Y-%m-%d %H:%M:%S %Z')} with geocorpus "
        f"{package_versions().get('geocorpus')}.",
        "",
        "| role | model | parameters |",
        "| --- | --- | --- |",
    ]
    roles = (
        ["global", "regional"]
        if spec.method == "linear"
        else ["regional", "global"]  # the recipe lists the regional model first for base-relative methods
    )
    for role, entry in zip(roles, merge_config["models"]):
        lines.append(f"| {role} | `{entry['model']}` | {entry['parameters']} |")
    if merge_config.get("base_model"):
        lines.append(f"| base | `{merge_config['base_model']}` | |")
    lines += [
        "",
        f"Settings: {asdict(spec)}. The exact configuration is in `{RECIPE_FILE}` (mergekit format).",
        "",
        "Interpolating or combining weights is meaningful only for models that share a starting point "
        "(the trainer's `init_from`); two models trained from different random initialisations give a "
        "merged model that means nothing. Evaluate it with `geocorpus eval ppl` before use.",
        "",
    ]
    return "\n".join(lines)


def save_merged(
    model: PreTrainedModel,
    out_dir: str | Path,
    tokenizer_path: str | Path,
    merge_config: dict | None = None,
    card: str | None = None,
) -> Path:
    """``save_pretrained`` the model, its tokenizer, and (when given) the recipe and the card."""
    out = Path(out_dir)
    model.save_pretrained(out)
    load_tokenizer(tokenizer_path).save_pretrained(out)
    if merge_config is not None:
        (out / RECIPE_FILE).write_text(yaml.safe_dump(merge_config, sort_keys=False), encoding="utf-8")
    if card is not None:
        (out / CARD_FILE).write_text(card, encoding="utf-8")
    return out


def merge_checkpoints(
    out_dir: str | Path,
    global_path: str | Path,
    regional_path: str | Path,
    alpha: float | None = None,
    base_path: str | Path | None = None,
    lam: float = 1.0,
    mu: float = 1.0,
    tokenizer_path: str | Path | None = None,
    spec: MergeSpec | None = None,
) -> Path:
    """Merge and save; the tokenizer comes from ``tokenizer_path`` or the global model's folder."""
    if spec is None:
        spec = MergeSpec("linear" if base_path is None else "task_arithmetic", alpha, lam, mu)
    model = merged_model(global_path, regional_path, base_path=base_path, spec=spec)
    dtype = str(model.dtype).removeprefix("torch.")
    merge_config = recipe(spec, global_path, regional_path, base_path, dtype)
    return save_merged(model, out_dir, tokenizer_path or global_path, merge_config, model_card(spec, merge_config))
