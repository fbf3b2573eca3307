"""Resumable runs: what a killed run had finished, kept in its work directory.

Each per-chunk pass saves its result next to the chunk's spool files as its very last
act, atomically, so a saved result means every file of that chunk is complete.  A run
started with ``resume`` keeps the work directory only when it was made by the same
inputs, configuration and code (its *fingerprint*), and then skips the chunks whose
results are saved.  The global steps and the write pass are always redone from the
chunk results: they are about a third of a run (1M articles: dedup 6 s, cluster 61 s,
write 26 s of 259 s) and keep no state worth trusting after a kill.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from dedup import __version__
from dedup.write import atomic_file

if TYPE_CHECKING:
    from dedup.config import Config
    from dedup.read import InputFile

T = TypeVar("T")

FINGERPRINT = "fingerprint.json"
# Settings that do not change the output: a run may be resumed with other values.
_FREE_SETTINGS = ("workers", "progress", "engine", "scheduler")


def run_fingerprint(files: Sequence[InputFile], cfg: Config) -> bytes:
    """What a run's chunk results depend on: the code, the configuration, and every
    input file's version (path, size and modification time or ETag: a changed input
    starts the run over).

    The code is the hash of the package's sources, not only its version: chunk results
    saved by other code may lack fields this code reads.
    """
    config = cfg.to_dict()
    for name in _FREE_SETTINGS:
        config["run"].pop(name)
    inputs = [file.version() for file in files]
    return orjson.dumps({"version": __version__, "code": code_digest(), "config": config,
                         "inputs": inputs}, option=orjson.OPT_SORT_KEYS)


@cache
def code_digest() -> str:
    """SHA-256 over the package's Python sources, in path order."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def is_resumable(work: Path, fingerprint: bytes) -> bool:
    """True when ``work`` was made by a run with this fingerprint."""
    try:
        return (work / FINGERPRINT).read_bytes() == fingerprint
    except OSError:
        return False


def mark_work_dir(work: Path, fingerprint: bytes) -> None:
    """Record which run the work directory belongs to."""
    with atomic_file(work / FINGERPRINT, sync=False) as handle:
        handle.write(fingerprint)


def save_result(path: Path, result: Any) -> None:
    """Save a chunk's result atomically: a killed worker leaves none, not half of one."""
    with atomic_file(path, sync=False) as handle:
        pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)


def load_result(path: Path, kind: type[T]) -> T | None:
    """A saved chunk result of type ``kind``, or None when the chunk is still to do."""
    try:
        with path.open("rb") as handle:
            result = pickle.load(handle)
    except FileNotFoundError:
        return None
    return result if isinstance(result, kind) else None
