"""Cost of incremental runs: a dated dump cut into consecutive days, each day run with
one index (``dedup run DAY --index INDEX``), against the last day run on its own.

    python benchmarks/incremental.py --dump DUMP --days 10 --workers 2

``DUMP`` is a JSON-lines dump whose records have ``published`` (``make_dirty.py ...
--dump N`` of the evaluation kit builds one: dates over four weeks).  Its records are
ordered by date and cut into ``--days`` parts of equal size.  Per day it prints the wall
time, the peak memory of the process tree, what the run found in the index (copies of
earlier articles, events and stories continued) and the index's size after it; then the
last day run without an index, timed in the same session, and the ratio of the two.
The lexical job, as ``throughput.py`` pins it.

This machine's speed drifts by half over minutes, so one ratio of two runs minutes apart
can say 1.3x or 2.0x of the same code.  ``--pairs N`` times the last day N times more,
each time with a copy of the index as it was before that day and then alone, back to
back, and prints each pair's ratio and their median.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import LEXICAL, commit, run_job


def split_by_date(dump: Path, days: int, folder: Path) -> list[Path]:
    """The dump's records in date order (then input order), cut into ``days`` files of
    equal size; undated records go last."""
    keys = []
    with dump.open("rb") as handle:
        offset = 0
        for number, line in enumerate(handle):
            published = orjson.loads(line).get("published") or "~"
            keys.append((published, number, offset, len(line)))
            offset += len(line)
    keys.sort()
    parts = []
    with dump.open("rb") as handle:
        for day in range(days):
            part = folder / f"day-{day + 1:02d}.jsonl"
            with part.open("wb") as out:
                for _, _, start, size in keys[day * len(keys) // days:
                                              (day + 1) * len(keys) // days]:
                    handle.seek(start)
                    out.write(handle.read(size))
            parts.append(part)
    return parts


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def last_day_pair(part: Path, scratch: Path, workers: int, extra: list[str],
                  pair: int) -> float:
    """The last day run with a copy of the index before it, then alone; prints and
    returns the ratio of the two walls."""
    index = scratch / "index-pair"
    shutil.rmtree(index, ignore_errors=True)
    shutil.copytree(scratch / "index-before-last-day", index)
    with_index = run_job(part, workers, ["--index", str(index), *extra], 0, None)
    alone = run_job(part, workers, extra, 0, None)
    ratio = with_index["bench"]["wall"] / alone["bench"]["wall"]
    print(f"pair {pair}: with the index {with_index['bench']['wall']:.1f} s, alone "
          f"{alone['bench']['wall']:.1f} s = x{ratio:.2f}", flush=True)
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path, required=True)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help=f"config override passed to dedup run (after the pinned {LEXICAL})")
    parser.add_argument("--pairs", type=int, default=0,
                        help="time the last day this many more times, with the index and "
                             "alone back to back")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    extra = [item for value in (LEXICAL, *args.set) for item in ("--set", value)]
    scratch = Path(tempfile.mkdtemp(prefix="dedup-incremental-"))
    try:
        started = time.perf_counter()
        parts = split_by_date(args.dump, args.days, scratch)
        print(f"split {args.dump} into {args.days} days in {time.perf_counter() - started:.0f} s",
              flush=True)
        index = scratch / "index"
        rows: list[dict[str, Any]] = []
        print(f"{'day':>4} {'articles':>9} {'wall s':>7} {'art/s':>7} {'peak MB':>8} "
              f"{'copies':>7} {'fed':>7} {'fed in':>7} {'ev cont':>7} {'st cont':>7} "
              f"{'index MB':>9} {'B/article':>9}")
        for day, part in enumerate(parts, 1):
            if day == len(parts) and args.pairs:
                shutil.copytree(index, scratch / "index-before-last-day")
            report = run_job(part, args.workers, ["--index", str(index), *extra], 0, None)
            found = report["index"]
            size = folder_bytes(index)
            articles = report["counts"]["out"]
            rows.append({"day": day, "articles": articles, "wall": report["bench"]["wall"],
                         "peak_rss_bytes": report["bench"]["peak_rss_bytes"],
                         "wall_by_step": report["seconds"]["wall_by_step"],
                         "index": found, "index_bytes": size})
            total = sum(row["articles"] for row in rows)
            print(f"{day:>4} {articles:>9,} {rows[-1]['wall']:>7.1f} "
                  f"{articles / rows[-1]['wall']:>7.0f} "
                  f"{rows[-1]['peak_rss_bytes'] >> 20:>8,} {found['copies_of_earlier']:>7,} "
                  f"{found['articles_fed']:>7,} {found['fed_in_events']:>7,} "
                  f"{found['events_continued']:>7,} {found['stories_continued']:>7,} "
                  f"{size / 2**20:>9.1f} {size / total:>9.0f}", flush=True)
        alone = run_job(parts[-1], args.workers, extra, 0, None)
        ratio = rows[-1]["wall"] / alone["bench"]["wall"]
        print(f"day {args.days} alone: {alone['bench']['wall']:.1f} s, peak "
              f"{alone['bench']['peak_rss_bytes'] >> 20:,} MB; with the index: "
              f"{rows[-1]['wall']:.1f} s = x{ratio:.2f}")
        steps = {**alone["seconds"]["wall_by_step"], **rows[-1]["wall_by_step"]}  # + index
        print("per step, with the index / alone (s): " + ", ".join(
            f"{step} {rows[-1]['wall_by_step'].get(step, 0):.1f}/"
            f"{alone['seconds']['wall_by_step'].get(step, 0):.1f}" for step in steps))
        pairs = [last_day_pair(parts[-1], scratch, args.workers, extra, pair)
                 for pair in range(1, args.pairs + 1)]
        if pairs:
            print(f"day {args.days} in pairs, median x{statistics.median(pairs):.2f}")
        if args.json:
            args.json.write_text(json.dumps({
                "commit": commit(), "dump": str(args.dump), "days": rows,
                "alone": {"wall": alone["bench"]["wall"],
                          "peak_rss_bytes": alone["bench"]["peak_rss_bytes"],
                          "wall_by_step": alone["seconds"]["wall_by_step"]},
                "ratio_last_day": ratio, "ratios_in_pairs": pairs}, indent=2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
