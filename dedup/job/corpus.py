"""What the main process keeps of the chunks: the ids of the prepared chunks made unique
across the input, and the analysed chunks stacked into the compact arrays (ids,
languages, dates, hashes, and where each chunk's files are) that the global steps work
on.  No text and no per-article vector is held here: those stay in the chunks' files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dedup.algorithms.duplicates import rank_of
from dedup.algorithms.hashing import string_hashes
from dedup.io.spool import SpooledRows
from dedup.job.tasks import (
    AnalysedChunk,
    ChunkFiles,
    PreparedChunk,
    anchors_path,
    band_keys_path,
    embeddings_path,
    signatures_path,
)
from dedup.stages.embed import COVERED_LANGUAGES


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
    id_rank: np.ndarray  # int64 per row: its place in id order, the steps' tie-breaker

    def term_rows(self, rows: np.ndarray, n_features: int) -> SpooledRows:
        """Where the term vectors (and embeddings, in a language the encoder covers) of
        ``rows`` (one language, in this order) are on disk.

        A language's vector files, stacked in chunk order, hold its rows in input order,
        so a row's place in the stack is its rank within its language.
        """
        lang = self.langs[int(rows[0])]
        files = tuple(parts[lang] for parts in self.vector_parts if lang in parts)
        if self.embedding_files is None or lang not in COVERED_LANGUAGES:
            return SpooledRows(files=files, picks=self.lang_rank[rows], n_features=n_features)
        return SpooledRows(files=files, picks=self.lang_rank[rows], n_features=n_features,
                           embedding_files=self.embedding_files,
                           chunk_starts=self.chunk_bounds[:-1], rows=rows)


@dataclass(frozen=True, slots=True)
class IdSet:
    """Article ids as sorted 64-bit hashes (:func:`string_hashes`): an index's earlier
    ids in 8 bytes each, where a set of the strings took about 100."""

    hashes: np.ndarray  # uint64, sorted, unique

    @classmethod
    def of(cls, ids: Sequence[str]) -> IdSet:
        return cls(np.unique(string_hashes(ids)))

    def holds(self, ids: Sequence[str]) -> np.ndarray:
        """Whether each of ``ids`` is in the set (a hash collision counts: it only
        renames an id)."""
        if not self.hashes.size:  # no index: nothing is hashed on the read step's path
            return np.zeros(len(ids), bool)
        keys = string_hashes(ids)
        place = np.minimum(np.searchsorted(self.hashes, keys), self.hashes.size - 1)
        return self.hashes[place] == keys


def fold_prepared(
    chunks: Iterable[PreparedChunk], earlier: IdSet | None = None,
) -> tuple[list[PreparedChunk], dict[int, dict[int, str]]]:
    """The prepared chunks as they arrive, and per chunk, the new ids of records whose
    id was already used, in this input or (``earlier``) by an index's articles
    (:class:`Renames`).

    Each chunk's ids are dropped once used, so they are never held twice: the analyse
    pass gives every kept id back with its row anyway.
    """
    renames = Renames(earlier or IdSet.of([]))
    kept = []
    for index, chunk in enumerate(chunks):
        renames.add(index, chunk)
        chunk.ids = []
        kept.append(chunk)
    return kept, renames.by_chunk


class Renames:
    """New ids for repeated ones: a repeated id gets ``~2``, ``~3``... appended (flagged
    ``duplicate_id``) rather than being dropped, since the record may be a different
    article, and losing it would be worse.

    A name made that way may be a real id of a later record (input ``a``, ``a``,
    ``a~2``): that record keeps its id, and the renamed one moves on to the next free
    suffix -- an id as given is only ever changed because it was given before.
    """

    def __init__(self, earlier: IdSet) -> None:
        self.earlier = earlier
        self.seen: set[str] = set()
        self.by_chunk: dict[int, dict[int, str]] = {}  # chunk -> seq -> new id
        # a made name -> (chunk, seq, the id as given, its suffix)
        self.made: dict[str, tuple[int, int, str, int]] = {}

    def add(self, index: int, chunk: PreparedChunk) -> None:
        """The chunk's ids, in input order."""
        held = self.earlier.holds(chunk.ids).tolist()
        for seq, record_id, was_held in zip(chunk.seqs.tolist(), chunk.ids, held, strict=True):
            if record_id in self.made:
                self._move_on(record_id)
            if record_id in self.seen or was_held:
                self._rename(index, seq, record_id, 1)
            else:
                self.seen.add(record_id)

    def _rename(self, index: int, seq: int, record_id: str, suffix: int) -> None:
        """Give the record the first free name after ``record_id~suffix``."""
        while True:
            suffix += 1
            new_id = f"{record_id}~{suffix}"
            if new_id not in self.seen and not self.earlier.holds([new_id])[0]:
                break
        self.seen.add(new_id)
        self.made[new_id] = (index, seq, record_id, suffix)
        self.by_chunk.setdefault(index, {})[seq] = new_id

    def _move_on(self, name: str) -> None:
        """A record given ``name`` as a new id yields it to a record that has it as its
        own id."""
        index, seq, record_id, suffix = self.made.pop(name)
        self.seen.discard(name)
        self._rename(index, seq, record_id, suffix)


def stack(analysed: Sequence[AnalysedChunk], work: Path, embedded: bool) -> Corpus:
    """Concatenate the per-chunk arrays in chunk order (``embedded``: the workers saved
    embeddings)."""
    ids = [i for chunk in analysed for i in chunk.ids]
    return Corpus(
        ids=ids,
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
        id_rank=rank_of(ids),
    )


def rank_within_language(langs: Sequence[str]) -> np.ndarray:
    """Each row's position among the rows of its language."""
    seen: Counter[str] = Counter()
    ranks = np.empty(len(langs), dtype=np.int64)
    for row, lang in enumerate(langs):
        ranks[row] = seen[lang]
        seen[lang] += 1
    return ranks
