"""Throughput of the whole job on synthetic dumps, against a naive baseline in the same run.

    python benchmarks/throughput.py --sizes 10000,100000,1000000 --workers 2

For each size it generates (or reuses) a dump with ``benchmarks/corpus.py``, runs
``dedup run`` on it in a subprocess and prints, per step, seconds, articles/s and MB/s,
plus the peak resident memory of the whole process tree (main process and workers,
sampled every 0.1 s).  In the same run it times a naive pipeline -- datasketch ``MinHash``
per article, langdetect on the full text, scikit-learn's ``TfidfVectorizer`` -- on a
subsample with the same number of worker processes, and prints the ratio.  Machines here
are noisy, so only ratios measured in one run are comparable across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil
from joblib import Parallel, delayed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import DumpShape, write_dump

HERE = Path(__file__).resolve().parent
STEPS = ("read", "analyse", "dedup", "cluster", "write")


@dataclass(slots=True)
class PeakMemory:
    """Peak summed RSS of a process and its children, sampled in a thread."""

    pid: int
    peak_bytes: int = 0
    running: bool = True

    def sample(self) -> None:
        while self.running:
            try:
                root = psutil.Process(self.pid)
                tree = [root, *root.children(recursive=True)]
                total = 0
                for process in tree:
                    try:
                        total += process.memory_info().rss
                    except psutil.Error:
                        continue
                self.peak_bytes = max(self.peak_bytes, total)
            except psutil.Error:
                return
            time.sleep(0.1)


def dump_path(data_dir: Path, n: int, seed: int) -> Path:
    """Where the dump of size n lives; generated on first use."""
    path = data_dir / f"dump-{n}-seed{seed}.jsonl"
    if not path.exists():
        started = time.perf_counter()
        write_dump(path, n, DumpShape(seed=seed))
        print(f"generated {path} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return path


def run_job(path: Path, workers: int, extra: list[str]) -> dict[str, Any]:
    """Run ``dedup run`` on one dump; returns its report plus wall time and peak RSS."""
    out = Path(tempfile.mkdtemp(prefix="dedup-bench-"))
    command = [sys.executable, "-m", "dedup.cli", "run", str(path), "--out", str(out),
               "--workers", str(workers), "--set", "run.progress=never", *extra]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    memory = PeakMemory(process.pid)
    sampler = threading.Thread(target=memory.sample, daemon=True)
    sampler.start()
    code = process.wait()
    wall = time.perf_counter() - started
    memory.running = False
    sampler.join()
    if code != 0:
        raise SystemExit(f"dedup run failed with exit code {code}: {' '.join(command)}")
    report = json.loads((out / "report.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    report["bench"] = {"wall": wall, "peak_rss_bytes": memory.peak_bytes}
    return report


def naive_chunk(texts: list[str]) -> list[Any]:
    """The naive per-article work: langdetect on the full text and a datasketch MinHash."""
    from datasketch import MinHash
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    signatures = []
    for text in texts:
        with contextlib.suppress(LangDetectException):
            detect(text)
        words = text.lower().split()
        minhash = MinHash(num_perm=128)
        for i in range(max(1, len(words) - 2)):
            minhash.update(" ".join(words[i : i + 3]).encode("utf-8"))
        signatures.append(minhash.hashvalues)
    return signatures


def naive_baseline(path: Path, n: int, workers: int) -> float:
    """Articles/s of the naive pipeline on the first n articles of a dump."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    with path.open("rb") as handle:
        records = [orjson.loads(line) for line in itertools.islice(handle, n)]
    texts = [f"{r.get('title', '')}\n{r.get('text') or r.get('html', '')}" for r in records]
    started = time.perf_counter()
    parts = [texts[i::workers] for i in range(workers)]
    Parallel(n_jobs=workers)(delayed(naive_chunk)(part) for part in parts)
    TfidfVectorizer().fit_transform(texts)
    return len(texts) / (time.perf_counter() - started)


def stage_rows(report: dict[str, Any], n: int, size_mb: float) -> list[str]:
    """Markdown rows: seconds, articles/s and MB/s per step and in total."""
    walls = report["seconds"]["wall_by_step"]
    rows = []
    for step in [*STEPS, "total"]:
        seconds = report["bench"]["wall"] if step == "total" else walls.get(step, 0.0)
        rate = n / seconds if seconds else float("inf")
        rows.append(f"| {n:,} | {step} | {seconds:.1f} | {rate:,.0f} | {size_mb / seconds:.1f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated dump sizes (articles)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=2000,
                        help="articles the naive baseline is timed on")
    parser.add_argument("--data", type=Path, default=HERE / "data",
                        help="where generated dumps are kept between runs")
    parser.add_argument("--seed", type=int, default=DumpShape().seed)
    parser.add_argument("--json", type=Path, help="also write all figures here")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="config override passed to dedup run")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    extra = list(itertools.chain.from_iterable(("--set", o) for o in args.overrides))

    paths = {n: dump_path(args.data, n, args.seed) for n in sizes}
    baseline = naive_baseline(paths[sizes[0]], args.baseline, args.workers)
    results: dict[str, Any] = {"baseline_articles_per_second": baseline, "runs": {},
                               "cpus": os.cpu_count(), "workers": args.workers}
    lines = ["| articles | step | seconds | articles/s | MB/s |", "|---|---|---|---|---|"]
    for n in sizes:
        report = run_job(paths[n], args.workers, extra)
        size_mb = paths[n].stat().st_size / 1e6
        lines.extend(stage_rows(report, n, size_mb))
        results["runs"][n] = {"wall": report["bench"]["wall"], "input_mb": size_mb,
                              "peak_rss_mb": report["bench"]["peak_rss_bytes"] / 1e6,
                              "seconds": report["seconds"], "counts": report["counts"]}
    print("\n".join(lines))
    print()
    print(f"naive baseline: {baseline:,.0f} articles/s on {args.baseline:,} articles, "
          f"{args.workers} workers")
    previous = None
    for n in sizes:
        run = results["runs"][n]
        rate = n / run["wall"]
        per_article = run["wall"] / n
        growth = f", cost per article x{per_article / previous:.2f} vs previous size" \
            if previous else ""
        print(f"{n:,} articles: {rate:,.0f} articles/s end to end, "
              f"x{rate / baseline:.1f} the baseline, peak RSS {run['peak_rss_mb']:,.0f} MB"
              f"{growth}")
        previous = per_article
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
