"""Train a small Llama-style model from scratch on tagged Parquet under one condition, from one YAML.

``python -m trainer_plugin.train CONFIG.yaml`` (or ``torchrun --nproc_per_node N -m trainer_plugin.train
CONFIG.yaml``). The trainer is HF's; the plugin contributes the dataset, its loader (so every rank
reads its own share and the stream position is exact) and a checkpoint callback.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase, Trainer, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from trainer_plugin.callbacks import DatasetStateCallback, restore_dataset_state
from trainer_plugin.conditions import load_condition
from trainer_plugin.config import TrainConfig, load_config
from trainer_plugin.dataset import PackedDataset, Source, as_sources, region_sources
from trainer_plugin.loader import ResumableDataLoader
from trainer_plugin.tokenizer import load_tokenizer


def build_dataset(
    config: TrainConfig, tokenizer: PreTrainedTokenizerBase, rank: int | None = None, world_size: int | None = None
) -> PackedDataset:
    """The training stream of the config; reads only metadata and region columns, so errors come early."""
    data, training = config.data, config.training
    condition = load_condition(config.condition)
    if data.mix is None:
        sources: list[Source] = as_sources(data.train)
    elif "regions" in data.mix:
        sources = region_sources(data.mix["paths"], data.mix["regions"])
    else:
        sources = as_sources(data.mix["sources"])
    cooldown = None
    if condition.cooldown_fraction is not None:
        per_rank = training.max_steps * training.per_device_batch_size * training.gradient_accumulation_steps
        cooldown = math.ceil(condition.cooldown_fraction * per_rank)
    return PackedDataset(
        sources,
        tokenizer,
        condition,
        seq_len=data.seq_len,
        split=data.split,
        seed=config.seed,
        shuffle_buffer=data.shuffle_buffer,
        epochs=None,  # training is by step count; the stream repeats and reshuffles each epoch
        tokenize_batch=data.tokenize_batch,
        cooldown_after_sequences=cooldown,
        document_isolation=data.document_isolation,
        rank=rank,
        world_size=world_size,
    )


def build_model(config: TrainConfig, tokenizer: PreTrainedTokenizerBase) -> LlamaForCausalLM:
    """A randomly initialised Llama of the configured size, its vocabulary that of the tokenizer."""
    m = config.model
    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=m.hidden_size,
        num_hidden_layers=m.num_layers,
        num_attention_heads=m.num_heads,
        num_key_value_heads=m.num_kv_heads or m.num_heads,
        intermediate_size=m.intermediate_size or 4 * m.hidden_size,
        max_position_embeddings=config.data.seq_len,
        bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        tie_word_embeddings=m.tie_word_embeddings,
    )
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM._from_config(llama, attn_implementation=m.attn_implementation)
    model.config.use_cache = False  # training: transformers builds the packed-document mask only without a cache
    return model


class GeoTrainer(Trainer):
    """HF Trainer that trains from a ResumableDataLoader as it is.

    Accelerate would otherwise re-wrap an IterableDataset (rank 0 reads and dispatches, or every rank
    reads everything); the PackedDataset already gives each rank its own share.
    """

    def __init__(self, *args: Any, train_loader: ResumableDataLoader, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.train_loader = train_loader

    def get_train_dataloader(self) -> ResumableDataLoader:
        return self.train_loader


def training_arguments(config: TrainConfig) -> TrainingArguments:
    t = config.training
    return TrainingArguments(
        output_dir=config.output_dir,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_steps,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        bf16=t.bf16,
        logging_steps=t.logging_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        seed=config.seed,
        report_to="none",
        ignore_data_skip=True,  # the dataset state, not batch skipping, restores the stream
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
    )


@dataclass
class Run:
    """Everything one training job is made of, built and checked before the first step."""

    config: TrainConfig
    tokenizer: PreTrainedTokenizerBase
    dataset: PackedDataset
    loader: ResumableDataLoader
    trainer: GeoTrainer
    resume_from: str | None


def prepare_run(config: TrainConfig) -> Run:
    """Tokenizer, stream, model and Trainer of a config; the exact objects ``train`` runs."""
    tokenizer = load_tokenizer(config.tokenizer, require_eos=True)  # packing joins documents with EOS
    args = training_arguments(config)  # sets up torch.distributed under torchrun
    dataset = build_dataset(config, tokenizer)
    checkpoint = None
    if config.resume and Path(config.output_dir).is_dir():
        checkpoint = get_last_checkpoint(config.output_dir)
        if checkpoint is not None and not restore_dataset_state(dataset, checkpoint):
            raise ValueError(f"{checkpoint} has no dataset state; it was not written by trainer_plugin")
    loader = ResumableDataLoader(
        dataset,
        batch_size=config.training.per_device_batch_size,
        num_workers=config.data.num_workers,
        attn_implementation=config.model.attn_implementation,
        pin_memory=torch.cuda.is_available(),
    )
    trainer = GeoTrainer(
        model=build_model(config, tokenizer),
        args=args,
        train_dataset=dataset,
        callbacks=[DatasetStateCallback(dataset)],
        train_loader=loader,
    )
    return Run(config, tokenizer, dataset, loader, trainer, checkpoint)


def train(config_path_or_dict: str | Path | Mapping[str, Any]) -> dict:
    """Run one training job; returns the step reached, the logged losses and where it resumed from."""
    run = prepare_run(load_config(config_path_or_dict))
    trainer, dataset = run.trainer, run.dataset
    output = trainer.train(resume_from_checkpoint=run.resume_from)
    losses = [(entry["step"], entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
    return {
        "output_dir": run.config.output_dir,
        "condition": dataset.condition.name,
        "global_step": trainer.state.global_step,
        "train_loss": output.training_loss,
        "losses": losses,
        "resumed_from": run.resume_from,
        "num_documents": dataset.num_documents,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m trainer_plugin.train CONFIG.yaml``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m trainer_plugin.train CONFIG.yaml", file=sys.stderr)
        return 2
    result = train(argv[0])
    print(
        f"condition={result['condition']} steps={result['global_step']} "
        f"train_loss={result['train_loss']:.4f} resumed_from={result['resumed_from']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
