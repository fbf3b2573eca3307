"""Continuing earlier runs' events and stories: which of today's groups carry on which
earlier ones (incremental runs with an index, see ``dedup.job.incremental``).

Today's articles are clustered on their own, as in a run without an index; then each of
today's groups (events, and then stories) is compared with the earlier groups the index
keeps, through their *term profiles*: the mean of the members' TF-IDF vectors over
hashed terms, cut to its heaviest terms and L2-normalised.  The cosine of two profiles
is the average-link word similarity of the two groups up to their spreads, so the same
kind of threshold decides.  A group continues an earlier one when

* some of its articles are copies of the earlier group's articles (the strongest
  evidence there is: the same text), or
* their profiles' cosine reaches the threshold, same language, and their date ranges
  are within the window of each other (an undated side matches any date).

A group that meets several earlier groups continues the one with most copies, then the
highest cosine, then the smallest id; for events, the others it meets are *merged into*
that one (recorded, never renamed).  Stories never merge earlier stories: at their low
threshold, merges chained from run to run into one story of half a dump.  Today's
groups that continue one earlier group become one.
Everything is decided on arrays in id order, so the choice never depends on input order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sparse_dot_topn import sp_matmul_topn

from dedup.algorithms.arrays import components, heaviest_per_row, normalise_rows, within_days
from dedup.settings import Range, setting


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """Incremental runs (``--index``): how today's events and stories continue earlier ones."""

    event_threshold: float = setting(0.7, Range(0.0, 1.0, above=True), doc="""
        With `fed_articles` 0: cosine of two events' term profiles (mean TF-IDF vectors) at
        which today's event continues an earlier one of the index. Lower joins more of a
        long event's days (recall) but also the next event of one kind (precision). Copies
        of an earlier event's articles join it whatever the cosine.""")
    story_threshold: float = setting(0.3, Range(0.0, 1.0, above=True), doc="""
        ... and of two stories' profiles, for a story none of whose events continues an
        earlier one.""")
    horizon_days: float = setting(60.0, Range(0.0, None), doc="""
        Events and stories whose last article is more than this many days older than the
        index's newest are retired: no later event joins them, and `dedup index compact` drops
        their profiles. Larger follows longer threads at more memory and matching time; it
        should exceed `cluster.story_window_days`. Copies of retired events' articles are still
        found.""")
    undated_runs: int = setting(10, Range(1, None), doc="""
        Undated events and stories retire when this many runs appended to the index without
        updating them (they have no date to age by).""")
    fed_articles: int = setting(10, Range(0, 10_000), doc="""
        Earlier articles per open event (its latest) that today's clustering takes along,
        dated within `fed_days` before today's articles (undated: of the last
        `undated_runs` runs): today's articles find them in their neighbour search (they
        search for none) and are paired and merged with them as in one run over both, and
        an event of today holding `fed_share` of an earlier event's continues it (its
        profile is then not compared). 0: events continue by copies and profiles only.
        More lets a long event's later reports meet more of its earlier ones (one run
        holds them all) but clusters more rows each day. Three-run splits against one
        run, event B-cubed (uci: stories), 10 with `fed_share` 0.4 against 3 with 0.5:
        ECB+ in drawn days (16 draws) -0.018 (-0.022), dated uci +0.013 (-0.002),
        allsides in drawn days (two draws) -0.008 (-0.013), neardup -0.000 (+0.000);
        file order neardup -0.008 (-0.012), ECB+ -0.011 (-0.008), allsides +0.013
        (+0.009). 0 did worse than 3 except on allsides in file order (neardup -0.049,
        ECB+ -0.023, allsides +0.060). Day 10 of the 1M dump cut in ten cost 1.31x and
        1.38x the day alone with 10, 1.30x and 1.32x with 3, back to back (README,
        *Incremental runs*). The index holds about 400 bytes an article more for it: the
        term counts later runs are fed from (`row_terms`).""")
    fed_days: float = setting(7.0, Range(0.0, None), doc="""
        How many days before today's earliest article the fed articles may be dated. Longer
        follows events with gaps between their reports but feeds more articles: the day's
        clustering grows with them. At most `cluster.window_days` is used: events further
        apart never merge.""")
    fed_share: float = setting(0.4, Range(0.0, 1.0, above=True), doc="""
        Share of an earlier event's fed articles that one of today's events must hold, and
        of that event's fed articles that must be the earlier event's, for it to continue
        the earlier event by clustering. Lower continues more (recall) but lets an event of
        today that met two earlier ones join both (precision). 0.4 asks 4 of 10 fed
        articles, 2 of 3. With `fed_articles` 10, ECB+ in drawn days (draws 1 to 8), event
        B-cubed against one run: 0.3 -0.017, 0.4 -0.018, 0.5 -0.021. But 0.3 asks one of
        a small event's three: in those draws (3 fed), an event of today that held one of
        an earlier event's three was another event of its kind 15 times, the same 7.""")
    fed_headlines: int = setting(2, Range(1, 1000), doc="""
        Fed articles without a body (headlines) an event of today must hold of an earlier
        event to continue it by clustering: a headline clusters by a handful of words, so
        one alone is weak evidence (1 took a dated headline split from +0.005 to -0.030
        story B-cubed against one run).""")
    row_terms: int = setting(64, Range(1, 10_000), doc="""
        With `fed_articles`: heaviest term counts kept in the index of each article, for the
        clustering of later runs (kept only by runs that feed). More makes the fed articles
        more like the originals, at 8 bytes a term an article in the index (64: about 400
        bytes an article more).""")
    profile_terms: int = setting(24, Range(1, 10_000), doc="""
        Heaviest terms kept in a profile. More compares groups more exactly but costs 8 bytes a
        term a group, in the index and in memory, and time in every run's matching (24 against
        48: day 10 of a 1M dump cut in ten went from 1.45x to 1.24x of the day alone, the
        three-run figures of nine splits moved by 0.0035 at most).""")


def profiles_of(sums: sp.csr_matrix, terms: int, threads: int = 1) -> sp.csr_matrix:
    """Profiles from the groups' summed member vectors: each row's ``terms`` heaviest
    terms, L2-normalised (float32); rows cut in ``threads`` threads."""
    sums = sp.csr_matrix(sums, dtype=np.float64)
    kept = heaviest_per_row(sums, np.ones(sums.shape[1], dtype=bool), terms, threads=threads)
    return sp.csr_matrix(normalise_rows(kept), dtype=np.float32)


def combined(earlier: sp.csr_matrix, earlier_size: np.ndarray, today: sp.csr_matrix,
             today_size: np.ndarray, terms: int) -> sp.csr_matrix:
    """The profile of earlier groups grown by today's members: the two means weighted by
    their articles, cut and normalised again."""
    weighted = sp.diags(earlier_size.astype(np.float64)) @ earlier \
        + sp.diags(today_size.astype(np.float64)) @ today
    return profiles_of(sp.csr_matrix(weighted), terms)


@dataclass(slots=True)
class Groups:
    """Groups compared for continuation: their language, date range and profile."""

    langs: list[str]
    first_day: np.ndarray  # float64, NaN when undated
    last_day: np.ndarray
    vectors: sp.csr_matrix  # L2-normalised profiles


@dataclass(slots=True)
class Continuations:
    """Which earlier group each of today's groups continues, and the merges it makes."""

    earlier_of: np.ndarray  # int64 per today group: the earlier group it continues, or -1
    merged: list[tuple[int, int]]  # (earlier group merged, earlier group it went into)


def continuations(today: Groups, earlier: Groups, copies: sp.csr_matrix,
                  threshold: float | None, window_days: float, rank: np.ndarray,
                  size: np.ndarray, merge: bool = True) -> Continuations:
    """Today's groups matched to earlier ones (see the module's docstring).

    ``copies[t, e]`` counts today's articles of group ``t`` that copy articles of earlier
    group ``e`` (or other evidence counted alike); ``rank`` orders the earlier groups by
    id, ``size`` is their articles.  With ``threshold`` None, profiles are not compared.
    With ``merge``, earlier groups met by one of today's groups form components; each
    component keeps its largest group (ties: smallest id) and the others are merged into
    it.  Without, a group of today continues its best match only and no earlier group
    is merged: merges chain from run to run, which a level with a low threshold
    (stories) cannot afford.
    """
    votes = sp.coo_matrix(copies)
    sims = sp.coo_matrix((len(today.langs), len(earlier.langs))) if threshold is None \
        else similar_pairs(today, earlier, threshold, window_days)
    rows = np.concatenate([votes.row, sims.row]).astype(np.int64)
    cols = np.concatenate([votes.col, sims.col]).astype(np.int64)
    if not rows.size:
        return Continuations(np.full(len(today.langs), -1, dtype=np.int64), [])
    # per (today, earlier): its copies and cosine
    n_earlier = len(earlier.langs)
    key, inverse = np.unique(rows * n_earlier + cols, return_inverse=True)
    count = np.bincount(inverse, weights=np.r_[votes.data, np.zeros(sims.nnz)])
    cosine = np.zeros(key.size)
    np.maximum.at(cosine, inverse, np.r_[np.zeros(votes.nnz), sims.data])
    pair_today, pair_earlier = key // n_earlier, key % n_earlier
    best = np.lexsort((rank[pair_earlier], -cosine, -count, pair_today))
    first = np.r_[True, pair_today[best][1:] != pair_today[best][:-1]]
    chosen = np.full(len(today.langs), -1, dtype=np.int64)
    chosen[pair_today[best][first]] = pair_earlier[best][first]
    if not merge:
        return Continuations(chosen, [])
    # earlier groups met through one of today's groups are one from now on
    met = components(chosen[pair_today], pair_earlier, n_earlier)
    involved = np.unique(pair_earlier)
    lead = np.lexsort((rank[involved], -size[involved], met[involved]))
    starts = np.r_[True, met[involved][lead][1:] != met[involved][lead][:-1]]
    keeper_of_component = np.full(n_earlier, -1, dtype=np.int64)
    keeper_of_component[met[involved][lead][starts]] = involved[lead][starts]
    keeper = np.full(n_earlier, -1, dtype=np.int64)
    keeper[involved] = keeper_of_component[met[involved]]
    merged = [(group, int(keeper[group])) for group in involved.tolist()
              if keeper[group] != group]
    earlier_of = np.where(chosen >= 0, keeper[np.maximum(chosen, 0)], -1)
    return Continuations(earlier_of.astype(np.int64), merged)


# Earlier groups a group of today is compared with at most: its most similar ones.
CANDIDATES = 32
# Threads of the sparse products (row-parallel: the same result with any number).
THREADS = min(4, os.cpu_count() or 1)


def similar_pairs(today: Groups, earlier: Groups, threshold: float,
                  window_days: float) -> sp.coo_matrix:
    """(today, earlier) pairs of one language within the window whose profiles' cosine
    reaches ``threshold``, with the cosine.

    Compared per language, and dated groups of today only with the earlier groups within
    the window of today's dates: today is a day or a few, the index holds weeks, and the
    products grow with both.
    """
    found = []
    today_lang = np.asarray(today.langs, dtype=object)
    earlier_lang = np.asarray(earlier.langs, dtype=object)
    dated = ~np.isnan(today.first_day)
    near = ranges_within(np.nanmin(today.first_day, initial=np.inf),
                         np.nanmax(today.last_day, initial=-np.inf),
                         earlier.first_day, earlier.last_day, window_days) \
        if dated.any() else np.ones(len(earlier.langs), dtype=bool)
    for lang in sorted(set(today.langs)):
        for undated in (False, True):
            rows = np.flatnonzero((today_lang == lang) & (dated != undated))
            cols = np.flatnonzero((earlier_lang == lang) & (near | undated))
            if rows.size and cols.size:
                found.append(_products(today, earlier, rows, cols, threshold, window_days))
    shape = (len(today.langs), len(earlier.langs))
    if not found:
        return sp.coo_matrix(shape)
    return sp.coo_matrix((np.concatenate([part.data for part in found]),
                          (np.concatenate([part.row for part in found]),
                           np.concatenate([part.col for part in found]))), shape=shape)


def _products(today: Groups, earlier: Groups, rows: np.ndarray, cols: np.ndarray,
              threshold: float, window_days: float) -> sp.coo_matrix:
    """The pairs of ``rows`` x ``cols`` that reach the threshold within the window."""
    product = sp.coo_matrix(sp_matmul_topn(
        sp.csr_matrix(today.vectors[rows]), sp.csr_matrix(earlier.vectors[cols].T),
        top_n=CANDIDATES, threshold=float(np.nextafter(threshold, -np.inf)),
        n_threads=THREADS))
    a, b = rows[product.row], cols[product.col]
    keep = ranges_within(today.first_day[a], today.last_day[a], earlier.first_day[b],
                         earlier.last_day[b], window_days)
    return sp.coo_matrix((product.data[keep].astype(np.float64), (a[keep], b[keep])),
                         shape=(len(today.langs), len(earlier.langs)))


def ranges_within(first_a: np.ndarray | float, last_a: np.ndarray | float,
                  first_b: np.ndarray, last_b: np.ndarray, window_days: float) -> np.ndarray:
    """Where two date ranges are within ``window_days`` of each other: the gap from the
    earlier last day to the later first day (``within_days``; an undated side never
    forbids)."""
    return within_days(np.fmin(last_a, last_b), np.fmax(first_a, first_b), window_days)
