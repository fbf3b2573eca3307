"""The job's per-chunk tasks, run by an engine in worker processes: each pass's body,
calling the stages in order, and the files it leaves in the chunk's place.

Two passes touch every record.  ``prepare_chunk`` (read + HTML extraction) spools records
to a chunk file and saves its short lines' keys (the map side of the boilerplate
learning, see ``dedup.algorithms.boilerplate``), because the cleaner needs the
boilerplate learned from *all* articles before it can clean any.  ``analyse_chunk``
(clean → language → fingerprints and term vectors) spools the cleaned records'
articles.jsonl rows, less their placement, in place of the records, and returns only
compact arrays to the main process: texts never leave the chunk files until
``finish_chunk`` completes the rows, once every article's cluster is known, and hands
them to the main process to append in order.  In semantic mode ``embed_chunks`` runs
between the two, once the duplicate step has found the copies: the encoder, most of
such a run's time, reads only the articles that are not copies.  Each pass saves its
result last (see ``dedup.job.checkpoint``), so a resumed run skips the chunks a killed
one had finished.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson
from scipy.sparse import csr_matrix, save_npz

from dedup.algorithms.boilerplate import (
    Article,
    Boilerplate,
    Removals,
    learned_lines,
    line_files,
    map_lines,
    save_chunk_lines,
    site_of,
)
from dedup.algorithms.cluster import (
    ClusterConfig,
    feature_terms,
    rows_by_language,
    term_bodies,
    vectorize,
)
from dedup.algorithms.duplicates import fingerprint, save_sorted_band_keys
from dedup.algorithms.link import anchor_rows
from dedup.algorithms.tokens import documents
from dedup.io.read import Batch, numbered_items
from dedup.io.spool import (
    atomic_file,
    merged_rejects,
    read_records,
    read_row_parts,
    row_files,
    save_array,
    save_rows,
    spool_rejects,
    write_records,
    write_row_parts,
)
from dedup.io.write import (
    Placement,
    article_row_parts,
    cluster_description,
    member_head,
    placed_row,
    row_fields,
)
from dedup.job.checkpoint import files_intact, is_plain_name, load_result, save_result
from dedup.records import Record, Reject
from dedup.sequences import MadeOnDemand
from dedup.stages.clean import clean_article, has_sentence, normalise_lines
from dedup.stages.embed import TokenRows, embed_leads, leads, token_rows
from dedup.stages.extract import apply_extraction
from dedup.stages.language import SiteLanguages, SitePrior, guessed_languages, languages_of
from dedup.stages.parse import parse_item, published_day

if TYPE_CHECKING:
    from dedup.config import Config


@dataclass(slots=True)
class Timer:
    """Seconds spent per stage inside one chunk, summed later across chunks."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block under ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


@dataclass(slots=True)
class PreparedChunk:
    """What the main process keeps from the first pass over a chunk.

    Rejected records wait in the chunk's rejects file (they may be millions: a dump of
    empty lines), so only their count per reason comes back.
    """

    ids: list[str]  # emptied once the main process has made them unique
    seqs: np.ndarray  # int64 input position of each kept record
    rejected: dict[str, int]  # rejected records per reason
    group_keys: np.ndarray  # uint64: the site groups of its articles (dedup.algorithms.boilerplate)
    group_docs: np.ndarray  # int64: how many of its articles each group has
    line_keys: int  # keys its map side saved (for sizing the learning tasks)
    site_languages: SiteLanguages  # its pages per site and guessed language
    seconds: dict[str, float]
    reused: bool = False  # loaded from a killed run's saved result


@dataclass(slots=True)
class AnalysedChunk:
    """Compact per-article arrays for the global steps (no texts)."""

    seqs: np.ndarray  # int64 input position
    ids: list[str]
    langs: list[str]
    days: np.ndarray  # float64 days since epoch, NaN when unknown
    published: list[str | None]  # as given, for the clusters' first and last dates
    lengths: np.ndarray  # int64 characters of cleaned text
    exact: np.ndarray  # uint64 content hash per row (0 = no content)
    shingles: np.ndarray  # int64 shingles compared for duplicates per row
    vector_parts: dict[str, Path]  # per language: its rows' term vectors, in chunk order
    rejected: dict[str, int]  # records the cleaner emptied, per reason
    flagged: dict[str, int]  # articles per flag (what was changed or guessed in them)
    removals: Removals  # what the cleaner removed, for the report
    seconds: dict[str, float]
    reused: bool = False  # loaded from a killed run's saved result


def chunk_itself(path: Path) -> Path:
    """The chunk's spool file itself: as ``ChunkFiles.name_of``, the chunks' paths, for
    tasks that read several files named from each."""
    return path


def chunk_path(work: Path, index: int) -> Path:
    """The spool file of chunk ``index``; the chunk's other files are named from it."""
    return work / f"chunk-{index:06d}.jsonl"


def signatures_path(path: Path) -> Path:
    """Where the second pass saves a chunk's MinHash signatures."""
    return path.with_name(f"{path.stem}-signatures.npy")


def leads_path(path: Path) -> Path:
    """Where the second pass spools what the encoder reads of a chunk's articles (if the
    run embeds; :func:`~dedup.stages.embed.leads`)."""
    return path.with_name(f"{path.stem}-leads.json")


def embeddings_path(path: Path) -> Path:
    """Where the embed pass saves a chunk's semantic embeddings (if the run has them)."""
    return path.with_name(f"{path.stem}-embeddings.npy")


def embedded_path(path: Path) -> Path:
    """Where the embed pass saves a chunk's result."""
    return path.with_suffix(".embedded")


def anchors_path(path: Path) -> Path:
    """Where the second pass saves a chunk's anchor counts (``save_npz``)."""
    return path.with_name(f"{path.stem}-anchors.npz")


def band_keys_path(path: Path) -> Path:
    """Where the second pass saves a chunk's sorted LSH band keys."""
    return path.with_name(f"{path.stem}-bands.npy")


class Paths(MadeOnDemand[Path]):
    """Paths made on demand from a few fields, so that a task reading every chunk gets a
    few bytes instead of a list: a list of 50,000 paths is 3 MB sent with each of the
    hundreds of tasks of a large run.  Subclasses say how many and which."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ChunkFiles(Paths):
    """One file of every chunk, ``name_of(chunk_path(work, i))`` for i in order."""

    work: Path
    chunks: int
    name_of: Callable[[Path], Path]  # a module-level function, pickled by name

    def __len__(self) -> int:
        return self.chunks

    def item(self, index: int) -> Path:
        return self.name_of(chunk_path(self.work, index))


@dataclass(frozen=True, slots=True)
class Chained(Paths):
    """The chunks' files, then a few more (an index's generations')."""

    chunks: Sequence[Path]
    more: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.chunks) + len(self.more)

    def item(self, index: int) -> Path:
        return self.chunks[index] if index < len(self.chunks) else \
            self.more[index - len(self.chunks)]


def read_rejects_path(path: Path) -> Path:
    """The records the first pass rejected (unreadable, malformed, empty...)."""
    return path.with_name(f"{path.stem}-rejects-read.txt")


def clean_rejects_path(path: Path) -> Path:
    """The records the second pass rejected (nothing left after cleaning)."""
    return path.with_name(f"{path.stem}-rejects-clean.txt")


def prepared_path(path: Path) -> Path:
    """Where the first pass saves a chunk's result (see ``dedup.job.checkpoint``)."""
    return path.with_suffix(".prepared")


def analysed_path(path: Path) -> Path:
    """Where the second pass saves a chunk's result."""
    return path.with_suffix(".analysed")


def rows_path(path: Path) -> Path:
    """The chunk's articles.jsonl rows, less their placement (second pass)."""
    return path.with_suffix(".rows")


@contextmanager
def _cycles_left_for_later() -> Iterator[None]:
    """Pause the garbage collector's cycle detection for one chunk's task, and leave it
    as it was.

    A chunk's records, lines and arrays are freed by reference counting as soon as they
    are done with; what the collector's full passes visit is what a worker keeps
    between chunks (its known lines and vocabulary, the libraries' modules), over and
    over.  With them, the clean stage took 11% more CPU on 100,000 articles of the
    realistic dump (run side by side).  Cycles a task makes (a caught exception's
    traceback) wait until it ends.  Threads of one process (a Dask worker's) share the
    switch: a task that starts while another has paused it leaves it to that one to
    turn back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def prepare_chunk(batch: Batch, path: Path, cfg: Config) -> PreparedChunk:
    """Read stage for one chunk: decode, extract HTML, spool, count template lines.

    A chunk a killed run had finished is not redone (its result is saved last).
    """
    with _cycles_left_for_later():
        return _prepare_chunk(batch, path, cfg)


def _prepare_chunk(batch: Batch, path: Path, cfg: Config) -> PreparedChunk:
    """:func:`prepare_chunk`'s work."""
    done = load_prepared(path)
    if done is not None:
        return done
    timer = Timer()
    records: list[Record] = []
    rejects: list[tuple[int, Reject]] = []
    with timer.stage("read"):
        items = numbered_items(batch)
    for seq, item in items:
        with timer.stage("read"):
            parsed = item if isinstance(item, Reject) else parse_item(item, cfg.read)
        if isinstance(parsed, Record) and parsed.html is not None:
            with timer.stage("extract"):
                parsed = apply_extraction(parsed, cfg.extract, cfg.read.max_text_chars,
                                          cfg.read.max_title_chars)
        if isinstance(parsed, Reject):
            rejects.append((seq, parsed))
            continue
        parsed.seq = seq
        records.append(parsed)
    with timer.stage("language"):
        langs = guessed_languages(records, cfg.language)
    with timer.stage("clean"):
        articles = [Article(site_of(r.source, r.url), lang, normalise_lines(r.text))
                    for r, lang in zip(records, langs, strict=True)]
        for record, article in zip(records, articles, strict=True):
            record.text = "\n".join(article.lines)  # what every later stage reads
        lines = map_lines(articles, cfg.clean.boilerplate_max_line_chars)
        save_chunk_lines(path, lines)
        group_keys, group_docs = np.unique(lines.groups.reshape(-1), return_counts=True)
    with timer.stage("read"):
        write_records(path, records)
        rejected = spool_rejects(read_rejects_path(path), rejects)
    result = PreparedChunk(ids=[r.id for r in records],
                           seqs=np.array([r.seq for r in records], dtype=np.int64),
                           rejected=rejected, group_keys=group_keys,
                           group_docs=group_docs.astype(np.int64), line_keys=len(lines.keys),
                           site_languages=SiteLanguages.counted(
                               [article.site for article in articles], langs),
                           seconds=timer.seconds)
    save_prepared(path, result)
    return result


def save_prepared(path: Path, chunk: PreparedChunk) -> None:
    """Save the first pass's result, with the sizes of the files it wrote."""
    save_result(prepared_path(path), {
        "ids": chunk.ids, "seqs": chunk.seqs, "rejected": chunk.rejected,
        "seconds": chunk.seconds, "group_keys": chunk.group_keys,
        "group_docs": chunk.group_docs, "line_keys": chunk.line_keys,
        "language_sites": chunk.site_languages.sites,
        "language_columns": chunk.site_languages.columns,
        "language_pages": chunk.site_languages.pages,
        "files": file_sizes(path.parent, [path, read_rejects_path(path),
                                          *line_files(path)]),
    })


def load_prepared(path: Path) -> PreparedChunk | None:
    """A killed run's first-pass result for this chunk, if it is whole and so are its
    files (the records file is gone once the second pass has saved its result)."""
    saved = load_result(prepared_path(path))
    try:
        if saved is None or not prepared_files_intact(path, saved["files"]):
            return None
        return PreparedChunk(ids=[str(i) for i in saved["ids"]],
                             seqs=saved["seqs"].astype(np.int64),
                             rejected=reason_counts(saved["rejected"]),
                             group_keys=saved["group_keys"].astype(np.uint64),
                             group_docs=saved["group_docs"].astype(np.int64),
                             line_keys=int(saved["line_keys"]),
                             site_languages=SiteLanguages(
                                 saved["language_sites"].astype(np.uint64),
                                 saved["language_columns"].astype(np.int64),
                                 saved["language_pages"].astype(np.int64)),
                             seconds=stage_seconds(saved["seconds"]), reused=True)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def prepared_files_intact(path: Path, sizes: Mapping[str, int]) -> bool:
    """Whether the files a first-pass result names are intact.  Its records file goes
    once the second pass has saved its result, which must then be intact itself."""
    if files_intact(path.parent, sizes):
        return True
    others = {name: size for name, size in sizes.items() if name != path.name}
    return not path.exists() and files_intact(path.parent, others) and \
        load_analysed(path) is not None


def file_sizes(folder: Path, paths: Iterable[Path]) -> dict[str, int]:
    """Name (in ``folder``) and size of each file, for :func:`files_intact`."""
    return {path.relative_to(folder).as_posix(): path.stat().st_size for path in paths}


def reason_counts(saved: Mapping[str, int]) -> dict[str, int]:
    """Counts per reject reason (or flag) as saved, checked."""
    return {str(reason): int(count) for reason, count in saved.items()}


def stage_seconds(saved: Mapping[str, float]) -> dict[str, float]:
    """Seconds per stage as saved, checked."""
    return {str(stage): float(seconds) for stage, seconds in saved.items()}


def analyse_chunk(path: Path, renames: Mapping[int, str], boilerplate: Path,
                  site_prior: Path, cfg: Config) -> AnalysedChunk:
    """Clean, detect language and compute dedup/cluster features for one spooled chunk.

    ``boilerplate`` is the file of the boilerplate learned from all chunks, ``site_prior``
    that of the sites' languages (:class:`~dedup.stages.language.SitePrior`).  A chunk a
    killed run had finished is not redone; once its result is saved, the records file
    has served (the rows file holds the cleaned articles) and goes.
    """
    with _cycles_left_for_later():
        return _analyse_chunk(path, renames, boilerplate, site_prior, cfg)


def _analyse_chunk(path: Path, renames: Mapping[int, str], boilerplate: Path,
                   site_prior: Path, cfg: Config) -> AnalysedChunk:
    """:func:`analyse_chunk`'s work."""
    done = load_analysed(path)
    if done is not None:
        return done
    try:
        records = read_records(path)
    except FileNotFoundError:
        # another run of this task (a lost worker's, or a killed run's) finished it first
        if (done := load_analysed(path)) is None:
            raise
        return done
    timer = Timer()
    kept: list[Record] = []
    rejects: list[tuple[int, Reject]] = []
    removals = Removals.empty()
    with timer.stage("clean"):
        learned = learned_lines(path, Boilerplate.load(boilerplate))
    for row, record in enumerate(records):
        if record.seq in renames:
            record.id = renames[record.seq]
            record.flags.append("duplicate_id")
        with timer.stage("clean"):
            cleaned = clean_article(record.title, record.text, record.source, cfg.clean,
                                    learned.get(row), normalised=True, url=record.url)
            removals.add(record.source or "", cleaned.removed_lines, cleaned.by_pattern,
                         site_of(record.source, record.url))
        if cleaned.title.strip() or cleaned.text.strip():
            record.title, record.text = cleaned.title, cleaned.text
            record.flags.extend(cleaned.flags)
        elif has_sentence(record, cfg.clean.min_sentence_words):
            record.flags.append("cleaning_skipped")
        else:
            rejects.append((record.seq, Reject(origin=record.origin, reason="only_boilerplate",
                                               detail="nothing left after cleaning",
                                               id=record.id)))
            continue
        kept.append(record)
    with timer.stage("language"):
        found_languages = languages_of(kept, SitePrior.load(site_prior), cfg.language)
        for record, found in zip(kept, found_languages, strict=True):
            record.lang, record.lang_confidence = found.lang, found.confidence
    with timer.stage("tokenise"):
        titles, texts = [r.title for r in kept], [r.text for r in kept]
        docs = documents(titles, texts)  # for the stages below (cluster terms may add URL words)
    langs = [r.lang or "und" for r in kept]
    with timer.stage("dedup"):
        prints = fingerprint(docs, cfg.dedup)
        save_array(signatures_path(path), prints.signatures)
        save_sorted_band_keys(band_keys_path(path), prints.signatures, cfg.dedup)
    with timer.stage("cluster"):
        bodies = term_bodies(titles, texts, [r.url for r in kept], cfg.cluster)
        if bodies is not texts:  # headlines with words from their URLs
            docs = documents(titles, bodies)
            for record, body in zip(kept, bodies, strict=True):
                if body and not record.text:
                    record.flags.append("url_words")
        vector_parts = spool_vectors(path, vectorize(docs, langs, cfg.cluster), langs)
    if cfg.embed.model != "off":
        with timer.stage("embed"), atomic_file(leads_path(path), sync=False) as handle:
            handle.write(orjson.dumps(leads(titles, texts, langs, cfg.embed)))
    with timer.stage("link"), atomic_file(anchors_path(path), sync=False) as handle:
        save_npz(handle, anchor_rows(titles, texts, cfg.link), compressed=False)
    with timer.stage("write"):
        write_row_parts(rows_path(path), map(article_row_parts, kept))
        rejected = spool_rejects(clean_rejects_path(path), rejects)
    result = AnalysedChunk(
        seqs=np.array([r.seq for r in kept], dtype=np.int64),
        ids=[r.id for r in kept],
        langs=langs,
        days=np.array([published_day(r.published) for r in kept], dtype=np.float64),
        published=[r.published for r in kept],
        lengths=np.array([len(r.text) for r in kept], dtype=np.int64),
        exact=prints.exact,
        shingles=prints.shingles,
        vector_parts=vector_parts,
        rejected=rejected,
        flagged=dict(Counter(flag for record in kept for flag in record.flags)),
        removals=removals,
        seconds=timer.seconds,
    )
    save_analysed(path, result, embedded=cfg.embed.model != "off")
    path.unlink(missing_ok=True)  # a rerun of this task (a lost worker) may be first
    return result


def analysis_files(path: Path, chunk: AnalysedChunk, embedded: bool) -> list[Path]:
    """Every file the second pass wrote for a chunk."""
    return [rows_path(path), clean_rejects_path(path), signatures_path(path),
            band_keys_path(path), anchors_path(path),
            *([leads_path(path)] if embedded else []),
            *(part for base in chunk.vector_parts.values() for part in row_files(base))]


def save_analysed(path: Path, chunk: AnalysedChunk, embedded: bool) -> None:
    """Save the second pass's result, with the sizes of the files it wrote."""
    save_result(analysed_path(path), {
        "seqs": chunk.seqs, "ids": chunk.ids, "langs": chunk.langs, "days": chunk.days,
        "published": chunk.published, "lengths": chunk.lengths, "exact": chunk.exact,
        "shingles": chunk.shingles,
        "vector_parts": {lang: base.name for lang, base in chunk.vector_parts.items()},
        "rejected": chunk.rejected, "flagged": chunk.flagged, "seconds": chunk.seconds,
        "removals": [chunk.removals.sources, chunk.removals.by_pattern,
                     chunk.removals.patterns],
        "files": file_sizes(path.parent, analysis_files(path, chunk, embedded)),
    })


def load_analysed(path: Path) -> AnalysedChunk | None:
    """A killed run's second-pass result for this chunk, if it is whole and so are its
    files."""
    saved = load_result(analysed_path(path))
    try:
        if saved is None or not files_intact(path.parent, saved["files"]):
            return None
        names = {str(lang): str(name) for lang, name in saved["vector_parts"].items()}
        vector_parts = {lang: path.parent / name for lang, name in names.items()}
        if not all(is_plain_name(name) for name in names.values()) or not all(
                part.name in saved["files"]
                for base in vector_parts.values() for part in row_files(base)):
            return None
        return AnalysedChunk(
            seqs=saved["seqs"].astype(np.int64), ids=[str(i) for i in saved["ids"]],
            langs=[str(lang) for lang in saved["langs"]],
            days=saved["days"].astype(np.float64),
            published=[None if p is None else str(p) for p in saved["published"]],
            lengths=saved["lengths"].astype(np.int64), exact=saved["exact"].astype(np.uint64),
            shingles=saved["shingles"].astype(np.int64),
            vector_parts=vector_parts, rejected=reason_counts(saved["rejected"]),
            flagged=reason_counts(saved["flagged"]), removals=Removals(*saved["removals"]),
            seconds=stage_seconds(saved["seconds"]), reused=True)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


@dataclass(slots=True)
class EmbeddedChunk:
    """What the embed pass returns of a chunk: its time (the vectors stay on disk)."""

    seconds: dict[str, float]
    reused: bool = False  # loaded from a killed run's saved result


def embed_chunks(chunks: Sequence[tuple[Path, np.ndarray]], cfg: Config) -> list[EmbeddedChunk]:
    """Embed the articles that are not copies of each of ``chunks`` (its path, and per
    row the analyse pass kept whether it is a copy), from the leads that pass spooled;
    a copy gets a zero row.

    A pass of its own, after the duplicate step: a copy joins its canonical's event and
    no decision reads its vector, and the encoder is most of a semantic run's time
    (syndicated copies are a fifth of a news dump).  A task takes several chunks so
    that the token rows the encoder keeps (``embed.token_rows``) serve them all; they
    go with the task, so the worker does not hold them through the later steps.
    """
    rows = cache(token_rows)  # made when a chunk first needs the full encoder
    return [embed_chunk(path, copies, cfg, rows) for path, copies in chunks]


def embed_chunk(path: Path, copies: np.ndarray, cfg: Config,
                rows: Callable[[], TokenRows]) -> EmbeddedChunk:
    """One chunk of :func:`embed_chunks`; a chunk a killed run had finished is not redone."""
    saved = load_result(embedded_path(path))
    if saved is not None and files_intact(path.parent, saved.get("files", {})):
        return EmbeddedChunk(stage_seconds(saved["seconds"]), reused=True)
    timer = Timer()
    with timer.stage("embed"):
        found = orjson.loads(leads_path(path).read_bytes())
        wanted = [None if copy else lead for lead, copy in zip(found, copies.tolist(),
                                                                strict=True)]
        save_array(embeddings_path(path), embed_leads(wanted, cfg.embed, rows))
    save_result(embedded_path(path), {
        "seconds": timer.seconds,
        "files": file_sizes(path.parent, [embeddings_path(path)])})
    return EmbeddedChunk(timer.seconds)


def spool_vectors(path: Path, vectors: csr_matrix, langs: Sequence[str]) -> dict[str, Path]:
    """Save a chunk's term vectors per language next to its records; returns the files.

    The vectors are the largest per-article data; kept on disk, the main process never
    holds them, and a language block's clustering task loads only its language's parts.
    """
    parts: dict[str, Path] = {}
    for number, (lang, rows) in enumerate(rows_by_language(langs).items()):
        parts[lang] = save_rows(path.with_name(f"{path.stem}-vectors-{number}"), vectors[rows])
    return parts


@dataclass(slots=True)
class ChunkPlacement:
    """Where each row of one chunk ended up, as the write pass needs it (no texts)."""

    labels: list[int]
    cluster_ids: list[str]
    story_ids: list[str]
    dup_groups: list[str]
    is_duplicate: list[bool]
    is_representative: list[bool]
    top_features: dict[int, list[int]]  # per label whose representative is in this chunk
    # per story whose representative is in this chunk: its row in the chunk, top features
    story_representatives: dict[int, tuple[int, list[int]]]
    cluster: ClusterConfig


@dataclass(slots=True)
class FinishedChunk:
    """One chunk's share of the outputs, returned to the main process to append in order.

    Returned rather than spooled: writing each chunk's rows to a part file and copying
    it into articles.jsonl wrote every byte twice, and on a full page cache the copy
    waited on the disk (16 s of the write step at 1M articles).
    """

    articles: bytes  # the chunk's articles.jsonl lines (empty when written to a part)
    labels: list[int]  # the clusters whose representatives are in the chunk
    descriptions: list[bytes]  # each of those clusters' description, in the same order
    stories: list[int]  # the stories whose representatives are in the chunk
    story_descriptions: list[bytes]  # each of those stories' description, in that order
    rejects: bytes  # the chunk's rejects.jsonl lines
    members: list[bytes]  # per row, its manifest member entry's head (see member_head)
    kept: bytes  # the lines of its canonical articles, when asked for kept.jsonl
    sources: dict[str, list[int]]  # per source ("" for none): its articles and copies


def finish_chunk(chunk: Path, placement: ChunkPlacement, part: Path | None = None,
                 kept: bool = False) -> FinishedChunk:
    """One chunk's articles.jsonl and rejects.jsonl lines, its clusters' and stories'
    descriptions, and its rows' member entries for the manifests.

    With ``part`` the article rows are written to that file here, in the worker, and not
    returned (``write.article_parts``).  With ``kept``, the rows of the canonical
    articles (no copies) are also returned, for kept.jsonl (``write.kept_only``).
    """
    rows = read_row_parts(rows_path(chunk))
    lines = [placed_row(head, tail, Placement(
        cluster_id=placement.cluster_ids[i],
        story_id=placement.story_ids[i],
        dup_group=placement.dup_groups[i],
        duplicate_of=placement.dup_groups[i] if placement.is_duplicate[i] else None,
        is_representative=placement.is_representative[i],
    )) for i, (head, tail) in enumerate(rows)]
    articles = b"".join(lines)
    canonical = b"".join([line for line, copy in zip(lines, placement.is_duplicate, strict=True)
                          if not copy]) if kept else b""
    events = [(i, placement.top_features[placement.labels[i]])
              for i, flag in enumerate(placement.is_representative) if flag]
    stories = sorted(placement.story_representatives.items())
    descriptions = describe_representatives(
        rows, events + [chosen for _, chosen in stories], placement.cluster)
    if part is not None:
        with atomic_file(part) as handle:
            handle.write(articles)
        articles = b""
    members = [member_head(head, tail) for head, tail in rows]
    return FinishedChunk(articles=articles, labels=[placement.labels[i] for i, _ in events],
                         descriptions=descriptions[:len(events)],
                         stories=[story for story, _ in stories],
                         story_descriptions=descriptions[len(events):],
                         rejects=merged_rejects([read_rejects_path(chunk),
                                                 clean_rejects_path(chunk)]),
                         members=members, kept=canonical,
                         sources=source_counts(members, placement.is_duplicate))


def source_counts(members: Sequence[bytes],
                  is_duplicate: Sequence[bool]) -> dict[str, list[int]]:
    """Per source of the rows ("" for none), how many articles and copies it has: the
    HTML report's duplicates per source, counted where the rows are, from their
    :func:`~dedup.io.write.member_head` (small, already made) rather than their rows."""
    counts: dict[str, list[int]] = {}
    for member, copy in zip(members, is_duplicate, strict=True):
        source = orjson.loads(member + b"}")["source"] or ""
        count = counts.setdefault(source, [0, 0])
        count[0] += 1
        count[1] += copy
    return counts


def describe_representatives(rows: Sequence[tuple[bytes, bytes]],
                             chosen: Sequence[tuple[int, list[int]]],
                             cfg: ClusterConfig) -> list[bytes]:
    """The description (lead, top terms) of each chosen representative: (its row in the
    chunk, its cluster's or story's top features).

    Descriptions wait on disk for the manifests: held in the main process, a million
    clusters' leads and terms were its largest object.  The representatives are
    tokenised together: one by one, finding their terms cost more than the rest of the
    write pass.  Each distinct (row, features) is described once: a story of one event
    has that event's representative and top features, and a fifth of the descriptions
    at 1M were such repeats.
    """
    distinct: dict[tuple[int, tuple[int, ...]], int] = {}
    slot = [distinct.setdefault((i, tuple(features)), len(distinct)) for i, features in chosen]
    representatives = [row_fields(*rows[i]) for i, _ in distinct]
    titles = [r["title"] for r in representatives]
    terms = feature_terms(documents(titles, term_bodies(
                              titles, [r["text"] for r in representatives],
                              [r.get("url") for r in representatives], cfg)),
                          [r["lang"] or "und" for r in representatives],
                          [features for _, features in distinct], cfg)
    described = [cluster_description(row, top)
                 for row, top in zip(representatives, terms, strict=True)]
    return [described[k] for k in slot]


