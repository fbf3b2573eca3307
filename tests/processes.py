"""Real ``dedup run`` processes for tests: started, watched, signalled, and their workers
checked."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from dedup.io.outdir import WORK_DIR

DEADLINE_SECONDS = 120
# How often a waiting test looks at the work folder.  Each look lists it: with 150 files
# there, looking every 2 ms took 15% of a core from the run waited on, every 10 ms 6%.
# The shortest state waited for, a run's write pass, lasts 0.7 s at 200 records.
POLL_SECONDS = 0.01


def start_run(inputs: Sequence[Path], out: Path, *args: str,
              stderr: Path | None = None) -> subprocess.Popen[bytes]:
    """``dedup run INPUTS --out OUT ARGS`` in a new session (its own process group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "dedup.cli", "run", *map(str, inputs), "--out", str(out), *args],
        start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=stderr.open("wb") if stderr else subprocess.DEVNULL)


def run_folder(out: Path) -> Path:
    """The work folder of the run in ``out`` (a path that does not exist before it has one)."""
    runs = sorted((out / WORK_DIR).glob("run-*"))
    return runs[0] if runs else out / WORK_DIR / "run-none"


def wait_until(process: subprocess.Popen[bytes], out: Path,
               ready: Callable[[Path], bool]) -> None:
    """Wait until ``ready(work folder)`` holds; fails if the run ends first."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not ready(run_folder(out)):
        assert process.poll() is None, "the run ended before the point it was waited for"
        assert time.monotonic() < deadline
        time.sleep(POLL_SECONDS)


def saved(suffix: str) -> Callable[[Path], bool]:
    """True once some chunk result with this suffix is in the work folder."""
    return lambda work: any(work.glob(f"*{suffix}"))


def descendants(pid: int) -> list[psutil.Process]:
    """Every process started by ``pid``, however deep."""
    return psutil.Process(pid).children(recursive=True)


def still_alive(processes: Sequence[psutil.Process], within: float) -> list[int]:
    """The pids of ``processes`` still running after ``within`` seconds at most."""
    _, alive = psutil.wait_procs(processes, timeout=within)
    return [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
