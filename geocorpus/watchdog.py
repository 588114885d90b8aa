"""Run a datatrove ``LocalPipelineExecutor`` in a child process and stop the run when one of its workers dies.

Why: the local executor hands tasks to a ``multiprocess`` pool; a worker killed by the kernel's
out-of-memory killer (SIGKILL) takes its task with it and the pool waits for that result forever (the
parent sat at 0% CPU). datatrove's executor is used unchanged; only how geocorpus drives it differs: it
runs in a child process (started from a forkserver, as datatrove starts its own workers), and this process
watches it. Pool workers exit only when the pool closes, after every task returned, so a worker that exits
while tasks are unfinished is a crash: the whole tree is killed within seconds and :class:`WorkerDiedError`
names the stage and the pid. The pool's own worker handler reports each worker that exits (it wakes on the
worker's sentinel, so even a worker killed milliseconds after it started is seen); polling the process
tree is kept as a second witness. Finished tasks keep their completion markers, so
re-running the same command resumes. If this process dies, the child notices (its lifeline pipe closes)
and kills its tree too, so no orphan keeps writing into a folder whose lock is gone.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from datatrove.executor import LocalPipelineExecutor

#: Modules the stage process needs; the forkserver imports them once, so each stage starts in milliseconds.
PRELOAD = ("__main__", "datatrove.executor.local", "geocorpus.steps", "geocorpus.readers", "geocorpus.finalize")
POLL_SECONDS = 0.5
#: How long a lost worker may precede the end of the stage (the pool closing) before it counts as a crash.
GRACE_SECONDS = 3.0


class WorkerDiedError(RuntimeError):
    """A process running a stage's tasks died (typically SIGKILL from the out-of-memory killer)."""


class StageProcessError(RuntimeError):
    """The stage raised an exception that could not be sent back as itself; the message carries its traceback."""


def run_watched(executor: LocalPipelineExecutor, stage: str, world_size: int) -> None:
    """``executor.run()`` in a child process; raises what it raised, or WorkerDiedError when a worker dies."""
    import multiprocess

    context = multiprocess.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))  # no effect once the forkserver runs
    results, results_writer = context.Pipe(duplex=False)
    deaths, deaths_writer = context.Pipe(duplex=False)
    lifeline_reader, lifeline = context.Pipe(duplex=False)  # closes when this process dies
    child = context.Process(
        target=_stage_main,
        args=(executor, results_writer, lifeline_reader, deaths_writer),
        name=f"geocorpus-{stage}",
    )
    child.start()
    results_writer.close()
    deaths_writer.close()
    lifeline_reader.close()
    try:
        _watch(child, results, deaths, executor, stage, world_size)
    finally:
        if child.is_alive():
            _kill_tree(child.pid)
        child.join(timeout=10)
        lifeline.close()
        results.close()
        deaths.close()


def _watch(
    child: Any, results: Any, deaths: Any, executor: LocalPipelineExecutor, stage: str, world_size: int
) -> None:
    from multiprocess.connection import wait

    watched = psutil.Process(child.pid)
    workers: dict[int, psutil.Process] = {}
    lost: list[int] = []
    lost_since: float | None = None
    listening = [results, deaths]
    while True:
        ready = wait(listening, timeout=POLL_SECONDS)
        if deaths in ready:
            try:
                pid, _code = deaths.recv()
                lost.append(pid)
            except EOFError:  # the stage process ended; its results tell the rest
                listening.remove(deaths)
        if results in ready:
            try:
                outcome = results.recv()
            except EOFError:
                outcome = None
                listening.remove(results)
            if outcome is not None:
                child.join()
                _raise_outcome(outcome)
                return
        if not child.is_alive():
            child.join()
            code = child.exitcode
            how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
            raise WorkerDiedError(
                f"stage {stage!r}: the process running it (pid {child.pid}) {how} before the stage finished "
                "(SIGKILL = 9 is what the out-of-memory killer sends). Finished tasks are kept: re-run the same "
                "command to resume, with fewer workers or more memory."
            )
        current = {p.pid: p for p in _pool_workers(watched)}
        for pid, process in list(workers.items()):
            if pid not in current and not _alive(process):
                if pid not in lost:
                    lost.append(pid)
                del workers[pid]
        workers.update(current)
        if lost and lost_since is None:
            lost_since = time.monotonic()
        if lost_since is not None and time.monotonic() - lost_since >= GRACE_SECONDS:
            if executor.get_incomplete_ranks(range(world_size)):
                _kill_tree(child.pid)
                raise WorkerDiedError(
                    f"stage {stage!r}: worker process {lost[0]} died while tasks were running (killed by a signal; "
                    "the out-of-memory killer sends SIGKILL when memory runs out, see `dmesg`). The run is stopped; "
                    "finished tasks are kept: re-run the same command to resume, with fewer workers or more memory."
                )
            lost_since = None  # every task finished: the pool was closing


def _pool_workers(stage_process: psutil.Process) -> list[psutil.Process]:
    """The pool's workers: children of the forkserver(s) the stage process started."""
    found: list[psutil.Process] = []
    try:
        children = stage_process.children()
    except psutil.Error:
        return found
    for child in children:
        try:
            if any("forkserver" in part for part in child.cmdline()):
                found += child.children()
        except psutil.Error:
            continue
    return found


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _raise_outcome(outcome: tuple[str, Any, str]) -> None:
    kind, error, text = outcome
    if kind == "ok":
        return
    if isinstance(error, BaseException):
        raise error
    raise StageProcessError(text)


def _kill_tree(pid: int, exclude: Sequence[int] = ()) -> None:
    """SIGKILL ``pid`` and all its descendants (children first found, then the process itself)."""
    try:
        root = psutil.Process(pid)
        processes = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for process in processes:
        if process.pid in exclude:
            continue
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(processes, timeout=5)


def _report_worker_exits(deaths: Any) -> None:
    """Make the pool's worker handler (in this stage process) send (pid, exit code) of each worker that exits.

    ``multiprocess.pool.Pool`` wakes on its workers' sentinels and calls ``_join_exited_workers`` on the
    list before it starts replacements: the one place that sees every exit, however soon after its start.
    """
    from multiprocess import pool as mp_pool

    join_exited = mp_pool.Pool._join_exited_workers
    lock = threading.Lock()

    def join_exited_reporting(workers: list[Any]) -> bool:
        for worker in workers:
            code = worker.exitcode
            if code is not None:
                with lock, contextlib.suppress(OSError):
                    deaths.send((worker.pid, code))
        return bool(join_exited(workers))

    mp_pool.Pool._join_exited_workers = staticmethod(join_exited_reporting)


def _stage_main(executor: LocalPipelineExecutor, results: Any, lifeline: Any, deaths: Any) -> None:
    """In the stage process: run the executor and send back ("ok"|"error", exception, traceback text)."""

    def orphaned() -> None:  # the watching process died: take the stage's tree down with it
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv()
        _kill_tree(os.getpid(), exclude=[os.getpid()])
        os._exit(1)

    threading.Thread(target=orphaned, daemon=True).start()
    import multiprocess

    # the pool's forkserver (one per stage process) imports these once instead of every worker on its own
    multiprocess.get_context("forkserver").set_forkserver_preload(list(PRELOAD))
    _report_worker_exits(deaths)
    try:
        executor.run()
        outcome: tuple[str, Any, str] = ("ok", None, "")
    except BaseException as exc:  # everything goes back to the parent
        outcome = ("error", exc, traceback.format_exc())
    try:
        results.send(outcome)
    except Exception:  # the exception does not pickle: send its text
        results.send(("error", None, outcome[2]))
