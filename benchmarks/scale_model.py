"""What a Dask cluster would do with 100M articles, derived from per-stage costs measured here.

    python benchmarks/scale_model.py --size 1000000 --workers 16,64,256 --target 100000000

Runs the whole job on a synthetic dump (``benchmarks/corpus.py``) with an engine that runs
every task in this process, one at a time, and measures per pass:

* the tasks' seconds (what workers would spend), and the longest task;
* the main process's own seconds: the step's wall time less its tasks and less this
  harness's weighing (reading inputs, sorting ids, connected components, linking...);
* the pickled bytes of every task's arguments and result: what Dask sends between the
  client, the scheduler and the workers;
* the work directory's files after the analyse pass, which the later tasks read back
  from the shared file system (band keys, signatures, term vectors, rows).

It prints those per article, then a wall-time estimate for ``--target`` articles on each
worker count: per step, the tasks' seconds scaled linearly and spread over the workers
(never below the longest task), plus the main process's seconds scaled linearly; the
read and write passes overlap the two (the main process feeds or drains the workers),
the other steps add them.  Bytes that pass through the main process also cost
``--main-gbps`` of its network.  Linear scaling of the main process's parts is a lower
bound for its sorts (n log n) and assumes per-language blocks stay as large as measured
(``cluster.block_days`` keeps them so at scale).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import DumpShape, write_dump
from throughput import LEXICAL

from dedup.config import load_config
from dedup.engines.base import Pass
from dedup.io.outdir import WORK_DIR
from dedup.job.run import run_job

R = TypeVar("R")
HERE = Path(__file__).resolve().parent
# Engine passes whose step is not the part of their name before any ":".
STEP_OF_PASS = {"compare": "dedup"}
# Steps in which the main process feeds or drains the workers while they work.
PIPELINED = {"read", "write"}
# Work-directory files by what they hold, matched on the file name.
SPOOL_KINDS = {"records (read → analyse)": (".jsonl",),
               "line keys (boilerplate learning)": ("-lines-keys.npy", "-lines-rows.npy",
                                                    "-lines-groups.npy", "-lines-tokens.npy"),
               "band keys": ("-bands.npy", "-bands-rows.npy"),
               "signatures": ("-signatures.npy",),
               "term vectors": ("-indptr.npy", "-indices.npy", "-data.npy"),
               "anchors": ("-anchors.npz",),
               "rows (for the write pass)": (".rows",)}


@dataclass(slots=True)
class PassCost:
    """What one engine pass cost."""

    tasks: int = 0
    task_seconds: float = 0.0
    longest_task: float = 0.0
    sent_bytes: int = 0  # pickled task arguments
    returned_bytes: int = 0  # pickled task results
    weighing_seconds: float = 0.0  # this harness's pickling, not the job's


@dataclass(slots=True)
class MeasuringEngine:
    """Runs tasks in this process, one at a time, timing and weighing each one."""

    out_dir: Path
    passes: dict[str, PassCost] = field(default_factory=lambda: defaultdict(PassCost))
    spool_bytes: dict[str, int] = field(default_factory=dict)

    def map(self, func: Callable[..., R], tasks: Iterable[tuple[Any, ...]],
            desc: str | Pass) -> Iterator[R]:
        desc = desc.name if isinstance(desc, Pass) else desc
        if desc in ("analyse", "dedup"):  # the read pass's spool, then the analyse pass's
            for kind, size in spool_sizes(self.out_dir / WORK_DIR).items():
                self.spool_bytes[kind] = max(size, self.spool_bytes.get(kind, 0))
        cost = self.passes[desc]
        for task in tasks:
            tick = time.perf_counter()
            cost.sent_bytes += len(pickle.dumps(task, protocol=5))
            start = time.perf_counter()
            result = func(*task)
            done = time.perf_counter()
            cost.returned_bytes += len(pickle.dumps(result, protocol=5))
            cost.tasks += 1
            cost.task_seconds += done - start
            cost.longest_task = max(cost.longest_task, done - start)
            cost.weighing_seconds += (start - tick) + (time.perf_counter() - done)
            yield result


def spool_sizes(work: Path) -> dict[str, int]:
    """Bytes of the run's work folder's files, by kind."""
    sizes = dict.fromkeys(SPOOL_KINDS, 0)
    for path in work.glob("run-*/*"):
        for kind, suffixes in SPOOL_KINDS.items():
            if path.name.endswith(suffixes):
                sizes[kind] += path.stat().st_size
    return sizes


@dataclass(slots=True)
class StepCost:
    """One step's measured seconds, split between the main process and its tasks."""

    main_seconds: float
    task_seconds: float
    longest_task: float
    tasks: int


def step_of(name: str) -> str:
    """The report step an engine pass belongs to ("cluster: neighbours" -> "cluster")."""
    return STEP_OF_PASS.get(name, name.split(":")[0])


def step_costs(report: dict[str, Any], passes: dict[str, PassCost]) -> dict[str, StepCost]:
    """Per step, the main process's seconds (wall less tasks less weighing) and the tasks'."""
    costs = {}
    for step, wall in report["seconds"]["wall_by_step"].items():
        mine = [cost for name, cost in passes.items() if step_of(name) == step]
        tasks = sum(c.task_seconds for c in mine)
        costs[step] = StepCost(
            main_seconds=max(0.0, wall - tasks - sum(c.weighing_seconds for c in mine)),
            task_seconds=tasks, longest_task=max((c.longest_task for c in mine), default=0.0),
            tasks=sum(c.tasks for c in mine))
    return costs


def estimate_seconds(costs: dict[str, StepCost], measured: int, target: int, workers: int,
                     main_bytes_per_article: dict[str, float],
                     main_gbps: float) -> dict[str, float]:
    """Per step, the wall-time estimate for ``target`` articles on ``workers`` workers."""
    scale = target / measured
    estimate = {}
    for step, cost in costs.items():
        spread = max(cost.task_seconds * scale / workers, cost.longest_task)
        network = target * main_bytes_per_article.get(step, 0.0) / (main_gbps * 1e9 / 8)
        main = cost.main_seconds * scale + network
        estimate[step] = max(main, spread) if step in PIPELINED else main + spread
    return estimate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--workers", default="16,64,256")
    parser.add_argument("--target", type=int, default=100_000_000)
    parser.add_argument("--main-gbps", type=float, default=10.0,
                        help="network of the main process, Gbit/s")
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help=f"config override (after the pinned {LEXICAL})")
    args = parser.parse_args(argv)

    args.data.mkdir(parents=True, exist_ok=True)
    dump = args.data / f"dump-{args.size}-seed{args.seed}.jsonl"
    if not dump.exists():
        write_dump(dump, args.size, DumpShape(seed=args.seed))
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "out"
        engine = MeasuringEngine(out)
        # without report.html: a step of the main process alone whose work is bounded
        # (it samples), so it does not scale; throughput.py measures it
        report = run_job([str(dump)], out, load_config(
            overrides=[LEXICAL, "write.html=false", *args.overrides]), engine=engine)
    n = report["counts"]["in"]
    passes = dict(engine.passes)
    costs = step_costs(report, passes)
    input_bytes = dump.stat().st_size

    print(f"measured on {n:,} articles ({input_bytes / n:,.0f} input bytes each), "
          "one task at a time\n")
    print("| step | main process µs/article | tasks µs/article | tasks | longest task s |")
    print("|---|---|---|---|---|")
    for step, cost in costs.items():
        print(f"| {step} | {cost.main_seconds / n * 1e6:,.1f} | "
              f"{cost.task_seconds / n * 1e6:,.1f} | {cost.tasks:,} | {cost.longest_task:.2f} |")

    print("\n| pass | to tasks B/article | from tasks B/article |")
    print("|---|---|---|")
    for name, moved in passes.items():
        print(f"| {name} | {moved.sent_bytes / n:,.1f} | {moved.returned_bytes / n:,.1f} |")
    print("\n| spooled on the shared file system | B/article |")
    print("|---|---|")
    for kind, size in engine.spool_bytes.items():
        print(f"| {kind} | {size / n:,.1f} |")

    # What passes through the main process's network: the input it reads and sends
    # (read pass), and the article lines it gets back and writes (write pass).
    main_bytes = {"read": passes["read"].sent_bytes / n + input_bytes / n,
                  "write": passes["write"].returned_bytes / n}
    print(f"\nestimate for {args.target:,} articles (main process network "
          f"{args.main_gbps:g} Gbit/s):\n")
    workers = [int(w) for w in args.workers.split(",")]
    print("| workers | " + " | ".join(costs) + " | total | articles/s |")
    print("|---|" + "---|" * (len(costs) + 2))
    estimates = {}
    for count in workers:
        estimate = estimate_seconds(costs, n, args.target, count, main_bytes, args.main_gbps)
        total = sum(estimate.values())
        estimates[count] = estimate
        print(f"| {count} | " + " | ".join(f"{s / 60:,.1f} min" for s in estimate.values())
              + f" | {total / 3600:,.2f} h | {args.target / total:,.0f} |")
    if args.json:
        args.json.write_text(json.dumps({
            "measured_articles": n, "input_bytes": input_bytes,
            "steps": {step: asdict(cost) for step, cost in costs.items()},
            "passes": {name: asdict(moved) for name, moved in passes.items()},
            "spool_bytes": engine.spool_bytes,
            "estimates": {str(w): e for w, e in estimates.items()},
            "report": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
