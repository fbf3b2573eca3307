"""Neighbourhoods of an incremental run's fed articles, with their events' absent members.

An incremental run clusters today's articles together with a few *fed* articles of each
earlier event (``index.fed_articles``).  The linkage mixes word cosine with the cosine of
neighbourhoods (which articles each one is close to), and that second part is what keeps
two events of one kind apart in one run: each event's reports have each other as
neighbours.  A fed article, though, arrives without the rest of its event: in its own run
its neighbours were its event's other reports, most of which are not fed.  Left with the
articles of today that found it, another event of its kind (all of whose reports find it)
made it look like one of its own, and took it — and with it the earlier event.

So each earlier event's *absent* members (its articles near today's dates that are not
fed) stand in as one virtual neighbour: a column of their own in the neighbourhood
matrix, weighted as that many neighbours of the similarity the row has to the event's
fed articles (a fed article: to its fed mates; today's article that found one of them:
to all of them).  They compete for a row's ``knn`` places like real neighbours, by similarity, so
a report of today that continues the event shares that column with the fed articles,
while another event of its kind, whose rows are full of its own reports, does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, slots=True)
class FedEvents:
    """The earlier events of a block's frozen rows: each row's event (numbered from 0)
    and, per event, how many of its articles near today's dates are not frozen rows."""

    of_row: np.ndarray  # int64 per frozen row
    absent: np.ndarray  # int64 per event

    @classmethod
    def numbered(cls, event_of_row: np.ndarray, absent_of_row: np.ndarray) -> FedEvents:
        """Rows given with any event ids and each row's event's absent count: the events
        numbered from 0 in id order."""
        events, of_row = np.unique(event_of_row, return_inverse=True)
        absent = np.zeros(events.size, dtype=np.int64)
        absent[of_row] = absent_of_row
        return cls(of_row.reshape(-1).astype(np.int64), absent)

    @classmethod
    def alone(cls, rows: int) -> FedEvents:
        """Every frozen row an event of its own, with nothing absent (frozen rows given
        without their events)."""
        return cls(np.arange(rows, dtype=np.int64), np.zeros(rows, dtype=np.int64))

    def take(self, picks: np.ndarray) -> FedEvents:
        """The frozen rows at ``picks``, their events numbered anew."""
        events = self.of_row[picks]
        return FedEvents.numbered(events, self.absent[events])


# (rows, columns, similarities) of a neighbour matrix's entries
Entries = tuple[np.ndarray, np.ndarray, np.ndarray]
# the exact cosines of row pairs (a[i], b[i])
PairCosines = Callable[[np.ndarray, np.ndarray], np.ndarray]


def neighbour_matrix(found: Entries, n: int, clustered: int, fed: FedEvents,
                     cosines: PairCosines, knn: int) -> sp.csr_matrix:
    """The n x (n + events) matrix of neighbour cosines of a block whose rows from
    ``clustered`` on are frozen: ``found`` holds the neighbours today's rows found (their
    ``knn`` best each); frozen rows searched none.

    Each row keeps its ``knn`` best among: what it found (today's rows) or the rows that
    found it and its event's other frozen rows (frozen rows), and its events' absent
    members, an event's counted as that many neighbours at the row's mean similarity to
    the event's frozen rows; an event's kept members are one entry, in its column
    ``n + event``, of weight similarity x sqrt(kept) (the norm of that many equal entries).
    """
    rows, cols, sims = found
    fed_found = cols >= clustered  # today's rows that found a frozen one
    finders = rows[fed_found], cols[fed_found], sims[fed_found]
    mate_a, mate_b = _mates(fed.of_row, clustered)
    mates = mate_a, mate_b, cosines(mate_a, mate_b)
    candidates = [_weighed(found), _weighed((finders[1], finders[0], finders[2])),
                  _weighed(mates)]
    for holder, event, similarity in (
            _mean_to_every_fed(finders[0], fed.of_row[finders[1] - clustered], fed,
                               clustered, cosines),
            _mean_per_event(mate_a, fed.of_row[mate_a - clustered], mates[2])):
        candidates.append((holder, n + event, similarity, fed.absent[event]))
    return _best(candidates, n, n + fed.absent.size, knn)


def _mean_to_every_fed(finder: np.ndarray, event: np.ndarray, fed: FedEvents,
                       clustered: int, cosines: PairCosines,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (row of today, event) where the row found one of the event's frozen rows, the
    row's mean cosine to all of them: one close article of an event says little about
    its other articles (a headline that shares a name with one), all of them more."""
    holder, events, _ = _per_event(finder, event)
    pair, member = _members(fed.of_row, events)
    sums = np.bincount(pair, weights=cosines(holder[pair], member + clustered),
                       minlength=holder.size)
    return holder, events, sums / np.maximum(np.bincount(pair, minlength=holder.size), 1)


def _weighed(entries: Entries) -> tuple[np.ndarray, ...]:
    """Entries that each count as one neighbour."""
    return (*entries, np.ones(entries[0].size, dtype=np.int64))


def _mates(of_row: np.ndarray, clustered: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair of distinct frozen rows (block numbers) of one event."""
    a, b = _members(of_row, of_row)
    keep = a != b
    return a[keep] + clustered, b[keep] + clustered


def _members(of_row: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each entry of ``events``, every frozen row (numbered from 0) of that event:
    (the entry's place, the row), entry by entry."""
    order = np.argsort(of_row, kind="stable")
    sizes = np.bincount(of_row, minlength=int(events.max(initial=-1)) + 1)
    starts = np.cumsum(sizes) - sizes
    per_entry = sizes[events]
    place = np.repeat(np.arange(events.size), per_entry)
    return place, order[np.repeat(starts[events], per_entry) + _ranks(per_entry)]


def _ranks(lengths: np.ndarray) -> np.ndarray:
    """0..length-1 for each length, concatenated."""
    total = int(lengths.sum())
    return np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _per_event(holder: np.ndarray, event: np.ndarray,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (row, event) pairs of entries, and each entry's pair."""
    if not holder.size:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    width = int(event.max()) + 1
    keys, inverse = np.unique(holder * width + event, return_inverse=True)
    return keys // width, keys % width, inverse.reshape(-1)


def _mean_per_event(holder: np.ndarray, event: np.ndarray,
                    sims: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (row, event) it has entries with, the row, the event and their mean similarity."""
    rows, events, pair = _per_event(holder, event)
    mean = np.bincount(pair, weights=sims, minlength=rows.size) \
        / np.maximum(np.bincount(pair, minlength=rows.size), 1)
    return rows, events, mean


def _best(candidates: list[tuple[np.ndarray, ...]], n: int, columns: int,
          knn: int) -> sp.csr_matrix:
    """Per row, its ``knn`` best candidates counted with their multiplicity (the
    strongest first, ties to the smaller column; the last one kept may be cut short)."""
    rows, cols, sims, counts = (np.concatenate(parts) for parts in zip(*candidates,
                                                                         strict=True))
    order = np.lexsort((cols, -sims, rows))
    rows, cols, sims, counts = rows[order], cols[order], sims[order], counts[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else rows
    before = np.cumsum(counts) - counts
    before -= np.repeat(before[starts], np.diff(np.r_[starts, rows.size]))
    kept = np.clip(knn - before, 0, counts)
    use = kept > 0
    return sp.csr_matrix((sims[use] * np.sqrt(kept[use]), (rows[use], cols[use])),
                         shape=(n, columns))
