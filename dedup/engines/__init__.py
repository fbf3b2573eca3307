"""Engines decide where per-chunk work runs; stages never know which engine runs them.

Every engine has the one method of :class:`~dedup.engines.base.Engine`, ``map``, and
yields results in task order, so the output never depends on the engine, the number of
workers or the scheduling: :class:`~dedup.engines.base.SerialEngine` (this process),
:class:`~dedup.engines.local.LocalEngine` (joblib worker processes) and
:class:`~dedup.engines.dask.DaskEngine` (a Dask cluster, an optional extra imported only
when asked for).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dedup.engines.base import Engine, resolve_workers
from dedup.engines.local import LocalEngine


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
