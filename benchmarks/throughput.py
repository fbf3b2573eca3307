"""Throughput of the whole job on synthetic or realistic dumps, against a naive baseline
timed in the same run.

    python benchmarks/throughput.py --sizes 10000,100000,1000000 --workers 2
    python benchmarks/throughput.py --corpus realistic --dump DUMP --sizes 100000,1000000

For each size it generates (or reuses) a dump with ``benchmarks/corpus.py``, or with
``--corpus realistic`` takes the first N lines of ``--dump`` (a dump of real article
text, such as ``make_dirty.py --dump N`` of the evaluation kit builds: real sentences,
syndicated copies, site furniture; no planted truth, so no quality figures), runs
``dedup run`` on it in a subprocess and prints, per step, seconds, articles/s and MB/s,
plus the peak resident memory of the whole process tree (main process and workers,
sampled every 0.1 s), the CPU seconds of each step and how busy the cores were in it
(busy core-seconds / (step wall x cores), from the tree's CPU times sampled with the
memory; a step's start is taken as the run's start-up plus the steps before it), and
how well the clusters and duplicate groups match the events
and copies the generator planted (BCubed F1), so a faster run that got worse shows.
In the same run it times a naive pipeline -- datasketch ``MinHash`` per article,
langdetect on the full text, scikit-learn's ``TfidfVectorizer`` -- on a subsample with
the same number of worker processes, and prints the ratio.  Machines here are noisy, so
only ratios measured in one run are comparable across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psutil
from joblib import Parallel, delayed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import DumpShape, make_plan, write_dump

from dedup.engines.base import resolve_workers

HERE = Path(__file__).resolve().parent
STEPS = ("read", "learn", "analyse", "dedup", "embed", "cluster", "write")


@dataclass(slots=True)
class PeakMemory:
    """Peak summed RSS of a process and its children, sampled in a thread, with a timeline.

    The timeline (seconds since start, main process MB, largest child MB, all MB) shows
    which step and which process make the peak: compare it with the report's step times.
    """

    pid: int
    peak_bytes: int = 0
    running: bool = True
    # seconds, main MB, largest child MB, all MB, CPU seconds of the tree so far
    timeline: list[tuple[float, int, int, int, float]] = field(default_factory=list)
    cpu_by_pid: dict[int, float] = field(default_factory=dict)

    def sample(self) -> None:
        started = time.perf_counter()
        while self.running:
            try:
                root = psutil.Process(self.pid)
                main = root.memory_info().rss
                cpu = {self.pid: sum(root.cpu_times()[:2])}
                children = []
                for child in root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        children.append(child.memory_info().rss)
                        cpu[child.pid] = sum(child.cpu_times()[:2])
            except psutil.Error:
                return
            # a worker that exited keeps the CPU it had used at its last sample
            self.cpu_by_pid.update(cpu)
            total = main + sum(children)
            self.peak_bytes = max(self.peak_bytes, total)
            self.timeline.append((round(time.perf_counter() - started, 1), main >> 20,
                                  max(children, default=0) >> 20, total >> 20,
                                  round(sum(self.cpu_by_pid.values()), 2)))
            time.sleep(0.1)


def dump_path(data_dir: Path, n: int, seed: int) -> Path:
    """Where the synthetic dump of size n lives; generated on first use."""
    path = data_dir / f"dump-{n}-seed{seed}.jsonl"
    if not path.exists():
        started = time.perf_counter()
        write_dump(path, n, DumpShape(seed=seed))
        print(f"generated {path} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return path


def prefix_path(data_dir: Path, n: int, source: Path) -> Path:
    """The first n lines of a realistic dump, cut on first use (the whole file if it has
    exactly n lines); fewer lines than n is a mistake, said before any run.  Written
    under another name and renamed, as the synthetic dumps are, so that an interrupted
    cut is never taken for a prefix."""
    path = data_dir / f"{source.stem}-first-{n}.jsonl"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    with source.open("rb") as lines, partial.open("wb") as out:
        written = sum(out.write(line) > 0 for line in itertools.islice(lines, n))
    if written < n:
        partial.unlink()
        raise SystemExit(f"{source} has fewer than {n:,} lines")
    partial.replace(path)
    return path


def step_cpu(report: dict[str, Any], timeline: list[tuple[float, int, int, int, float]],
             wall: float, cores: int) -> dict[str, dict[str, float]]:
    """Per step, the CPU seconds of the process tree and how busy the cores were.

    Steps run one after another; the report gives their lengths, so a step starts after
    the start-up (what the run took beyond its steps) and the steps before it.
    """
    walls = report["seconds"]["wall_by_step"]
    times = np.array([sample[0] for sample in timeline] or [0.0])
    cpu = np.array([sample[4] for sample in timeline] or [0.0])
    start = max(0.0, wall - sum(walls.values()))
    found = {}
    for step in STEPS:
        seconds = walls.get(step, 0.0)
        begin, end = np.interp([start, start + seconds], times, cpu)
        found[step] = {"cpu": round(float(end - begin), 1),
                       "busy": round(float(end - begin) / (seconds * cores), 3) if seconds else 0.0}
        start += seconds
    found["total"] = {"cpu": round(float(cpu[-1]), 1),
                      "busy": round(float(cpu[-1]) / (wall * cores), 3) if wall else 0.0}
    return found


def bcubed(found: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """BCubed precision, recall and F1 of a partition against the truth (int labels >= 0)."""
    width = int(truth.max()) + 1
    cells, together = np.unique(found * width + truth, return_counts=True)
    precision = float((together**2 / np.bincount(found)[cells // width]).sum() / found.size)
    recall = float((together**2 / np.bincount(truth)[cells % width]).sum() / found.size)
    return {"precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(2 * precision * recall / (precision + recall), 4)}


def quality(articles: Path, n: int, seed: int) -> dict[str, dict[str, float]]:
    """Clusters against the planted events, duplicate groups against the planted copies."""
    plan = make_plan(n, DumpShape(seed=seed))
    index, cluster, group = [], [], []
    labels: dict[str, int] = {}
    with articles.open("rb") as handle:
        for line in handle:
            article = orjson.loads(line)
            index.append(int(article["id"][1:]))
            cluster.append(labels.setdefault(article["cluster_id"], len(labels)))
            group.append(labels.setdefault(article["dup_group"], len(labels)))
    rows = np.array(index)
    original = np.where(plan.copy_of[rows] >= 0, plan.copy_of[rows], rows)
    return {"clusters": bcubed(np.array(cluster), plan.event[rows]),
            "dup_groups": bcubed(np.array(group), original)}


def run_job(path: Path, workers: int, extra: list[str], n: int,
            seed: int | None) -> dict[str, Any]:
    """Run ``dedup run`` on one dump; returns its report plus wall time, peak RSS, CPU per
    step and (for a synthetic dump of ``seed``) quality."""
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
    html = out / "report.html"
    report["bench"] = {"wall": wall, "peak_rss_bytes": memory.peak_bytes,
                       "html_bytes": html.stat().st_size if html.exists() else 0,
                       "memory_timeline": memory.timeline,
                       "steps": step_cpu(report, memory.timeline, wall, resolve_workers(0)),
                       "quality": None if seed is None else quality(out / "articles.jsonl", n,
                                                                    seed)}
    shutil.rmtree(out, ignore_errors=True)
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
    """Markdown rows: seconds, articles/s, MB/s, CPU seconds and core use per step and in
    total."""
    walls = report["seconds"]["wall_by_step"]
    rows = []
    for step in [*(step for step in STEPS if step in walls), "total"]:  # embed: semantic
        seconds = report["bench"]["wall"] if step == "total" else walls[step]
        rate = n / seconds if seconds else float("inf")
        use = report["bench"]["steps"][step]
        rows.append(f"| {n:,} | {step} | {seconds:.1f} | {rate:,.0f} | "
                    f"{size_mb / seconds if seconds else 0:.1f} | {use['cpu']:.1f} | "
                    f"{use['busy']:.0%} |")
    return rows


# Targets of the HTML report at any size: what a browser opens at once, and a small
# share of the run.
HTML_MAX_MB = 10
HTML_MAX_SHARE = 0.02

# Pinned so that the figures do not depend on whether the semantic extra happens to be
# installed: the encoder costs about 20 times the rest of the job per article.
LEXICAL = 'embed.model="off"'


def commit() -> str:
    """The checked-out commit of the job measured (with "+" when the tree has changes)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return head + ("+" if git("status", "--porcelain", "--untracked-files=no").strip() else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated dump sizes (articles)")
    parser.add_argument("--corpus", choices=("synthetic", "realistic"), default="synthetic",
                        help="generated dumps, or prefixes of --dump")
    parser.add_argument("--dump", type=Path,
                        help="the realistic dump (JSON lines) whose first N lines are run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=2000,
                        help="articles the naive baseline is timed on")
    parser.add_argument("--data", type=Path, default=HERE / "data",
                        help="where generated dumps are kept between runs")
    parser.add_argument("--seed", type=int, default=DumpShape().seed)
    parser.add_argument("--json", type=Path, help="also write all figures here")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="config override passed to dedup run (after the pinned "
                             f"{LEXICAL}; --set embed.model=\"auto\" measures the semantic "
                             "mode)")
    args = parser.parse_args(argv)
    if (args.corpus == "realistic") != (args.dump is not None):
        parser.error("--dump FILE goes with --corpus realistic, and only with it")
    sizes = [int(size) for size in args.sizes.split(",")]
    extra = list(itertools.chain.from_iterable(("--set", o) for o in [LEXICAL,
                                                                      *args.overrides]))

    args.data.mkdir(parents=True, exist_ok=True)
    seed = args.seed if args.corpus == "synthetic" else None
    paths = {n: dump_path(args.data, n, args.seed) if seed is not None
             else prefix_path(args.data, n, args.dump) for n in sizes}
    baseline = naive_baseline(paths[sizes[0]], args.baseline, args.workers)
    results: dict[str, Any] = {"baseline_articles_per_second": baseline, "runs": {},
                               "cpus": resolve_workers(0), "workers": args.workers,
                               "corpus": args.corpus, "commit": commit()}
    lines = [f"{args.corpus} corpus, commit {results['commit']}, {resolve_workers(0)} cores", "",
             "| articles | step | seconds | articles/s | MB/s | CPU s | cores busy |",
             "|---|---|---|---|---|---|---|"]
    for n in sizes:
        report = run_job(paths[n], args.workers, extra, n, seed)
        size_mb = paths[n].stat().st_size / 1e6
        lines.extend(stage_rows(report, n, size_mb))
        results["runs"][n] = {"wall": report["bench"]["wall"], "input_mb": size_mb,
                              "peak_rss_mb": report["bench"]["peak_rss_bytes"] / 1e6,
                              "seconds": report["seconds"], "counts": report["counts"],
                              "quality": report["bench"]["quality"],
                              "steps": report["bench"]["steps"],
                              "html_mb": report["bench"]["html_bytes"] / 1e6,
                              "memory_timeline_mb": report["bench"]["memory_timeline"]}
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
        scores = "" if run["quality"] is None else (
            f"; BCubed F1 clusters {run['quality']['clusters']['f1']}, "
            f"duplicate groups {run['quality']['dup_groups']['f1']}")
        print(f"{n:,} articles: {rate:,.0f} articles/s end to end, "
              f"x{rate / baseline:.1f} the baseline, peak RSS {run['peak_rss_mb']:,.0f} MB"
              f"{growth}{scores}")
        previous = per_article
        html_seconds = run["seconds"]["wall_by_step"].get("html", 0.0)
        print(f"  report.html: {run['html_mb']:.2f} MB (target <= {HTML_MAX_MB} MB), written "
              f"in {html_seconds:.2f} s, {html_seconds / run['wall']:.2%} of the run "
              f"(target <= {HTML_MAX_SHARE:.0%})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
