"""Command line: ``dedup run INPUT... --out DIR [--config FILE] [--set k=v ...] [--resume]``.

User errors (bad paths, unknown config keys, bad values) end with one clear message and
exit code 2 before any work starts; a finished run prints a short summary on stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dedup import __version__
from dedup.config import ConfigError, load_config
from dedup.engine import EngineError
from dedup.pipeline import OutputError, run_job
from dedup.read import InputError

USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and for documentation)."""
    parser = argparse.ArgumentParser(prog="dedup", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dedup {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="clean, deduplicate and cluster article dumps")
    run.add_argument("inputs", nargs="+", metavar="INPUT",
                     help=".jsonl / .jsonl.gz files, or directories of .txt/.html/.jsonl files")
    run.add_argument("--out", required=True, type=Path, metavar="DIR",
                     help="output directory (created if missing)")
    run.add_argument("--config", type=Path, metavar="FILE",
                     help="TOML config; defaults as in configs/default.toml")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override one config value, e.g. --set dedup.threshold=0.8")
    run.add_argument("--workers", type=int, metavar="N",
                     help="worker processes (0 = one per core); same as --set run.workers=N")
    run.add_argument("--engine", choices=("local", "dask"),
                     help="where the per-chunk stages run (default local; dask needs "
                          "pip install 'dedup[dask]'); same as --set run.engine=...")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler to use, e.g. tcp://127.0.0.1:8786 (default: a "
                          "LocalCluster of --workers processes)")
    run.add_argument("--resume", action="store_true",
                     help="continue a run into DIR that was killed: chunks it finished are "
                          "not redone (same inputs and config; otherwise it starts over)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dedup`` console script."""
    args = build_parser().parse_args(argv)
    overrides = list(args.set)
    if args.workers is not None:
        overrides.append(f"run.workers={args.workers}")
    if args.engine is not None:
        overrides.append(f'run.engine="{args.engine}"')
    if args.scheduler is not None:
        overrides.append(f'run.scheduler="{args.scheduler}"')
    try:
        cfg = load_config(args.config, overrides)
        report = run_job(args.inputs, args.out, cfg, resume=args.resume)
    except (ConfigError, InputError, OutputError, EngineError) as err:
        print(f"dedup: error: {err}", file=sys.stderr)
        return USER_ERROR
    if args.resume and not report["resumed"]:
        print("dedup: nothing to resume in this output directory for these inputs and "
              "config: ran from the start", file=sys.stderr)
    print(summary(report, args.out))
    return 0


def summary(report: dict[str, Any], out_dir: Path) -> str:
    """A few lines a person reads after a run."""
    counts, seconds = report["counts"], report["seconds"]
    reasons = ", ".join(f"{k}: {v}" for k, v in counts["rejected_by_reason"].items())
    languages = ", ".join(f"{k} {v}" for k, v in
                          sorted(counts["languages"].items(), key=lambda kv: -kv[1])[:8])
    return "\n".join([
        f"read {counts['in']} records: {counts['out']} articles, "
        f"{counts['rejected']} rejected" + (f" ({reasons})" if reasons else ""),
        f"languages: {languages or '-'}",
        f"duplicates: {counts['duplicates']} in {counts['dup_groups_with_copies']} groups",
        f"clusters: {counts['clusters']} ({counts['clusters_with_several_articles']} with "
        f"several articles)",
        f"took {seconds['total']:.1f}s ({report['articles_per_second']} records/s); "
        f"output in {out_dir}/",
    ])


if __name__ == "__main__":
    sys.exit(main())
