"""The curation pipeline: a config in, datatrove stages out, run by datatrove's own executors.

Stages (each a datatrove executor with its own logging folder and completion markers, so a re-run
skips finished tasks and a killed run resumes where it stopped):

1. ``tag``       readers -> read-error exclusion -> verify URL -> tag region -> text stats -> filters
                 -> MinHash bucket digests (for the cross-split check) -> tagged shards (``OUT/stages/tagged``), exclusions per step (``OUT/exclusions/<stage>``)
2. ``minhash_*`` optional near-duplicate removal with datatrove's MinHash stages
3. ``finalize_*`` select (one task: exact dedup, balancing, eval split on the metadata columns), scatter
                 and write (``tasks`` tasks each: a disk shuffle into the final shards), the
                 cross-split near-duplicate check (``tasks`` tasks), then ``finalize`` (one task:
                 reconcile, manifest, report, card); see geocorpus/finalize

The same stage list runs locally, on Slurm or on Ray: only the executor class differs.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datatrove.pipeline.base import PipelineStep

from geocorpus.bucket_digests import BucketDigests
from geocorpus.config import CurateConfig, ExecutorConfig
from geocorpus.decontaminate import decontamination_steps
from geocorpus.finalize import CheckCrossSplit, FinalizeCorpus, ScatterRows, SelectRows, WriteShards
from geocorpus.finalize.contamination import cross_split_enabled
from geocorpus.readers import ExcludeReadErrors, ReadInputs, build_reader_steps
from geocorpus.steps import (
    CountInput,
    CountTokens,
    LanguageIDFilter,
    MinLengthFilter,
    RequireCountry,
    TagRegion,
    TextStats,
    VerifyURL,
)
from geocorpus.writers import CorpusWriter, ExclusionWriter

#: Tagged shards rotate at this many (compressed) bytes, so no shard grows with the input file it came
#: from and finalize's per-shard tasks stay balanced (~64 MiB of zstd Parquet is ~250 MB of news text).
TAGGED_SHARD_BYTES = 64 << 20


@dataclass
class Stage:
    name: str
    steps: list[PipelineStep]
    tasks: int
    workers: int = -1


def _quality_filter(name: str, exclusion_writer):
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    cls = {
        "gopher_quality": GopherQualityFilter,
        "gopher_repetition": GopherRepetitionFilter,
        "c4": C4QualityFilter,
        "fineweb_quality": FineWebQualityFilter,
    }[name]
    return cls(exclusion_writer=exclusion_writer)


def tag_stage_steps(config: CurateConfig) -> list[PipelineStep]:
    """Readers and per-document steps of stage 1."""
    layout = config.layout
    excl = layout.exclusions

    def exclusions(stage: str) -> ExclusionWriter:
        return ExclusionWriter(str(excl / stage), stage=stage)

    chains = []
    for spec in config.inputs:
        reader_steps = build_reader_steps(spec, exclusion_folder=str(excl))
        # Count right after the reader itself, before any extraction step can drop a document.
        chains.append([reader_steps[0], CountInput(str(layout.counts), input_name=spec.name), *reader_steps[1:]])
    steps: list[PipelineStep] = [ReadInputs(chains)]  # one input after another: no nesting per input
    steps.append(ExcludeReadErrors(exclusion_writer=exclusions("read")))
    steps.append(VerifyURL(exclusion_writer=exclusions("verify_url"), max_length=config.url.max_length))
    tagging = config.tagging
    steps.append(TagRegion.from_config(tagging))
    if tagging.require_country or tagging.countries:
        steps.append(RequireCountry(exclusion_writer=exclusions("tag_region"), allowed=tagging.countries))
    steps.append(TextStats())
    filters = config.filters
    if filters.min_words > 0:
        steps.append(MinLengthFilter(filters.min_words, exclusion_writer=exclusions("min_length")))
    if filters.language is not None:
        lang = filters.language
        steps.append(
            LanguageIDFilter(
                languages=lang.languages,
                min_score=lang.min_score,
                model=lang.model,
                max_chars=lang.max_chars,
                exclusion_writer=exclusions("language"),
            )
        )
    for name in filters.quality:
        steps.append(_quality_filter(name, exclusions(f"quality_{name}")))
    steps += decontamination_steps(config.decontamination, str(excl))
    if cross_split_enabled(config):  # after decontamination, whose words it reuses
        steps.append(BucketDigests(config.dedup.minhash))
    if config.balance.tokenizer is not None:
        steps.append(CountTokens(config.balance.tokenizer))
    steps.append(CorpusWriter(str(layout.tagged), output_filename="${rank}.parquet", max_file_size=TAGGED_SHARD_BYTES))
    return steps


def build_stages(config: CurateConfig) -> list[Stage]:
    """All stages of a run, in order, for any executor."""
    layout = config.layout
    ex = config.executor
    stages = [Stage("tag", tag_stage_steps(config), tasks=ex.tasks, workers=ex.workers)]
    final_input = layout.tagged
    if config.dedup.minhash is not None:
        from geocorpus.minhash import minhash_pipelines

        minhash = minhash_pipelines(
            input_folder=str(layout.tagged),
            output_folder=str(layout.minhash_out),
            work_folder=str(layout.minhash_work),
            exclusion_folder=str(layout.exclusions),
            config=config.dedup.minhash,
        )
        tasks = config.dedup.minhash.stage_tasks()
        for name, steps in minhash.items():
            stages.append(Stage(f"minhash_{name}", steps, tasks=tasks[name]))
        final_input = layout.minhash_out
    stages += [
        Stage("finalize_select", [SelectRows(config, final_input)], tasks=1, workers=1),
        Stage("finalize_scatter", [ScatterRows(config)], tasks=ex.tasks, workers=ex.workers),
        Stage("finalize_write", [WriteShards(config)], tasks=ex.tasks, workers=ex.workers),
        Stage("finalize_cross_split", [CheckCrossSplit(config)], tasks=ex.tasks, workers=ex.workers),
        Stage("finalize", [FinalizeCorpus(config)], tasks=1, workers=1),
    ]
    return stages


def make_executors(config: CurateConfig, stages: list[Stage]):
    """One datatrove executor per stage, chained with ``depends`` so running the last runs all."""
    layout = config.layout
    ex: ExecutorConfig = config.executor
    executors = []
    previous = None
    for stage in stages:
        logging_dir = str(layout.stage_logs(stage.name))
        if ex.type == "local":
            from datatrove.executor import LocalPipelineExecutor

            executor = LocalPipelineExecutor(
                pipeline=stage.steps,
                tasks=stage.tasks,
                workers=min(stage.workers if stage.workers != -1 else stage.tasks, stage.tasks),
                logging_dir=logging_dir,
                depends=previous,
            )
        elif ex.type == "slurm":
            from datatrove.executor import SlurmPipelineExecutor

            executor = SlurmPipelineExecutor(
                pipeline=stage.steps,
                tasks=stage.tasks,
                time=ex.time,
                partition=ex.partition,
                cpus_per_task=ex.cpus_per_task,
                mem_per_cpu_gb=ex.mem_per_cpu_gb,
                job_name=f"{ex.job_name}-{stage.name}",
                sbatch_args=ex.sbatch_args or None,
                venv_path=ex.venv_path,
                logging_dir=logging_dir,
                depends=previous,
            )
        else:
            from datatrove.executor.ray import RayPipelineExecutor

            executor = RayPipelineExecutor(
                pipeline=stage.steps,
                tasks=stage.tasks,
                workers=stage.workers,
                cpus_per_task=ex.cpus_per_task,
                mem_per_cpu_gb=ex.mem_per_cpu_gb,
                logging_dir=logging_dir,
                depends=previous,
            )
        executors.append(executor)
        previous = executor
    return executors


def _completed(logging_dir: Path) -> int:
    folder = logging_dir / "completions"
    return len(list(folder.iterdir())) if folder.is_dir() else 0


class ResumeError(RuntimeError):
    """The output folder holds a run whose stages were split differently; resuming would lose data."""


def check_resume(config: CurateConfig, stages: list[Stage]) -> None:
    """Refuse to resume with other task counts, and record this run's layout for the next check.

    datatrove skips tasks by rank; a rank means a different shard of the input when the task count
    changes, so a killed 4-task run resumed with 2 tasks would silently never read some files.
    """
    layout = config.layout
    record = layout.task_record
    layout_now = {stage.name: stage.tasks for stage in stages}
    if record.exists():
        before = json.loads(record.read_text())
        for name, tasks in layout_now.items():
            if name in before and before[name] != tasks and _completed(layout.stage_logs(name)) > 0:
                raise ResumeError(
                    f"{config.output_dir} holds a run whose stage {name!r} used {before[name]} tasks; this run "
                    f"asks for {tasks}. Re-run with the same task count (--tasks {before[name]}) to resume, "
                    "or use a new output folder."
                )
    config.output_dir.mkdir(parents=True, exist_ok=True)
    record.write_text(
        json.dumps({**(json.loads(record.read_text()) if record.exists() else {}), **layout_now}, indent=2)
    )


def run_curation(config: CurateConfig, show_progress: bool = True, overwrite: bool = False) -> dict | None:
    """Run every stage. Local and Ray stages run one after the other from here, with a rich progress
    bar per stage; Slurm stages are submitted as a ``depends`` chain. Returns the report (None on Slurm).

    The output folder is claimed, locked and fingerprinted first (:mod:`geocorpus.run_guard`): a folder
    holding other files, another run's settings or inputs, or a run in progress raises RunFolderError;
    ``overwrite`` discards a previous run of other settings. A finished run of the same fingerprint is a
    no-op that says so on stdout. Local stages run watched (:mod:`geocorpus.watchdog`): a worker killed by
    the out-of-memory killer fails the run within seconds instead of hanging it.
    """
    from geocorpus.run_guard import guarded_run

    stages = build_stages(config)
    with guarded_run(config, overwrite=overwrite):
        if _finished(config, stages):
            print(
                f"nothing to do: {config.output_dir} holds a finished run of this config and these inputs "
                "(same fingerprint); use --overwrite to run it again",
                file=sys.stderr,  # stdout is for --json
            )
            return json.loads(config.layout.report.read_text()) if config.layout.report.exists() else None
        return _run_stages(config, stages, show_progress)


def _finished(config: CurateConfig, stages: list[Stage]) -> bool:
    """The last stage completed (its marker is written after everything else) and the report exists."""
    last = stages[-1]
    return _completed(config.layout.stage_logs(last.name)) >= last.tasks and config.layout.report.exists()


def _run_stages(config: CurateConfig, stages: list[Stage], show_progress: bool) -> dict | None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from geocorpus.watchdog import run_watched

    layout = config.layout
    check_resume(config, stages)
    if config.executor.type == "slurm":
        executors = make_executors(config, stages)
        executors[-1].run()
        return None
    if config.executor.type == "ray":
        _connect_ray(config.executor.ray_address)
    executors = [make_executors(config, [stage])[0] for stage in stages]  # no depends: run in order here
    in_process = config.executor.type == "local" and reads_process_local(config)
    if in_process:  # memory:// inputs exist only here: run every task in this process, one after another
        for executor in executors:
            executor.workers = 1
        show_progress = False  # fd 2 goes to each stage's console.log while it runs (see _logged_here)
    elif config.executor.type == "local":
        _start_forkserver_ignoring_sigint(layout.logs / "processes.log")
        executors = [
            _LoggedToFile(e, str(layout.stage_logs(s.name) / "console.log")) for s, e in zip(stages, executors)
        ]
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tasks"),
        TimeElapsedColumn(),
        disable=not show_progress,
        console=Console(stderr=True),
    ) as progress:
        for stage, executor in zip(stages, executors):
            logging_dir = layout.stage_logs(stage.name)
            bar = progress.add_task(stage.name, total=stage.tasks, completed=_completed(logging_dir))
            done = threading.Event()

            def poll(bar=bar, logging_dir=logging_dir, done=done):
                while not done.wait(0.5):
                    progress.update(bar, completed=_completed(logging_dir))

            watcher = threading.Thread(target=poll, daemon=True)
            watcher.start()
            try:
                if in_process:
                    with _logged_here(layout.stage_logs(stage.name) / "console.log"):
                        executor.run()
                elif config.executor.type == "local":
                    run_watched(executor, stage.name, world_size=stage.tasks)
                else:
                    executor.run()
            finally:
                done.set()
                watcher.join()
                progress.update(bar, completed=_completed(logging_dir))
            _check_stage_finished(stage, executor, logging_dir)
    return json.loads(layout.report.read_text()) if layout.report.exists() else None


def _start_forkserver_ignoring_sigint(log_file: Path) -> None:
    """Start the forkserver that runs the stages with SIGINT ignored, so Ctrl-C reaches only this process.

    Ctrl-C sends SIGINT to the whole process group: every pool worker used to die with its own
    KeyboardInterrupt traceback while the stage process waited for it. An ignored signal stays ignored
    across fork and exec, and Python installs its KeyboardInterrupt handler only where SIGINT is not
    ignored, so the stage processes and datatrove's workers (all started from this forkserver) ignore it;
    this process gets KeyboardInterrupt and the watchdog kills the stage's whole tree on the way out.
    The forkserver and the resource tracker write to ``log_file`` (the tracker's warnings about the
    semaphores of killed workers are for the log, not the terminal).
    """
    import os
    import signal

    import multiprocess
    from multiprocess import forkserver

    from geocorpus.watchdog import PRELOAD

    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; keep the default behaviour
    multiprocess.get_context("forkserver").set_forkserver_preload(list(PRELOAD))
    log_file.parent.mkdir(parents=True, exist_ok=True)
    stderr = os.dup(2)
    log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.dup2(log, 2)
        forkserver.ensure_running()  # starts the resource tracker first
    finally:
        os.dup2(stderr, 2)
        os.close(stderr)
        os.close(log)
        signal.signal(signal.SIGINT, previous)


def reads_process_local(config: CurateConfig) -> bool:
    """An input on a filesystem only this process can see (``memory://``): the stage processes could not
    read it, so the local stages run in this process (no watchdog, one task at a time)."""
    from geocorpus.remote_paths import process_local

    return any(process_local(spec.path) for spec in config.inputs)


class _logged_here:
    """This process's fd 2 to ``log_file`` for a stage run in process (what _LoggedToFile does in a stage
    process), restored afterwards."""

    def __init__(self, log_file: Path) -> None:
        self.log_file = log_file
        self.saved = -1

    def __enter__(self) -> None:
        import os

        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        sys.stderr.flush()
        self.saved = os.dup(2)
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)
        os.close(fd)

    def __exit__(self, *exc: object) -> None:
        import os

        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)


class _LoggedToFile:
    """A local executor whose stage process writes its console output (datatrove's loguru lines, worker
    tracebacks) to a file in the run folder instead of the terminal, which keeps the progress bars and
    the summary readable; ``executor.run()`` is the only call made in the stage process."""

    def __init__(self, executor: Any, log_file: str) -> None:
        self.executor = executor
        self.log_file = log_file

    def run(self) -> None:
        import os
        import sys

        Path(self.log_file).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr.flush()
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)  # pool workers started from here inherit it too
        os.close(fd)
        self.executor.run()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "executor":  # unpickling looks these up before __dict__ is set
            raise AttributeError(name)
        return getattr(self.executor, name)


class StageFailedError(RuntimeError):
    """A stage ended with unfinished tasks (datatrove's Ray executor only logs a failed task)."""


def _check_stage_finished(stage: Stage, executor, logging_dir: Path) -> None:
    """Stop at a stage whose tasks did not all finish, instead of running later stages on partial data."""
    missing = executor.get_incomplete_ranks(range(stage.tasks))
    if missing:
        raise StageFailedError(
            f"stage {stage.name!r}: {len(missing)} of {stage.tasks} task(s) did not finish (ranks {missing[:10]}); "
            f"see {logging_dir / 'logs'}. Re-running the same command resumes the unfinished tasks."
        )


class RayConnectError(ConnectionError):
    """``executor.ray_address`` names a cluster that cannot be reached."""


def _connect_ray(address: str | None) -> None:
    """datatrove's RayPipelineExecutor expects Ray to be initialised: join ``address`` or start locally.

    A ``host:port`` that nothing listens on is refused within seconds: ``ray.init`` itself keeps
    retrying for minutes (measured: > 200 s) before it gives up.
    """
    import ray

    if ray.is_initialized():
        return
    if address and address not in ("auto", "local"):
        _check_reachable(address)
    ray.init(address=address)


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    import socket

    host, _, port = address.split("://", 1)[-1].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise RayConnectError(
            f"executor.ray_address: cannot reach a Ray cluster at {address!r} ({exc}); start one "
            "(`ray start --head`) or fix the address (host:port of its GCS, or ray://host:port)"
        ) from None
