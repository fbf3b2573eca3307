"""Command line: ``dedup run INPUT... --out DIR [--config FILE] [--set k=v ...] [--resume]``,
``dedup show DIR [ID]``, ``dedup config [--config FILE] [--set k=v ...]`` and
``dedup index stats|compact INDEX`` (incremental runs: ``dedup run ... --index INDEX``).

User errors (bad paths, unknown config keys, bad values, an output folder that is not
dedup's) end with one clear message and exit code 2 before any work starts.  A full disk
ends with one message naming the file (exit 1), SIGINT and SIGTERM with a clean stop
(exit 130 and 143); in both cases the finished chunks are kept for ``--resume``.  A
finished run prints a short summary on stdout, after its warnings on stderr; one that
produced no article exits 1 (its outputs are kept: the rejects say why).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from dedup import __version__
from dedup.config import DEFAULT_CONFIG_FILE, ConfigError, commented_toml, load_config
from dedup.display import languages_text, mode_line
from dedup.engines import EngineError
from dedup.engines.base import WorkerLost, show_progress
from dedup.io.discover import InputError
from dedup.io.index import IndexStoreError
from dedup.io.outdir import OutputError, output_folder
from dedup.io.presets import PRESETS
from dedup.job.index_commands import compact_index, index_stats
from dedup.job.run import run_job
from dedup.show import ShowError, show
from dedup.stages.embed import TableError

USER_ERROR = 2
FAILED = 1
# Errors of the storage rather than of the job: said in one line, not a traceback.
STORAGE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)
# ... and what a folder's permissions say once the run has started (an index or --out
# made read-only meanwhile: both are checked before any work).
PERMISSION_ERRORS = (errno.EACCES, errno.EPERM)


class Stopped(BaseException):
    """A signal asked the run to stop (a BaseException, so no ``except Exception`` on
    the way swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and for documentation)."""
    parser = argparse.ArgumentParser(
        prog="dedup", description="Clean, language-tag, deduplicate and cluster multilingual "
                                  "news dumps into events and stories.")
    parser.add_argument("--version", action="version", version=f"dedup {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="clean, deduplicate and cluster article dumps")
    run.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="files (.jsonl, .ndjson, .json, .csv, .tsv, .parquet, .txt, "
                          ".html; text ones also .gz, .bz2, .xz or .zst), directories or glob "
                          "patterns of them, fsspec URLs, named pipes, or - for stdin")
    run.add_argument("--out", required=True, type=folder_path, metavar="DIR",
                     help="output directory (created if missing)")
    add_config_options(run)
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
    run.add_argument("--kept-only", action="store_true",
                     help="also write DIR/kept.jsonl: one article per duplicate group (the "
                          "deduplicated corpus); same as --set write.kept_only=true")
    said = run.add_mutually_exclusive_group()
    said.add_argument("-q", "--quiet", action="store_true",
                      help="no progress bars, step lines or notes on stderr: only warnings, "
                           "errors and the summary")
    said.add_argument("-v", "--verbose", action="store_true",
                      help="say the mode and each finished step with its time on stderr, "
                           "also when it is not a terminal")
    run.add_argument("--force", action="store_true",
                     help="write into a DIR that holds files dedup did not write (they are "
                          "left alone; a file named like an output is still refused)")
    run.add_argument("--index", metavar="INDEX",
                     help="incremental run: compare with everything appended to INDEX (a "
                          "folder or fsspec URL, made on first use) and append this run to it")
    shown = commands.add_parser("show", help="a finished run's largest stories and events, "
                                             "or one story, event or article")
    shown.add_argument("out", type=Path, metavar="DIR", help="the output folder of a run")
    shown.add_argument("id", nargs="?", metavar="ID",
                       help="a story id (s-...), event id (c-...) or article id")
    shown.add_argument("--limit", type=at_least_one, default=10, metavar="N",
                       help="stories, events and members to list (default 10)")
    shown.add_argument("--json", action="store_true", help="print JSON, for scripts")
    shown.add_argument("--article", action="store_true",
                       help="ID is an article's id, even one that is also a story's or an "
                            "event's")
    settings = commands.add_parser("config", help="print the defaults as commented TOML, or "
                                                  "the configuration --config, --preset and "
                                                  "--set make")
    add_config_options(settings)
    index = commands.add_parser("index", help="what an index of incremental runs holds, or "
                                              "compact it")
    index.add_argument("action", choices=("stats", "compact"),
                       help="stats: articles, events, stories, dates, size; compact: drop "
                            "retired profiles and join the generations into one")
    index.add_argument("location", metavar="INDEX", help="the index folder or URL")
    add_config_options(index)
    index.add_argument("--json", action="store_true", help="print JSON, for scripts")
    return parser


def folder_path(value: str) -> Path:
    """``--out``'s folder (:func:`~dedup.io.outdir.output_folder`), refused as argparse
    refuses a value."""
    try:
        return output_folder(value)
    except OutputError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def at_least_one(text: str) -> int:
    """An argument that counts things to show: a whole number, at least 1 (and one a
    list can be cut at)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= sys.maxsize:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {sys.maxsize:,}, got {text!r}")
    return value


def add_config_options(command: argparse.ArgumentParser) -> None:
    """The options that make a configuration, the same for ``run`` and ``config``."""
    command.add_argument("--config", type=Path, metavar="FILE",
                         help=f"TOML config; the defaults, each with what it trades, are in "
                              f"{DEFAULT_CONFIG_FILE} (and printed by dedup config)")
    command.add_argument("--preset", choices=sorted(PRESETS),
                         help="field mapping of a common dump shape (news-please .json files, "
                              "trafilatura's JSON...); --set read.fields.KEY=... still changes "
                              "single fields")
    command.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                         help="override one config value, e.g. --set dedup.threshold=0.8")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dedup`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "show":
        return show_command(args)
    if args.command == "config":
        return config_command(args)
    if args.command == "index":
        return index_command(args)
    overrides = list(args.set)
    if args.workers is not None:
        overrides.append(f"run.workers={args.workers}")
    if args.engine is not None:
        overrides.append(f'run.engine="{args.engine}"')
    if args.scheduler is not None:
        overrides.append(f'run.scheduler="{args.scheduler}"')
    if args.kept_only:
        overrides.append("write.kept_only=true")
    if args.quiet:
        overrides.append('run.progress="never"')
    received: list[int] = []
    try:
        with notes_on_stderr(not args.quiet), stop_on_signals(received):
            cfg = load_config(args.config, overrides, args.preset)
            with steps_on_stderr(args.verbose or show_progress(cfg.run.progress)):
                report = run_job(args.inputs, args.out, cfg, resume=args.resume,
                                 force=args.force, index=args.index)
    except (ConfigError, InputError, OutputError, EngineError, IndexStoreError,
            TableError) as err:
        print(f"dedup: error: {err}", file=sys.stderr)
        return USER_ERROR
    except (Stopped, KeyboardInterrupt) as stop:
        return stopped(stop.signum if isinstance(stop, Stopped) else signal.SIGINT)
    except WorkerLost as err:
        print(f"dedup: error: {err}", file=sys.stderr)
        return FAILED
    except OSError as err:
        if err.errno not in STORAGE_ERRORS + PERMISSION_ERRORS:
            raise
        remedy = "make room" if err.errno in STORAGE_ERRORS else "make it writable"
        print(f"dedup: error: {os.strerror(err.errno)}: {err.filename or args.out}; the "
              f"finished chunks are kept: {remedy} and run the same command with --resume",
              file=sys.stderr)
        return FAILED
    if received:  # the stop was raised where Python only prints it (a finalizer)
        return stopped(received[0])
    if args.resume and not report["resumed"]:
        print("dedup: nothing to resume in this output directory for these inputs and "
              "config: ran from the start", file=sys.stderr)
    for warning in report["warnings"]:
        print(f"dedup: warning: {warning}", file=sys.stderr)
    print_out(summary(report, args.out))
    return 0 if report["counts"]["out"] else FAILED


def show_command(args: argparse.Namespace) -> int:
    """``dedup show``: print what was asked, or one message and exit 2."""
    try:
        print_out(show(args.out, args.id, args.limit, args.json, args.article))
    except (ShowError, OSError) as err:
        print(f"dedup: error: {err}", file=sys.stderr)
        return USER_ERROR
    return 0


def config_command(args: argparse.Namespace) -> int:
    """``dedup config``: the configuration as commented TOML (the defaults without options),
    to read or to save and pass back with --config; or one message and exit 2."""
    try:
        cfg = load_config(args.config, args.set, args.preset)
    except ConfigError as err:
        print(f"dedup: error: {err}", file=sys.stderr)
        return USER_ERROR
    print_out(commented_toml(cfg).removesuffix("\n"))
    return 0


def index_command(args: argparse.Namespace) -> int:
    """``dedup index stats|compact INDEX``: print what it holds (or what compacting
    dropped), or one message and exit 2."""
    try:
        cfg = load_config(args.config, args.set, args.preset)
        facts = index_stats(args.location, cfg) if args.action == "stats" \
            else compact_index(args.location, cfg)
    except (ConfigError, InputError, IndexStoreError) as err:
        print(f"dedup: error: {err}", file=sys.stderr)
        return USER_ERROR
    if args.json:
        print_out(json.dumps(facts, indent=2))
    else:
        print_out("\n".join(f"{key.replace('_', ' ')}: {value:,}" if isinstance(value, int)
                            else f"{key.replace('_', ' ')}: {value}"
                            for key, value in facts.items() if key != "settings"))
    return 0


def print_out(text: str) -> None:
    """Print ``text`` on stdout.  A reader that stops early (``dedup show | head``) is
    not an error: the rest is dropped, and stdout goes to the null device, since Python
    would flush it again at exit and fail on the closed pipe."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@contextmanager
def stop_on_signals(received: list[int]) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP stop the run by an exception, so that it removes what it
    half-wrote (the default would end the process on the spot for the last two).

    Each signal is also noted in ``received``: an exception raised while Python runs a
    finalizer or a callback is printed and dropped, and the run would then finish with
    exit 0 though it was asked to stop.
    """
    def stop(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        raise Stopped(signum)

    previous = {number: signal.signal(number, stop)
                for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def stopped(signum: int) -> int:
    """Say that a signal stopped the run; its exit status (128 + the signal's number)."""
    print(f"dedup: stopped by {signal.Signals(signum).name}; the finished chunks are kept: "
          "run the same command with --resume to continue", file=sys.stderr)
    return 128 + signum


@contextmanager
def notes_on_stderr(shown: bool = True) -> Iterator[None]:
    """What the job says once (a file named twice, links not followed...) goes to stderr,
    unless not ``shown`` (``--quiet``)."""
    with logged_to_stderr("dedup", "dedup: note: %(message)s",
                          logging.WARNING if shown else logging.ERROR):
        yield


@contextmanager
def steps_on_stderr(shown: bool) -> Iterator[None]:
    """The mode and each finished step with its time (the ``dedup.steps`` logger) go to
    stderr when ``shown``: where progress bars are shown (they go when their pass ends)
    or with ``--verbose``."""
    with logged_to_stderr("dedup.steps", "dedup: %(message)s",
                          logging.INFO if shown else logging.WARNING):
        yield


@contextmanager
def logged_to_stderr(name: str, form: str, level: int) -> Iterator[None]:
    """Messages of logger ``name`` at ``level`` and above to stderr, in ``form``, and
    not passed on to its parents."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(form))
    logger = logging.getLogger(name)
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
        logger.propagate = True


def summary(report: dict[str, Any], out_dir: Path) -> str:
    """A few lines a person reads after a run."""
    counts, seconds = report["counts"], report["seconds"]
    reasons = ", ".join(f"{k}: {v}" for k, v in counts["rejected_by_reason"].items())
    languages = languages_text(counts["languages"], limit=8)
    return "\n".join([
        mode_line(report["config"]["embed"]["model"], report["engine"]),
        f"read {counts['in']} records: {counts['out']} articles, "
        f"{counts['rejected']} rejected" + (f" ({reasons})" if reasons else ""),
        f"languages: {languages or '-'}",
        f"duplicates: {counts['duplicates']} in {counts['dup_groups_with_copies']} groups",
        f"clusters: {counts['clusters']} ({counts['clusters_with_several_articles']} with "
        f"several articles) in {counts['stories']} stories "
        f"({counts['stories_with_several_events']} with several events)",
        f"took {seconds['total']:.1f}s ({report['articles_per_second']} records/s); "
        f"output in {out_dir}/",
        *(f"warning: {warning}" for warning in report["warnings"]),
    ])


if __name__ == "__main__":
    sys.exit(main())
