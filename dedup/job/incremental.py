"""Incremental runs: today's dump against the index of everything processed before.

``dedup run TODAY --out DIR --index INDEX`` reads what earlier runs left in the index
(``dedup.io.index``), and after its outputs are published appends today's share:

* **duplicates**: the earlier canonical articles' exact hashes and MinHash signatures
  join today's in the duplicate step (their sorted band keys are read like a chunk's),
  so a copy of an earlier article gets ``duplicate_of`` = that article's id;
* **events and stories**: today's articles are clustered together with the *fed*
  articles (``index.fed_articles``; 0: on their own): the latest few of each open
  earlier event near today's dates, from the term counts the index keeps of them.
  Today's articles find them in their neighbour search; they shape today's events as
  in one run over both, and then leave.  Each of today's events and stories continues
  an earlier one it copies from, or holds most fed articles of (events, when fed), or
  whose term profile it matches (``dedup.algorithms.continuation``), keeping the
  earlier id; earlier groups that one of today's joins are recorded as merged, never
  renamed;
* **the new generation**: today's canonical articles (hashes, signatures, ids; their
  heaviest term counts when fed), every event and story today touched (profiles grown
  by today's members, date ranges, sizes) and the merges.  Groups not updated for
  ``index.horizon_days`` retire.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from dedup.algorithms.absent import FedEvents
from dedup.algorithms.arrays import heaviest_per_row, largest_per_group, membership
from dedup.algorithms.cluster import (
    Clustering,
    DocumentCounts,
    Frozen,
    RowSource,
    Stories,
    term_sums,
)
from dedup.algorithms.continuation import (
    Groups,
    IndexConfig,
    combined,
    continuations,
    profiles_of,
)
from dedup.algorithms.duplicates import (
    DuplicateGroups,
    band_rows_file,
    rank_of,
    save_sorted_band_keys,
)
from dedup.algorithms.link import join_stories, merge_linked
from dedup.algorithms.threads import usable_threads
from dedup.config import Config
from dedup.engines.base import Engine, Pass
from dedup.io.index import ArticleRows, Articles, Generation, Head, Index, Profiles, Strings
from dedup.io.spool import saved_rows
from dedup.job.corpus import Corpus

# The settings whose change makes an index's hashes, signatures or profiles incomparable
# with a run's: its whole dedup section and how the clustering makes its terms.
TERM_SETTINGS = ("n_features", "title_weight", "max_text_tokens", "min_token_chars",
                 "drop_numbers", "drop_stopwords", "stemming", "char_ngram", "url_words")


def index_settings(cfg: Config) -> dict[str, Any]:
    """What an index records of the settings that made it, flat (``dedup.num_perm``)."""
    dedup = {f"dedup.{key}": value for key, value in dataclasses.asdict(cfg.dedup).items()}
    terms = {f"cluster.{key}": getattr(cfg.cluster, key) for key in TERM_SETTINGS}
    return {**dedup, **terms}


@dataclass(slots=True)
class Fed:
    """The earlier articles today's clustering takes along (``index.fed_articles``)."""

    rows: ArticleRows  # theirs, ``articles`` being their rows in ``Earlier.articles``
    events: np.ndarray  # int64: the kept event each is in now
    headline: np.ndarray  # bool: without a body
    days: np.ndarray  # float64
    # int64: how many articles of its event, dated as fed ones may be, are not fed
    absent: np.ndarray

    @classmethod
    def none(cls, n_features: int) -> Fed:
        """No article fed."""
        empty = Frozen.empty(n_features)
        return cls(ArticleRows(np.zeros(0, dtype=np.int64), [], empty.rows),
                   np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), empty.days,
                   np.zeros(0, dtype=np.int64))

    def earlier_events(self) -> FedEvents:
        """Their events numbered from 0, with each event's absent articles."""
        return FedEvents.numbered(self.events, self.absent)


@dataclass(slots=True)
class Earlier:
    """What the index holds that today's run is compared with."""

    index: Index
    head: Head | None
    articles: Articles  # every earlier canonical article, generation after generation
    events: Profiles  # the events kept (latest version of each, not merged into another)
    stories: Profiles
    open_events: np.ndarray  # bool per kept event: not retired (later ones may join it)
    open_stories: np.ndarray
    merged_events: dict[str, str]  # every merge so far: earlier id -> id it went into
    files: list[tuple[Path, Path, int]]  # per generation: signatures, band keys, rows
    generation: int  # the number today's generation gets
    fed: Fed  # the articles today's clustering takes along
    counts: dict[str, DocumentCounts]  # per language, document frequencies of every run
    event_rows: dict[str, int] = field(init=False)  # row of each kept event's id
    story_rows: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.event_rows = {group: row for row, group in enumerate(self.events.ids)}
        self.story_rows = {group: row for row, group in enumerate(self.stories.ids)}

    def frozen(self) -> Frozen:
        """What today's clustering takes along: the fed articles' rows, and every earlier
        run's document frequencies for its IDF."""
        fed = self.fed
        return Frozen(fed.rows.rows, fed.rows.langs, fed.days, fed.rows.embeddings, self.counts,
                      fed.earlier_events())

    def event_of_article(self, article: int) -> int:
        """The kept event an earlier article is in now (merges followed), or -1 (its
        profile was compacted away)."""
        return self.event_rows.get(_followed(self.articles.events[article],
                                             self.merged_events), -1)

    def story_of_event(self, event: int) -> int:
        """The kept story a kept event is in, or -1."""
        return self.story_rows.get(self.events.parents[event], -1)


def _followed(group: str, merged: dict[str, str]) -> str:
    """The id a group goes by now: its merges followed (a cycle stops where it closes)."""
    seen = {group}
    while group in merged and merged[group] not in seen:
        group = merged[group]
        seen.add(group)
    return group


def read_earlier(index: Index, head: Head | None, cfg: Config, work: Path,
                 today: float = np.nan) -> Earlier:
    """Everything the index's generations hold that today's run compares with; groups
    are open (not retired) by their distance to ``today`` (the run's earliest day), or
    to the index's newest day when the run has no dates."""
    n_features = cfg.cluster.n_features
    generations = head.generations if head else ()
    articles, events, stories, files = [], [], [], []
    merged_events: dict[str, str] = {}
    counts: dict[str, list[DocumentCounts]] = {}
    for name in generations:
        part, event_part, story_part, merged = index.read_generation(name, n_features)
        articles.append(part)
        events.append(event_part)
        stories.append(story_part)
        merged_events.update(merged)
        for lang, found in index.read_counts(name).items():
            counts.setdefault(lang, []).append(found)
        signatures, bands = index.signature_files(name, work, len(part))
        files.append((signatures, bands, len(part)))
    newest = head.last_day if head and head.last_day is not None else np.nan
    reference = today if np.isfinite(today) else newest
    number = len(generations) + 1
    kept_events = _latest(Profiles.stacked(events, n_features), merged_events)
    kept_stories = _latest(Profiles.stacked(stories, n_features), {})
    earlier = Earlier(
        index=index, head=head, articles=_stacked_articles(articles), events=kept_events,
        stories=kept_stories,
        open_events=_open(kept_events, reference, number, cfg.index),
        open_stories=_open(kept_stories, reference, number, cfg.index),
        merged_events=merged_events, files=files, generation=number,
        fed=Fed.none(n_features),
        counts={lang: DocumentCounts.summed(parts) for lang, parts in sorted(counts.items())})
    earlier.fed = _fed(earlier, generations, [part.days for part in articles], today, cfg)
    return earlier


def _fed(earlier: Earlier, generations: Sequence[str], days: Sequence[np.ndarray],
         today: float, cfg: Config) -> Fed:
    """The articles today's clustering takes along: members of open events, from the
    latest ``index.fed_articles`` of each, dated within ``index.fed_days`` before
    ``today`` (the run's earliest day), or undated (or for an undated run, any) from the
    last ``index.undated_runs`` generations.  Only those generations' rows are read,
    and only the fed ones kept, so the memory stays that of the window."""
    n_features, per_event = cfg.cluster.n_features, cfg.index.fed_articles
    if not per_event:
        return Fed.none(n_features)
    parts: list[tuple[np.ndarray, np.ndarray, ArticleRows]] = []
    start = 0
    for number, (name, dates) in enumerate(zip(generations, days, strict=True)):
        offset, start = start, start + dates.size
        recent = number >= len(generations) - cfg.index.undated_runs
        with np.errstate(invalid="ignore"):
            near = dates >= today - min(cfg.index.fed_days, cfg.cluster.window_days)
        wanted = np.flatnonzero(near | ((np.isnan(dates) | np.isnan(today)) & recent))
        if not wanted.size:
            continue
        events = np.array([earlier.event_of_article(int(a)) for a in (wanted + offset)],
                          dtype=np.int64)
        live = events >= 0
        live[live] = earlier.open_events[events[live]]
        rows = earlier.index.read_rows(name, n_features) if live.any() else None
        if rows is None:
            continue
        place = np.minimum(np.searchsorted(rows.articles, wanted), rows.articles.size - 1)
        live &= (rows.articles[place] == wanted) & (np.diff(rows.rows.indptr)[place] > 0)
        parts.append((wanted[live] + offset, events[live], rows.take(place[live])))
    if not parts:
        return Fed.none(n_features)
    articles = np.concatenate([p[0] for p in parts])
    events = np.concatenate([p[1] for p in parts])
    kept = np.sort(_latest_per_group(articles, events, per_event))
    absent = np.bincount(events)[events[kept]] - np.bincount(events[kept])[events[kept]]
    found = [p[2] for p in parts]
    langs = [lang for rows in found for lang in rows.langs]
    embeddings = [rows.embeddings for rows in found if rows.embeddings is not None]
    rows = ArticleRows(articles[kept], [langs[k] for k in kept.tolist()],
                       sp.csr_matrix(sp.vstack([rows.rows for rows in found],
                                               format="csr")[kept]),
                       np.concatenate(embeddings)[kept] if len(embeddings) == len(found)
                       else None)
    return Fed(rows, events[kept], earlier.articles.lengths[articles[kept]] == 0,
               earlier.articles.days[articles[kept]], absent)


def _latest_per_group(order: np.ndarray, groups: np.ndarray, most: int) -> np.ndarray:
    """Positions of the ``most`` items of largest ``order`` in each group."""
    by = np.lexsort((-order, groups))
    starts = np.flatnonzero(np.r_[True, groups[by][1:] != groups[by][:-1]])
    rank = np.arange(by.size) - np.repeat(starts, np.diff(np.r_[starts, by.size]))
    return by[rank < most]


def _stacked_articles(parts: Sequence[Articles]) -> Articles:
    return Articles(
        Strings.joined([p.ids for p in parts]), Strings.joined([p.events for p in parts]),
        np.concatenate([np.zeros(0, np.uint64), *(p.exact for p in parts)]),
        np.concatenate([np.zeros(0, np.int64), *(p.shingles for p in parts)]),
        np.concatenate([np.zeros(0), *(p.days for p in parts)]),
        np.concatenate([np.zeros(0, np.int64), *(p.lengths for p in parts)]))


def _latest(groups: Profiles, merged: dict[str, str]) -> Profiles:
    """Each group's latest version (later generations come later), without those merged
    into others."""
    latest: dict[str, int] = {}
    for row, group in enumerate(groups.ids):
        latest[group] = row
    return groups.take(np.array(sorted(row for group, row in latest.items()
                                       if group not in merged), dtype=np.int64))


def _open(groups: Profiles, reference: float, generation: int,
          cfg: IndexConfig) -> np.ndarray:
    """Which groups are not retired: dated ones whose last day is at most
    ``horizon_days`` before ``reference``, undated ones updated in the last
    ``undated_runs`` runs."""
    with np.errstate(invalid="ignore"):
        dated = groups.last_day >= reference - cfg.horizon_days
    undated = np.isnan(groups.last_day) & (groups.touched > generation - 1 - cfg.undated_runs)
    return np.asarray(dated | undated, dtype=bool)


class DuplicateRows(NamedTuple):
    """The duplicate step's per-row arrays: today's rows, then ``earlier`` rows of the
    index's articles (see ``find_duplicates``).

    ``id_rank`` breaks ties: the earlier rows first, in the index's order (generation
    after generation, each as written: in id order, or a compacted one in the order of
    the generations it replaced), which needs no sort of every id the index ever took
    and never depends on today's input; then today's rows by id.  Earlier rows
    first also makes them the hubs of crowded LSH buckets, whose edges among earlier
    rows are dropped: a hub of today would be compared with every earlier member.
    """

    exact: np.ndarray
    shingles: np.ndarray
    id_rank: np.ndarray
    days: np.ndarray
    lengths: np.ndarray
    earlier: int


def duplicate_rows(corpus: Corpus, earlier: Earlier | None) -> DuplicateRows:
    """The duplicate step's rows: today's, then (with an index) the earlier articles'."""
    today = corpus.id_rank
    if earlier is None:
        return DuplicateRows(corpus.exact, corpus.shingles, today, corpus.days,
                             corpus.lengths, 0)
    past = earlier.articles
    return DuplicateRows(np.concatenate([corpus.exact, past.exact]),
                         np.concatenate([corpus.shingles, past.shingles]),
                         np.r_[today + len(past), np.arange(len(past), dtype=np.int64)],
                         np.concatenate([corpus.days, past.days]),
                         np.concatenate([corpus.lengths, past.lengths]), len(past))


# ------------------------------------------------------------------ continuing groups


@dataclass(slots=True)
class Continued:
    """What today's groups carry on from the index, for the outputs and the new
    generation."""

    copies: list[str | None]  # per row: the earlier article it copies
    merged_events: dict[str, str]  # earlier id -> id it went into, decided today
    earlier_event: np.ndarray  # int64 per today event: the earlier event it continues, or -1
    earlier_story: np.ndarray  # int64 per today story: the earlier story it continues, or -1
    event_profiles: sp.csr_matrix  # today's events' profiles (their articles of today)
    story_profiles: sp.csr_matrix


def continue_earlier(corpus: Corpus, dups: DuplicateGroups, canonical_rows: np.ndarray,
                     rows_of: Callable[[np.ndarray], RowSource], clustering: Clustering,
                     earlier: Earlier, cfg: Config,
                     engine: Engine) -> tuple[Clustering, Continued]:
    """Today's clustering with its events and stories joined where they continue the
    same earlier group, and what they continue (``rows_of``: where the term vectors of
    canonical rows, by their positions, are).  Events first, then stories: a story
    whose event continues an earlier event continues that event's story.  An event's
    evidence is its copies of earlier articles and the fed articles it holds
    (:func:`_clustered_votes`), counted alike; without fed articles, then its profile."""
    label_of_row = _label_of_rows(dups, canonical_rows, clustering)
    threads = usable_threads(cfg.cluster.threads)  # the workers wait for this step
    sums = event_term_sums(corpus, canonical_rows, rows_of, clustering, earlier.counts, cfg,
                           engine)
    copied = np.flatnonzero(dups.copies >= 0)
    copied_from = [earlier.event_of_article(int(a)) for a in dups.copies[copied]]
    n_events = clustering.representative.size
    votes = _votes(label_of_row[copied], np.array(copied_from, dtype=np.int64), n_events,
                   len(earlier.events))
    if clustering.frozen_events is not None:
        votes = votes + _clustered_votes(clustering.frozen_events, earlier.fed, n_events,
                                         len(earlier.events), cfg.index)
    events = _continued(
        _today_groups(corpus, label_of_row, clustering.representative, canonical_rows,
                      profiles_of(sums, cfg.index.profile_terms, threads)), sums, votes,
        earlier.events, earlier.open_events,
        # fed articles stand in for the events' profiles, and did better than both
        None if cfg.index.fed_articles else cfg.index.event_threshold,
        cfg.cluster.window_days, cfg.index)
    clustering = merge_linked(clustering, events.joined)
    continuing = np.flatnonzero(events.earlier_of >= 0)
    earlier_story = np.full(events.earlier_of.size, -1, dtype=np.int64)
    earlier_story[continuing] = [earlier.story_of_event(int(e))
                                 for e in events.earlier_of[continuing]]
    clustering = _stories_apart(clustering, earlier_story)

    story_of_event = clustering.stories.of_event
    n_stories = clustering.stories.representative.size
    story_sums = sp.csr_matrix(membership(story_of_event, n_stories) @ events.sums)
    stories = _continued(
        _today_groups(corpus, story_of_event[events.joined[label_of_row]],
                      clustering.stories.representative, canonical_rows,
                      profiles_of(story_sums, cfg.index.profile_terms, threads)), story_sums,
        _votes(story_of_event[continuing], earlier_story[continuing], n_stories,
               len(earlier.stories)),
        earlier.stories, earlier.open_stories, cfg.index.story_threshold,
        cfg.cluster.story_window_days, cfg.index, merge=False)
    clustering = join_stories(clustering, stories.joined)
    return clustering, Continued(
        copies=[earlier.articles.ids[a] if a >= 0 else None for a in dups.copies.tolist()],
        merged_events=events.merged,
        earlier_event=events.earlier_of, earlier_story=stories.earlier_of,
        event_profiles=events.profiles, story_profiles=stories.profiles)


def _stories_apart(clustering: Clustering, earlier_story: np.ndarray) -> Clustering:
    """Today's stories cut where their events continue events of different earlier
    stories, so that an event stays in its story from run to run; an event that
    continues none goes with the part of its story's largest continuing event.

    A story that is not cut keeps its representative and top terms; a part takes those
    of its largest event.
    """
    stories = clustering.stories
    story, n_events = stories.of_event, stories.of_event.size
    continuing = np.flatnonzero(earlier_story >= 0)
    if not continuing.size:
        return clustering
    sizes = np.bincount(clustering.labels, minlength=n_events)
    heaviest = continuing[largest_per_group(story[continuing], sizes[continuing])]
    main = np.full(stories.representative.size, -1, dtype=np.int64)
    main[story[heaviest]] = earlier_story[heaviest]  # per story: its largest continuing
    part = np.where(earlier_story >= 0, earlier_story, main[story])
    _, first_event, inverse = np.unique(np.stack([story, part]), axis=1, return_index=True,
                                        return_inverse=True)
    if first_event.size == stories.representative.size:
        return clustering
    number = np.empty(first_event.size, dtype=np.int64)
    number[np.argsort(first_event, kind="stable")] = np.arange(first_event.size)
    of_event = number[inverse.reshape(-1)]
    lead = largest_per_group(of_event, sizes)
    whole = np.bincount(story[lead], minlength=stories.representative.size) == 1
    kept = whole[story[lead]]
    representative = np.where(kept, stories.representative[story[lead]],
                              clustering.representative[lead])
    top_features = np.where(kept[:, None], stories.top_features[story[lead]],
                            clustering.top_features[lead])
    return dataclasses.replace(clustering, stories=Stories(
        of_event=of_event, representative=representative, top_features=top_features))


@dataclass(slots=True)
class _Level:
    """Today's groups of one level (events or stories) after continuation."""

    joined: np.ndarray  # per group as clustered: its group once those continuing one
    # earlier group are one (numbered as :func:`_joined` says)
    earlier_of: np.ndarray  # per joined group: the earlier group it continues, or -1
    sums: sp.csr_matrix  # per joined group: its summed TF-IDF vectors
    profiles: sp.csr_matrix  # per joined group: its profile
    merged: dict[str, str]  # earlier id -> id it went into


def _continued(today: Groups, sums: sp.csr_matrix, votes: sp.csr_matrix,
               earlier: Profiles, open_groups: np.ndarray, threshold: float | None,
               window_days: float, cfg: IndexConfig, merge: bool = True) -> _Level:
    """Today's groups of one level matched with the earlier ones and joined (``merge``:
    see :func:`continuations`)."""
    found = continuations(today, _groups(earlier, open_groups), votes, threshold,
                          window_days, rank_of(earlier.ids), earlier.size, merge)
    joined = _joined(found.earlier_of)
    joined_sums = sp.csr_matrix(membership(joined, int(joined.max(initial=-1)) + 1) @ sums)
    return _Level(joined, _per_joined(found.earlier_of, joined), joined_sums,
                  _rejoined(today.vectors, joined_sums, joined, cfg),
                  {earlier.ids[a]: earlier.ids[b] for a, b in found.merged})


def _rejoined(profiles: sp.csr_matrix, joined_sums: sp.csr_matrix, joined: np.ndarray,
              cfg: IndexConfig) -> sp.csr_matrix:
    """The profiles of groups after :func:`_joined`: a group alone keeps its profile,
    one made of several is profiled from its summed vectors."""
    count = np.bincount(joined, minlength=joined_sums.shape[0])
    several = np.flatnonzero(count > 1)
    alone = np.flatnonzero(count[joined] == 1)
    place = np.empty(joined_sums.shape[0], dtype=np.int64)
    place[joined[alone]] = alone
    place[several] = profiles.shape[0] + np.arange(several.size)
    remade = profiles_of(sp.csr_matrix(joined_sums)[several], cfg.profile_terms) \
        if several.size else sp.csr_matrix((0, profiles.shape[1]), dtype=profiles.dtype)
    return sp.csr_matrix(sp.vstack([profiles, remade]))[place]


def _label_of_rows(dups: DuplicateGroups, canonical_rows: np.ndarray,
                   clustering: Clustering) -> np.ndarray:
    """Every row's event (copies take their canonical's)."""
    position = np.full(dups.canonical.size, -1, dtype=np.int64)
    position[canonical_rows] = np.arange(canonical_rows.size)
    return clustering.labels[position[dups.canonical]]


def event_term_sums(corpus: Corpus, canonical_rows: np.ndarray,
                    rows_of: Callable[[np.ndarray], RowSource], clustering: Clustering,
                    counts: Mapping[str, DocumentCounts], cfg: Config,
                    engine: Engine) -> sp.csr_matrix:
    """Today's events' summed TF-IDF vectors (float64, events x n_features): one engine
    task per language, each weighing its rows with its IDF (its own and the earlier
    runs' ``counts``) as the clustering does."""
    langs = np.array([corpus.langs[row] for row in canonical_rows.tolist()], dtype=object)
    n_events = clustering.representative.size
    tasks = []
    for lang in sorted(set(langs.tolist())):
        picks = np.flatnonzero(langs == lang)
        tasks.append((rows_of(picks), clustering.labels[picks], n_events, cfg.cluster,
                      counts.get(lang)))
    parts = list(engine.map(term_sums, tasks, Pass("profiles", len(tasks), "language")))
    total = sp.csr_matrix((n_events, cfg.cluster.n_features), dtype=np.float64)
    for part in parts:
        total = total + part
    return sp.csr_matrix(total)


def _today_groups(corpus: Corpus, group_of_row: np.ndarray, representative: np.ndarray,
                  canonical_rows: np.ndarray, vectors: sp.csr_matrix) -> Groups:
    """Today's groups as continuation compares them: their representative's language,
    the date range of all their rows (copies included)."""
    n = vectors.shape[0]
    first, last = np.full(n, np.nan), np.full(n, np.nan)
    placed = group_of_row >= 0
    np.fmin.at(first, group_of_row[placed], corpus.days[placed])
    np.fmax.at(last, group_of_row[placed], corpus.days[placed])
    langs = [corpus.langs[canonical_rows[r]] for r in representative.tolist()]
    return Groups(langs, first, last, vectors)


def _groups(profiles: Profiles, open_groups: np.ndarray) -> Groups:
    """Earlier groups as continuation compares them: a retired one's profile is left
    empty, so only copies of its articles can still join it."""
    return Groups(profiles.langs, profiles.first_day, profiles.last_day,
                  sp.csr_matrix(sp.diags(open_groups.astype(np.float32)) @ profiles.vectors))


def _votes(today: np.ndarray, earlier: np.ndarray, n_today: int,
           n_earlier: int) -> sp.csr_matrix:
    """Counts of (today's group, earlier group) evidence; -1 on either side is none."""
    keep = (today >= 0) & (earlier >= 0)
    return sp.csr_matrix((np.ones(int(keep.sum())), (today[keep], earlier[keep])),
                         shape=(n_today, n_earlier))


def _clustered_votes(joined: np.ndarray, fed: Fed, n_today: int, n_earlier: int,
                     cfg: IndexConfig) -> sp.csr_matrix:
    """(today's event, earlier event) votes from the fed articles (``joined``: the event
    of today each was clustered into, or -1): how many of the earlier event's fed
    articles today's holds, where that is at least ``cfg.fed_share`` of them, and of the
    fed articles today's holds; and at least ``cfg.fed_headlines`` if they are all
    headlines.

    The two shares keep an event of today that met two earlier ones in passing from
    merging them, and the headline count keeps one short title from deciding.
    """
    into = joined >= 0
    pair = joined[into] * n_earlier + fed.events[into]
    key, count = np.unique(pair, return_counts=True)
    bodies = np.bincount(np.searchsorted(key, pair), weights=~fed.headline[into],
                         minlength=key.size)
    today, past = key // n_earlier, key % n_earlier
    of_earlier = np.bincount(fed.events, minlength=n_earlier)[past]
    held = np.bincount(today, weights=count, minlength=n_today)[today]
    strong = ((count / of_earlier >= cfg.fed_share) & (count / held >= cfg.fed_share)
              & ((bodies > 0) | (count >= cfg.fed_headlines)))
    return sp.csr_matrix((count[strong].astype(np.float64), (today[strong], past[strong])),
                         shape=(n_today, n_earlier))


def _joined(earlier_of: np.ndarray) -> np.ndarray:
    """Today's groups numbered anew: those continuing one earlier group become one,
    numbered by their first (smallest) old number, as the old numbers were."""
    key = np.where(earlier_of >= 0, earlier_of, -1 - np.arange(earlier_of.size))
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    number = np.empty(first.size, dtype=np.int64)
    number[np.argsort(first, kind="stable")] = np.arange(first.size)
    return number[inverse.reshape(-1)]


def _per_joined(earlier_of: np.ndarray, joined: np.ndarray) -> np.ndarray:
    """Per joined group, the earlier group its members continue (all continue the same
    one, see :func:`_joined`), or -1."""
    out = np.full(int(joined.max(initial=-1)) + 1, -1, dtype=np.int64)
    out[joined] = earlier_of
    return out


# -------------------------------------------------------------------- the new part


def new_generation(corpus: Corpus, dups: DuplicateGroups, canonical_rows: np.ndarray,
                   clustering: Clustering, label_of_row: np.ndarray, cluster_ids: Sequence[str],
                   story_ids: Sequence[str], continued: Continued, earlier: Earlier,
                   cfg: Config, fingerprint: str) -> tuple[Generation, tuple[bytes, bytes]]:
    """Today's part of the index: its canonical articles (not copies of earlier ones),
    its copies' ids (so that no later run reuses one), every event and story it touched,
    the merges; and its sorted band keys' files."""
    n = len(corpus.ids)
    copies = dups.copies
    kept = np.flatnonzero((dups.canonical == np.arange(n)) & (copies < 0))
    kept = kept[np.argsort(np.asarray([corpus.ids[r] for r in kept.tolist()], dtype=object),
                           kind="stable")]  # in id order: the index is the same bytes
    story_of_row = clustering.stories.of_event[label_of_row]
    articles = Articles(
        ids=[corpus.ids[r] for r in kept.tolist()],
        events=[cluster_ids[label_of_row[r]] for r in kept.tolist()],
        exact=corpus.exact[kept], shingles=corpus.shingles[kept], days=corpus.days[kept],
        lengths=corpus.lengths[kept])
    signatures = saved_rows(corpus.signature_files, corpus.chunk_bounds[:-1], np.sort(kept))[
        np.argsort(np.argsort(kept))] if kept.size else np.zeros((0, cfg.dedup.num_perm),
                                                                 dtype=np.uint32)
    events = _grown(corpus, label_of_row, canonical_rows[clustering.representative],
                    continued.event_profiles, continued.earlier_event, earlier.events,
                    cluster_ids, [story_ids[s] for s in clustering.stories.of_event.tolist()],
                    earlier.generation, cfg.index)
    stories = _grown(corpus, story_of_row, canonical_rows[clustering.stories.representative],
                     continued.story_profiles, continued.earlier_story, earlier.stories,
                     story_ids, [""] * len(story_ids), earlier.generation, cfg.index)
    counts, rows = kept_terms(corpus, kept, cfg)
    copied = np.setdiff1d(np.arange(n), kept)
    generation = Generation(articles, signatures, events, stories, continued.merged_events,
                            fingerprint, rows, counts,
                            copy_ids=sorted(corpus.ids[r] for r in copied.tolist()))
    return generation, band_files(signatures, cfg)


def kept_terms(corpus: Corpus, rows: np.ndarray,
               cfg: Config) -> tuple[dict[str, DocumentCounts], ArticleRows | None]:
    """What later runs need of the terms of ``rows`` (canonical rows, the generation's
    articles in its order), read a language at a time from the spooled vectors: per
    language, how many of them hold each term (for their IDF); and with
    ``index.fed_articles`` (for their clustering), each one's ``index.row_terms``
    heaviest term counts (ties to the smaller column), its language, and its embedding
    if the run has them."""
    n_features = cfg.cluster.n_features
    langs = np.array([corpus.langs[row] for row in rows.tolist()], dtype=object)
    parts, places = [sp.csr_matrix((0, n_features), dtype=np.float32)], [np.zeros(0, np.int64)]
    found = {}
    for lang in sorted(set(langs.tolist())):
        mine = np.flatnonzero(langs == lang)
        counts = sp.csr_matrix(corpus.term_rows(rows[mine], n_features).load(),
                               dtype=np.float64)
        found[lang] = DocumentCounts.of(counts)
        if cfg.index.fed_articles:
            parts.append(sp.csr_matrix(heaviest_per_row(
                counts, np.ones(n_features, dtype=bool), cfg.index.row_terms),
                dtype=np.float32))
            places.append(mine)
    if not cfg.index.fed_articles:
        return found, None
    order = np.argsort(np.concatenate(places), kind="stable")
    embeddings = None
    if corpus.embedding_files is not None and rows.size:
        ascending = np.sort(rows)
        embeddings = saved_rows(corpus.embedding_files, corpus.chunk_bounds[:-1], ascending)[
            np.searchsorted(ascending, rows)].astype(np.float16)
    return found, ArticleRows(np.arange(rows.size), langs.tolist(),
                              sp.csr_matrix(sp.vstack(parts, format="csr")[order]), embeddings)


def _grown(corpus: Corpus, group_of_row: np.ndarray, representative_rows: np.ndarray,
           profiles: sp.csr_matrix, earlier_of: np.ndarray, earlier: Profiles,
           ids: Sequence[str], parents: list[str], generation: int,
           cfg: IndexConfig) -> Profiles:
    """Today's groups as the index keeps them; those continuing an earlier group carry
    its articles, dates and profile forward."""
    n = profiles.shape[0]
    size = np.bincount(group_of_row, minlength=n).astype(np.int64)
    first, last = np.full(n, np.nan), np.full(n, np.nan)
    np.fmin.at(first, group_of_row, corpus.days)
    np.fmax.at(last, group_of_row, corpus.days)
    vectors = sp.csr_matrix(profiles)
    langs = [corpus.langs[r] for r in representative_rows.tolist()]
    continuing = np.flatnonzero(earlier_of >= 0)
    if continuing.size:
        past = earlier_of[continuing]
        grown = combined(earlier.vectors[past], earlier.size[past], vectors[continuing],
                         size[continuing], cfg.profile_terms)
        place = np.arange(n)
        place[continuing] = n + np.arange(continuing.size)  # grown rows replace theirs
        vectors = sp.csr_matrix(sp.vstack([vectors, grown]))[place]
        first[continuing] = np.fmin(first[continuing], earlier.first_day[past])
        last[continuing] = np.fmax(last[continuing], earlier.last_day[past])
        size[continuing] += earlier.size[past]
        for t, e in zip(continuing.tolist(), past.tolist(), strict=True):
            langs[t] = earlier.langs[e]
    return Profiles(list(ids), langs, parents, first, last, size,
                    np.full(n, generation, dtype=np.int64), sp.csr_matrix(vectors))


def band_files(signatures: np.ndarray, cfg: Config) -> tuple[bytes, bytes]:
    """The sorted band keys of ``signatures`` and their rows, as the bytes of the two
    files a chunk would have (``save_sorted_band_keys``)."""
    with tempfile.TemporaryDirectory() as folder:
        keys = Path(folder) / "bands.npy"
        save_sorted_band_keys(keys, signatures, cfg.dedup)
        return keys.read_bytes(), band_rows_file(keys).read_bytes()
