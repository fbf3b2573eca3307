"""Engines decide where per-chunk work runs; stages never know which engine runs them.

The local engine streams tasks through joblib worker processes and yields results in task
order, so output never depends on the number of workers or on scheduling.  joblib's
``pre_dispatch`` bounds how many chunks are in flight, which bounds memory.  A distributed
engine only has to provide the same ``map``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from joblib import Parallel, delayed, parallel_config
from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")

# How much a worker may grow past its size after its first task before loky restarts it.
WORKER_GROWTH_BYTES = 8 << 30
# How often a worker checks that the process that started it is alive.
PARENT_CHECK_SECONDS = 0.2
# A worker's exit status when it stops because its parent died.
ORPHANED_EXIT_STATUS = 70


@dataclass(frozen=True, slots=True)
class Pass:
    """A pass over tasks as its progress bar counts it: its name, the units it has in
    all (``None`` when unknown before it ends, as the input's records), what a unit is,
    and how many units each task is (one, unless ``share`` says).

    Counted in units of work rather than tasks, a bar's ETA holds for passes whose tasks
    differ in size (clustering blocks: one language may be half of the dump).
    """

    name: str
    total: float | None = None
    unit: str = "task"
    share: Callable[[tuple[Any, ...]], float] | None = None


class Engine(Protocol):
    """Runs a function over tasks and yields the results in task order."""

    def map(self, func: Callable[..., R], tasks: Iterable[tuple[Any, ...]],
            desc: str | Pass) -> Iterator[R]:
        """``func(*task)`` for every task, results in the order of ``tasks``; ``desc``
        names the pass for its progress bar."""
        ...


def resolve_workers(workers: int) -> int:
    """0 means one worker per available CPU core."""
    if workers > 0:
        return workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def show_progress(setting: str) -> bool:
    """Progress bars only where somebody watches: on a terminal, or when asked."""
    return setting == "always" or (setting == "auto" and sys.stderr.isatty())


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


class SerialEngine:
    """Runs every task in this process, in order: for small inputs and tests."""

    def map(self, func: Callable[..., R], tasks: Iterable[tuple[Any, ...]],
            desc: str | Pass) -> Iterator[R]:
        """``func(*task)`` for every task, lazily and in order."""
        return (func(*task) for task in tasks)


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
        yield from progress.counted(results)

    def close(self) -> None:
        """Stop the tasks still running: joblib kills the workers of a pass that is
        abandoned (a run that failed or was stopped), so none goes on writing files."""
        for results in list(self._running):
            results.close()


class Progress:
    """A pass's progress bar on stderr (when ``shown``): its total and ETA when the pass
    knows them, advanced by each finished task's share.

    Each task's share is noted as the engine takes the task and counted when its result
    comes back (in task order), so the bar shows finished work, not dispatched work.
    The bar goes when the pass ends; the job says the step's time in one line instead.
    """

    def __init__(self, desc: str | Pass, tasks: Iterable[tuple[Any, ...]], shown: bool) -> None:
        job = desc if isinstance(desc, Pass) else Pass(desc)
        if job.total is None and job.share is None and isinstance(tasks, Sized):
            job = Pass(job.name, len(tasks), job.unit)
        self.job = job
        self.shown = shown
        self.shares: deque[float] = deque()
        self.tasks = self._noted(tasks) if shown else iter(tasks)

    def _noted(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        share = self.job.share
        for task in tasks:
            self.shares.append(share(task) if share is not None else 1)
            yield task

    def counted(self, results: Iterable[R]) -> Iterator[R]:
        """The results, in order, each advancing the bar by its task's share."""
        if not self.shown:
            yield from results
            return
        scaled = self.job.unit == "B"
        with tqdm(desc=self.job.name, total=self.job.total, unit=self.job.unit,
                  unit_scale=scaled, unit_divisor=1024 if scaled else 1000, file=sys.stderr,
                  leave=False, dynamic_ncols=True) as bar:
            for result in results:
                bar.update(self.shares.popleft() if self.shares else 1)
                yield result


class EngineError(RuntimeError):
    """The engine cannot start (the scheduler cannot be reached): a user error."""


@contextmanager
def open_engine(kind: str, workers: int, scheduler: str, progress: bool) -> Iterator[Engine]:
    """The engine a run asked for, closed (cluster stopped) when the run ends."""
    if kind == "local":
        local = LocalEngine(workers, progress)
        try:
            yield local
        finally:
            local.close()
        return
    from dedup.engines.dask import DaskEngine  # an optional extra; config checks it is there

    try:
        engine = DaskEngine(resolve_workers(workers), scheduler, progress)
    except OSError as err:
        raise EngineError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
    try:
        yield engine
    finally:
        engine.close()
