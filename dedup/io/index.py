"""The index of incremental runs: what earlier runs decided, kept for the next ones.

An index is a folder (a local path or an fsspec URL) of *generations*, one per run that
appended to it, and a head file naming them::

    INDEX/index.json        format, version, the settings that made it, its generations
    INDEX/gen-000001/       one run's part: articles.npz + articles.json (ids and
                            events), signatures.npy and its sorted band keys (the LSH
                            files of a chunk, see dedup.algorithms.duplicates),
                            events.npz/.json and stories.npz/.json (term profiles, date
                            ranges, sizes), merged.json (earlier events merged into others),
                            and from runs with index.fed_articles rows.npz/.json (articles'
                            heaviest term counts, languages, embeddings if the run had them:
                            what later runs cluster with), terms.npz/.json (per language,
                            how many articles hold each hashed term: later runs' IDF)
    INDEX/.dedup-index.lock held while a run appends (a name of its own: a user's
                            ".lock" in a folder given as --index is the user's)

No text is kept: only hashes, MinHash signatures, hashed-term counts and profiles, and ids.

**Append-only, crash-safe.**  A run writes its generation folder completely, then
replaces the head file in one atomic step (a rename on a local disk, one object write
on a store).  A run killed before that leaves the head as it was: the half-written
folder is not named by it, and the next append removes it (a first run's too: a folder
holding only generations and no head is a new index).

**One appender at a time.**  On a local disk the lock is ``flock``, released by the
kernel however its holder dies; on a store it is a lock object naming its holder, and
the head is checked unchanged before it is replaced, so two appends can never both
land.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson
import scipy.sparse as sp

from dedup.algorithms.cluster import DocumentCounts
from dedup.io.discover import UNSET, is_url
from dedup.io.outdir import flock_held, holder_line
from dedup.io.spool import atomic_file
from dedup.sequences import MadeOnDemand

FORMAT = "dedup-index"
VERSION = 1
HEAD = "index.json"
LOCK = ".dedup-index.lock"
GENERATION_PREFIX = "gen-"


class IndexStoreError(ValueError):
    """The index cannot be used (foreign, unreadable, other settings, busy): one clear
    message before any work, exit code 2."""


# -------------------------------------------------------------------------- contents


@dataclass(slots=True)
class Profiles:
    """Groups (events or stories) as the index keeps them: ids, language, date range,
    size and a term profile each.

    A profile is the group's mean TF-IDF vector over hashed terms, cut to its heaviest
    terms and L2-normalised: enough to tell whether a later group continues it.
    """

    ids: list[str]
    langs: list[str]
    parents: list[str]  # per event, its story ("" for a story)
    first_day: np.ndarray  # float64, NaN when undated
    last_day: np.ndarray  # float64
    size: np.ndarray  # int64 articles (copies included)
    touched: np.ndarray  # int64: the generation that last updated the group
    vectors: sp.csr_matrix  # float32 (groups, n_features)

    @classmethod
    def empty(cls, n_features: int) -> Profiles:
        """No group."""
        return cls([], [], [], np.zeros(0), np.zeros(0), np.zeros(0, np.int64),
                   np.zeros(0, np.int64), sp.csr_matrix((0, n_features), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: np.ndarray) -> Profiles:
        """The groups at ``rows``, in that order."""
        picked = rows.tolist()
        return Profiles([self.ids[r] for r in picked], [self.langs[r] for r in picked],
                        [self.parents[r] for r in picked], self.first_day[rows],
                        self.last_day[rows], self.size[rows], self.touched[rows],
                        sp.csr_matrix(self.vectors[rows]))

    @classmethod
    def stacked(cls, parts: Sequence[Profiles], n_features: int) -> Profiles:
        """Groups of several parts, in order."""
        if not parts:
            return cls.empty(n_features)
        return cls([i for p in parts for i in p.ids], [x for p in parts for x in p.langs],
                   [x for p in parts for x in p.parents],
                   np.concatenate([p.first_day for p in parts]),
                   np.concatenate([p.last_day for p in parts]),
                   np.concatenate([p.size for p in parts]),
                   np.concatenate([p.touched for p in parts]),
                   sp.csr_matrix(sp.vstack([p.vectors for p in parts], format="csr"),
                                 dtype=np.float32))


class Strings(MadeOnDemand[str]):
    """A read-only list of strings kept as one UTF-8 buffer and the offsets of their
    ends: an index's article ids and events, read by every run.

    As Python strings in lists they took about 200 bytes per earlier article (160 MB
    for 805,000), the part of an index's memory that compaction cannot bound; here
    it is their UTF-8 length plus 8 bytes.
    """

    __slots__ = ("_buffer", "_ends")

    def __init__(self, buffer: bytes, ends: np.ndarray) -> None:
        self._buffer = buffer
        self._ends = ends

    @classmethod
    def of(cls, items: Sequence[str]) -> Strings:
        encoded = [item.encode() for item in items]
        return cls(b"".join(encoded), np.cumsum([len(item) for item in encoded],
                                                 dtype=np.int64))

    @classmethod
    def joined(cls, lists: Sequence[Sequence[str]]) -> Strings:
        """The lists one after another."""
        parts = [part if isinstance(part, Strings) else cls.of(part) for part in lists]
        sizes = [len(part._buffer) for part in parts]
        starts = np.cumsum(sizes, dtype=np.int64) - np.asarray(sizes, dtype=np.int64)
        return cls(b"".join(part._buffer for part in parts), np.concatenate(
            [np.zeros(0, np.int64), *(part._ends + start for part, start
                                      in zip(parts, starts.tolist(), strict=True))]))

    def __len__(self) -> int:
        return int(self._ends.size)

    def item(self, index: int) -> str:
        start = int(self._ends[index - 1]) if index else 0
        return self._buffer[start:int(self._ends[index])].decode()

    def __iter__(self) -> Iterator[str]:
        start = 0
        for end in self._ends.tolist():
            yield self._buffer[start:end].decode()
            start = end


@dataclass(slots=True)
class Articles:
    """The canonical articles of earlier runs: what duplicates and copies need of them
    (the string fields are :class:`Strings` when read from an index).  An article's story
    is its event's (``Profiles.parents``), so it is not kept per article."""

    ids: Sequence[str]
    events: Sequence[str]  # per article, its event id
    exact: np.ndarray  # uint64 content hash
    shingles: np.ndarray  # int64 shingle count
    days: np.ndarray  # float64, NaN when undated
    lengths: np.ndarray  # int64 text length

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(slots=True)
class ArticleRows:
    """What later runs cluster with of some of a generation's articles: each one's
    language and heaviest term counts, and its embedding when the run had them."""

    articles: np.ndarray  # int64: their positions among the generation's, ascending
    langs: Sequence[str]
    rows: sp.csr_matrix  # float32 (len(articles), n_features)
    embeddings: np.ndarray | None = None  # float16 (len(articles), dimensions)

    def take(self, picks: np.ndarray) -> ArticleRows:
        """The entries at ``picks``, in that order."""
        return ArticleRows(self.articles[picks], [self.langs[p] for p in picks.tolist()],
                           sp.csr_matrix(self.rows[picks]),
                           None if self.embeddings is None else self.embeddings[picks])


@dataclass(slots=True)
class Generation:
    """What one run appends.  ``signatures`` is uint32 (articles, num_perm); the
    merges map an earlier event's id to the id it was merged into (stories never merge,
    see ``dedup.algorithms.continuation``); the fingerprint says which inputs the run
    read."""

    articles: Articles
    signatures: np.ndarray
    events: Profiles
    stories: Profiles
    merged_events: dict[str, str]
    fingerprint: str
    rows: ArticleRows | None = None
    counts: Mapping[str, DocumentCounts] = field(default_factory=dict)  # per language
    # the ids of the run's copies (not kept as articles): no later run may reuse them
    copy_ids: Sequence[str] = ()


# Index settings added since indexes were first made, each with the value that does what
# the job did before it: an index made before a setting existed was made with that value,
# which the run can then be given to keep appending to it.
SETTINGS_ADDED = {"dedup.min_line_words": 0, "dedup.min_paragraph_share": 0.6}


@dataclass(frozen=True, slots=True)
class Head:
    """The head file: the settings the index was made with, its generations (oldest
    first), and the fingerprints of the inputs of every run appended."""

    settings: dict[str, Any]
    generations: tuple[str, ...]
    fingerprints: tuple[str, ...]
    articles: int
    first_day: float | None
    last_day: float | None

    def to_bytes(self) -> bytes:
        return orjson.dumps({"format": FORMAT, "version": VERSION, "settings": self.settings,
                             "generations": list(self.generations),
                             "fingerprints": list(self.fingerprints),
                             "articles": self.articles, "first_day": self.first_day,
                             "last_day": self.last_day}, option=orjson.OPT_INDENT_2)

    @classmethod
    def parsed(cls, data: bytes, where: str) -> Head:
        """The head of an index; a file that is not one is refused with the reason."""
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError as err:
            raise IndexStoreError(f"{where}: not a dedup index (unreadable {HEAD}: {err})") \
                from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise IndexStoreError(f"{where}: not a dedup index ({HEAD} is another program's)")
        if raw.get("version") != VERSION:
            raise IndexStoreError(f"{where}: index format version {raw.get('version')}, "
                                  f"this dedup reads version {VERSION}")
        try:
            return cls({**SETTINGS_ADDED, **raw["settings"]}, tuple(raw["generations"]),
                       tuple(raw["fingerprints"]), int(raw["articles"]), raw["first_day"],
                       raw["last_day"])
        except (KeyError, TypeError, ValueError) as err:
            raise IndexStoreError(f"{where}: damaged {HEAD} ({err!r})") from None


# ---------------------------------------------------------------------------- storage


class Storage(Protocol):
    """The few file operations an index needs, on a local disk or an fsspec store."""

    where: str

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes) -> None: ...

    def names(self) -> list[str]: ...

    def remove(self, name: str) -> None: ...

    def size(self, name: str) -> int: ...

    def local_path(self, name: str) -> Path | None: ...

    def locked(self) -> AbstractContextManager[None]: ...


class LocalStorage:
    """An index folder on this machine's disk."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.where = str(root)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:  # a file where the folder should be, no permission...
            raise IndexStoreError(f"cannot read the index {self.where}: "
                                  f"{err.strerror or err}") from err

    def write(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as handle:
            handle.write(data)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()) if self.root.is_dir() else []

    def remove(self, name: str) -> None:
        target = self.root / name
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)

    def size(self, name: str) -> int:
        target = self.root / name
        if target.is_file():
            return target.stat().st_size
        return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())

    def local_path(self, name: str) -> Path | None:
        return self.root / name

    def locked(self) -> AbstractContextManager[None]:
        """``flock`` on the index's lock file: the kernel releases it when the holder
        dies."""
        def busy(holder: str) -> IndexStoreError:
            return IndexStoreError(f"another dedup run ({holder}) is appending to the index "
                                   f"{self.where}: wait for it to end (runs on one index "
                                   "take turns)")

        def unwritable(err: OSError) -> IndexStoreError:
            return IndexStoreError(f"cannot write to the index {self.where}: "
                                   f"{err.strerror or err}")

        return flock_held(self.root, LOCK, busy, unwritable)


class UrlStorage:
    """An index on an fsspec store (``s3://``, ``gs://``, ``memory://``...)."""

    def __init__(self, url: str) -> None:
        from dedup.io.discover import url_filesystem

        self.fs, self.root = url_filesystem(url)
        self.root = self.root.rstrip("/")
        self.where = url

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def read(self, name: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(self._path(name)))
        except FileNotFoundError:
            return None
        except OSError as err:  # no permission, a file where the folder should be...
            raise IndexStoreError(f"cannot read the index {self.where}: {err}") from err

    def write(self, name: str, data: bytes) -> None:
        """One object write: on a store, an object appears whole or not at all."""
        self.fs.pipe_file(self._path(name), data)

    def names(self) -> list[str]:
        if not self.fs.exists(self.root):
            return []
        return sorted(entry.rstrip("/").rsplit("/", 1)[-1]
                      for entry in self.fs.ls(self.root, detail=False))

    def remove(self, name: str) -> None:
        if self.fs.exists(self._path(name)):
            self.fs.rm(self._path(name), recursive=True)

    def size(self, name: str) -> int:
        return int(self.fs.du(self._path(name)))

    def local_path(self, name: str) -> Path | None:
        return None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """A lock object naming its holder: a store has no ``flock``.  A run that dies
        leaves it; the message says so, and deleting it frees the index."""
        holder = self.read(LOCK)
        if holder is not None:
            raise IndexStoreError(
                f"another dedup run ({holder.decode('utf-8', 'replace').strip()}) is appending "
                f"to the index {self.where}: wait for it to end; if that run is dead, delete "
                f"{self._path(LOCK)}")
        mine = holder_line().encode()
        self.write(LOCK, mine)
        if self.read(LOCK) != mine:
            raise IndexStoreError(f"another dedup run took the index {self.where} at the "
                                  "same moment: wait for it to end")
        try:
            yield
        finally:
            self.remove(LOCK)


def storage_for(location: str) -> Storage:
    """The index at ``location``: an fsspec URL or a local path (not an empty one, which
    ``Path`` would take for the current folder)."""
    if not location.strip():
        raise IndexStoreError(f"the index is an empty path{UNSET}")
    return UrlStorage(location) if is_url(location) else LocalStorage(Path(location))


# ------------------------------------------------------------------------- the index


class Index:
    """An index folder: its head, its generations, appending and compacting."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @classmethod
    def at(cls, location: str) -> Index:
        return cls(storage_for(location))

    @property
    def where(self) -> str:
        return self.storage.where

    def head(self) -> Head | None:
        """The head, or None for a new (absent or empty) index; a folder holding other
        things is refused, so an index is never written into a user's folder."""
        data = self.storage.read(HEAD)
        if data is None:
            foreign = [name for name in self.storage.names()
                       if name != LOCK and not _is_generation(name)]
            if foreign:
                shown = ", ".join(foreign[:3]) + ("..." if len(foreign) > 3 else "")
                raise IndexStoreError(f"{self.where}: not a dedup index (it holds {shown} "
                                      f"and no {HEAD}): give a new or empty folder")
            return None
        return Head.parsed(data, self.where)

    def checked_head(self, settings: Mapping[str, Any], fingerprint: str) -> Head | None:
        """The head if this run may append: same settings, inputs not appended before."""
        head = self.head()
        if head is None:
            return None
        self.check_settings(head, settings)
        if fingerprint in head.fingerprints:
            number = head.fingerprints.index(fingerprint) + 1
            raise IndexStoreError(f"these inputs were already appended to {self.where} (by "
                                  f"run {number} of {len(head.fingerprints)}): appending "
                                  "them again would make every article a copy of itself")
        return head

    def check_settings(self, head: Head, settings: Mapping[str, Any]) -> None:
        """Refuse settings other than those the index was made with: its signatures and
        profiles would not compare (or not read) with them."""
        differ = sorted(key for key in set(head.settings) | set(settings)
                        if head.settings.get(key) != settings.get(key))
        if differ:
            shown = "; ".join(f"{key}: index {head.settings.get(key)!r}, this run "
                              f"{settings.get(key)!r}" for key in differ[:5])
            raise IndexStoreError(f"{self.where} was made with other settings ({shown}): "
                                  "its signatures and profiles do not compare with this "
                                  "run's; use the index's settings or a new index")

    def read_generation(self, name: str, n_features: int) -> tuple[Articles, Profiles,
                                                                   Profiles, dict[str, str]]:
        """A generation's articles, event and story profiles, and merges; a file that
        cannot be read back is a damaged index, said as such."""
        def arrays(file: str) -> Mapping[str, np.ndarray]:
            return np.load(io.BytesIO(self._need(f"{name}/{file}")))

        def strings(file: str) -> dict[str, Any]:
            return dict(orjson.loads(self._need(f"{name}/{file}")))

        try:
            numbers, names = arrays("articles.npz"), strings("articles.json")
            articles = Articles(Strings.of(names["ids"]), Strings.of(names["events"]),
                                numbers["exact"], numbers["shingles"], numbers["days"],
                                numbers["lengths"])
            return (articles, self._profiles(name, "events", n_features),
                    self._profiles(name, "stories", n_features),
                    strings("merged.json")["events"])
        except (ValueError, KeyError, TypeError, AttributeError, EOFError,
                zipfile.BadZipFile) as err:
            raise IndexStoreError(f"{self.where}: damaged index, {name} cannot be read "
                                  f"({err!r:.200})") from None

    def read_ids(self, name: str) -> list[str]:
        """Every id a generation holds: its articles', then its copies'."""
        names = self._article_names(name)
        return [*names["ids"], *names.get("copies", [])]

    def read_copy_ids(self, name: str) -> list[str]:
        """A generation's copies' ids (an index made before they were kept has none)."""
        return list(self._article_names(name).get("copies", []))

    def _article_names(self, name: str) -> dict[str, list[str]]:
        """A generation's ``articles.json``; unreadable, a damaged index."""
        try:
            names = orjson.loads(self._need(f"{name}/articles.json"))
            if not isinstance(names, dict) or not isinstance(names["ids"], list) or \
                    not isinstance(names.get("copies", []), list):
                raise TypeError("articles.json holds no lists of ids")
            return names
        except (ValueError, KeyError, TypeError) as err:
            raise IndexStoreError(f"{self.where}: damaged index, {name} cannot be read "
                                  f"({err!r:.200})") from None

    def read_rows(self, name: str, n_features: int) -> ArticleRows | None:
        """A generation's article rows, or None if it has none (made before they were
        kept); a file that cannot be read back is a damaged index."""
        data = self.storage.read(f"{name}/rows.npz")
        if data is None:
            return None
        try:
            with np.load(io.BytesIO(data)) as numbers:
                articles = numbers["articles"]
                rows = sp.csr_matrix((numbers["data"], numbers["indices"], numbers["indptr"]),
                                     shape=(articles.size, n_features), dtype=np.float32)
                embeddings = numbers.get("embeddings")
            langs = orjson.loads(self._need(f"{name}/rows.json"))["langs"]
            if len(langs) != articles.size:
                raise ValueError(f"{len(langs)} languages for {articles.size} rows")
        except (ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:
            raise IndexStoreError(f"{self.where}: damaged index, {name} cannot be read "
                                  f"({err!r:.200})") from None
        return ArticleRows(articles, Strings.of(langs), rows, embeddings)

    def read_counts(self, name: str) -> dict[str, DocumentCounts]:
        """A generation's document frequencies per language; none from a generation made
        before they were kept.  A file that cannot be read back is a damaged index."""
        data = self.storage.read(f"{name}/terms.npz")
        if data is None:
            return {}
        try:
            with np.load(io.BytesIO(data)) as numbers:
                documents, ends = numbers["documents"], numbers["ends"]
                terms, holding = numbers["terms"], numbers["holding"]
            langs = orjson.loads(self._need(f"{name}/terms.json"))["langs"]
            if not len(langs) == documents.size == ends.size:
                raise ValueError(f"{len(langs)} languages for {documents.size} counts")
        except (ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:
            raise IndexStoreError(f"{self.where}: damaged index, {name} cannot be read "
                                  f"({err!r:.200})") from None
        starts = np.r_[0, ends[:-1]]
        return {lang: DocumentCounts(int(documents[i]), terms[starts[i]:ends[i]],
                                     holding[starts[i]:ends[i]])
                for i, lang in enumerate(langs)}

    def _profiles(self, name: str, kind: str, n_features: int) -> Profiles:
        numbers = np.load(io.BytesIO(self._need(f"{name}/{kind}.npz")))
        names = orjson.loads(self._need(f"{name}/{kind}.json"))
        vectors = sp.csr_matrix((numbers["data"], numbers["indices"], numbers["indptr"]),
                                shape=(len(names["ids"]), n_features), dtype=np.float32)
        return Profiles(names["ids"], names["langs"], names["parents"], numbers["first_day"],
                        numbers["last_day"], numbers["size"], numbers["touched"], vectors)

    def _need(self, name: str) -> bytes:
        data = self.storage.read(name)
        if data is None:
            raise IndexStoreError(f"{self.where}: damaged index, {name} is missing")
        return data

    def signature_files(self, name: str, work: Path, articles: int) -> tuple[Path, Path]:
        """A generation's signatures and sorted band keys as local files (read in place
        on a local disk, fetched into ``work`` from a store); the band keys' rows file is
        next to the keys (``dedup.algorithms.duplicates.band_rows_file``).  Each is
        checked whole here, so that a damaged one is said before the tasks read it."""
        files = ("signatures.npy", "bands.npy", "bands-rows.npy")
        folder = self.storage.local_path(name)
        if folder is None:
            folder = work / name
            folder.mkdir(parents=True, exist_ok=True)
            for file in files:
                (folder / file).write_bytes(self._need(f"{name}/{file}"))
        try:
            shapes = [np.load(folder / file, mmap_mode="r").shape for file in files]
        except (OSError, ValueError) as err:
            raise IndexStoreError(f"{self.where}: damaged index, {name} cannot be read "
                                  f"({err!r:.200})") from None
        if shapes[0][0] != articles or shapes[1] != shapes[2]:
            raise IndexStoreError(f"{self.where}: damaged index, {name} holds signatures of "
                                  f"{shapes[0][0]} articles for {articles}")
        return folder / files[0], folder / files[1]

    def append(self, head: Head | None, settings: Mapping[str, Any], generation: Generation,
               band_files: tuple[bytes, bytes]) -> Head:
        """Write ``generation`` whole, then the new head in one step.  ``head`` is the one
        this run read: if the index moved since, nothing is committed."""
        if self.head() != head:
            raise IndexStoreError(f"{self.where} changed while this run worked (another "
                                  "run appended to it): nothing was appended; run again")
        known = head.generations if head else ()
        self.drop_unnamed(known)
        name = _next_name(known)
        self.write_generation(name, generation, band_files)
        days = generation.articles.days[np.isfinite(generation.articles.days)]
        new = Head(dict(settings), (*known, name),
                   (*(head.fingerprints if head else ()), generation.fingerprint),
                   (head.articles if head else 0) + len(generation.articles),
                   _first(head.first_day if head else None,
                          float(days.min()) if days.size else None, min),
                   _first(head.last_day if head else None,
                          float(days.max()) if days.size else None, max))
        self.storage.write(HEAD, new.to_bytes())
        return new

    def drop_unnamed(self, known: Sequence[str]) -> None:
        """Remove generation folders the head does not name (a killed append's)."""
        for entry in self.storage.names():
            if entry.startswith(GENERATION_PREFIX) and entry not in known:
                self.storage.remove(entry)

    def write_generation(self, name: str, generation: Generation,
                         band_files: tuple[bytes, bytes]) -> None:
        """Every file of one generation."""
        articles = generation.articles
        self.storage.write(f"{name}/articles.npz", _npz(
            exact=articles.exact, shingles=articles.shingles, days=articles.days,
            lengths=articles.lengths))
        self.storage.write(f"{name}/articles.json", orjson.dumps(
            {"ids": list(articles.ids), "events": list(articles.events),
             "copies": list(generation.copy_ids)}))
        buffer = io.BytesIO()
        np.save(buffer, generation.signatures)
        self.storage.write(f"{name}/signatures.npy", buffer.getvalue())
        self.storage.write(f"{name}/bands.npy", band_files[0])
        self.storage.write(f"{name}/bands-rows.npy", band_files[1])
        for kind, profiles in (("events", generation.events), ("stories", generation.stories)):
            vectors = sp.csr_matrix(profiles.vectors, dtype=np.float32)
            self.storage.write(f"{name}/{kind}.npz", _npz(
                first_day=profiles.first_day, last_day=profiles.last_day, size=profiles.size,
                touched=profiles.touched, data=vectors.data, indices=vectors.indices,
                indptr=vectors.indptr))
            self.storage.write(f"{name}/{kind}.json", orjson.dumps(
                {"ids": profiles.ids, "langs": profiles.langs, "parents": profiles.parents}))
        self.storage.write(f"{name}/merged.json", orjson.dumps(
            {"events": generation.merged_events},
            option=orjson.OPT_SORT_KEYS))
        if generation.rows is not None:
            rows = sp.csr_matrix(generation.rows.rows, dtype=np.float32)
            extra = {} if generation.rows.embeddings is None else {
                "embeddings": generation.rows.embeddings.astype(np.float16)}
            self.storage.write(f"{name}/rows.npz", _npz(
                articles=generation.rows.articles.astype(np.int64), data=rows.data,
                indices=rows.indices, indptr=rows.indptr, **extra))
            self.storage.write(f"{name}/rows.json", orjson.dumps(
                {"langs": list(generation.rows.langs)}))
        langs = sorted(generation.counts)
        counts = [generation.counts[lang] for lang in langs]
        self.storage.write(f"{name}/terms.npz", _npz(
            documents=np.array([c.documents for c in counts], dtype=np.int64),
            ends=np.cumsum([c.terms.size for c in counts], dtype=np.int64),
            terms=np.concatenate([np.zeros(0, np.int64), *(c.terms for c in counts)]),
            holding=np.concatenate([np.zeros(0, np.int64), *(c.holding for c in counts)])))
        self.storage.write(f"{name}/terms.json", orjson.dumps({"langs": langs}))

    def replace_generations(self, head: Head, generation: Generation,
                            band_files: tuple[bytes, bytes]) -> Head:
        """Compaction: one generation in place of all of them, then the old ones go."""
        name = _next_name(head.generations)
        self.drop_unnamed(head.generations)
        self.write_generation(name, generation, band_files)
        new = Head(head.settings, (name,), head.fingerprints, head.articles,
                   head.first_day, head.last_day)
        self.storage.write(HEAD, new.to_bytes())
        self.drop_unnamed((name,))
        return new


def _is_generation(name: str) -> bool:
    """Whether ``name`` is a generation folder's (as :func:`_next_name` makes them)."""
    number = name.removeprefix(GENERATION_PREFIX)
    return name.startswith(GENERATION_PREFIX) and len(number) == 6 and number.isdigit()


def _next_name(known: Sequence[str]) -> str:
    """A generation name after every known one (compaction leaves gaps)."""
    numbers = [int(name.removeprefix(GENERATION_PREFIX)) for name in known]
    return f"{GENERATION_PREFIX}{max(numbers, default=0) + 1:06d}"


def _npz(**arrays: np.ndarray) -> bytes:
    """Arrays as an ``.npz`` archive (``np.load`` reads it) whose bytes depend on the
    arrays only: ``np.savez`` stamps each member with the time of writing."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(member, "w") as handle:
                np.lib.format.write_array(handle, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _first(a: float | None, b: float | None, pick: Any) -> float | None:
    """``pick`` of two optional values."""
    present = [value for value in (a, b) if value is not None]
    return float(pick(present)) if present else None
