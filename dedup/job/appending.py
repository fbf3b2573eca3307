"""One run's use of an index (``dedup run ... --index INDEX``): checked with the rest
before any work, held while the run works, read before the duplicate step, appended to
once the outputs are published.  What is compared and kept is in
``dedup.job.incremental``; how the index is stored, in ``dedup.io.index``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from dedup.config import Config
from dedup.io.discover import InputFile, is_url
from dedup.io.index import Generation, Head, Index, IndexStoreError
from dedup.job.corpus import Corpus, IdSet
from dedup.job.events import Grouping
from dedup.job.incremental import Earlier, index_settings, new_generation, read_earlier


class Appending:
    """One run's use of an index: checked before any work, held while the run works,
    read before the duplicate step, and appended to once the outputs are published."""

    def __init__(self, index: Index, head: Head | None, fingerprint: str, cfg: Config) -> None:
        self.index = index
        self.head = head
        self.fingerprint = fingerprint
        self.cfg = cfg
        self.settings = index_settings(cfg)
        self.pending: tuple[Generation, tuple[bytes, bytes]] | None = None

    @classmethod
    def checked(cls, location: str, out_dir: Path, files: Sequence[InputFile],
                cfg: Config) -> Appending:
        """The index at ``location`` if this run may append to it (see
        ``Index.checked_head``); it may not live in the output folder, nor hold it."""
        if not is_url(location):
            folder = Path(location).absolute()
            if folder == out_dir or out_dir in folder.parents or folder in out_dir.parents:
                raise IndexStoreError(f"--index {location}: the index needs a folder of its "
                                      "own, apart from --out")
        index = Index.at(location)
        fingerprint = inputs_fingerprint(files)
        return cls(index, index.checked_head(index_settings(cfg), fingerprint), fingerprint,
                   cfg)

    def state(self) -> dict[str, Any]:
        """Where the index is and the generations it holds: what ids are renamed against
        (part of the resume fingerprint)."""
        return {"where": self.index.where,
                "generations": list(self.head.generations) if self.head else []}

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the index; checked again once held (a run may have appended meanwhile)."""
        with self.index.storage.locked():
            self.head = self.index.checked_head(self.settings, self.fingerprint)
            yield

    def read(self, work: Path, corpus: Corpus) -> Earlier:
        """What the index holds, for the duplicate and cluster steps."""
        dated = corpus.days[np.isfinite(corpus.days)]
        return read_earlier(self.index, self.head, self.cfg, work / "index",
                            float(dated.min()) if dated.size else np.nan)

    def prepare(self, corpus: Corpus, grouping: Grouping, earlier: Earlier) -> dict[str, Any]:
        """Make today's generation while the run's arrays are at hand; returns what the
        report says of the index."""
        continued = grouping.continued
        assert continued is not None
        canonical_rows = np.flatnonzero(grouping.dups.canonical
                                        == np.arange(grouping.dups.canonical.size))
        self.pending = new_generation(corpus, grouping.dups, canonical_rows,
                                      grouping.clustering, grouping.label, grouping.cluster_ids,
                                      grouping.story_ids, continued, earlier, self.cfg,
                                      self.fingerprint)
        return {"location": self.index.where, "generation": earlier.generation,
                "earlier_articles": len(earlier.articles),
                "open_events": int(earlier.open_events.sum()),
                "open_stories": int(earlier.open_stories.sum()),
                "articles_fed": len(earlier.fed.events),
                # fed articles without the embeddings today's articles have: an index made
                # by lexical runs, then a run with the encoder
                "fed_without_embeddings": len(earlier.fed.events)
                if corpus.embedding_files is not None and earlier.fed.rows.embeddings is None
                else 0,
                "fed_in_events": 0 if grouping.clustering.frozen_events is None else int(
                    np.count_nonzero(grouping.clustering.frozen_events >= 0)),
                "copies_of_earlier": sum(copy is not None for copy in continued.copies),
                "events_continued": int(np.count_nonzero(continued.earlier_event >= 0)),
                "stories_continued": int(np.count_nonzero(continued.earlier_story >= 0)),
                "events_merged": len(continued.merged_events),
                "articles_appended": len(self.pending[0].articles),
                # true once the generation is in the index, after the outputs are published
                "committed": False}

    def earlier_ids(self) -> IdSet:
        """Every article id the index holds: today's records that repeat one are renamed
        as repeats within one run are (``X~2``), so that an id never names two articles
        and no new event or story takes an earlier one's id (ids are made from members')."""
        return IdSet.of([article_id for name in (self.head.generations if self.head else ())
                         for article_id in self.index.read_ids(name)])

    def warnings(self, said: dict[str, Any], articles: int) -> list[str]:
        """What a user must hear of this run's use of the index (``said``: the report's
        index part): every article a copy of an indexed one means the inputs were most
        likely appended before, in a way their files could not tell (see
        ``Index.checked_head``); fed articles without the embeddings this run has cannot
        join its events."""
        found = []
        if articles and said.get("copies_of_earlier") == articles:
            found.append(f"every article ({articles}) is a copy of one the index "
                         f"{self.index.where} already holds: were these inputs appended "
                         "before (from stdin, a copy of a file, or records in Python, which "
                         "the index cannot recognise as the same inputs)?")
        if unembedded := said.get("fed_without_embeddings"):
            found.append(f"this run embeds its articles but the {unembedded} earlier articles "
                         f"fed from {self.index.where} have no embeddings (appended by runs "
                         "without the encoder): events continue by copies only; keep one "
                         "embed.model per index")
        return found

    def untouched(self) -> dict[str, Any]:
        """What the report says of the index after a run without any article: nothing
        was compared with it nor appended to it."""
        return {"location": self.index.where, "articles_appended": 0,
                "note": "no article in this run: the index is as it was"}

    def commit(self) -> bool:
        """Append today's generation (atomically; see ``dedup.io.index``), if the run made
        one (a run without any article makes none); whether it did."""
        if self.pending is None:
            return False
        self.head = self.index.append(self.head, self.settings, *self.pending)
        return True


def inputs_fingerprint(files: Sequence[InputFile]) -> str:
    """Which inputs a run read (paths, sizes, versions): the same inputs appended twice
    would make every article a copy of itself."""
    return hashlib.sha256(orjson.dumps([file.version() for file in files])).hexdigest()
