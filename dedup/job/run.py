"""The batch job: everything checked before anything is touched, then the steps in order.

  read     the input cut into batches, each parsed, extracted and spooled by a task;
           ids repeated across chunks renamed (``dedup.job.corpus``)
  learn    the boilerplate of the whole input (``dedup.job.shuffles``)
  analyse  per chunk: clean, language, fingerprints, term vectors, anchors, and what
           the encoder is to read
  dedup    duplicate groups over the stacked corpus (``dedup.job.corpus``) and the
           chunks' signatures (the LSH shuffle, ``dedup.job.shuffles``)
  embed    per chunk, semantic mode only: embeddings of the articles that are not copies
  cluster  events, stories and cross-lingual links (``dedup.job.events``)
  write    articles, rejects and manifests (``dedup.job.manifests``), Parquet copies
  report   report.json, and report.html (``dedup.job.report``, ``dedup.job.htmlreport``)

Per-chunk work runs on an engine (the tasks of ``dedup.job.tasks``); the main process
holds compact arrays only.  Every input record ends in ``articles.jsonl`` or
``rejects.jsonl``, and the report proves it (``in = out + rejected``).  This module only
orders the steps, times them and maps the read and analyse passes onto the engine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dedup.algorithms.duplicates import find_duplicates
from dedup.config import Config, validate, with_resolved_model
from dedup.display import mode_line
from dedup.engines import open_engine
from dedup.engines.base import Engine, Pass, show_progress
from dedup.io.compression import without_compression
from dedup.io.discover import (
    PARQUET_SUFFIXES,
    InputFile,
    check_unchanged,
    discover_inputs,
    is_url,
    versions_of,
)
from dedup.io.outdir import (
    ARTICLE_PARTS,
    ARTICLES_FILE,
    CLUSTERS_FILE,
    KEPT_FILE,
    REJECTS_FILE,
    REPORT,
    STORIES_FILE,
    article_files,
    check_output_dir,
    discard_partial,
    open_run_dir,
    output_lock,
    publish,
    staging,
)
from dedup.io.presets import check_mapping
from dedup.io.read import Batch, LineBlock, RawItem, read_batches
from dedup.io.write import write_json
from dedup.job.appending import Appending
from dedup.job.checkpoint import run_fingerprint
from dedup.job.corpus import Corpus, fold_prepared, stack
from dedup.job.events import group_events
from dedup.job.htmlreport import HTML_REPORT, reject_examples, write_html
from dedup.job.incremental import duplicate_rows
from dedup.job.manifests import (
    MemberEntries,
    MemberHeads,
    event_facts,
    write_articles,
    write_clusters,
    write_stories,
)
from dedup.job.report import (
    build_report,
    engine_facts,
    report_samples,
    run_warnings,
    warned_reasons,
)
from dedup.job.shuffles import ChunkedSignatures, learn_boilerplate
from dedup.job.tasks import (
    EmbeddedChunk,
    analyse_chunk,
    chunk_path,
    embed_chunks,
    prepare_chunk,
)
from dedup.stages.embed import prepare
from dedup.stages.language import SiteLanguages, SitePrior

log = logging.getLogger("dedup")


def run_job(inputs: Sequence[str], out_dir: Path, cfg: Config, engine: Engine | None = None,
            resume: bool = False, force: bool = False, index: str | None = None,
            labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run the whole job and return the report (also written to ``out_dir/report.json``).

    Everything that can be checked is checked before anything is touched: the settings,
    the inputs, and the output folder (see ``dedup.io.outdir``: ``force`` lets a run write
    beside files dedup did not write, never over them).  With ``resume``, chunks that a
    killed run into ``out_dir`` had finished with the same inputs and configuration are
    not redone (see ``dedup.job.checkpoint``); the outputs are the same bytes as an
    uninterrupted run's.  A run that fails or is stopped keeps its finished chunks and
    removes what it half-wrote.

    With ``index`` (a folder or URL; see ``dedup.job.incremental``), today's articles
    are compared with everything appended to it before, and appended to it once the
    outputs are published.  The index is checked with the rest before any work, and
    held by this run until then.  ``labels`` name inputs in rejects' origins and the
    report by other names than their paths (the Python API's scratch files of records).
    """
    started = time.perf_counter()
    # Workers do not share the caller's working directory: joblib reuses its processes
    # across runs (a notebook may change directory between two), Dask's live elsewhere.
    out_dir = out_dir.absolute()
    validate(cfg)  # a Config built in Python has not been through load_config
    cfg = with_resolved_model(cfg)
    found = discover_inputs(inputs, cfg.read.follow_links, exclude=out_dir)
    files = [dataclasses.replace(file, label=(labels or {}).get(file.location))
             for file in found.files]
    for note in found.notes:
        log.warning("%s", note)
    check_mapping(files, cfg.read)
    check_output_dir(out_dir, files, outputs_written(cfg), force)
    appending = Appending.checked(index, out_dir, files, cfg) if index is not None else None
    prepare(cfg.embed.model)  # a table the workers read, built once if not cached
    with contextlib.ExitStack() as resources:
        if appending is not None:  # a busy index is refused before anything starts
            resources.enter_context(appending.locked())
        fingerprint = run_fingerprint(files, cfg, appending.state() if appending else None)
        # the engine next: a scheduler that cannot be reached leaves DIR untouched
        engine = engine or resources.enter_context(open_engine(
            cfg.run.engine, cfg.run.workers, cfg.run.scheduler, show_progress(cfg.run.progress)))
        with output_lock(out_dir):
            ledger = check_output_dir(out_dir, files, outputs_written(cfg), force)
            work, resumed = open_run_dir(out_dir, fingerprint, resume)
            try:
                report = run_steps(files, found.notes, work, resumed, cfg, engine, started,
                                   appending)
            except BaseException:
                resources.close()  # stops the engine's workers before their files are swept
                discard_partial(work)
                raise
            publish(out_dir, work, ledger)
            if appending is not None and appending.commit():
                # the published report said the day was not in the index yet: a run
                # killed between the two steps leaves that, and the day can run again
                report["index"]["committed"] = True
                write_json(out_dir / REPORT, report)
    return report


def outputs_written(cfg: Config) -> list[str]:
    """The top-level names a run with this configuration writes into its output folder."""
    articles = ARTICLE_PARTS if cfg.write.article_parts else ARTICLES_FILE
    parquet = ["articles.parquet", "clusters.parquet", "stories.parquet"] \
        if cfg.write.parquet else []
    kept = [KEPT_FILE, *(["kept.parquet"] if cfg.write.parquet else [])] \
        if cfg.write.kept_only else []
    html = [HTML_REPORT] if cfg.write.html else []
    return [articles, CLUSTERS_FILE, STORIES_FILE, REJECTS_FILE, *parquet, *kept,
            *html, REPORT]


def run_steps(files: Sequence[InputFile], notes: Sequence[str], work: Path, resumed: bool,
              cfg: Config, engine: Engine, started: float,
              appending: Appending | None = None) -> dict[str, Any]:
    """The job's steps in a prepared work folder; the outputs are left in its staging
    folder (and with ``appending``, today's part of the index is made ready to commit).
    Returns the report."""
    steps = Steps()
    steps.log.info("%s", mode_line(cfg.embed.model, engine_facts(engine)))

    versions = versions_of(files)
    prepared, renames = fold_prepared(
        engine.map(prepare_chunk, read_tasks(files, work, cfg), read_pass(files)),
        appending.earlier_ids() if appending is not None else None)
    check_unchanged(files, versions)
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
    steps.restart()  # stacking is counted in no step, as before; reading the index in dedup
    # a run without any article (an empty day) leaves the index as it was
    earlier = appending.read(work, corpus) if appending is not None and corpus.ids else None
    rows = duplicate_rows(corpus, earlier)
    dups = find_duplicates(rows.exact, ChunkedSignatures(
        corpus, cfg, engine, earlier.files if earlier else ()), rows.shingles, rows.id_rank,
        rows.days, rows.lengths, cfg.dedup, earlier=rows.earlier)
    within = dups.canonical != np.arange(dups.canonical.size)  # copies of this run's articles
    steps.done("dedup", f"{int(np.count_nonzero(within | (dups.copies >= 0))):,} copies")

    embedded = embed_pass(corpus, within, work, cfg, engine) if cfg.embed.model != "off" else []
    if embedded:
        steps.done("embed", f"{within.size - int(np.count_nonzero(within)):,} "
                            "articles that are not copies")

    grouping = group_events(corpus, dups, cfg, engine, work / "cluster", earlier)
    steps.done("cluster", f"{len(grouping.cluster_ids):,} events in "
                          f"{len(grouping.story_ids):,} stories")

    out = staging(work)
    out.mkdir()
    written = write_articles(out, work, corpus, grouping, engine, cfg)
    events = event_facts(corpus, grouping)
    with MemberHeads.opened(written.members) as heads:
        members = MemberEntries.of(corpus, grouping, heads)
        write_clusters(out, grouping, events, written.events, members)
        write_stories(out, corpus, grouping, events, written.stories, heads)
        if cfg.write.parquet:
            from dedup.io.parquet import parquet_copies  # pyarrow is an optional extra

            parquet_copies(out, article_files(out), cfg.write.kept_only,
                           continued=grouping.continued is not None)
        steps.done("write", ", ".join(sorted(path.name for path in out.iterdir())))
        samples = report_samples(out, corpus, grouping, events, members, written.sources) \
            if cfg.write.html else None

    report = build_report(files, notes, corpus, grouping, prepared, analysed, embedded, learned,
                          steps.wall, time.perf_counter() - started, engine, cfg, resumed)
    # the page shows examples of every reason; the warnings, of the reasons they name
    examples = reject_examples(out / REJECTS_FILE, report["counts"]["rejected_by_reason"]
                               if samples is not None else warned_reasons(report["counts"]))
    report["warnings"] = run_warnings(report["counts"], examples)
    if appending is not None:
        report["index"] = appending.prepare(corpus, grouping, earlier) if earlier is not None \
            else appending.untouched()
        report["warnings"] += appending.warnings(report["index"], report["counts"]["out"])
        # today's generation of the index, timed apart from the page made after it
        steps.done("index", f"{report['index']['articles_appended']:,} articles to append")
        report["seconds"]["wall_by_step"]["index"] = round(steps.wall["index"], 3)
    if samples is not None:
        samples["rejects"] = examples
        write_html(out / HTML_REPORT, report, samples)
        steps.done("html", HTML_REPORT)
        report["seconds"]["wall_by_step"]["html"] = round(steps.wall["html"], 3)
    write_json(out / REPORT, report)
    return report


def embed_pass(corpus: Corpus, copies: np.ndarray, work: Path, cfg: Config,
               engine: Engine) -> list[EmbeddedChunk]:
    """The encoder over every chunk's articles that are not ``copies`` (bool per row;
    ``embed_chunks``),
    a few chunks a task: tasks of at most :data:`EMBED_TASK_CHUNKS` chunks, as many as
    fill whole rounds of the workers (5 tasks on 2 workers left one idle for the last
    fifth of the pass)."""
    bounds = corpus.chunk_bounds.tolist()
    chunks = [(chunk_path(work, index), copies[start:stop])
              for index, (start, stop) in enumerate(itertools.pairwise(bounds))]
    workers = getattr(engine, "workers", None) or 1
    tasks = max(-(-len(chunks) // EMBED_TASK_CHUNKS), workers)
    tasks = min(len(chunks), -(-tasks // workers) * workers)  # rounds that fill every worker
    cuts = [len(chunks) * part // tasks for part in range(tasks + 1)] if chunks else []
    parts = engine.map(embed_chunks, ((chunks[lo:hi], cfg) for lo, hi in itertools.pairwise(
        cuts)), Pass("embed", len(chunks), "chunk", share=lambda task: len(task[0])))
    return [chunk for part in parts for chunk in part]


# Chunks an embed task takes at most: the encoder's kept token rows serve them all, and
# are made again by the next task (about 4 s; a task of 10 chunks takes two minutes),
# while the progress bar moves once a task.
EMBED_TASK_CHUNKS = 10


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


def read_tasks(files: Sequence[InputFile], work: Path,
               cfg: Config) -> Iterator[tuple[Batch, Path, Config]]:
    """Raw input cut into chunks of about ``run.chunk_size`` records, numbered in input order."""
    for index, batch in enumerate(read_batches(files, cfg.run.chunk_size, cfg.read)):
        yield batch, chunk_path(work, index), cfg


