"""What every engine shares: the ``Engine.map`` interface, the passes it runs with their
progress bars, and the serial engine (tests, small inputs, one worker).

An engine runs ``func(*task)`` for each task and yields the results in task order, so the
output never depends on where the tasks ran; a distributed engine only has to provide
the same ``map``.  Nothing here imports an engine: the local and Dask engines import
this module, and ``dedup.engines.open_engine`` chooses between them.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from tqdm import tqdm

R = TypeVar("R")


class WorkerLost(RuntimeError):
    """A worker process died while it ran a task: killed (most often by the system's
    out-of-memory killer) or crashed.  The run stops; the chunks finished so far are
    kept for ``--resume``."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"a worker process died ({detail}); most often the system ran out of memory "
            "and killed it. The finished chunks are kept: run the same command with "
            "--resume (with fewer --workers or a smaller run.chunk_size if memory is short)")


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


class SerialEngine:
    """Runs every task in this process, in order: for small inputs and tests."""

    def map(self, func: Callable[..., R], tasks: Iterable[tuple[Any, ...]],
            desc: str | Pass) -> Iterator[R]:
        """``func(*task)`` for every task, lazily and in order."""
        return (func(*task) for task in tasks)


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


