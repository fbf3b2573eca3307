"""The local engine: joblib worker processes on this machine.

Tasks stream through the workers and their results come back in task order, so output
never depends on the number of workers or on scheduling.  joblib's ``pre_dispatch``
bounds how many chunks are in flight, which bounds memory.
"""

from __future__ import annotations

import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar

from joblib import Parallel, delayed, parallel_config
from joblib.externals.loky.process_executor import TerminatedWorkerError

from dedup.engines.base import Pass, Progress, SerialEngine, WorkerLost, resolve_workers

R = TypeVar("R")

# How much a worker may grow past its size after its first task before loky restarts it.
WORKER_GROWTH_BYTES = 8 << 30
# How often a worker checks that the process that started it is alive.
PARENT_CHECK_SECONDS = 0.2
# A worker's exit status when it stops because its parent died.
ORPHANED_EXIT_STATUS = 70


def init_worker() -> None:
    """Worker initializer: exit with the parent, and keep the stages' caches."""
    exit_with_parent()
    allow_cache_growth()


def exit_with_parent() -> None:
    """End this worker process as soon as the process that started it is gone.

    loky's workers otherwise outlive a parent killed by SIGKILL or the OOM killer for
    minutes (their idle timeout, after the task at hand), holding memory and writing
    files into a work folder that a new run may already be using.  A thread polls the
    parent id, which changes when the parent dies (the orphan is re-parented).
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(ORPHANED_EXIT_STATUS)

    threading.Thread(target=watch, name="dedup-exit-with-parent", daemon=True).start()


def allow_cache_growth() -> None:
    """Do not take the stages' caches for a memory leak.

    loky restarts a worker whose memory grew by 300 MB after its first task, with a
    warning about leaks.  Ours grow by design and stay bounded: word vocabularies and
    n-gram tables per process, and the largest cluster blocks.  At a million articles
    that restarted workers two or three times a run, each time with cold caches; only
    growth past ``WORKER_GROWTH_BYTES`` (a real leak) restarts one now.  The limit is a
    module constant of loky's (joblib 1.6); without it, nothing changes.
    """
    from joblib.externals.loky import process_executor

    if hasattr(process_executor, "_MAX_MEMORY_LEAK_SIZE"):
        process_executor._MAX_MEMORY_LEAK_SIZE = WORKER_GROWTH_BYTES


class LocalEngine:
    """joblib processes on this machine (in-process when there is a single worker)."""

    def __init__(self, workers: int, progress: bool = False) -> None:
        self.workers = resolve_workers(workers)
        self.progress = progress
        self._running: weakref.WeakSet[Generator[Any, None, None]] = weakref.WeakSet()

    def map(self, func: Callable[..., R], tasks: Iterable[tuple[Any, ...]],
            desc: str | Pass) -> Iterator[R]:
        """Stream ``func(*task)`` over the tasks, two tasks per worker in flight at most."""
        progress = Progress(desc, tasks, self.progress)
        tasks = progress.tasks
        if self.workers == 1:
            results: Iterable[R] = SerialEngine().map(func, tasks, desc)
        else:
            with parallel_config(backend="loky", initializer=init_worker):
                parallel = Parallel(n_jobs=self.workers, return_as="generator",
                                    pre_dispatch="2*n_jobs", batch_size=1)
            running = parallel(delayed(func)(*task) for task in tasks)
            self._running.add(running)
            results = running
        try:
            yield from progress.counted(results)
        except TerminatedWorkerError as err:
            raise WorkerLost(_exit_codes(err)) from err

    def close(self) -> None:
        """Stop the tasks still running: joblib kills the workers of a pass that is
        abandoned (a run that failed or was stopped), so none goes on writing files."""
        for results in list(self._running):
            results.close()


def _exit_codes(err: TerminatedWorkerError) -> str:
    """What loky says of how the workers ended ("{SIGKILL(-9)}"), or a plain phrase."""
    found = re.search(r"exit codes of the workers are (\{[^}]*\})", str(err))
    return f"exit codes {found.group(1)}" if found else "it ended without a result"
