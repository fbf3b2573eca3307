"""``dedup index stats INDEX`` and ``dedup index compact INDEX``: what an index holds,
and an index rewritten without its retired profiles."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from dedup.config import Config
from dedup.io.index import Generation, Head, Index, IndexStoreError, Profiles
from dedup.job.incremental import Earlier, band_files, index_settings, read_earlier


def index_stats(location: str, cfg: Config) -> dict[str, Any]:
    """Articles, events and stories (kept and open), merges, date range, size."""
    index = Index.at(location)
    head = _existing(index, cfg)
    with tempfile.TemporaryDirectory() as work:
        return _stats(index, head, read_earlier(index, head, cfg, Path(work)))


def compact_index(location: str, cfg: Config) -> dict[str, Any]:
    """One generation in place of all: every article, the open events and stories
    (retired and merged-away profiles dropped), every merge (ids still lead to where
    their groups went), every run's document frequencies summed, and with
    ``index.fed_articles`` the term counts of the articles a run would be fed now (those
    of the last ``index.undated_runs`` runs).  Atomic like an append; held like one."""
    index = Index.at(location)
    _existing(index, cfg)  # before the lock: nothing is written where there is no index
    with index.storage.locked(), tempfile.TemporaryDirectory() as work:
        head = _existing(index, cfg)  # again once held: a run may have appended meanwhile
        earlier = read_earlier(index, head, cfg, Path(work))
        signatures = np.concatenate([np.zeros((0, cfg.dedup.num_perm), dtype=np.uint32),
                                     *(np.load(files[0]) for files in earlier.files)])
        generation = Generation(earlier.articles, signatures,
                                _renumbered(earlier.events.take(
                                    np.flatnonzero(earlier.open_events)), head),
                                _renumbered(earlier.stories.take(
                                    np.flatnonzero(earlier.open_stories)), head),
                                earlier.merged_events, fingerprint="",
                                rows=earlier.fed.rows if len(earlier.fed.events) else None,
                                counts=earlier.counts,
                                copy_ids=sorted(copy for name in head.generations
                                                for copy in index.read_copy_ids(name)))
        before = sum(index.storage.size(name) for name in head.generations)
        new = index.replace_generations(head, generation, band_files(signatures, cfg))
    return {"before_bytes": before,
            "after_bytes": sum(index.storage.size(name) for name in new.generations),
            "events_dropped": int(np.count_nonzero(~earlier.open_events)),
            "stories_dropped": int(np.count_nonzero(~earlier.open_stories))}


def _renumbered(groups: Profiles, head: Head) -> Profiles:
    """``groups`` with the generation that last touched each counted as if the index
    had held one generation all along: a run's number is its generations' count plus
    one, and an undated group retires after ``index.undated_runs`` runs, which compacting
    ``n`` generations into one must not reset (it would reopen retired groups)."""
    return dataclasses.replace(groups, touched=groups.touched - (len(head.generations) - 1))


def _existing(index: Index, cfg: Config) -> Head:
    """The index's head; no index there yet, or one made with other settings than
    ``cfg``'s (its files would not read, or compact into another index's), is a user
    error."""
    head = index.head()
    if head is None:
        raise IndexStoreError(f"{index.where}: no index there yet (a run with --index makes "
                              "it)")
    index.check_settings(head, index_settings(cfg))
    return head


def _stats(index: Index, head: Head, earlier: Earlier) -> dict[str, Any]:
    size = sum(index.storage.size(name) for name in head.generations)
    return {"index": index.where, "generations": len(head.generations),
            "runs": len(head.fingerprints), "articles": head.articles,
            "events": len(earlier.events), "open_events": int(earlier.open_events.sum()),
            "stories": len(earlier.stories), "open_stories": int(earlier.open_stories.sum()),
            "merged_events": len(earlier.merged_events),
            "first_day": _date(head.first_day), "last_day": _date(head.last_day),
            "bytes": size, "bytes_per_article": round(size / max(head.articles, 1), 1),
            "settings": head.settings}


def _date(day: float | None) -> str | None:
    """A day number as an ISO date."""
    if day is None:
        return None
    return str(np.datetime64(int(np.floor(day)), "D"))
