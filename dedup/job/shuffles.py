"""The global steps that read every chunk's files by key range, as engine tasks: the
boilerplate learning over the chunks' line keys, and the duplicates' LSH over their band
keys with the comparison of the candidate pairs' signatures.

Each is a shuffle: the workers saved each chunk's keys sorted (the map side, see
dedup.job.tasks), and one task per key range reads its slice of every chunk's file
(the reduce side), so no process holds all keys or signatures and what crosses the
network is row numbers, pairs and counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from dedup.algorithms.boilerplate import Learned, Thresholds, learn_key_range, save_boilerplate
from dedup.algorithms.duplicates import (
    band_range_buckets,
    chunk_pair_equal_values,
    key_ranges,
    lsh_params,
)
from dedup.config import Config
from dedup.engines.base import Engine, Pass
from dedup.job.corpus import Corpus
from dedup.job.tasks import Chained, ChunkFiles, PreparedChunk, chunk_itself

# Line keys per boilerplate-learning task, about: a task holds its keys with their
# articles' groups and story tokens (48 bytes each, plus the sort's copies).  At least
# LEARN_MIN_TASKS tasks, so that every worker of a small run takes part.
LINE_KEYS_PER_TASK = 2_000_000
LEARN_MIN_TASKS = 8


def learn_boilerplate(prepared: Sequence[PreparedChunk], work: Path, cfg: Config,
                      engine: Engine) -> tuple[Path, list[Learned]]:
    """The boilerplate of the whole input, learned by one engine task per key range
    (see ``dedup.algorithms.boilerplate``), saved for the analyse pass; returns its file
    and what each task learned."""
    groups = np.concatenate([np.zeros(0, np.uint64), *(p.group_keys for p in prepared)])
    docs = np.concatenate([np.zeros(0, np.int64), *(p.group_docs for p in prepared)])
    group_keys, inverse = np.unique(groups, return_inverse=True)
    group_docs = np.bincount(inverse.reshape(-1), weights=docs,
                             minlength=group_keys.size).astype(np.int64)
    keys = sum(p.line_keys for p in prepared)
    thresholds = Thresholds(cfg.clean.boilerplate_min_stories, cfg.clean.boilerplate_min_share,
                            cfg.clean.boilerplate_min_sites,
                            cfg.clean.boilerplate_site_min_share,
                            cfg.clean.boilerplate_loose_min_share)
    chunks = ChunkFiles(work, len(prepared), chunk_itself)
    ranges = key_ranges(max(LEARN_MIN_TASKS, -(-keys // LINE_KEYS_PER_TASK)))
    tasks = ((chunks, key_range, group_keys, group_docs, thresholds) for key_range in ranges)
    learned = list(engine.map(learn_key_range, tasks, Pass("learn", len(ranges), "range")))
    path = work / "boilerplate.npz"
    save_boilerplate(path, learned)
    return path, learned


# Candidate pairs per signature-comparing task: 50k pairs gather at most 100k signature
# rows (51 MB) in a worker.
PAIRS_PER_TASK = 50_000
# Band keys per LSH task, about: a band's key space is cut into as many ranges as it
# takes (12 bytes a key and its row, plus the sort's copies: ~100 MB a task).
KEYS_PER_TASK = 4_000_000


class ChunkedSignatures:
    """The signatures where the workers saved them, one file per chunk (see
    ``dedup.algorithms.duplicates.Signatures``).

    The LSH step is a shuffle on (band, key): one engine task per band and key range,
    each reading its slice of every chunk's sorted keys.  Candidate pairs are compared
    by tasks reading only their rows.  The main process never holds the signatures;
    what crosses the network is row numbers, bucket pairs and counts.
    """

    def __init__(self, corpus: Corpus, cfg: Config, engine: Engine,
                 earlier: Sequence[tuple[Path, Path, int]] = ()) -> None:
        """``earlier``: files of an index's generations after the chunks, each its
        signatures, its sorted band keys and its row count (see ``dedup.io.index``)."""
        self.cfg = cfg
        self.engine = engine
        self.signature_files: Sequence[Path] = Chained(corpus.signature_files,
                                                       tuple(e[0] for e in earlier))
        self.band_key_files: Sequence[Path] = Chained(corpus.band_key_files,
                                                      tuple(e[1] for e in earlier))
        self.starts = np.cumsum([0, *np.diff(corpus.chunk_bounds).tolist(),
                                 *(e[2] for e in earlier)])[:-1]

    def band_pairs(self, id_rank: np.ndarray) -> Iterator[np.ndarray]:
        """One task per band and key range; large buckets become stars here."""
        bands, _ = lsh_params(self.cfg.dedup)
        ranges = key_ranges(max(1, -(-len(id_rank) // KEYS_PER_TASK)))
        tasks = ((self.band_key_files, self.starts, band, key_range,
                  self.cfg.dedup.max_bucket_pairs)
                 for band in range(bands) for key_range in ranges)
        return (buckets.edges(id_rank) for buckets in self.engine.map(
            band_range_buckets, tasks, Pass("dedup", bands * len(ranges), "bucket range")))

    def agreement(self, pairs: np.ndarray) -> np.ndarray:
        """One task per ``PAIRS_PER_TASK`` pairs."""
        tasks = ((self.signature_files, self.starts, pairs[start : start + PAIRS_PER_TASK])
                 for start in range(0, len(pairs), PAIRS_PER_TASK))
        equal = np.concatenate([np.zeros(0, dtype=np.uint16),
                                *self.engine.map(chunk_pair_equal_values, tasks, Pass(
                                    "compare", len(pairs), "pair",
                                    share=lambda task: len(task[2])))])
        return equal / self.cfg.dedup.num_perm
