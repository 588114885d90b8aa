"""Load a causal LM from a local folder only, with its tokenizer, on the device the user asked for.

Evaluation must never reach the network, so every ``from_pretrained`` call passes
``local_files_only=True`` and a model path that does not exist is rejected before transformers sees
it (otherwise transformers would treat it as a Hub repository id). The tokenizer is loaded by
``trainer_plugin.tokenizer.load_tokenizer``, the same loader training uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.tokenizer import TokenizerError, load_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; anything else is passed to torch as is."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: float32 on CPU (bf16 matmuls are slow there), bfloat16 on accelerators."""
    if dtype == "auto":
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    if dtype not in DTYPES:
        raise EvaluationError(f"unknown dtype {dtype!r}; choose one of auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def require_local_dir(path: str | Path, what: str) -> Path:
    """A local folder, or a clear error (never a silent Hub lookup). A model may be given as a training
    run folder (its final model/, else its latest checkpoint) or a checkpoint."""
    folder = Path(path)
    if not folder.is_dir():
        raise EvaluationError(f"{what} {str(path)!r} is not a local folder (nothing is downloaded)")
    if what == "model":
        from trainer_plugin.checkpoints import CheckpointError, resolve_model_dir

        try:
            return resolve_model_dir(folder)
        except CheckpointError as exc:
            raise EvaluationError(str(exc)) from None
    return folder


def load_causal_lm(
    model_path: str | Path,
    tokenizer_path: str | Path | None = None,
    device: str = "auto",
    dtype: str = "auto",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model in eval mode on the device, tokenizer); the tokenizer defaults to the model folder."""
    from transformers import AutoModelForCausalLM

    target = resolve_device(device)
    folder = require_local_dir(model_path, "model")
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=resolve_dtype(dtype, target))
    model.to(target).eval()  # type: ignore[arg-type]  # transformers types the @wraps'd `to` without binding self
    try:
        tokenizer = load_tokenizer(tokenizer_path or folder)
    except TokenizerError as exc:
        raise EvaluationError(str(exc)) from None
    return model, tokenizer
