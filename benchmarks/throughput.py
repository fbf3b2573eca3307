"""Throughput of the whole job on synthetic dumps, against a naive baseline in the same run.

    python benchmarks/throughput.py --sizes 10000,100000,1000000 --workers 2

For each size it generates (or reuses) a dump with ``benchmarks/corpus.py``, runs
``dedup run`` on it in a subprocess and prints, per step, seconds, articles/s and MB/s,
plus the peak resident memory of the whole process tree (main process and workers,
sampled every 0.1 s), and how well the clusters and duplicate groups match the events
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
import os
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

HERE = Path(__file__).resolve().parent
STEPS = ("read", "learn", "analyse", "dedup", "cluster", "write")


@dataclass(slots=True)
class PeakMemory:
    """Peak summed RSS of a process and its children, sampled in a thread, with a timeline.

    The timeline (seconds since start, main process MB, largest child MB, all MB) shows
    which step and which process make the peak: compare it with the report's step times.
    """

    pid: int
    peak_bytes: int = 0
    running: bool = True
    timeline: list[tuple[float, int, int, int]] = field(default_factory=list)

    def sample(self) -> None:
        started = time.perf_counter()
        while self.running:
            try:
                root = psutil.Process(self.pid)
                main = root.memory_info().rss
                children = []
                for child in root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        children.append(child.memory_info().rss)
            except psutil.Error:
                return
            total = main + sum(children)
            self.peak_bytes = max(self.peak_bytes, total)
            self.timeline.append((round(time.perf_counter() - started, 1), main >> 20,
                                  max(children, default=0) >> 20, total >> 20))
            time.sleep(0.1)


def dump_path(data_dir: Path, n: int, seed: int) -> Path:
    """Where the dump of size n lives; generated on first use."""
    path = data_dir / f"dump-{n}-seed{seed}.jsonl"
    if not path.exists():
        started = time.perf_counter()
        write_dump(path, n, DumpShape(seed=seed))
        print(f"generated {path} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return path


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
            seed: int) -> dict[str, Any]:
    """Run ``dedup run`` on one dump; returns its report plus wall time, peak RSS, quality."""
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
                       "quality": quality(out / "articles.jsonl", n, seed)}
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
    """Markdown rows: seconds, articles/s and MB/s per step and in total."""
    walls = report["seconds"]["wall_by_step"]
    rows = []
    for step in [*STEPS, "total"]:
        seconds = report["bench"]["wall"] if step == "total" else walls.get(step, 0.0)
        rate = n / seconds if seconds else float("inf")
        rows.append(f"| {n:,} | {step} | {seconds:.1f} | {rate:,.0f} | {size_mb / seconds:.1f} |")
    return rows


# Targets of the HTML report at any size: what a browser opens at once, and a small
# share of the run.
HTML_MAX_MB = 10
HTML_MAX_SHARE = 0.02

# Pinned so that the figures do not depend on whether the semantic extra happens to be
# installed: the encoder costs about 20 times the rest of the job per article.
LEXICAL = 'embed.model="off"'


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
                        help="config override passed to dedup run (after the pinned "
                             f"{LEXICAL}; --set embed.model=\"auto\" measures the semantic "
                             "mode)")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    extra = list(itertools.chain.from_iterable(("--set", o) for o in [LEXICAL,
                                                                      *args.overrides]))

    paths = {n: dump_path(args.data, n, args.seed) for n in sizes}
    baseline = naive_baseline(paths[sizes[0]], args.baseline, args.workers)
    results: dict[str, Any] = {"baseline_articles_per_second": baseline, "runs": {},
                               "cpus": os.cpu_count(), "workers": args.workers}
    lines = ["| articles | step | seconds | articles/s | MB/s |", "|---|---|---|---|---|"]
    for n in sizes:
        report = run_job(paths[n], args.workers, extra, n, args.seed)
        size_mb = paths[n].stat().st_size / 1e6
        lines.extend(stage_rows(report, n, size_mb))
        results["runs"][n] = {"wall": report["bench"]["wall"], "input_mb": size_mb,
                              "peak_rss_mb": report["bench"]["peak_rss_bytes"] / 1e6,
                              "seconds": report["seconds"], "counts": report["counts"],
                              "quality": report["bench"]["quality"],
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
        print(f"{n:,} articles: {rate:,.0f} articles/s end to end, "
              f"x{rate / baseline:.1f} the baseline, peak RSS {run['peak_rss_mb']:,.0f} MB"
              f"{growth}; BCubed F1 clusters {run['quality']['clusters']['f1']}, "
              f"duplicate groups {run['quality']['dup_groups']['f1']}")
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
