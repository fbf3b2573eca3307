"""The output directory: what a run may touch in it, one run at a time, and how its outputs
replace an earlier run's.

A user's folder is never emptied on a guess.  Every file dedup writes in DIR is listed in
``DIR/.dedup-outputs.json`` (the *ledger*); a run replaces or removes only those, refuses
a folder holding other files unless told to write beside them (``force``), and never
replaces a file it did not write, nor one of its inputs.  All of this is checked before
anything is touched.

The new outputs are written under the run's work folder and moved into DIR once all of
them are complete, ``report.json`` last: until then DIR keeps the previous run's outputs
whole, and a run killed at any point leaves either those or a set without a report.

One run at a time: a lock (``flock`` on ``DIR/.dedup-lock``) keeps a second run out, and
the kernel releases it when its process dies, so a killed run never leaves a stale one.
Each run works in a folder of its own (``.dedup-work/run-<token>``): the workers of a
killed run that are still finishing a task can only write into their run's folder,
never into the next run's.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

from dedup.io.discover import UNSET, InputFile, is_url
from dedup.io.spool import atomic_file
from dedup.job.checkpoint import is_resumable, mark_work_dir

LEDGER = ".dedup-outputs.json"
LOCK = ".dedup-lock"
WORK_DIR = ".dedup-work"
# The staged outputs inside a run's work folder, moved into DIR at the end.
STAGING = "out"
# The JSON-lines outputs: one line per article, event, story, reject, article kept.
ARTICLES_FILE = "articles.jsonl"
CLUSTERS_FILE = "clusters.jsonl"
STORIES_FILE = "stories.jsonl"
REJECTS_FILE = "rejects.jsonl"
KEPT_FILE = "kept.jsonl"
# The folder of articles.jsonl's parts, with write.article_parts.
ARTICLE_PARTS = "articles"
REPORT = "report.json"
# Every top-level name a run may write, in the order they are finished (report last).
OUTPUTS = (ARTICLES_FILE, ARTICLE_PARTS, CLUSTERS_FILE, STORIES_FILE,
           REJECTS_FILE, KEPT_FILE, "articles.parquet", "clusters.parquet",
           "stories.parquet", "kept.parquet", "report.html", REPORT)
# What dedup wrote before the ledger existed (a folder of that age owns these only).
LEGACY_OUTPUTS = (ARTICLES_FILE, CLUSTERS_FILE, STORIES_FILE, REJECTS_FILE,
                  "articles.parquet", "clusters.parquet", "stories.parquet", REPORT)
# Names of dedup's own bookkeeping in DIR.
BOOKKEEPING = (LEDGER, LOCK, WORK_DIR)
# What atomic_file names the ledger while writing it (left behind if killed meanwhile).
LEDGER_TEMPORARY = re.compile(rf"\.{re.escape(LEDGER)}\.[0-9]+-[0-9a-f]+\.tmp")
# An article part's name, as the ledger lists it.
PART_NAME = re.compile(rf"{ARTICLE_PARTS}/part-[0-9]{{6,}}\.jsonl")
# Shown per message at most: a folder of 10,000 foreign files needs no full list.
NAMES_SHOWN = 5


class OutputError(ValueError):
    """The output directory cannot be used: reported before any work starts."""


def output_folder(value: str | os.PathLike[str]) -> Path:
    """The output folder a user named; an empty name (``Path("")`` is the current
    folder, most often an unset shell variable) is refused."""
    if not os.fspath(value).strip():
        raise OutputError(f"an empty path{UNSET}")
    return Path(value)


@dataclass(frozen=True, slots=True)
class Ledger:
    """The files in DIR that dedup wrote (paths relative to DIR, ``/``-separated)."""

    outputs: frozenset[str]

    def owns(self, relative: str) -> bool:
        """True for dedup's bookkeeping (a killed writer's temporary ledger included) and
        for every file an earlier run wrote."""
        return relative.split("/", 1)[0] in BOOKKEEPING or relative in self.outputs or \
            bool(LEDGER_TEMPORARY.match(relative))

    def owns_folder(self, name: str) -> bool:
        """True for a top-level folder that holds files an earlier run wrote."""
        return any(path.startswith(f"{name}/") for path in self.outputs)


def read_ledger(out_dir: Path) -> Ledger:
    """What earlier runs wrote into DIR; an unreadable ledger owns nothing.

    A folder an older dedup wrote (no ledger, but its ``report.json``) is recognised by
    that report, and owns the outputs that version wrote.
    """
    try:
        data = orjson.loads((out_dir / LEDGER).read_bytes())
        return Ledger(frozenset(name for name in data["outputs"] if is_output_name(name)))
    except FileNotFoundError:
        return legacy_ledger(out_dir)
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return Ledger(frozenset())


def legacy_ledger(out_dir: Path) -> Ledger:
    """The outputs of a run by dedup before the ledger existed, known by its report."""
    try:
        report = orjson.loads((out_dir / REPORT).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return Ledger(frozenset())
    if not isinstance(report, dict) or "dedup_version" not in report:
        return Ledger(frozenset())
    parts = out_dir / ARTICLE_PARTS
    names = [name for name in LEGACY_OUTPUTS if (out_dir / name).is_file()]
    if parts.is_dir():
        names += [f"{ARTICLE_PARTS}/{part.name}" for part in parts.iterdir()]
    return Ledger(frozenset(filter(is_output_name, names)))


def is_output_name(name: object) -> bool:
    """A name dedup gives an output: only such a ledger entry counts, so a damaged or
    planted ledger cannot make a run remove any other file."""
    return isinstance(name, str) and (
        (name in OUTPUTS and name != ARTICLE_PARTS) or bool(PART_NAME.fullmatch(name)))


def write_ledger(out_dir: Path, outputs: Iterable[str]) -> None:
    """Record, durably, which files of DIR dedup wrote."""
    with atomic_file(out_dir / LEDGER) as handle:
        handle.write(orjson.dumps({"tool": "dedup", "outputs": sorted(set(outputs))},
                                  option=orjson.OPT_INDENT_2))


def check_output_dir(out_dir: Path, inputs: Sequence[InputFile], will_write: Sequence[str],
                     force: bool) -> Ledger:
    """Whether a run may write ``will_write`` (top-level output names) into ``out_dir``.

    Read-only: a refusal leaves everything as it was.  Refused: a path that is not a
    folder; a folder holding files dedup did not write (unless ``force``); any such file
    with the name of an output this run writes (even with ``force``); an input that is
    one of dedup's own files in the folder (it would be replaced while read).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir}: exists and is not a directory")
    if out_dir.is_symlink() and not out_dir.exists():
        raise OutputError(f"--out {out_dir}: a symbolic link to {os.readlink(out_dir)}, "
                          "which does not exist: make that folder, or choose another --out")
    ledger = read_ledger(out_dir) if out_dir.is_dir() else Ledger(frozenset())
    refuse_own_files_as_inputs(out_dir, inputs, ledger)
    foreign = foreign_entries(out_dir, ledger)
    clashes = [name for name in foreign if name.split("/", 1)[0] in will_write]
    if clashes:
        raise OutputError(
            f"{out_dir}: {listed(clashes)} not written by dedup, and this run would replace "
            f"{'it' if len(clashes) == 1 else 'them'}: move {'it' if len(clashes) == 1 else 'them'}"
            " away or choose another --out")
    if foreign and not force:
        raise OutputError(
            f"{out_dir} holds files dedup did not write ({listed(foreign)}): choose an empty "
            "or new --out, or pass --force to write beside them (they are never touched)")
    if out_dir.is_dir() and not os.access(out_dir, os.W_OK):
        raise OutputError(f"cannot write to {out_dir}: permission denied")
    return ledger


def listed(names: Sequence[str]) -> str:
    """A few names for a message, and how many more there are."""
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown if len(names) <= NAMES_SHOWN else f"{shown} and {len(names) - NAMES_SHOWN} more"


def foreign_entries(out_dir: Path, ledger: Ledger) -> list[str]:
    """Entries of DIR (and of dedup's parts folder) that dedup did not write, sorted."""
    if not out_dir.is_dir():
        return []
    foreign = []
    for entry in sorted(os.listdir(out_dir)):
        if entry == ARTICLE_PARTS and ledger.owns_folder(entry) and (out_dir / entry).is_dir():
            foreign += [f"{entry}/{name}" for name in sorted(os.listdir(out_dir / entry))
                        if not ledger.owns(f"{entry}/{name}")]
        elif not ledger.owns(entry):
            foreign.append(entry)
    return foreign


def refuse_own_files_as_inputs(out_dir: Path, inputs: Sequence[InputFile],
                               ledger: Ledger) -> None:
    """An input that is an output, or scratch, of dedup in DIR would be replaced while it
    is read (or read back as input): refused."""
    root = out_dir.resolve()
    for file in inputs:
        if is_url(file.location):
            continue
        path = Path(file.location).resolve()
        if not path.is_relative_to(root):
            continue
        relative = path.relative_to(root).as_posix()
        if ledger.owns(relative):
            what = "an output of an earlier dedup run in --out"
        elif relative.split("/", 1)[0] in OUTPUTS:
            what = "named like an output in --out"
        else:
            continue
        raise OutputError(f"{file.location} is {what} {out_dir}, which this run replaces: "
                          "read a copy of it, or choose another --out")


@contextmanager
def output_lock(out_dir: Path) -> Iterator[None]:
    """Hold DIR for this run: a second run into it is refused with the holder's name."""
    def busy(holder: str) -> OutputError:
        return OutputError(f"another dedup run ({holder}) is writing to {out_dir}: wait for "
                           "it to end, or choose another --out")

    def unwritable(err: OSError) -> OutputError:
        return OutputError(f"cannot write to {out_dir}: {err.strerror or err}")

    with flock_held(out_dir, LOCK, busy, unwritable):
        yield


@contextmanager
def flock_held(folder: Path, name: str, busy: Callable[[str], Exception],
               unwritable: Callable[[OSError], Exception]) -> Iterator[None]:
    """Hold ``folder/name`` with ``flock``, written with this process's name; the kernel
    releases it when the holder dies, however it dies.  Held by another: ``busy(its
    holder's name)`` is raised; the folder cannot be written: ``unwritable(error)``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise unwritable(err) from err
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 200, 0).decode("utf-8", "replace").strip()
            raise busy(holder or "unknown process") from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, holder_line().encode(), 0)
        yield
    finally:
        os.close(handle)


def holder_line() -> str:
    """Who holds a lock, for the message of the run it keeps out."""
    return (f"pid {os.getpid()} on {socket.gethostname()}, started "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}")


def open_run_dir(out_dir: Path, fingerprint: bytes, resume: bool) -> tuple[Path, bool]:
    """The work folder of this run, and whether it is a killed run's being resumed.

    With ``resume``, the killed run's folder is kept when it was made for the same
    inputs, configuration and code; its half-written files and staged outputs go (the
    write pass always runs again).  Otherwise earlier runs' folders go and a new one is
    made with a name no earlier run used.
    """
    root = out_dir / WORK_DIR
    earlier = sorted(root.glob("run-*")) if root.is_dir() else []
    kept = next((work for work in earlier if resume and is_resumable(work, fingerprint)), None)
    for work in earlier:
        if work != kept:
            shutil.rmtree(work, ignore_errors=True)
    if kept is not None:
        discard_partial(kept)
        return kept, True
    work = root / f"run-{secrets.token_hex(8)}"
    work.mkdir(parents=True)
    mark_work_dir(work, fingerprint)
    return work, False


def staging(work: Path) -> Path:
    """Where the run writes its outputs before they are moved into DIR."""
    return work / STAGING


def article_files(out_dir: Path) -> list[Path]:
    """A finished run's articles output: articles.jsonl, or its parts in order
    (``write.article_parts``)."""
    whole = out_dir / ARTICLES_FILE
    return [whole] if whole.is_file() else sorted((out_dir / ARTICLE_PARTS).glob("part-*.jsonl"))


def discard_partial(work: Path) -> None:
    """Remove what a stopped run half-wrote: temporary files and staged outputs.

    Chunk results and their files stay, for ``--resume``.
    """
    for temporary in work.rglob(".*.tmp"):
        temporary.unlink(missing_ok=True)
    shutil.rmtree(staging(work), ignore_errors=True)


def publish(out_dir: Path, work: Path, ledger: Ledger) -> None:
    """Move the staged outputs into DIR, replacing the earlier run's, report last.

    The ledger first grows to hold both runs' files, so a kill at any point leaves no
    file dedup wrote unlisted; the earlier report goes before anything is replaced, so
    the folder never shows a report next to another run's outputs.  SIGINT and SIGTERM
    wait until the moves are done.
    """
    staged = sorted(p.relative_to(staging(work)).as_posix()
                    for p in staging(work).rglob("*") if p.is_file())
    fresh = set(staged)
    with signals_deferred():
        write_ledger(out_dir, ledger.outputs | fresh)
        if REPORT in ledger.outputs:
            (out_dir / REPORT).unlink(missing_ok=True)
        for name in [*sorted(fresh - {REPORT}), REPORT]:
            target = out_dir / name
            target.parent.mkdir(exist_ok=True)
            os.replace(staging(work) / name, target)
        for name in sorted(ledger.outputs - fresh):
            (out_dir / name).unlink(missing_ok=True)
        remove_empty_parts_folder(out_dir)
        for stale in out_dir.iterdir():
            if LEDGER_TEMPORARY.match(stale.name):
                stale.unlink(missing_ok=True)
        write_ledger(out_dir, fresh)
        sync_folder(out_dir)
    shutil.rmtree(work, ignore_errors=True)
    with_no_runs = out_dir / WORK_DIR
    if with_no_runs.is_dir() and not any(with_no_runs.iterdir()):
        with_no_runs.rmdir()


def remove_empty_parts_folder(out_dir: Path) -> None:
    """The parts folder of an earlier run goes once it holds nothing more."""
    try:
        (out_dir / ARTICLE_PARTS).rmdir()
    except OSError as err:  # missing, or holding parts (or a user's files): kept
        if err.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.ENOTDIR, errno.EEXIST):
            raise


def sync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (its entries are metadata of its own)."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM arriving inside are delivered on leaving (in the main thread;
    elsewhere, where Python lets no handler be set, as they come)."""
    received: list[int] = []

    def remember(signum: int, _frame: object) -> None:
        received.append(signum)

    try:
        previous = {number: signal.signal(number, remember)
                    for number in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if received:
            signal.raise_signal(received[0])
