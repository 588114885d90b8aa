"""Sum of token negative log-likelihoods of a scored span given its context, batched with padding.

Every evaluation here (perplexity, MCQ options, locale switch) reduces to one question: how likely is
a *target* token span after a *context* span? The two spans are tokenized separately and their ids
concatenated, so the boundary is exact (a joint tokenization could merge ``\\n\\nTITLE`` across it).
A start token (BOS, else EOS) opens every sequence so that the first target token is scored even
when the context is empty: with and without a metadata prefix then count the same tokens.

Targets longer than the model's window are scored with a sliding window (Hugging Face's
"perplexity of fixed-length models" recipe): the target is cut into chunks of ``stride`` tokens and
each chunk is scored with as much preceding text (context included) as fits in ``max_length``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.progress import SILENT, ProgressHook

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class ScoreRow:
    """One forward-pass row: the last ``n_scored`` tokens of ``input_ids`` are scored."""

    request: int  # index of the request this row belongs to
    input_ids: tuple[int, ...]
    n_scored: int


def start_token_id(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """BOS, else EOS: the token every scored sequence starts with; None when the vocab has neither."""
    for token_id in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return int(token_id)
    return None


def encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (the start token is added once, by us)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def window_rows(
    request: int,
    context_ids: Sequence[int],
    target_ids: Sequence[int],
    start_id: int | None,
    max_length: int,
    stride: int,
    shift_first: bool | None = None,
) -> list[ScoreRow]:
    """The rows that score ``target_ids`` after ``context_ids``: one when it fits, else one per chunk.

    Without a start token the first target token has nothing to be predicted from when the context
    is empty; it is then used as context in every condition (``shift_first`` None), so token counts
    still agree. ``shift_first=False`` keeps it scored whenever there is context to predict it from
    (the paper's MCQ prompts without BOS).
    """
    if not 1 <= stride <= max_length - 1:
        raise EvaluationError(f"stride {stride} must lie in 1..max_length-1 ({max_length - 1})")
    head = ([start_id] if start_id is not None else []) + list(context_ids)
    target = list(target_ids)
    if start_id is None and (shift_first is None or shift_first or not head):
        head, target = head + target[:1], target[1:]
    sequence = head + target
    rows: list[ScoreRow] = []
    for chunk_start in range(len(head), len(sequence), stride):
        chunk_end = min(chunk_start + stride, len(sequence))
        window_start = max(0, chunk_end - max_length)
        rows.append(ScoreRow(request, tuple(sequence[window_start:chunk_end]), chunk_end - chunk_start))
    return rows


@torch.no_grad()
def score_rows(
    model: PreTrainedModel,
    rows: Sequence[ScoreRow],
    n_requests: int,
    pad_id: int,
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(sum of NLL in nats, number of scored tokens) per request.

    Rows are sorted by length so that each batch pads little; right padding with an attention mask
    leaves the logits of real tokens untouched under a causal mask.
    """
    nll = np.zeros(n_requests, dtype=np.float64)
    counts = np.zeros(n_requests, dtype=np.int64)
    device = next(model.parameters()).device
    order = sorted(range(len(rows)), key=lambda i: len(rows[i].input_ids), reverse=True)
    for batch_start in range(0, len(order), batch_size):
        batch = [rows[i] for i in order[batch_start : batch_start + batch_size]]
        width = max(len(row.input_ids) for row in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for b, row in enumerate(batch):
            input_ids[b, : len(row.input_ids)] = torch.tensor(row.input_ids)
            attention[b, : len(row.input_ids)] = 1
        logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits
        for b, row in enumerate(batch):
            length = len(row.input_ids)
            predicting = logits[b, length - row.n_scored - 1 : length - 1].float()
            targets = input_ids[b, length - row.n_scored : length].to(device)
            token_nll = -torch.log_softmax(predicting, dim=-1).gather(1, targets[:, None])
            nll[row.request] += float(token_nll.sum())
            counts[row.request] += row.n_scored
        if on_batch is not None:
            on_batch(len(batch))
    return nll, counts


@dataclass(frozen=True)
class ScoringSettings:
    """How requests are turned into rows: window length, stride and batch size."""

    max_length: int | None = None  # None: the model's max_position_embeddings, capped at 2048
    stride: int | None = None  # None: max_length // 2
    batch_size: int = 8
    start_token: bool = True  # False: no BOS/EOS before the context (the paper's add_prompt_bos=False)

    def resolve(self, model: PreTrainedModel) -> tuple[int, int]:
        """(max_length, stride) for this model."""
        limit = getattr(model.config, "max_position_embeddings", None) or 2048
        max_length = self.max_length or min(int(limit), 2048)
        stride = self.stride or max(1, max_length // 2)
        return max_length, min(stride, max_length - 1)


def score_pairs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[tuple[str, str]],
    settings: ScoringSettings = ScoringSettings(),
    progress: ProgressHook = SILENT,
    description: str = "scoring",
) -> tuple[np.ndarray, np.ndarray]:
    """(NLL sum, token count) of each ``target`` given its ``context`` for (context, target) pairs."""
    max_length, stride = settings.resolve(model)
    start_id = start_token_id(tokenizer) if settings.start_token else None
    shift_first = None if settings.start_token else False
    rows: list[ScoreRow] = []
    for index, (context, target) in enumerate(pairs):
        rows += window_rows(
            index, encode(tokenizer, context), encode(tokenizer, target), start_id, max_length, stride, shift_first
        )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    progress.start(len(rows), description)
    return score_rows(model, rows, len(pairs), pad_id, settings.batch_size, progress.advance)
