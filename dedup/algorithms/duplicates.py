"""Dedup stage: exact and near-duplicate groups (syndicated copies) with MinHash LSH.

Per chunk (in workers) every article gets a normalised-content hash and a MinHash
signature; globally, articles sharing an exact hash or an LSH bucket become candidate
pairs, candidates are verified against the Jaccard threshold, and connected components of
the verified pairs are the duplicate groups.  The global step asks the signatures only
for bucket pairs and pair agreements (:class:`Signatures`), so the job answers from the
chunks' files in engine tasks and no process holds them all.

Signatures are bit-identical to
``datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash, scheme="affine32")`` fed the
same shingles, computed for many documents at once in numpy; ``to_lean_minhash``
wraps one for use in a ``datasketch.MinHashLSH`` index.  The global step only touches
compact arrays (uint32 signature rows, uint64 hashes, ints), never texts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np
from datasketch import LeanMinHash, MinHash
from datasketch.hashfunc import sha1_hash32
from datasketch.lsh import _optimal_param

from dedup.algorithms.arrays import components, unique_pairs
from dedup.algorithms.hashing import hash64
from dedup.algorithms.tokens import VOCABULARY, Documents
from dedup.io.spool import save_array, saved_rows
from dedup.settings import Range, setting

SCHEME = "affine32"
# FNV-1a's 32-bit prime: combines token hashes into a shingle hash.
_FNV_PRIME = 0x01000193
MAX_HASH = np.uint32(0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class DedupConfig:
    """Exact and near-duplicate groups (MinHash LSH, datasketch-compatible)."""

    threshold: float = setting(0.6, Range(0.0, 1.0, above=True), doc="""
        Estimated Jaccard similarity of word shingles at or above which two articles are copies
        of one original. Lower finds copies with more edits (each edited word breaks
        `shingle_size` shingles, which weighs heavily in short texts) but starts to join
        different articles on the same story. Measured on syndicated news copies: 0.7 kept 0.967
        of copy pairs, 0.6 kept 0.980, while same-story rewrites stayed below 0.25.""")
    num_perm: int = setting(128, Range(16, 1024), doc="""
        MinHash permutations: more gives a tighter Jaccard estimate (std ~ 1/sqrt(num_perm)) at
        proportionally more CPU and memory (4 bytes each per article).""")
    seed: int = setting(1, Range(0, (1 << 32) - 1), doc="""
        Seed of the permutations: signatures are only comparable with the same seed.""")
    shingle_size: int = setting(3, Range(1, 64), doc="""
        Words per shingle. Larger is stricter about word order and more sensitive to edits.""")
    false_positive_weight: float = setting(0.3, Range(0.0, 1.0), doc="""
        How LSH banding weighs extra candidates against missed pairs (`false_negative_weight`)
        when it chooses its bands, as datasketch does. Candidates are verified, so a false
        positive only costs time.""")
    false_negative_weight: float = setting(0.7, Range(0.0, 1.0), doc="""
        ... and how it weighs missed pairs: a pair that shares no band is never compared, so a
        copy missed here is missed for good.""")
    max_bucket_pairs: int = setting(64, Range(1, None), doc="""
        Buckets up to this size are verified pair by pair; larger ones (templates, spam) are
        only verified against their member with the smallest id, bounding the work.""")
    containment: float = setting(0.85, Range(0.0, 1.0, above=True), doc="""
        A pair below `threshold` is still a copy when this share of the smaller article's
        shingles is in the other (its containment, estimated from the Jaccard estimate and the
        two shingle counts): a syndicated copy cut to its first paragraphs. Lower joins more
        trimmed copies but also versions of one wire story that outlets cut and rewrote
        differently. Measured (pair F1 / precision, development set and two sets built like it
        with other furniture): 0.85 with a floor of 0.45 gave 0.991 / 0.992, 0.974 / 0.954,
        0.982 / 0.974; no containment rule 0.989, 0.971, 0.978; 0.8 with a floor of 0.3 0.993,
        0.974, but 0.966 / 0.938 on the third set.""")
    containment_min_jaccard: float = setting(0.45, Range(0.0, 1.0, above=True), doc="""
        ... if their estimated Jaccard is at least this: the LSH step then looks for candidates
        down to this similarity (more bands: 32 instead of 21 at 128 permutations), which costs
        band keys and candidate checks.""")
    min_line_words: int = setting(20, Range(0, None), doc="""
        Signatures are made of the lines of at least this many words, where an article has
        one: paragraphs, which copies share, while a page's furniture the cleaner missed (a
        teaser with another article's headline, a byline, an author's bio, a caption) is
        shorter and differs between the sites that carry a copy. Lower lets more of it in
        (two copies of a one-paragraph lead on two sites looked 0.4 alike with three such
        lines each); higher leaves out short paragraphs. Measured on three sets of
        syndicated copies with furniture the cleaner did not know (min_paragraph_share
        0), pair recall: 0 (every line) 0.885 / 0.909 / 0.901, 12 0.959 / 0.955 / 0.943,
        20 0.997 / 0.982 / 0.983, 30 0.987 / 0.965 / 0.966; on the development set 0.991 /
        0.992 / 0.989 / 0.989 (precision 0.992 at each). Their precision at 20 is that of
        the same sets with the furniture taken out by hand (0.974 / 0.922 / 0.992: some
        originals of one wire story are copies of each other). 0: every line.""")
    min_paragraph_share: float = setting(0.6, Range(0.0, 1.0), doc="""
        ... if those lines hold at least this share of the article's words; else it is
        compared whole. A long line among short ones is not always the article: press
        releases of one sender, each a few short lines above one disclaimer of 40 words,
        would be copies of each other by their disclaimer alone. Lower trusts paragraphs
        in more articles. On the three furniture sets above, pair recall at 0 / 0.4 /
        0.6: 0.997 / 0.991 / 0.985, 0.982 / 0.973 / 0.957, 0.983 / 0.976 / 0.961 (0.885,
        0.909, 0.901 with every line); the development set 0.989 / 0.987 / 0.987.""")
    containment_min_shingles: int = setting(20, Range(1, None), doc="""
        ... and the smaller article has at least this many shingles: in a few words, one shared
        phrase makes a high containment.""")


@dataclass(slots=True)
class Fingerprints:
    """Per-article dedup inputs computed in workers: compact arrays only."""

    exact: np.ndarray  # uint64: hash of the normalised token stream (0 = no content)
    signatures: np.ndarray  # uint32 (n, num_perm); rows of MAX_HASH = no shingles
    shingles: np.ndarray  # int64: shingles of each article (repeats included)


def compared_fields(docs: Documents) -> np.ndarray:
    """Per article, the field compared for duplicates: the body, or a headline-only title.

    Titles are left out when there is a body because syndicated copies often get a new
    headline ("WATCH: ...", cut at a different length) over the same text.
    """
    bodies = np.arange(1, 2 * len(docs), 2)
    has_body = np.fromiter((bool(docs.raw[f].strip()) for f in bodies.tolist()), dtype=bool,
                           count=bodies.size)
    return np.where(has_body, bodies, bodies - 1)


def shingles(tokens: Sequence[str], size: int) -> list[bytes]:
    """Word n-grams as UTF-8 bytes, as fed to ``datasketch.MinHash(hashfunc=shingle_hash)``.

    A text shorter than ``size`` is one shingle.  Only for interoperability: the job
    itself hashes shingles from token hashes (see :func:`shingle_hashes`).
    """
    if not tokens:
        return []
    if len(tokens) <= size:
        return [" ".join(tokens).encode("utf-8")]
    return [" ".join(tokens[i : i + size]).encode("utf-8")
            for i in range(len(tokens) - size + 1)]


def shingle_hash(shingle: bytes) -> int:
    """The 32-bit hash of one shingle (space-joined tokens), as a datasketch ``hashfunc``.

    Each token is hashed with datasketch's ``sha1_hash32`` and the token hashes are
    combined FNV-style.  Hashing tokens rather than whole shingles lets a chunk hash each
    distinct word once (news reuses its words) and combine them for every shingle in
    numpy: five times cheaper than SHA-1 per shingle, which dominated the stage.
    """
    tokens = shingle.split(b" ")
    hashes = np.array([sha1_hash32(token) for token in tokens], dtype=np.uint32)
    return int(shingle_hashes(hashes, np.array([len(tokens)]), len(tokens))[0][0])


def word_hashes(words: list[str]) -> list[int]:
    """``sha1_hash32`` of each word, the token hash inside :func:`shingle_hash`."""
    return [sha1_hash32(word.encode("utf-8")) for word in words]


def shingle_hashes(hashes: np.ndarray, lengths: np.ndarray,
                   size: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`shingle_hash` of every shingle of many texts at once, from their token hashes.

    ``hashes`` holds the texts' token hashes one text after another, ``lengths`` the
    number of tokens of each.  Returns the shingle hashes, text after text, and how many
    each text has (a text shorter than ``size`` is one shingle, an empty one none).
    Repeated shingles are kept: they cannot change a minimum.
    """
    counts = np.where(lengths >= size, lengths - size + 1, np.minimum(lengths, 1))
    text_starts = np.cumsum(lengths) - lengths
    first_shingle = np.cumsum(counts) - counts
    starts = np.arange(int(counts.sum())) + np.repeat(text_starts - first_shingle, counts)
    widths = np.repeat(np.minimum(lengths, size), counts)
    padded = np.concatenate([hashes.astype(np.uint32), np.zeros(size, dtype=np.uint32)])
    combined = np.zeros(hashes.size, dtype=np.uint32)
    values = np.zeros(starts.size, dtype=np.uint32)
    for width in range(1, size + 1):
        combined = (combined * _FNV_PRIME) ^ padded[width - 1 : width - 1 + hashes.size]
        done = widths == width
        values[done] = combined[starts[done]]
    return values, counts


def fingerprint(docs: Documents, cfg: DedupConfig) -> Fingerprints:
    """Exact hashes and MinHash signatures for a batch of articles.

    Each distinct word is hashed once per process (:data:`~dedup.algorithms.tokens.VOCABULARY`),
    and the whole batch's shingles are combined in one pass.
    """
    fields = compared_fields(docs)
    lengths = np.diff(docs.bounds)[fields]
    exact = np.fromiter((content_hash(docs.hashes[docs.bounds[field] : docs.bounds[field + 1]])
                         if length else 0
                         for field, length in zip(fields.tolist(), lengths.tolist(), strict=True)),
                        dtype=np.uint64, count=fields.size)
    index, _ = docs.positions(fields)
    if cfg.min_line_words:
        kept = content_tokens(docs, index, lengths, cfg.min_line_words,
                              cfg.min_paragraph_share)
        index, lengths = index[kept], _field_sums(kept, lengths)
    hashes = VOCABULARY.facts("sha1_hash32", docs.ids[index], word_hashes, np.uint32)
    values, counts = shingle_hashes(hashes, lengths, cfg.shingle_size)
    return Fingerprints(exact=exact, signatures=minhash_signatures(values, counts, cfg),
                        shingles=counts.astype(np.int64))


def content_tokens(docs: Documents, index: np.ndarray, lengths: np.ndarray,
                   min_words: int, min_share: float) -> np.ndarray:
    """Which of the tokens at ``index`` (fields of ``lengths`` tokens, one after
    another, in text order) a signature is made of: those of lines with at least
    ``min_words`` tokens, or every token of a field whose such lines hold less than
    ``min_share`` of its tokens.  A line's tokens come in a run, so its size is the
    distance between run starts (no sort)."""
    if not index.size:
        return np.ones(0, dtype=bool)
    line = np.searchsorted(docs.line_breaks, docs.starts[index])
    starts = np.flatnonzero(np.r_[True, line[1:] != line[:-1]])
    sizes = np.diff(np.r_[starts, line.size])
    long_line = np.repeat(sizes >= min_words, sizes)
    mostly_long = _field_sums(long_line, lengths) >= min_share * np.maximum(lengths, 1)
    return long_line | ~np.repeat(mostly_long, lengths)


def _field_sums(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per field of ``lengths`` items (one after another), how many of its ``values``
    are true."""
    sums = np.zeros(lengths.size, dtype=np.int64)
    filled = lengths > 0
    if filled.any():
        sums[filled] = np.add.reduceat(values.astype(np.int64),
                                       (np.cumsum(lengths) - lengths)[filled])
    return sums


def content_hash(token_hashes: np.ndarray) -> int:
    """64-bit hash of a token stream (by its token hashes): equal for texts that differ
    only in case and punctuation."""
    return hash64(token_hashes.tobytes()) or 1


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters ``(a, b)`` for this size and seed."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's finaliser, the pre-mix datasketch applies before its permutations."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def minhash_signatures(values: np.ndarray, counts: np.ndarray, cfg: DedupConfig,
                       batch_values: int = 16384) -> np.ndarray:
    """MinHash rows for many documents at once, from their shingle hashes.

    ``values`` holds the documents' shingle hashes one document after another, ``counts``
    how many each has.  Documents are processed in runs of about ``batch_values``
    shingles: one ``(num_perm, batch)`` product and a segmented minimum replace a Python
    loop per document and permutation.  The product goes into one reused buffer, small
    enough to stay in cache: allocating it per batch made the stage memory-bound.
    """
    a, b = permutations(cfg.num_perm, cfg.seed)
    out = np.full((counts.size, cfg.num_perm), MAX_HASH, dtype=np.uint32)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    buffer = np.empty((cfg.num_perm, max(batch_values, int(counts.max(initial=0)))),
                      dtype=np.uint32)
    start = 0
    while start < counts.size:
        fits = int(np.searchsorted(offsets, offsets[start] + batch_values, "right")) - 1
        stop = min(max(fits, start + 1), counts.size)
        fill_batch(out, values, offsets, start, stop, (a, b), buffer)
        start = stop
    return out


def fill_batch(out: np.ndarray, values: np.ndarray, offsets: np.ndarray, start: int, stop: int,
               permutation: tuple[np.ndarray, np.ndarray], buffer: np.ndarray) -> None:
    """Signatures of documents ``start:stop`` (documents without shingles stay empty)."""
    rows = start + np.flatnonzero(offsets[start + 1 : stop + 1] > offsets[start:stop])
    if not rows.size:
        return
    a, b = permutation
    mixed = fmix32(values[offsets[start] : offsets[stop]])
    permuted = buffer[:, : mixed.size]
    np.multiply(a[:, None], mixed[None, :], out=permuted)
    permuted += b[:, None]
    out[rows] = np.minimum.reduceat(permuted, offsets[rows] - offsets[start], axis=1).T


def to_lean_minhash(signature: np.ndarray, cfg: DedupConfig) -> LeanMinHash:
    """One signature as datasketch's LeanMinHash, e.g. to query a ``MinHashLSH`` index."""
    return LeanMinHash(seed=cfg.seed, hashvalues=signature, scheme=SCHEME)


def lsh_params(cfg: DedupConfig) -> tuple[int, int]:
    """(bands, rows) as datasketch's MinHashLSH would choose them for the lowest Jaccard
    a copy may have (the threshold, or the containment rule's floor)."""
    return _bands_and_rows(min(cfg.threshold, cfg.containment_min_jaccard), cfg.num_perm,
                           cfg.false_positive_weight, cfg.false_negative_weight)


@cache
def _bands_and_rows(lowest: float, num_perm: int, false_positive_weight: float,
                    false_negative_weight: float) -> tuple[int, int]:
    """datasketch's choice, made once per process: it integrates the error curves of
    every (bands, rows) split, 25 ms that every chunk of a run paid (12 s at 1M)."""
    bands, rows = _optimal_param(lowest, num_perm, false_positive_weight, false_negative_weight)
    return int(bands), int(rows)


@dataclass(slots=True)
class DuplicateGroups:
    """Result of the global dedup step, aligned with the input rows."""

    canonical: np.ndarray  # int64: row of each article's canonical (itself if canonical)
    exact_pairs: int  # verified pairs found by exact hash
    near_pairs: int  # verified pairs found by LSH only
    # int64 per row: the earlier run's article (its row in the index) it copies, or -1
    copies: np.ndarray

    def originals(self) -> np.ndarray:
        """bool per row: a copy of no other article, of this run or an earlier one (the
        rows written to kept.jsonl; with an index, today's canonical of a group copying an
        earlier article is a copy too)."""
        return (self.canonical == np.arange(self.canonical.size)) & (self.copies < 0)

    def original_of_copies(self) -> np.ndarray:
        """Per copy (rows not :meth:`originals`, in order), what it copies as one number:
        its canonical's row, or ``-1 - a`` for the index's article ``a``."""
        copy_rows = ~self.originals()
        return np.where(self.copies[copy_rows] >= 0, -1 - self.copies[copy_rows],
                        self.canonical[copy_rows])


class Signatures(Protocol):
    """What the global dedup step needs of the articles' MinHash signatures.

    Only two questions are asked of them, so they never have to be in one place: the job
    answers both with engine tasks reading the chunks' saved files (at 512 bytes per
    article, all signatures of 100M articles would be 51 GB), tests and library users
    with :class:`SignatureArray`.
    """

    def band_pairs(self, id_rank: np.ndarray) -> Iterable[np.ndarray]:
        """LSH bucket pairs of the articles with content, in any number of parts.

        Buckets up to ``max_bucket_pairs`` give all their pairs, larger ones a star
        around their smallest-id member (by ``id_rank``).
        """
        ...

    def agreement(self, pairs: np.ndarray) -> np.ndarray:
        """Per pair of rows, the share of equal signature values (estimated Jaccard)."""
        ...


class SignatureArray:
    """All signatures in memory: :class:`Signatures` for tests and small inputs."""

    def __init__(self, signatures: np.ndarray, cfg: DedupConfig) -> None:
        self.signatures = signatures
        self.cfg = cfg

    def band_pairs(self, id_rank: np.ndarray) -> Iterator[np.ndarray]:
        """Every band's bucket pairs, from keys computed here."""
        rows = np.flatnonzero(has_content(self.signatures))
        return (buckets_of(band[rows], rows, self.cfg.max_bucket_pairs).edges(id_rank)
                for band in all_band_keys(self.signatures, self.cfg))

    def agreement(self, pairs: np.ndarray) -> np.ndarray:
        """Equal values of each pair, compared a batch at a time."""
        return equal_values(self.signatures, pairs) / self.signatures.shape[1]


def find_duplicates(exact: np.ndarray, signatures: Signatures, shingles: np.ndarray,
                    id_rank: np.ndarray, days: np.ndarray, lengths: np.ndarray,
                    cfg: DedupConfig, earlier: int = 0) -> DuplicateGroups:
    """Group articles into duplicate groups and pick each group's canonical article.

    ``exact`` holds the content hashes (0 for an article without content), ``shingles``
    each article's shingle count, ``id_rank`` each one's place in id order
    (:func:`rank_of`; an incremental run ranks its earlier rows by the index's order).
    The canonical is the earliest published (unknown dates last), then the longest text,
    then the first by ``id_rank``, so the choice never depends on input order.

    The last ``earlier`` rows are articles of earlier runs (an incremental run's index):
    they are compared like the others, but only today's rows are grouped in the result.
    A group holding earlier articles is a copy of the first of them (``copies``), and
    its first row of today is its canonical among today's rows.
    """
    n = id_rank.size
    exact_pairs = exact_edges(exact, id_rank)
    today = n - earlier
    # two earlier articles were compared when the later of them came
    found = np.concatenate([np.zeros((0, 2), dtype=np.int64), *(
        pairs[(pairs < today).any(axis=1)] for pairs in signatures.band_pairs(id_rank))])
    candidates = np.stack(unique_pairs(found[:, 0], found[:, 1], n), axis=1)
    near = candidates[are_copies(signatures.agreement(candidates), shingles, id_rank,
                                 candidates, cfg)]
    near = subtract_edges(near, exact_pairs, n)
    edges = np.concatenate([exact_pairs, near])
    labels = components(edges[:, 0], edges[:, 1], n)
    is_today = np.arange(n) < today
    order = np.lexsort((id_rank, -lengths, np.nan_to_num(days, nan=np.inf), is_today, labels))
    first = first_per_label(labels, order)
    canonical_of_label = np.full(labels.max() + 1 if n else 0, -1, dtype=np.int64)
    canonical_of_label[labels[first]] = first
    first_today = first_per_label(labels, order[is_today[order]])
    local_of_label = np.full(canonical_of_label.size, -1, dtype=np.int64)
    local_of_label[labels[first_today]] = first_today
    copied = canonical_of_label[labels[:today]]
    return DuplicateGroups(canonical=local_of_label[labels[:today]],
                           exact_pairs=len(exact_pairs), near_pairs=len(near),
                           copies=np.where(copied >= today, copied - today, -1))


def first_per_label(labels: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The first row of each label among ``order`` (rows sorted by label first)."""
    if not order.size:
        return order
    ordered = labels[order]
    return order[np.r_[True, ordered[1:] != ordered[:-1]]]


def are_copies(jaccard: np.ndarray, shingles: np.ndarray, id_rank: np.ndarray,
               pairs: np.ndarray, cfg: DedupConfig) -> np.ndarray:
    """Which candidate pairs are copies: estimated Jaccard at the threshold, or a smaller
    article contained in the larger one (a copy cut short).

    With ``J`` the Jaccard estimate and ``a``, ``b`` the shingle counts, the shared
    shingles are ``J (a + b) / (1 + J)``; containment divides them by ``min(a, b)``.
    A short article held whole by several others (two outlets' versions of one wire
    story, which share their first paragraphs) is a copy of only the one it is most
    like: it must not join the others into one group.
    """
    counts = shingles[pairs] if len(pairs) else np.zeros((0, 2), dtype=np.int64)
    smaller = counts.min(axis=1)
    shared = jaccard * counts.sum(axis=1) / (1.0 + jaccard)
    similar = jaccard >= cfg.threshold
    contained = ~similar & (shared >= cfg.containment * np.maximum(smaller, 1)) & (
        jaccard >= cfg.containment_min_jaccard) & (smaller >= cfg.containment_min_shingles)
    best = best_container_only(contained, jaccard, counts, id_rank, pairs)
    return similar | without_compilations(best, similar, shared, counts, pairs)


def contained_sides(rows: np.ndarray, counts: np.ndarray,
                    pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of the containment pairs ``rows``, the contained (smaller) article and its container."""
    small_side = (counts[rows, 1] < counts[rows, 0]).astype(np.int64)
    return pairs[rows, small_side], pairs[rows, 1 - small_side]


def best_container_only(contained: np.ndarray, jaccard: np.ndarray, counts: np.ndarray,
                        id_rank: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """``contained`` with each contained article kept only in its pair of highest
    Jaccard (ties: the container with the smallest id)."""
    rows = np.flatnonzero(contained)
    if not rows.size:
        return contained
    small, container = contained_sides(rows, counts, pairs)
    order = np.lexsort((id_rank[container], -jaccard[rows], small))
    first = np.r_[True, small[order][1:] != small[order][:-1]]
    kept = np.zeros_like(contained)
    kept[rows[order][first]] = True
    return kept


def without_compilations(contained: np.ndarray, similar: np.ndarray, shared: np.ndarray,
                         counts: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """``contained`` without the pairs of a container made of articles that are not copies
    of each other: a digest of several wire items, or a page that ran on into the next
    article.  Each item is contained in it, and groups are connected components, so the
    items would become copies of each other (and ``--kept-only`` would keep one).

    A container is such a compilation when its items are not connected by similar pairs
    (or by containment in containers holding one item) and lie side by side in it: their
    shingles shared with it add up to at most ``COMPILATION_COVER`` times its own.  Cut
    versions of one story (``shared``: each pair's estimated shared shingles) keep most
    of the same paragraphs, so theirs add up to more.
    """
    rows = np.flatnonzero(contained)
    small, container = contained_sides(rows, counts, pairs)
    n = int(pairs.max()) + 1 if pairs.size else 0
    holds = np.bincount(container, minlength=n)
    if not (holds > 1).any():
        return contained
    joined = np.concatenate([pairs[similar], pairs[rows[holds[container] == 1]]])
    item = components(joined[:, 0], joined[:, 1], n)[small]
    lowest, highest = np.full(n, n), np.full(n, -1)
    np.minimum.at(lowest, container, item)
    np.maximum.at(highest, container, item)
    covered = np.bincount(container, weights=shared[rows], minlength=n)
    size = np.zeros(n)
    size[pairs.ravel()] = counts.ravel()
    compilation = (lowest != highest) & (covered <= COMPILATION_COVER * size)
    kept = contained.copy()
    kept[rows[compilation[container]]] = False
    return kept


# How much more than once the items of a compilation may cover it (shingles across an
# item's edges, estimation error); cut versions of one story cover their original more.
COMPILATION_COVER = 1.1


def rank_of(ids: Sequence[str]) -> np.ndarray:
    """Each row's position in id order: the order-independent tie-breaker."""
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(np.asarray(ids, dtype=object), kind="stable")] = np.arange(len(ids))
    return rank


def exact_edges(exact: np.ndarray, id_rank: np.ndarray) -> np.ndarray:
    """Edges from every article to the smallest-id article with the same content hash."""
    rows = np.flatnonzero(exact)
    return star_edges(exact[rows], rows, id_rank)


def star_edges(keys: np.ndarray, rows: np.ndarray, id_rank: np.ndarray) -> np.ndarray:
    """For rows grouped by ``keys``, edges (hub, member) with the smallest-id row as hub."""
    if len(rows) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    order = np.lexsort((id_rank[rows], keys))
    keys, rows = keys[order], rows[order]
    starts = np.r_[True, keys[1:] != keys[:-1]]
    hub = rows[np.flatnonzero(starts)[np.cumsum(starts) - 1]]
    keep = hub != rows
    return np.stack([hub[keep], rows[keep]], axis=1).astype(np.int64)


def band_keys(signatures: np.ndarray, band: int, rows: int) -> np.ndarray:
    """64-bit key of one band of every signature (hash of its ``rows`` values)."""
    part = np.ascontiguousarray(signatures[:, band * rows : (band + 1) * rows]).astype(np.uint64)
    key = np.full(len(part), 0xCBF29CE484222325, dtype=np.uint64)
    for column in part.T:
        key = (key ^ column) * np.uint64(0x100000001B3)
        key ^= key >> np.uint64(29)
    return key


def has_content(signatures: np.ndarray) -> np.ndarray:
    """True for the articles with shingles (a signature of MAX_HASH only has none)."""
    return (signatures != MAX_HASH).any(axis=1)


def all_band_keys(signatures: np.ndarray, cfg: DedupConfig) -> np.ndarray:
    """uint64 (bands, n): every band's key of every signature, band-major."""
    bands, rows = lsh_params(cfg)
    return np.stack([band_keys(signatures, band, rows) for band in range(bands)]) if bands \
        else np.zeros((0, len(signatures)), dtype=np.uint64)


def save_sorted_band_keys(file: Path, signatures: np.ndarray, cfg: DedupConfig) -> None:
    """Save a chunk's band keys for the LSH step: per band, its rows with content sorted
    by key (``file``, uint64 (bands, m)) and their rows in the chunk (the file of
    :func:`band_rows_file`, uint32).

    This is the map side of the LSH shuffle on ``(band, key)``: sorted, any key range of
    a band is one contiguous slice of every chunk's file, found by binary search, so
    tasks can split the key space among however many workers there are.
    """
    rows = np.flatnonzero(has_content(signatures))
    keys = all_band_keys(signatures[rows], cfg)
    order = np.argsort(keys, axis=1, kind="stable")
    save_array(file, np.take_along_axis(keys, order, axis=1))
    save_array(band_rows_file(file), rows[order].astype(np.uint32))


def band_rows_file(key_file: Path) -> Path:
    """Where the rows of a chunk's sorted band keys are saved, next to the keys."""
    return key_file.with_name(f"{key_file.stem}-rows.npy")


def key_ranges(parts: int) -> list[tuple[int, int]]:
    """The 64-bit key space cut into ``parts`` equal ranges ``(first, last)``, both
    included (keys are hashes, so the ranges hold about equal shares of the keys)."""
    cuts = [part * (1 << 64) // parts for part in range(parts + 1)]
    return [(lo, hi - 1) for lo, hi in itertools.pairwise(cuts)]


def band_range_buckets(key_files: Sequence[Path], chunk_starts: np.ndarray, band: int,
                       key_range: tuple[int, int], max_bucket_pairs: int) -> Buckets:
    """The reduce side of the LSH shuffle: the buckets of one band whose keys fall in
    ``key_range``, gathered from the slices of every chunk's sorted keys
    (:func:`save_sorted_band_keys`; chunk ``i`` holds the rows from ``chunk_starts[i]``)."""
    keys, rows = [np.zeros(0, dtype=np.uint64)], [np.zeros(0, dtype=np.int64)]
    first, last = np.array(key_range, dtype=np.uint64)
    for file, start in zip(key_files, chunk_starts.tolist(), strict=True):
        sorted_keys = np.load(file, mmap_mode="r")[band]
        lo = int(np.searchsorted(sorted_keys, first, "left"))
        hi = int(np.searchsorted(sorted_keys, last, "right"))
        keys.append(np.asarray(sorted_keys[lo:hi]))
        rows.append(np.load(band_rows_file(file), mmap_mode="r")[band, lo:hi] + start)
    return buckets_of(np.concatenate(keys), np.concatenate(rows), max_bucket_pairs)


@dataclass(slots=True)
class Buckets:
    """One band's buckets (or part of them), as pairs of rows.

    Large buckets are kept as their members: their star needs the id ranks, which only
    the main process has (and which would be 8 bytes per article sent to every task).
    """

    pairs: np.ndarray  # int64 (k, 2): all pairs within buckets up to the size limit
    crowded_keys: np.ndarray  # uint64: the key of each member of a larger bucket
    crowded_rows: np.ndarray  # int64: those members

    def edges(self, id_rank: np.ndarray) -> np.ndarray:
        """The pairs, and each larger bucket's members paired with its smallest id."""
        return np.concatenate([self.pairs,
                               star_edges(self.crowded_keys, self.crowded_rows, id_rank)])


def buckets_of(keys: np.ndarray, rows: np.ndarray, max_pairs_size: int) -> Buckets:
    """The buckets of one band: all pairs in small ones, the members of big ones.

    Buckets of equal size are paired together as one matrix of members, so the work is a
    few array operations per distinct bucket size, not a Python loop per bucket.
    """
    order = np.argsort(keys, kind="stable")  # order in a bucket is irrelevant: pairs are
    keys, rows = keys[order], rows[order]    # normalised, stars get their hub by id rank
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    out: list[np.ndarray] = [np.zeros((0, 2), dtype=np.int64)]
    for size in np.unique(sizes[(sizes > 1) & (sizes <= max_pairs_size)]).tolist():
        members = rows[starts[sizes == size][:, None] + np.arange(size)]
        left, right = np.triu_indices(size, k=1)
        out.append(np.stack([members[:, left].ravel(), members[:, right].ravel()], axis=1))
    crowded = np.repeat(sizes > max_pairs_size, sizes)
    return Buckets(pairs=np.concatenate(out).astype(np.int64), crowded_keys=keys[crowded],
                   crowded_rows=rows[crowded].astype(np.int64))


def equal_values(signatures: np.ndarray, pairs: np.ndarray, batch: int = 50_000) -> np.ndarray:
    """Per pair of rows, how many signature values are equal (a batch of pairs at a time,
    so the gathered rows stay small)."""
    equal = np.zeros(len(pairs), dtype=np.uint16)
    for start in range(0, len(pairs), batch):
        part = pairs[start : start + batch]
        equal[start : start + batch] = (signatures[part[:, 0]] == signatures[part[:, 1]]).sum(
            axis=1)
    return equal


def chunk_pair_equal_values(files: Sequence[Path], starts: np.ndarray,
                            pairs: np.ndarray) -> np.ndarray:
    """:func:`equal_values` of global row pairs, reading only their rows from the chunks'
    saved signatures (memory-mapped; chunk ``i`` holds the rows from ``starts[i]``)."""
    rows, inverse = np.unique(pairs, return_inverse=True)
    return equal_values(saved_rows(files, starts, rows), inverse.reshape(pairs.shape))


def subtract_edges(edges: np.ndarray, known: np.ndarray, n: int) -> np.ndarray:
    """``edges`` whose endpoints are not already joined by ``known`` (for honest counts)."""
    if len(edges) == 0 or len(known) == 0:
        return edges
    joined = components(known[:, 0], known[:, 1], n)
    return edges[joined[edges[:, 0]] != joined[edges[:, 1]]]
