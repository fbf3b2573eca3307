"""Which files a run reads: input paths, folders, glob patterns and fsspec URLs expanded
into one ordered list of files, each read once.

Only the main process looks for inputs (and opens them, see ``dedup.io.read``), so workers
need neither a URL's filesystem package nor its credentials.  Nothing here trusts the
tree it walks: folders are walked with loop detection, links out of an input folder are
not followed unless asked, and the output folder is never an input.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from dedup.io.compression import COMPRESSION_SUFFIXES


def compressed_too(suffixes: tuple[str, ...]) -> tuple[str, ...]:
    """Text suffixes with each compression suffix after them (``.json.zst``...)."""
    return suffixes + tuple(suffix + compression for suffix in suffixes
                            for compression in COMPRESSION_SUFFIXES)


JSONL_SUFFIXES = compressed_too((".jsonl", ".ndjson"))


# One object, an array of them, or JSON lines (news-please writes one article a file).
JSON_SUFFIXES = compressed_too((".json",))


# Tables with a header row, comma- or tab-separated.
CSV_SUFFIXES = compressed_too((".csv",))
TSV_SUFFIXES = compressed_too((".tsv",))


PARQUET_SUFFIXES = (".parquet",)


# Files read as blocks of records (one batch never spans two of them).
TABLE_SUFFIXES = JSONL_SUFFIXES + JSON_SUFFIXES + CSV_SUFFIXES + TSV_SUFFIXES + \
    PARQUET_SUFFIXES


DOCUMENT_SUFFIXES = compressed_too((".txt", ".html", ".htm"))


class InputError(ValueError):
    """A user error in the input paths: reported before any work starts."""


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input file: a local path, or an fsspec URL (``s3://bucket/2026-11.jsonl.gz``).

    Only the main process opens inputs (it cuts them into blocks for the workers), so
    workers need neither a URL's filesystem package nor its credentials.
    """

    location: str  # the path or URL
    label: str | None = None  # what origins and the report call it, if not its location

    @property
    def shown(self) -> str:
        """What rejects' origins and the report call the file: its location, or the
        label given (the Python API's records, written to a scratch file each run, are
        ``records.jsonl``: its origins must not name a random folder)."""
        return self.label or self.location

    @property
    def name(self) -> str:
        """The file's name (a URL's last path segment, without its query)."""
        return self.location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] \
            if is_url(self.location) else Path(self.location).name

    @property
    def read_as(self) -> str:
        """The (lower-case) name the reader picks its format by: the file's own; for a
        local name that says nothing, that of the file it leads to (``/dev/stdin <
        dump.jsonl``, a link ``latest`` to ``dump.jsonl``); for a stream (stdin, ``<(zcat
        dump.jsonl.gz)``), that of the format streams are read in."""
        name = self.name.lower()
        if is_readable_kind(name) or is_url(self.location):
            return name
        if self.is_stream:
            return STREAM_NAME
        return Path(os.path.realpath(self.location)).name.lower()

    @property
    def is_stream(self) -> bool:
        """Standard input, a named pipe or a device: read once, with no size to trust."""
        if self.location == STDIN:
            return True
        if is_url(self.location):
            return False
        try:
            mode = os.stat(self.location).st_mode
        except OSError:
            return False
        return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)

    def open(self) -> AbstractContextManager[IO[bytes]]:
        """The file's bytes, from the local disk or through fsspec."""
        if self.is_stream:
            return once_readable(self.location).open()
        if is_url(self.location):
            import fsspec

            return cast(AbstractContextManager[IO[bytes]], fsspec.open(self.location, "rb"))
        return open(self.location, "rb")

    def version(self) -> list[str | int]:
        """What tells this file's content apart from an edited one's, without reading it:
        the resolved path, size and modification time, or a URL's size and the first
        version stamp its store gives (ETag, modification time...)."""
        if self.is_stream:  # read once: never the same content as an earlier run's
            return [self.location, "stream", time.time_ns()]
        if not is_url(self.location):
            info = Path(self.location).stat()
            return [str(Path(self.location).resolve()), info.st_size, info.st_mtime_ns]
        fs, path = url_filesystem(self.location)
        info = fs.info(path)
        stamp = next((str(info[key]) for key in VERSION_STAMPS if info.get(key)), "")
        return [self.location, int(info.get("size") or 0), stamp]


# The input name of standard input.
STDIN = "-"


# How a stream with no telling name (stdin, a pipe) is read: as JSON (one object, an
# array, or JSON lines).
STREAM_NAME = "stream.json"


class OnceReadable:
    """A stream that can be read only once (stdin, a named pipe), opened twice: the
    field mapping is checked on its first records (``dedup.io.presets``) before the run
    reads it all.

    While :func:`streams_kept` is in effect, what is read from it is kept; the next
    opening gives those bytes again, then the rest of the stream (the kept bytes are let
    go as they are given).  Nothing is kept otherwise, so a long stream is never held.
    """

    keeping = False  # set for all streams by streams_kept()

    def __init__(self, location: str) -> None:
        self.location = location
        self.stream: IO[bytes] | None = None
        self.head = bytearray()

    def source(self) -> IO[bytes]:
        """The underlying stream, opened on first use and then kept open; stdin is
        looked up again when it changed (a new process's, or a test's)."""
        if self.location == STDIN:
            if self.stream is not sys.stdin.buffer:
                self.stream, self.head = sys.stdin.buffer, bytearray()
        elif self.stream is None:
            self.stream = open(self.location, "rb")  # noqa: SIM115 - open across openings
        return self.stream

    def open(self) -> AbstractContextManager[IO[bytes]]:
        """The stream, after the bytes kept from an earlier opening."""
        return io.BufferedReader(OnceReader(self, self.source()))

    def finish(self) -> None:
        """After an opening that kept nothing: a pipe is closed and forgotten."""
        if self.location != STDIN and self.stream is not None:
            self.stream.close()
        ONCE_READABLE.pop(self.location, None)


class OnceReader(io.RawIOBase):
    """One opening of a :class:`OnceReadable`: the bytes kept from before, then the
    stream's (kept in turn while keeping)."""

    def __init__(self, owner: OnceReadable, stream: IO[bytes]) -> None:
        super().__init__()
        self.owner, self.stream = owner, stream
        self.keeping = OnceReadable.keeping
        self.replay, owner.head = (bytearray(), bytearray()) if self.keeping else \
            (owner.head, bytearray())

    def readable(self) -> bool:
        """It is."""
        return True

    def readinto(self, buffer: Any) -> int:
        """The next bytes: kept ones first, then the stream's."""
        size = len(buffer)
        if self.replay:
            piece = bytes(self.replay[:size])
            del self.replay[:size]
        else:
            piece = getattr(self.stream, "read1", self.stream.read)(size)
            if self.keeping:
                self.owner.head.extend(piece)
        buffer[: len(piece)] = piece
        return len(piece)

    def close(self) -> None:
        """Closing an opening that kept bytes leaves the stream open for the next."""
        if not self.closed and not self.keeping:
            self.owner.finish()
        super().close()


# The streams opened so far, by location.
ONCE_READABLE: dict[str, OnceReadable] = {}


def once_readable(location: str) -> OnceReadable:
    """The one OnceReadable of a stream's location."""
    return ONCE_READABLE.setdefault(location, OnceReadable(location))


@contextmanager
def streams_kept() -> Iterator[None]:
    """While in effect, what is read from stdin and pipes is kept for the next opening."""
    OnceReadable.keeping = True
    try:
        yield
    finally:
        OnceReadable.keeping = False


# Keys of fsspec's file info that change when a stored file changes, most telling first.
VERSION_STAMPS = ("ETag", "etag", "md5Hash", "generation", "mtime", "LastModified",
                  "last_modified", "updated", "created")


def versions_of(files: Sequence[InputFile]) -> list[list[str | int] | None]:
    """Each file's version (:meth:`InputFile.version`) as the run starts reading; None
    for a stream, read once and never the same."""
    return [None if file.is_stream else file.version() for file in files]


def check_unchanged(files: Sequence[InputFile], before: Sequence[list[str | int] | None]) -> None:
    """Refuse a run whose input changed while it was read (InputError): a file cut short
    or rewritten meanwhile gives a partial or torn result that would look finished (and
    with an index, a partial day appended).  A file removed meanwhile was read whole
    through its open handle."""
    for file, version in zip(files, before, strict=True):
        try:
            now = None if version is None else file.version()
        except FileNotFoundError:
            continue
        if now != version:
            raise InputError(f"{file.shown} changed while it was read (its size or "
                             "modification time): nothing was published; run again once it "
                             "is complete")


def is_url(name: str) -> bool:
    """True for ``protocol://...`` (fsspec URLs, ``file://`` included), not local paths."""
    return bool(URL_SCHEME.match(name))


URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def url_filesystem(url: str) -> tuple[Any, str]:
    """fsspec's filesystem and path for a URL; a missing package is a user error."""
    try:
        from fsspec.core import url_to_fs

        return url_to_fs(url)
    except ImportError as err:
        hint = "pip install 'dedup[remote]'" if "fsspec" in str(err) else str(err)
        raise InputError(f"{url}: cannot read this URL ({hint})") from err
    except ValueError as err:
        raise InputError(f"{url}: {err}") from err


@dataclass(slots=True)
class Discovered:
    """The files to read, in input order, and what discovery left out or merged: human
    sentences for the caller to say once each."""

    files: list[InputFile]
    notes: list[str] = field(default_factory=list)


# Said of an empty path: it is most often a shell variable that was never set.
UNSET = " (an unset shell variable?)"


def discover_inputs(names: Sequence[str], follow_links: bool = False,
                    exclude: Path | None = None) -> Discovered:
    """Expand input paths and URLs into the sorted list of files to read, failing early.

    Directories contribute the files of every kind the reader knows (``.jsonl``,
    ``.json``, ``.csv``, ``.parquet``, ``.txt``, ``.html``..., text ones compressed too;
    recursively, sorted by path), and a glob pattern (``dumps/**/*.parquet``) its matches
    sorted by path, so that the record order, and hence the output, is reproducible.
    URLs (``s3://bucket/dumps/``, ``gs://bucket/*.parquet``) work the same through fsspec.
    Each file is read once however often it is named; nothing under ``exclude`` (the
    output folder) is taken from a folder or a pattern.
    """
    walker = Walker(follow_links=follow_links,
                    exclude=None if exclude is None else os.path.realpath(exclude))
    files: list[InputFile] = []
    for name in names:
        if not name.strip():
            raise InputError(f"an input is an empty path{UNSET}")
        found = [(url, url) for url in remote_inputs(name)] if is_url(name) else \
            local_inputs(name, walker)
        files.extend(InputFile(location) for location, key in found
                     if walker.first_time(location, key))
    if any(f.name.lower().endswith(PARQUET_SUFFIXES) for f in files):
        require_pyarrow()
    return Discovered(files=files, notes=walker.notes())


def local_inputs(name: str, walker: Walker) -> list[tuple[str, str]]:
    """(location, real path) of the readable files a local path, folder or glob pattern
    names; a file named explicitly is taken even through a symbolic link."""
    if name == STDIN:
        return [(STDIN, STDIN)]
    path = Path(name)
    if InputFile(name).is_stream:  # a named pipe, /dev/stdin, <(zcat dump.jsonl.gz)
        return [(name, os.path.realpath(name))]
    if path.is_dir():  # "." lists "x.jsonl", as Path(".").rglob does
        return walker.walk("" if str(path) == "." else str(path), Selection()) or \
            walker.nothing_taken(name, str(path), no_readable_file)
    if path.is_file():
        return [(require_readable_kind(name, InputFile(name).read_as), os.path.realpath(name))]
    if is_pattern(name):
        root, parts = pattern_root(name)
        found = walker.walk(root, Selection.of_pattern(name, parts)) \
            if os.path.isdir(root or ".") else []
        return found or walker.nothing_taken(name, root or ".", no_match)
    raise InputError(f"{name}: {missing_reason(path)}")


def missing_reason(path: Path) -> str:
    """Why a named input is neither a file nor a folder: a link that leads nowhere (or
    round in a loop) is said as such, not as a missing file."""
    if not path.is_symlink():
        return "no such file or directory"
    try:
        path.resolve(strict=True)
    except RuntimeError:  # Python 3.11-3.12 raise it for a loop; later ones OSError(ELOOP)
        return "a loop of symbolic links"
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a loop of symbolic links"
    return f"a symbolic link to {os.readlink(path)}, which does not exist"


def pattern_root(name: str) -> tuple[str, tuple[str, ...]]:
    """A glob pattern's literal folder (where its walk starts; "" for the current one)
    and its parts below that folder."""
    parts = name.split("/")
    first = next(i for i, part in enumerate(parts) if is_pattern(part))
    root = "/".join(parts[:first]) or ("/" if name.startswith("/") else "")
    return root, tuple(parts[first:])


@dataclass(frozen=True, slots=True)
class Selection:
    """Which files of a walked folder are inputs: every readable kind, or with a
    pattern only those whose path below the folder matches it."""

    pattern: tuple[str, ...] = ()  # a glob pattern's parts below its literal folder
    path_re: re.Pattern[str] | None = None  # the whole pattern, over relative paths
    part_res: tuple[re.Pattern[str] | None, ...] = ()  # per part; None for "**"

    @classmethod
    def of_pattern(cls, name: str, parts: tuple[str, ...]) -> Selection:
        """The selection of a glob pattern's ``parts``; a broken one is a user error."""
        try:
            return cls(pattern=parts, path_re=re.compile(glob_regex(parts)),
                       part_res=tuple(None if part == "**" else re.compile(part_regex(part))
                                      for part in parts))
        except re.error as err:
            raise InputError(f"{name}: not a valid pattern ({err})") from err

    def descend(self, rel: tuple[str, ...]) -> bool:
        """Whether the folder at ``rel`` may hold matches: a pattern prunes the walk to
        the folders its parts before any ``**`` allow."""
        if self.path_re is None:
            return True
        for depth, name in enumerate(rel):
            if depth < len(self.pattern) and self.pattern[depth] == "**":
                return True
            part_re = self.part_res[depth] if depth < len(self.pattern) - 1 else None
            if part_re is None or not part_re.fullmatch(name):
                return False
        return True

    def take(self, rel: tuple[str, ...]) -> bool:
        """Whether the file at ``rel`` is an input."""
        return is_readable_kind(rel[-1]) and (
            self.path_re is None or self.path_re.fullmatch("/".join(rel)) is not None)


def glob_regex(parts: Sequence[str]) -> str:
    """A glob pattern's parts as one regex over ``/``-separated relative paths: ``**``
    for any number of folders (all names below when last), ``*``, ``?`` and ``[...]``
    within one name; as with glob, wildcards never match a leading dot."""
    pieces = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            pieces.append(r"(?:(?!\.)[^/]+/)*" + (r"(?!\.)[^/]+" if last else ""))
        else:
            pieces.append(part_regex(part) + ("" if last else "/"))
    return "".join(pieces)


# A glob name's tokens: a run of stars, "?", a bracket class ("]" first is literal), any char.
_GLOB_TOKEN = re.compile(r"\*+|\?|\[!?\]?[^\]]*\]|.", re.S)


def part_regex(part: str) -> str:
    """One name of a glob pattern as a regex that never crosses a ``/``."""
    pieces = [] if part.startswith(".") else [r"(?!\.)"]
    for token in _GLOB_TOKEN.findall(part):
        if token.startswith("*"):
            pieces.append("[^/]*")
        elif token == "?":
            pieces.append("[^/]")
        elif len(token) > 1:
            negated = token.startswith("[!")
            body = re.sub(r"([\\&~|\[\]^])", r"\\\1", token[2 if negated else 1:-1])
            pieces.append("(?!/)[" + ("^" if negated else "") + body + "]")
        else:
            pieces.append(re.escape(token))
    return "".join(pieces)


@dataclass(slots=True)
class Tally:
    """How often discovery did one thing, with the first example to show the user."""

    count: int = 0
    example: str = ""

    def add(self, example: str) -> None:
        """Count one more case."""
        if not self.count:
            self.example = example
        self.count += 1


@dataclass(slots=True)
class Walker:
    """Lists input folders and expands glob patterns, each file once, never looping.

    Folders are walked by hand, not with glob/rglob, which follow symbolic link loops
    (forever with two of them): a folder already walked (same st_dev, st_ino) is not
    entered again and a file already taken (same real path) not taken again.  A link
    that leads out of its input folder is not followed unless ``follow_links`` (a folder
    of dumps must not pull in ``/etc/passwd``), and nothing under ``exclude``, the output
    folder, is taken: a run must not read its own spool files.
    """

    follow_links: bool
    exclude: str | None  # real path of the output folder
    taken: dict[str, str] = field(default_factory=dict)  # real path or URL -> location
    repeated: set[str] = field(default_factory=set)  # the keys of ``repeats``
    repeats: Tally = field(default_factory=Tally)  # files named again (each once)
    revisits: Tally = field(default_factory=Tally)  # folders reached again
    outside: Tally = field(default_factory=Tally)  # links out of their input folder
    excluded: Tally = field(default_factory=Tally)  # entries under the output folder
    unlisted: Tally = field(default_factory=Tally)  # folders that could not be listed
    unusable: Tally = field(default_factory=Tally)  # input names on no file (a broken link)

    def first_time(self, location: str, key: str) -> bool:
        """Whether the file ``key`` is named for the first time (else it is counted)."""
        if key in self.taken:
            if key not in self.repeated:  # a file, however often it is named again
                self.repeated.add(key)
                self.repeats.add(f"{location} is {self.taken[key]}")
            return False
        self.taken[key] = location
        return True

    def walk(self, root: str, selection: Selection) -> list[tuple[str, str]]:
        """(location, real path) of the files under ``root`` that ``selection`` takes,
        sorted folder by folder.  Depth first in name order, so a folder reached twice
        is walked under its first path in that order."""
        root_real = os.path.realpath(root or ".")
        fence = self.fence_of(root_real)
        seen: dict[tuple[int, int], str] = {}
        found: list[tuple[str, str]] = []
        stack: list[tuple[str, str, tuple[str, ...]]] = [(root, root_real, ())]
        while stack:
            folder, real, rel = stack.pop()
            entries = self.entries(folder, real, rel, seen, fence)
            subfolders = []
            for entry in entries:
                path, parts = child_path(folder, entry.name), (*rel, entry.name)
                link = entry.is_symlink()
                target = os.path.realpath(path) if link else os.path.join(real, entry.name)
                kind = entry_kind(entry)
                if kind == "dir" and selection.descend(parts) and \
                        self.may_follow(link, path, target, root_real):
                    subfolders.append((path, target, parts))
                elif kind == "file" and selection.take(parts) and \
                        self.may_follow(link, path, target, root_real) and \
                        not self.is_excluded(path, target, fence):
                    found.append((path, target))
                elif not kind and selection.take(parts):
                    self.unusable.add(path)
            stack.extend(reversed(subfolders))
        return sorted(found, key=lambda pair: by_folder(pair[0]))

    def entries(self, folder: str, real: str, rel: tuple[str, ...],
                seen: dict[tuple[int, int], str], fence: str | None) -> list[os.DirEntry[str]]:
        """A folder's entries in name order, or none when it is under ``fence``, already
        walked or unreadable (a walk's own root that cannot be listed is a user error)."""
        if self.is_excluded(folder, real, fence):
            return []
        try:
            stat = os.stat(folder or ".")
            if (stat.st_dev, stat.st_ino) in seen:
                self.revisits.add(f"{folder} is {seen[stat.st_dev, stat.st_ino]}")
                return []
            seen[stat.st_dev, stat.st_ino] = folder
            with os.scandir(folder or ".") as listing:
                return sorted(listing, key=lambda entry: entry.name)
        except OSError as err:
            if not rel:
                raise InputError(f"{folder}: cannot list this folder ({err.strerror})") from err
            self.unlisted.add(f"{folder}: {err.strerror}")
            return []

    def may_follow(self, link: bool, path: str, target: str, root_real: str) -> bool:
        """Whether an entry may be taken: not a link leading out of the walk's root,
        unless links are followed (such a link is counted)."""
        if not link or self.follow_links or is_within(target, root_real):
            return True
        self.outside.add(f"{path} -> {target}")
        return False

    def fence_of(self, root_real: str) -> str | None:
        """The folder a walk from ``root_real`` never enters: the output folder, unless
        the walk starts below it (a user's folder there, which ``--force`` allows as it
        allows a user's file there; dedup's own files are refused by name before any
        work, see ``dedup.io.outdir``)."""
        if self.exclude is not None and root_real != self.exclude and \
                is_within(root_real, self.exclude):
            return None
        return self.exclude

    def is_excluded(self, path: str, real: str, fence: str | None) -> bool:
        """Whether an entry is under ``fence``, the output folder (then it is counted)."""
        if fence is None or not is_within(real, fence):
            return False
        self.excluded.add(path)
        return True

    def nothing_taken(self, name: str, root: str,
                      otherwise: Callable[[str], list[Any]]) -> list[Any]:
        """A folder or pattern (walked from ``root``) that gave no file: when ``root`` is
        the output folder, said as such (its files are never read, and "no readable
        file" hid the mistake in --out); else ``otherwise(name)``."""
        if self.exclude is not None and os.path.realpath(root) == self.exclude:
            raise InputError(f"{name}: this input is the output folder "
                             f"({self.exclude}), and a run never reads its output folder: "
                             "choose another --out")
        return otherwise(name)

    def notes(self) -> list[str]:
        """One sentence per kind of thing discovery did that the user should know."""
        said = [
            ("read once", self.repeats, "file", "named more than once, directly or through "
             "links", ""),
            ("walked once", self.revisits, "folder", "reached again through symbolic links",
             ""),
            ("not followed", self.outside, "symbolic link", "leading out of the input folder",
             "; set read.follow_links = true to follow them"),
            ("not read", self.excluded, "path", f"under the output folder "
             f"{self.exclude}", ""),
            ("not read", self.unlisted, "folder", "that could not be listed", ""),
            ("not read", self.unusable, "path", "named like an input but not a file (a "
             "broken symbolic link, a pipe, a socket)", ""),
        ]
        return [f"{action}: {counted(tally.count, noun)} {what} (e.g. {tally.example}){hint}"
                for action, tally, noun, what, hint in said if tally.count]


def counted(count: int, noun: str) -> str:
    """"1 file", "3 files"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def entry_kind(entry: os.DirEntry[str]) -> str:
    """"dir" or "file" (through symbolic links), "" for anything else or a broken link."""
    try:
        return "dir" if entry.is_dir() else "file" if entry.is_file() else ""
    except OSError:
        return ""


def child_path(folder: str, name: str) -> str:
    """An entry's path as glob and ``Path`` spell it ("x.jsonl" in the current folder)."""
    return os.path.join(folder, name) if folder else name


def is_within(path: str, folder: str) -> bool:
    """Whether a real path is ``folder`` or below it."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def remote_inputs(url: str) -> list[str]:
    """The readable files a URL, a URL of a directory (prefix) or a URL pattern names."""
    fs, path = url_filesystem(url)
    try:
        if fs.isfile(path):
            return [require_readable_kind(url, url)]
        if fs.isdir(path):
            return [fs.unstrip_protocol(p) for p in sorted(fs.find(path), key=by_folder)
                    if is_readable_kind(p)] or no_readable_file(url)
        if is_pattern(path):
            return [fs.unstrip_protocol(p) for p in sorted(fs.glob(path), key=by_folder)
                    if fs.isfile(p) and is_readable_kind(p)] or no_match(url)
    except OSError as err:
        raise InputError(f"{url}: {err}") from err
    raise InputError(f"{url}: no such file or directory")


def by_folder(name: str) -> list[str]:
    """Sort key of a path or URL path: folder by folder, as ``Path`` objects sort, so a
    folder read by URL, by pattern or by path gives its files in one order ("b/x" before
    "b-2/x", which a plain string sort reverses)."""
    return name.split("/")


# The readable kinds of file, as messages list them.
KINDS_SAID = ".jsonl, .ndjson, .json, .csv, .tsv, .parquet, .txt or .html files (.gz, " \
    ".bz2, .xz, .zst)"


def require_readable_kind(name: str, file_name: str) -> str:
    """``name``, if the reader understands its kind of file."""
    if not is_readable_kind(file_name):
        raise InputError(f"{name}: unsupported input (expected {KINDS_SAID} or a "
                         "directory of them)")
    return name


def no_readable_file(folder: str) -> list[Any]:
    """A folder without a file of a kind the reader knows is a user error: read as
    nothing, it gave "read 0 records" and exit 0."""
    raise InputError(f"{folder}: no readable file in this folder (expected {KINDS_SAID})")


def no_match(pattern: str) -> list[Any]:
    """A pattern that matches nothing readable is a user error, not an empty run."""
    raise InputError(f"{pattern}: the pattern matches no readable file")


def is_pattern(name: str) -> bool:
    """True for a glob pattern rather than a plain path."""
    return any(c in name for c in "*?[")


def require_pyarrow() -> None:
    """Parquet input needs pyarrow (the optional extra 'parquet'): say so before any work."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as err:
        raise InputError("reading .parquet needs pyarrow: pip install 'dedup[parquet]'") from err


def is_readable_kind(name: str) -> bool:
    """True for the file kinds the reader understands (by the file's name)."""
    name = name.lower()
    return name.endswith(TABLE_SUFFIXES) or name.endswith(DOCUMENT_SUFFIXES)
