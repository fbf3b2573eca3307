"""The cluster step on the stacked corpus: the clustering's inputs (the canonical rows'
term vectors and embeddings where the workers spooled them), the link step's (anchor
counts summed per cluster, each cluster's language and dates), and the Grouping of every
row that the write step and the report read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from dedup.algorithms.cluster import Clustering, RowSource, cluster
from dedup.algorithms.duplicates import DuplicateGroups
from dedup.algorithms.link import (
    ClusterAnchors,
    ClusterSpans,
    link_clusters,
    linking_closeness,
    merge_linked,
)
from dedup.config import Config
from dedup.engines.base import Engine, SerialEngine
from dedup.io.write import group_id_for
from dedup.job.corpus import Corpus
from dedup.job.incremental import Continued, Earlier, continue_earlier


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
    # what an incremental run's events and stories carry on from its index
    continued: Continued | None = None

    def copied(self, ids: Sequence[str], start: int, stop: int) -> list[str | None]:
        """Per row ``start..stop``, the id of the article it is a copy of: its canonical,
        or an earlier run's article (an incremental run); None for a canonical one."""
        earlier = self.continued.copies[start:stop] if self.continued else [None] * (
            stop - start)
        return [earlier_id or (ids[c] if c != row else None) for row, c, earlier_id in zip(
            range(start, stop), self.dups.canonical[start:stop].tolist(), earlier,
            strict=True)]


def group_events(corpus: Corpus, dups: DuplicateGroups, cfg: Config,
                 engine: Engine | None = None, scratch: Path | None = None,
                 earlier: Earlier | None = None) -> Grouping:
    """Cluster the canonical articles per language, link the clusters across languages;
    duplicates join their canonical's cluster.  The clustering's tasks share their rows
    through ``scratch``.  With ``earlier`` (an index's), its fed articles are clustered
    along (never into the output), and events and stories that continue earlier ones
    are joined to them and keep their ids."""
    n = len(corpus.ids)
    canonical_rows = np.flatnonzero(dups.canonical == np.arange(n))
    canonical_langs = [corpus.langs[i] for i in canonical_rows]

    def rows_of(rows: np.ndarray) -> RowSource:
        return corpus.term_rows(canonical_rows[rows], cfg.cluster.n_features)

    clustering = cluster(rows_of, canonical_langs, corpus.days[canonical_rows],
                         [corpus.ids[i] for i in canonical_rows], cfg.cluster, engine,
                         headline_only=corpus.lengths[canonical_rows] == 0, scratch=scratch,
                         frozen=earlier.frozen() if earlier is not None else None)
    if cfg.link.enabled and len(set(canonical_langs) - {"und"}) > 1:
        anchors = cluster_anchors(corpus, canonical_rows, clustering, cfg)
        clustering = merge_linked(
            clustering,
            link_clusters(anchors, cfg.link, cfg.cluster.window_days, clustering.centroids),
            linking_closeness(anchors, cfg.link, clustering.centroids))
    continued = None
    if earlier is not None:
        clustering, continued = continue_earlier(corpus, dups, canonical_rows, rows_of,
                                                 clustering, earlier, cfg,
                                                 engine or SerialEngine())
    position = np.full(n, -1, dtype=np.int64)
    position[canonical_rows] = np.arange(len(canonical_rows))
    of_canonical = position[dups.canonical]
    canonical_ids = [corpus.ids[row] for row in canonical_rows.tolist()]
    stories = clustering.stories
    cluster_ids = group_ids(canonical_ids, clustering.labels, "c-")
    story_ids = group_ids(canonical_ids, stories.of_event[clustering.labels], "s-")
    if earlier is not None and continued is not None:  # what continues keeps its id
        for label in np.flatnonzero(continued.earlier_event >= 0).tolist():
            cluster_ids[label] = earlier.events.ids[continued.earlier_event[label]]
        for story in np.flatnonzero(continued.earlier_story >= 0).tolist():
            story_ids[story] = earlier.stories.ids[continued.earlier_story[story]]
    return Grouping(dups=dups, clustering=clustering,
                    label=clustering.labels[of_canonical],
                    similarity=clustering.similarity[of_canonical],
                    representative_row=canonical_rows[clustering.representative],
                    cluster_ids=cluster_ids, story_of=stories.of_event,
                    story_representative_row=canonical_rows[stories.representative],
                    story_ids=story_ids, continued=continued)


def group_ids(ids: Sequence[str], groups: np.ndarray, prefix: str) -> list[str]:
    """Per group (numbered 0..), an id made from its members' ids (see ``group_id_for``)."""
    members: list[list[str]] = [[] for _ in range(int(groups.max(initial=-1)) + 1)]
    for member, group in zip(ids, groups.tolist(), strict=True):
        members[group].append(member)
    return [group_id_for(names, prefix) for names in members]


def cluster_spans(corpus: Corpus, canonical_rows: np.ndarray,
                  clustering: Clustering) -> ClusterSpans:
    """Each cluster's language (its representative's) and date range; an undated
    cluster's is its story's, where the story has dates.

    An undated cluster meets any date in its language's story step, so it can sit in a
    story of August; linked to an October event by its dates (none), it joined the two
    stories 61 days apart, over ``cluster.story_window_days``.  Its story's dates are
    the time it is about.
    """
    n_clusters = clustering.representative.size
    days = corpus.days[canonical_rows]
    first_day = np.full(n_clusters, np.nan)
    last_day = np.full(n_clusters, np.nan)
    np.fmin.at(first_day, clustering.labels, days)
    np.fmax.at(last_day, clustering.labels, days)
    story = clustering.stories.of_event
    story_first = np.full(int(story.max(initial=-1)) + 1, np.nan)
    story_last = story_first.copy()
    np.fmin.at(story_first, story, first_day)
    np.fmax.at(story_last, story, last_day)
    undated = np.isnan(first_day)
    first_day[undated], last_day[undated] = story_first[story[undated]], story_last[story[undated]]
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
