"""Memory and time of the whole job on hostile inputs: files small on disk that are huge,
or that hold millions of nothing, once read.

    python benchmarks/hostile_inputs.py [--cases gz-line,parquet-cell,...] [--workers 2]

Each case is generated in a temporary folder (``--keep`` keeps it and the outputs), then
``python -m dedup.cli run FILE --out OUTDIR --workers N`` runs on it in a subprocess
while a thread samples the resident memory of the whole process tree (the main process
and every worker) every 50 ms.  The table gives the exit code, the peak RSS, the wall
seconds and the counts of OUTDIR/report.json (records in, out, rejected by reason), and
each case is checked against its targets (``EXPECTED``): the script exits 1 when one is
missed, so it serves as the check of the memory bounds that a timed test cannot be.

Cases (sizes after reading; on disk they are small or sparse):

- ``baseline``: three normal records, what a run costs whatever its input (imports,
  worker processes);
- ``gz-line``: a .jsonl.gz of about 1 MB that inflates to one 1 GiB line, between a few
  normal records (the line must be rejected ``line_too_long`` while streaming);
- ``parquet-cell``: a Parquet file of a few KB with one 512 MiB cell among normal rows;
- ``sparse-txt``: a 512 MiB .txt that is all a hole but its first line;
- ``gz-empty-objects``: a .jsonl.gz of about 12 KB holding 4 million ``{}`` lines (4M
  rejects ``empty``);
- ``blank-lines``: 20 million blank lines and one record.

Needs the ``bench`` and ``parquet`` extras (psutil, pyarrow).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

MiB = 1024 * 1024
SAMPLE_SECONDS = 0.05
NORMAL = [{"id": f"n{i}", "title": f"Harbour story {i}",
           "text": f"The harbour of town {i} reopened on Monday after repairs to the quay."}
          for i in range(3)]


def jsonl_line(record: dict[str, Any]) -> bytes:
    """One JSONL line."""
    return json.dumps(record).encode() + b"\n"


def gz_line(folder: Path) -> Path:
    """A gzip that inflates to one 1 GiB line between normal records."""
    path = folder / "bomb.jsonl.gz"
    block = b"x" * MiB
    with gzip.open(path, "wb", compresslevel=9) as handle:
        handle.write(jsonl_line(NORMAL[0]))
        handle.write(b'{"id": "bomb", "text": "')
        for _ in range(1024):
            handle.write(block)
        handle.write(b'"}\n')
        handle.writelines(jsonl_line(r) for r in NORMAL[1:])
    return path


def parquet_cell(folder: Path) -> Path:
    """A small Parquet file (zstd) whose second row holds a 512 MiB text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "cell.parquet"
    texts = [NORMAL[0]["text"], "x" * (512 * MiB), *(r["text"] for r in NORMAL[1:])]
    table = pa.table({"id": ["n0", "big", "n1", "n2"], "title": ["A", "B", "C", "D"],
                      "text": texts})
    pq.write_table(table, path, compression="zstd")
    return path


def sparse_txt(folder: Path) -> Path:
    """A 512 MiB .txt that takes no disk: a title line, then a hole."""
    path = folder / "sparse.txt"
    with path.open("wb") as handle:
        handle.write(b"A title\nA first line of text.\n")
        handle.truncate(512 * MiB)
    return path


def gz_empty_objects(folder: Path) -> Path:
    """4 million ``{}`` lines in a gzip of about 12 KB."""
    path = folder / "empty-objects.jsonl.gz"
    block = b"{}\n" * 100_000
    with gzip.open(path, "wb", compresslevel=9) as handle:
        for _ in range(40):
            handle.write(block)
    return path


def blank_lines(folder: Path) -> Path:
    """20 million blank lines, then one record."""
    path = folder / "blank.jsonl"
    with path.open("wb") as handle:
        for _ in range(20):
            handle.write(b"\n" * 1_000_000)
        handle.write(jsonl_line(NORMAL[0]))
    return path


def baseline(folder: Path) -> Path:
    """Three normal records: what the job costs on any input, to compare with."""
    path = folder / "normal.jsonl"
    path.write_bytes(b"".join(map(jsonl_line, NORMAL)))
    return path


CASES: dict[str, Callable[[Path], Path]] = {
    "baseline": baseline,
    "gz-line": gz_line,
    "parquet-cell": parquet_cell,
    "sparse-txt": sparse_txt,
    "gz-empty-objects": gz_empty_objects,
    "blank-lines": blank_lines,
}


@dataclass(frozen=True, slots=True)
class Expected:
    """What a case must give: the rejects by reason, and bounds on peak memory and time."""

    rejected: dict[str, int]
    max_peak_mb: float
    max_seconds: float


# The targets.  A Parquet cell is the exception to "never held whole": pyarrow decodes the
# whole page that holds it (about three copies of the cell), so its bound follows the
# cell (512 MiB) rather than the 1 GB the streamed inputs keep to.
EXPECTED = {
    "baseline": Expected({}, 1024, 60),
    "gz-line": Expected({"line_too_long": 1}, 1024, 120),
    "parquet-cell": Expected({"line_too_long": 1}, 1024 + 3 * 512, 120),
    "sparse-txt": Expected({"file_too_large": 1}, 1024, 60),
    "gz-empty-objects": Expected({"empty": 4_000_000}, 1024, 300),
    "blank-lines": Expected({}, 1024, 60),
}


@dataclass(slots=True)
class PeakMemory:
    """Peak summed RSS of a process and all its descendants, sampled in a thread."""

    pid: int
    peak_bytes: int = 0
    running: bool = True

    def sample(self) -> None:
        """Sample until stopped or the process is gone."""
        while self.running:
            try:
                root = psutil.Process(self.pid)
                total = root.memory_info().rss
                for child in root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        total += child.memory_info().rss
            except psutil.Error:
                return
            self.peak_bytes = max(self.peak_bytes, total)
            time.sleep(SAMPLE_SECONDS)


@dataclass(slots=True)
class Outcome:
    """What one run of the job on one case gave."""

    case: str
    file_bytes: int
    exit_code: int
    peak_mb: float
    seconds: float
    counts: dict[str, Any]
    error: str


def run_case(name: str, folder: Path, workers: int, timeout: float) -> Outcome:
    """Generate one case and run the job on it, measuring memory and time."""
    started = time.perf_counter()
    path = CASES[name](folder)
    print(f"{name}: generated {path.name} ({path.stat().st_size:,} bytes on disk) in "
          f"{time.perf_counter() - started:.1f}s", file=sys.stderr)
    out = folder / "out"
    command = [sys.executable, "-m", "dedup.cli", "run", str(path), "--out", str(out),
               "--workers", str(workers), "--set", "run.progress=never"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    memory = PeakMemory(process.pid)
    sampler = threading.Thread(target=memory.sample, daemon=True)
    sampler.start()
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_tree(process)
        _, stderr = process.communicate()
        stderr = f"timed out after {timeout:.0f}s; {stderr}"
    seconds = time.perf_counter() - started
    memory.running = False
    sampler.join()
    report = out / "report.json"
    counts = json.loads(report.read_text())["counts"] if report.exists() else {}
    return Outcome(case=name, file_bytes=path.stat().st_size, exit_code=process.returncode,
                   peak_mb=memory.peak_bytes / MiB, seconds=seconds, counts=counts,
                   error=stderr.strip().splitlines()[-1] if stderr.strip() else "")


def stop_tree(process: subprocess.Popen[str]) -> None:
    """Kill a run that overran, its workers first (only the processes this script started)."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
    process.kill()


def summary(counts: dict[str, Any]) -> str:
    """in / out / rejects by reason, from a report's counts."""
    if not counts:
        return "no report"
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in
                        counts.get("rejected_by_reason", {}).items())
    return f"in {counts['in']:,}, out {counts['out']:,}, rejected {counts['rejected']:,}" + \
        (f" ({reasons})" if reasons else "")


def problems(outcome: Outcome) -> list[str]:
    """How an outcome misses its case's targets (none when it meets them)."""
    expected = EXPECTED[outcome.case]
    found = []
    if outcome.exit_code:
        found.append(f"exit code {outcome.exit_code}: {outcome.error}")
    if outcome.counts.get("rejected_by_reason") != expected.rejected:
        found.append(f"rejects {outcome.counts.get('rejected_by_reason')}, "
                     f"expected {expected.rejected}")
    if outcome.peak_mb > expected.max_peak_mb:
        found.append(f"peak RSS {outcome.peak_mb:.0f} MB over {expected.max_peak_mb:.0f} MB")
    if outcome.seconds > expected.max_seconds:
        found.append(f"{outcome.seconds:.0f} s over {expected.max_seconds:.0f} s")
    return found


def print_table(outcomes: list[Outcome]) -> None:
    """One row per case, with what missed its target."""
    print(f"{'case':<18} {'on disk':>12} {'exit':>4} {'peak RSS MB':>11} {'seconds':>8}  counts")
    for o in outcomes:
        print(f"{o.case:<18} {o.file_bytes:>12,} {o.exit_code:>4} {o.peak_mb:>11.0f} "
              f"{o.seconds:>8.1f}  {summary(o.counts)}")
        for problem in problems(o):
            print(f"{'':<18} MISSED: {problem}")


def main(argv: list[str] | None = None) -> int:
    """Run the selected cases and print the table; exit 1 if any missed its target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, from: {', '.join(CASES)}")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--keep", action="store_true", help="keep the inputs and outputs")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"unknown cases: {', '.join(unknown)}")
    folder = Path(tempfile.mkdtemp(prefix="dedup-hostile-"))
    outcomes: list[Outcome] = []
    try:
        for name in names:
            case_folder = folder / name
            case_folder.mkdir()
            outcomes.append(run_case(name, case_folder, args.workers, args.timeout))
            if not args.keep:  # free the disk before the next case
                shutil.rmtree(case_folder)
        print_table(outcomes)
    finally:
        if args.keep:
            print(f"inputs and outputs kept in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 1 if any(problems(o) for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
