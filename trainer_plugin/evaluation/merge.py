"""Merge a regional model into a global one: linear interpolation or task arithmetic.

Linear:          theta = (1 - alpha) * global + alpha * regional
                 (alpha = 0 gives the global model, alpha = 1 the regional one, both bit-exact).
Task arithmetic: theta = base + lam * (regional - base) + mu * (global - base)
                 (Ilharco et al. 2023; ``base`` is the checkpoint both were trained from; lam = 1,
                 mu = 0 gives the regional model, lam = 0, mu = 1 the global one).

Arithmetic runs in float32 and the result is cast back to the global model's dtype. Integer
buffers are copied and must agree. Models must share architecture, parameter names and shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.runtime import require_local_dir
from trainer_plugin.tokenizer import load_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedModel

StateDict = Mapping[str, torch.Tensor]


def load_for_merge(path: str | Path) -> PreTrainedModel:
    """The model at ``path`` on CPU in its stored dtype (merging needs no accelerator)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(require_local_dir(path, "model"), local_files_only=True, dtype="auto")


def check_compatible(named_models: Mapping[str, PreTrainedModel]) -> None:
    """Same architecture, same parameter names, same shapes; else an error naming the difference."""
    (first_name, first), *others = named_models.items()
    first_state = first.state_dict()
    for name, model in others:
        for attribute in ("model_type",):
            a, b = getattr(first.config, attribute, None), getattr(model.config, attribute, None)
            if a != b:
                raise EvaluationError(f"cannot merge: {first_name} is {attribute}={a!r} but {name} is {b!r}")
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


def combine(states: list[StateDict], weights: list[float]) -> dict[str, torch.Tensor]:
    """sum_i weights[i] * states[i] per floating tensor (float32), cast to states[0]'s dtype."""
    merged: dict[str, torch.Tensor] = {}
    for key, reference in states[0].items():
        if not reference.is_floating_point():
            for other in states[1:]:
                if not torch.equal(reference, other[key]):
                    raise EvaluationError(f"cannot merge: non-float tensor {key} differs between models")
            merged[key] = reference.clone()
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


def merged_model(
    global_path: str | Path,
    regional_path: str | Path,
    alpha: float | None = None,
    base_path: str | Path | None = None,
    lam: float = 1.0,
    mu: float = 1.0,
) -> PreTrainedModel:
    """The merged model in memory: linear when ``base_path`` is None, task arithmetic otherwise."""
    global_model, regional_model = load_for_merge(global_path), load_for_merge(regional_path)
    if base_path is None:
        if alpha is None:
            raise EvaluationError("linear merging needs alpha (or give a base model for task arithmetic)")
        check_compatible({"global": global_model, "regional": regional_model})
        state = linear_state(global_model.state_dict(), regional_model.state_dict(), alpha)
    else:
        base_model = load_for_merge(base_path)
        check_compatible({"global": global_model, "regional": regional_model, "base": base_model})
        state = task_arithmetic_state(
            base_model.state_dict(), regional_model.state_dict(), global_model.state_dict(), lam, mu
        )
    global_model.load_state_dict(state)
    return global_model


def save_merged(model: PreTrainedModel, out_dir: str | Path, tokenizer_path: str | Path) -> Path:
    """``save_pretrained`` the model and copy the tokenizer next to it, loadable by transformers."""
    out = Path(out_dir)
    model.save_pretrained(out)
    load_tokenizer(tokenizer_path).save_pretrained(out)
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
) -> Path:
    """Merge and save; the tokenizer comes from ``tokenizer_path`` or the global model's folder."""
    model = merged_model(global_path, regional_path, alpha, base_path, lam, mu)
    return save_merged(model, out_dir, tokenizer_path or global_path)
