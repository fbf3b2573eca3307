"""The outputs' rows: articles.jsonl, rejects.jsonl and kept.jsonl finished per chunk by
the workers and appended in chunk order, then clusters.jsonl and stories.jsonl from sorts
over all rows, with each cluster's and story's description and every row's member entry
spliced in as the workers wrote them.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from dedup.config import Config
from dedup.engines.base import Engine, Pass
from dedup.io.outdir import (
    ARTICLE_PARTS,
    ARTICLES_FILE,
    CLUSTERS_FILE,
    KEPT_FILE,
    REJECTS_FILE,
    STORIES_FILE,
)
from dedup.io.spool import atomic_file, json_bytes
from dedup.io.write import cluster_line, member_entry
from dedup.job.corpus import Corpus
from dedup.job.events import Grouping
from dedup.job.tasks import ChunkPlacement, chunk_path, finish_chunk


def chunk_placements(corpus: Corpus, grouping: Grouping,
                     cfg: Config) -> Iterator[ChunkPlacement]:
    """Per chunk, where each of its rows ended up (array look-ups, no texts)."""
    for start, stop in itertools.pairwise(corpus.chunk_bounds.tolist()):
        rows = np.arange(start, stop)
        copied = grouping.copied(corpus.ids, start, stop)
        labels = grouping.label[start:stop]
        stories = grouping.story_of[labels]
        representative = grouping.representative_row[labels] == rows
        story_representative = np.flatnonzero(grouping.story_representative_row[stories] == rows)
        yield ChunkPlacement(
            labels=labels.tolist(),
            cluster_ids=[grouping.cluster_ids[lab] for lab in labels.tolist()],
            story_ids=[grouping.story_ids[story] for story in stories.tolist()],
            dup_groups=[copy or corpus.ids[row] for row, copy in zip(range(start, stop), copied,
                                                                     strict=True)],
            is_duplicate=[copy is not None for copy in copied],
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
    members: Descriptions  # each row's member head (see ``dedup.io.write.member_head``)
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
    source, published; see ``dedup.io.write.member_head``), also kept on disk, and the
    articles and copies per source.
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
            atomic_file(out_dir / ARTICLES_FILE))
        rejects = files.enter_context(atomic_file(out_dir / REJECTS_FILE))
        kept = files.enter_context(atomic_file(out_dir / KEPT_FILE)) \
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


def members_best_first(corpus: Corpus, grouping: Grouping) -> tuple[np.ndarray, np.ndarray]:
    """All rows grouped by cluster, each cluster's representative first, then the others by
    similarity to it (highest first) and id; and where each cluster's rows start."""
    not_representative = grouping.representative_row[grouping.label] != np.arange(len(corpus.ids))
    members = np.lexsort((corpus.id_rank, -grouping.similarity, not_representative,
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


@dataclass(frozen=True, slots=True)
class MemberEntries:
    """Each row's whole member entry: its head, its similarity to its event's
    representative as written (4 decimals) and the id it is a copy of.  clusters.jsonl
    and the HTML report show the same members from here."""

    heads: MemberHeads
    similarity: list[float]
    duplicate_of: list[str | None]

    @classmethod
    def of(cls, corpus: Corpus, grouping: Grouping, heads: MemberHeads) -> MemberEntries:
        """Every row's similarity and copy, as lists: the writer reads them per member."""
        return cls(heads, [round(value, 4) for value in grouping.similarity.tolist()],
                   grouping.copied(corpus.ids, 0, len(corpus.ids)))

    def __getitem__(self, row: int) -> bytes:
        return member_entry(self.heads[row], self.similarity[row], self.duplicate_of[row])


def write_clusters(out_dir: Path, grouping: Grouping, events: EventFacts,
                   descriptions: Descriptions, members: MemberEntries) -> None:
    """clusters.jsonl: largest clusters first, ties by cluster id; members best first,
    each with its title, source and date.

    Member order, counts and date ranges come from sorts over all rows at once, and the
    descriptions and member heads are spliced in as written; only the members'
    similarities are encoded per cluster.  Per cluster and member in Python, this serial
    step kept the workers waiting.
    """
    order = np.lexsort((np.array(grouping.cluster_ids), -np.array(events.size))).tolist()
    cluster_ids, story_ids = grouping.cluster_ids, grouping.story_ids
    story_of = grouping.story_of.tolist()
    rows, bounds = events.members.tolist(), events.starts.tolist()
    offset, length = descriptions.offset.tolist(), descriptions.size.tolist()

    continued = grouping.continued
    merged = merged_into(continued.merged_events) if continued else {}

    def lines(described: int) -> Iterator[bytes]:
        for lab in order:
            head = {"cluster_id": cluster_ids[lab], "story_id": story_ids[story_of[lab]],
                    "size": events.size[lab], "unique": events.unique[lab],
                    "languages": events.languages[lab], "first": events.first[lab],
                    "last": events.last[lab]}
            if continued is not None:
                head["continues"] = bool(continued.earlier_event[lab] >= 0)
                head["merged"] = merged.get(cluster_ids[lab], [])
            entries = b",".join([members[row] for row in rows[bounds[lab]:bounds[lab + 1]]])
            yield cluster_line(head, os.pread(described, length[lab], offset[lab]),
                               b"[" + entries + b"]")

    with (descriptions.path.open("rb") as handle,
          atomic_file(out_dir / CLUSTERS_FILE) as out):
        out.writelines(lines(handle.fileno()))


def merged_into(merges: dict[str, str]) -> dict[str, list[str]]:
    """Per id, the earlier ids merged into it today, sorted."""
    out: dict[str, list[str]] = {}
    for earlier, into in sorted(merges.items()):
        out.setdefault(into, []).append(earlier)
    return out


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
            if grouping.continued is not None:
                head["continues"] = bool(grouping.continued.earlier_story[story] >= 0)
            yield cluster_line(head, os.pread(stories_handle, length[story], offset[story]),
                               json_bytes([event_entry(lab) for lab in
                                             timeline[bounds[story]:bounds[story + 1]]]),
                               members_key=b"events")

    with (stories_described.path.open("rb") as stories_file,
          atomic_file(out_dir / STORIES_FILE) as out):
        out.writelines(lines(stories_file.fileno()))
