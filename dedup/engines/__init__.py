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
from typing import TYPE_CHECKING

from dedup.engines.base import Engine, resolve_workers
from dedup.engines.local import LocalEngine

if TYPE_CHECKING:
    from dedup.engines.dask import DaskEngine


class EngineError(RuntimeError):
    """The engine cannot start (the scheduler cannot be reached): a user error."""


@contextmanager
def open_engine(kind: str, workers: int, scheduler: str, progress: bool) -> Iterator[Engine]:
    """The engine a run asked for, closed (cluster stopped) when the run ends."""
    engine = LocalEngine(workers, progress) if kind == "local" else _dask_engine(
        workers, scheduler, progress)
    try:
        yield engine
    finally:
        engine.close()


def _dask_engine(workers: int, scheduler: str, progress: bool) -> DaskEngine:
    """A Dask engine on ``scheduler`` (a local cluster when empty)."""
    from dedup.engines.dask import DaskEngine  # an optional extra; config checks it is there

    try:
        return DaskEngine(resolve_workers(workers), scheduler, progress)
    except OSError as err:
        raise EngineError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
