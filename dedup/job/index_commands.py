"""``dedup index stats INDEX`` and ``dedup index compact INDEX``: what an index holds,
and an index rewritten without its retired profiles."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from dedup.config import Config
from dedup.io.index import Generation, Index, IndexStoreError
from dedup.job.incremental import band_files, read_earlier


def index_stats(location: str, cfg: Config) -> dict[str, Any]:
    """Articles, events and stories (open and kept), date range, generations, size."""
    index = Index.at(location)
    head = index.head()
    if head is None:
        raise IndexStoreError(f"{location}: no index there yet (a run with --index makes it)")
    with tempfile.TemporaryDirectory() as work:
        earlier = read_earlier(index, head, cfg, Path(work))
        kept_events, kept_stories = index.group_counts(head)
    size = sum(index.storage.size(name) for name in head.generations)
    return {"index": index.where, "generations": len(head.generations),
            "runs": len(head.fingerprints), "articles": head.articles,
            "events": kept_events, "open_events": int(earlier.open_events.sum()),
            "stories": kept_stories, "open_stories": int(earlier.open_stories.sum()),
            "merged_events": len(earlier.merged_events),
            "first_day": _date(head.first_day), "last_day": _date(head.last_day),
            "bytes": size, "bytes_per_article": round(size / max(head.articles, 1), 1),
            "settings": head.settings}


def compact_index(location: str, cfg: Config) -> dict[str, Any]:
    """One generation in place of all: every article, the open events and stories
    (retired and merged-away profiles dropped), every merge (ids still lead to where
    their groups went).  Atomic like an append; held like one."""
    index = Index.at(location)
    with index.storage.locked():
        head = index.head()
        if head is None:
            raise IndexStoreError(f"{location}: no index there yet")
        before = index_stats(location, cfg)
        with tempfile.TemporaryDirectory() as work:
            earlier = read_earlier(index, head, cfg, Path(work))
            signatures = np.concatenate(
                [np.zeros((0, cfg.dedup.num_perm), dtype=np.uint32),
                 *(np.load(files[0]) for files in earlier.files)])
            generation = Generation(earlier.articles, signatures,
                                    earlier.events.take(np.flatnonzero(earlier.open_events)),
                                    earlier.stories.take(np.flatnonzero(earlier.open_stories)),
                                    earlier.merged_events,
                                    earlier.merged_stories, fingerprint="")
            index.replace_generations(head, generation, band_files(signatures, cfg))
    after = index_stats(location, cfg)
    return {"before_bytes": before["bytes"], "after_bytes": after["bytes"],
            "events_dropped": before["events"] - after["events"],
            "stories_dropped": before["stories"] - after["stories"]}


def _date(day: float | None) -> str | None:
    """A day number as an ISO date."""
    if day is None:
        return None
    return str(np.datetime64(int(np.floor(day)), "D"))
