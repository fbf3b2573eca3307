"""The dask engine gives the local engine's bytes: on a LocalCluster, on a real scheduler
with two worker processes, and when a worker dies mid-run."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import orjson
import pytest
from distributed import Client, LocalCluster
from processes import POLL_SECONDS, run_folder
from synthetic import make_corpus

import dedup.engines.dask as dask_engine
from dedup.cli import main
from dedup.config import load_config
from dedup.engines.base import WorkerLost
from dedup.engines.dask import DaskEngine
from dedup.io.index import LOCK
from dedup.job import shuffles
from dedup.job.run import run_job

OUTPUTS = ("articles.jsonl", "clusters.jsonl", "stories.jsonl", "rejects.jsonl")
DASK = Path(sys.executable).parent / "dask"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated corpus of about two hundred records in four languages: twenty chunks,
    and with the test's task sizes still dozens of LSH, comparison and search tasks."""
    records, _ = make_corpus(seed=13, per_language=10)
    path = tmp_path_factory.mktemp("corpus") / "in.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


@pytest.fixture(scope="module")
def local(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The local engine's outputs."""
    out = tmp_path_factory.mktemp("local") / "out"
    run_job([str(corpus)], out, load_config(overrides=["run.workers=2", "run.chunk_size=10"]))
    return outputs(out)


def outputs(out: Path) -> dict[str, bytes]:
    """The output files that must not depend on the engine."""
    return {name: (out / name).read_bytes() for name in OUTPUTS}


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def scheduler() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""
    address = f"tcp://127.0.0.1:{free_port()}"
    started = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port",
                                 address.rsplit(":", 1)[1], "--no-dashboard"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)]
    started += [subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1",
                                  "--no-dashboard", "--no-nanny"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True) for _ in range(2)]
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, started[1:]
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):  # a test may have killed it
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_local_cluster_gives_the_local_bytes(corpus: Path, local: dict[str, bytes],
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Also with the LSH shuffle and the signature comparisons cut into many tasks, and
    the clustering's blocks into search, pairing and agglomeration tasks."""
    monkeypatch.setattr(shuffles, "KEYS_PER_TASK", 40)
    monkeypatch.setattr(shuffles, "PAIRS_PER_TASK", 3)
    report = run_job([str(corpus)], tmp_path / "out", load_config(
        overrides=["run.workers=2", "run.chunk_size=10", 'run.engine="dask"',
                   "cluster.search_task_rows=6"]))
    assert report["engine"] == {"name": "DaskEngine", "workers": 2}
    assert outputs(tmp_path / "out") == local


def test_incremental_runs_on_dask_give_the_local_bytes(tmp_path: Path) -> None:
    """Two days appended to an index: the same outputs and the same index files.

    Both Dask days run on one LocalCluster, as days would on a long-lived cluster (its
    workers keep their state from one run to the next); an engine starting its own
    LocalCluster is the test above."""
    records, _ = make_corpus(seed=17, per_language=6)
    days = []
    for day, part in enumerate((records[::2], records[1::2])):
        days.append(tmp_path / f"day{day}.jsonl")
        days[-1].write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in part))
    found = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        engines = {"local": ['run.engine="local"'],
                   "dask": ['run.engine="dask"', f'run.scheduler="{cluster.scheduler_address}"']}
        for engine, settings in engines.items():
            index = tmp_path / f"index-{engine}"
            for day, path in enumerate(days):
                run_job([str(path)], tmp_path / f"{engine}{day}", load_config(overrides=[
                    "run.workers=2", "run.chunk_size=10", *settings]), index=str(index))
            found[engine] = (outputs(tmp_path / f"{engine}1"), {
                str(path.relative_to(index)): path.read_bytes()
                for path in sorted(index.rglob("*")) if path.is_file() and path.name != LOCK})
    assert found["local"] == found["dask"]
    assert b'"continues":true' in found["local"][0]["clusters.jsonl"]


def test_real_scheduler_gives_the_local_bytes(
        corpus: Path, local: dict[str, bytes], tmp_path: Path,
        scheduler: tuple[str, list[subprocess.Popen[bytes]]]) -> None:
    address, _ = scheduler
    assert main(["run", str(corpus), "--out", str(tmp_path / "out"), "--engine", "dask",
                 "--scheduler", address, "--set", "run.chunk_size=10"]) == 0
    assert outputs(tmp_path / "out") == local


def test_a_worker_killed_mid_run_changes_nothing(
        corpus: Path, local: dict[str, bytes], tmp_path: Path,
        scheduler: tuple[str, list[subprocess.Popen[bytes]]]) -> None:
    address, workers = scheduler
    out = tmp_path / "out"

    def kill_one_worker_once_chunks_are_done() -> None:
        deadline = time.monotonic() + 120
        while not any(run_folder(out).glob("*.prepared")) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        os.killpg(workers[0].pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_one_worker_once_chunks_are_done)
    killer.start()
    assert main(["run", str(corpus), "--out", str(out), "--engine", "dask",
                 "--scheduler", address, "--set", "run.chunk_size=10"]) == 0
    killer.join()
    assert workers[0].poll() is not None  # it did die during the run
    assert outputs(out) == local


def test_unreachable_scheduler_is_a_user_error(corpus: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dask_engine, "CONNECT_SECONDS", 1)  # the wait, not the message
    assert main(["run", str(corpus), "--out", str(tmp_path / "out"), "--engine", "dask",
                 "--scheduler", f"tcp://127.0.0.1:{free_port()}",
                 "--set", "run.chunk_size=10"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def killed_on(task: int, doomed: int) -> int:
    """A task that kills its own worker process on task ``doomed``."""
    if task == doomed:
        os.kill(os.getpid(), signal.SIGKILL)
    return task


def test_a_task_whose_workers_keep_dying_is_one_message() -> None:
    """Dask gives up on a task after its workers died (here at once): the engine says so
    as the local one does, with --resume, not as a KilledWorker traceback."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        engine = DaskEngine(2)
        try:
            with pytest.raises(WorkerLost, match=r"Dask gave up.*--resume"):
                list(engine.map(killed_on, [(task, 2) for task in range(6)], "tasks"))
        finally:
            engine.close()
