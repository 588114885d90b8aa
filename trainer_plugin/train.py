"""Train a small Llama-style model from scratch on tagged Parquet under one condition, from one YAML.

``python -m trainer_plugin.train CONFIG.yaml`` (or ``torchrun --nproc_per_node N -m trainer_plugin.train
CONFIG.yaml``). The trainer is HF's; the plugin contributes the dataset, its loader (so every rank
reads its own share and the stream position is exact) and a checkpoint callback.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)
from transformers.trainer_callback import PrinterCallback

from trainer_plugin.callbacks import DatasetStateCallback, restore_dataset_state
from trainer_plugin.checkpoints import (
    INITIAL_DIR,
    MODEL_DIR,
    CheckpointError,
    latest_checkpoint,
    resolve_model_dir,
    resolve_trainer_checkpoint,
    run_outputs,
)
from trainer_plugin.conditions import load_condition
from trainer_plugin.config import ConfigError, TrainConfig, load_config
from trainer_plugin.dataset import PackedDataset, Source, as_sources, region_sources, resolve_rank_world
from trainer_plugin.loader import ResumableDataLoader
from trainer_plugin.model import build_model
from trainer_plugin.model_card import write_model_folder
from trainer_plugin.progress import TrainingProgress
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
        hash_range=data.hash_range,
        rank=rank,
        world_size=world_size,
    )


class StopAfterSteps(TrainerCallback):
    """Checkpoint and stop at a step before ``max_steps``, the LR schedule still spanning ``max_steps``
    (MeCo's stage 1 ends at 90% of a schedule that its cooldown stage finishes)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if state.global_step >= self.step:
            control.should_save = True
            control.should_training_stop = True
        return control


class ThisRunsCadence(TrainerCallback):
    """Log and save at this config's ``logging_steps`` / ``save_steps`` after a resume.

    HF's Trainer takes them from the checkpoint's ``trainer_state.json`` (it only warns), so a MeCo
    cooldown stage (``init_optimizer``) or a resume with a new cadence silently kept the old one.
    """

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        state.compute_steps(args, state.max_steps)
        return control


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
    """HF TrainingArguments; the ``training`` keys carry the TrainingArguments names they set."""
    t = config.training
    scheduler, scheduler_kwargs = t.lr_scheduler, {}
    if t.min_lr is not None:  # checked by load_config: the scheduler is a cosine one
        scheduler, scheduler_kwargs = "cosine_with_min_lr", {"min_lr": t.min_lr}
    return TrainingArguments(
        output_dir=config.output_dir,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        lr_scheduler_type=scheduler,
        lr_scheduler_kwargs=scheduler_kwargs,
        warmup_steps=t.warmup_steps,
        weight_decay=t.weight_decay,
        adam_beta1=t.adam_beta1,
        adam_beta2=t.adam_beta2,
        adam_epsilon=t.adam_epsilon,
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
        disable_tqdm=True,  # trainer_plugin.progress draws its own bar (tokens/s, ETA)
    )


def claim_output_dir(config: TrainConfig) -> None:
    """Refuse to train over an earlier run unless told how: ``resume`` continues it, ``overwrite`` starts over.

    Before this check a second run into the same folder trained from scratch and its checkpoints
    replaced the first run's one by one, leaving a mix of both. With ``overwrite`` the earlier run's
    checkpoints, ``model/`` and ``initial/`` are removed (on rank 0) and nothing else in the folder.
    """
    if config.resume:
        return
    earlier = run_outputs(config.output_dir)
    if not earlier:
        return
    names = ", ".join(p.name for p in earlier)
    if not config.overwrite:
        raise ConfigError(
            f"output_dir {config.output_dir} already holds a run ({names}): set resume: true to continue it, "
            "overwrite: true to train again from scratch (those folders are removed first), or choose another output_dir"
        )
    if resolve_rank_world()[0] == 0:
        print(f"overwrite: removing the earlier run's {names} from {config.output_dir}", file=sys.stderr)
        for folder in earlier:
            shutil.rmtree(folder)


@dataclass
class Run:
    """Everything one training job is made of, built and checked before the first step."""

    config: TrainConfig
    tokenizer: PreTrainedTokenizerBase
    dataset: PackedDataset
    loader: ResumableDataLoader
    trainer: GeoTrainer
    resume_from: str | None
    init_from: Path | None = None


def prepare_run(config: TrainConfig) -> Run:
    """Tokenizer, stream, model and Trainer of a config; the exact objects ``train`` runs.

    ``resume`` continues this run from its own last checkpoint (weights, optimizer, scheduler and
    stream). Otherwise ``init_from`` gives the starting weights, and with ``init_optimizer`` also
    the optimizer, scheduler and step of that checkpoint, but never its data stream.
    """
    claim_output_dir(config)
    tokenizer = load_tokenizer(config.tokenizer, require_eos=True)  # packing joins documents with EOS
    args = training_arguments(config)  # sets up torch.distributed under torchrun
    dataset = build_dataset(config, tokenizer)
    own = latest_checkpoint(config.output_dir) if config.resume else None
    if own is not None and not restore_dataset_state(dataset, own):
        raise CheckpointError(f"{own} has no dataset state; it was not written by trainer_plugin")
    init_dir = None
    if config.init_from:
        resolve = resolve_trainer_checkpoint if config.init_optimizer else resolve_model_dir
        init_dir = resolve(config.init_from)
    resume_from = own if own is not None else (init_dir if config.init_optimizer else None)
    if own is None and config.init_optimizer and init_dir is not None:
        step = json.loads((init_dir / "trainer_state.json").read_text(encoding="utf-8"))["global_step"]
        if step >= config.training.max_steps:
            raise ConfigError(
                f"init_from {init_dir} is at step {step}; training.max_steps ({config.training.max_steps}) "
                f"must be larger for the run to continue its schedule"
            )
    loader = ResumableDataLoader(
        dataset,
        batch_size=config.training.per_device_batch_size,
        num_workers=config.data.num_workers,
        attn_implementation=config.model.attn_implementation,
        pin_memory=torch.cuda.is_available(),
    )
    callbacks: list[TrainerCallback] = [DatasetStateCallback(dataset), ThisRunsCadence()]
    if config.training.stop_after_steps is not None:
        callbacks.append(StopAfterSteps(config.training.stop_after_steps))
    trainer = GeoTrainer(
        model=build_model(config, tokenizer, init_dir),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,  # saved into every checkpoint: each one loads on its own
        callbacks=callbacks,
        train_loader=loader,
    )
    return Run(config, tokenizer, dataset, loader, trainer, str(resume_from) if resume_from else None, init_dir)


def save_initial_state(run: Run) -> Path | None:
    """The step-0 weights (and tokenizer) in OUTPUT/initial, once, on rank 0: a base for merging."""
    if not run.config.training.save_initial_state or run.resume_from is not None:
        return None
    folder = Path(run.config.output_dir) / INITIAL_DIR
    run.trainer.save_model(str(folder))  # rank 0 writes; model and tokenizer
    return folder


def train(config_path_or_dict: str | Path | Mapping[str, Any]) -> dict:
    """Run one training job and write its final ``model/`` folder; returns the summary (with the losses).

    Progress (step, loss, tokens/s, ETA) goes to stderr on rank 0.
    """
    config = load_config(config_path_or_dict)
    run = prepare_run(config)
    trainer, dataset = run.trainer, run.dataset
    per_step = config.tokens_per_step(trainer.args.world_size)
    trainer.remove_callback(PrinterCallback)  # HF prints every log dict on stdout; stdout is for the summary
    trainer.add_callback(TrainingProgress(per_step))
    initial = save_initial_state(run)
    start_step, started = 0, time.perf_counter()
    if run.resume_from:
        start_step = json.loads((Path(run.resume_from) / "trainer_state.json").read_text(encoding="utf-8"))[
            "global_step"
        ]
    output = trainer.train(resume_from_checkpoint=run.resume_from)
    wall = time.perf_counter() - started
    losses = [(entry["step"], entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
    step = trainer.state.global_step
    signature = dataset.signature()
    result = {
        "output_dir": config.output_dir,
        "model_dir": str(Path(config.output_dir) / MODEL_DIR),
        "condition": dataset.condition.name,
        "condition_description": dataset.condition.description,
        "metadata": list(dataset.condition.metadata),
        "global_step": step,
        "train_loss": output.training_loss,
        "final_loss": losses[-1][1] if losses else None,
        "losses": losses,
        "tokens_per_step": per_step,
        "tokens_seen": step * per_step,
        "tokens_per_second": (step - start_step) * per_step / wall if wall > 0 else 0.0,
        "wall_seconds": round(wall, 2),
        "seq_len": config.data.seq_len,
        "document_isolation": config.data.document_isolation,
        "resumed_from": run.resume_from,
        "init_from": str(run.init_from) if run.init_from else None,
        "initial_state": str(initial) if initial else None,
        "num_documents": dataset.num_documents,
        "corpus_fingerprint": ",".join(source["files"] for source in signature["corpus"]),
        "tokenizer_fingerprint": signature["tokenizer"],
    }
    card = {k: v for k, v in result.items() if k != "losses"}
    write_model_folder(trainer, Path(result["model_dir"]), card, asdict(config))
    return result


def summary_line(result: Mapping[str, Any]) -> str:
    """The one-line JSON a finished run prints on stdout (the logged losses left out)."""
    return json.dumps({k: v for k, v in result.items() if k != "losses"}, sort_keys=True, default=str)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m trainer_plugin.train CONFIG.yaml [--dry-run [--world-size N] [--vocab-size V]]``."""
    import argparse

    from trainer_plugin.plan import format_plan, plan

    parser = argparse.ArgumentParser(prog="python -m trainer_plugin.train", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="training config (YAML)")
    parser.add_argument("--dry-run", action="store_true", help="build the model on the meta device; print sizes")
    parser.add_argument("--world-size", type=int, default=None, help="ranks to plan for (default $WORLD_SIZE or 1)")
    parser.add_argument("--vocab-size", type=int, default=None, help="plan without the tokenizer")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.dry_run:
        result = plan(load_config(args.config), args.world_size, args.vocab_size)
        print(format_plan(result), file=sys.stderr)
    else:
        result = train(args.config)
    print(summary_line(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
