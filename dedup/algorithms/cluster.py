"""Same-event clustering of canonical (already de-duplicated) articles.

Two steps so the job scales out:

* :func:`vectorize` runs per chunk in worker processes.  It is stateless: terms are
  hashed (no shared vocabulary) and it returns raw, title-weighted term counts.
* :func:`cluster` runs once over compact arrays only (stacked sparse rows, language
  codes, dates, ids).  Per language block it turns counts into TF-IDF with document
  frequencies of that block, finds each article's nearest neighbours with batched
  sparse products (sparse top-k per row, never a dense all-pairs matrix) and merges
  clusters by average link over the pairs that are neighbours or share one.  The
  linkage similarity mixes word cosine with neighbourhood cosine (how far two articles
  have the same neighbours), which splits same-kind events that share vocabulary.
  Average link does not chain the way single link does: a merge needs the *mean*
  similarity over all member pairs to clear the threshold, so one bridging article
  cannot glue two stories together.  *Stories* (threads of events) continue the same
  agglomeration over the block's events, at a lower threshold and a longer date window
  (see :func:`_story_keys`).

An incremental run passes earlier runs' articles as :class:`Frozen` rows: each block
takes those of its language along through the pairing and the events' agglomeration,
as one run over both would, and drops them before its summaries and stories; what is
kept of them is which event each joined.  Its rows find them in the neighbour search,
but they search for none (:func:`_neighbour_matrix`).

Everything is computed in id order internally, so permuting the input rows permutes
the output identically.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import mmh3
import numpy as np
import scipy.sparse as sp
import Stemmer
from sparse_dot_topn import sp_matmul_topn

from dedup.algorithms.absent import FedEvents
from dedup.algorithms.absent import neighbour_matrix as neighbours_with_absent
from dedup.algorithms.arrays import (
    components,
    dates_within,
    heaviest_per_row,
    inverse_document_frequency,
    membership,
    normalise_rows,
    sorted_unique,
    top_k_per_row,
    unique_pairs,
    within_days,
)
from dedup.algorithms.lexicon import stopwords_for
from dedup.algorithms.threads import mapped as threads_mapped
from dedup.algorithms.threads import usable_threads
from dedup.algorithms.tokens import MARKS, NO_SPACE_CHARS, VOCABULARY, Documents, words
from dedup.engines.base import Engine, Pass, SerialEngine
from dedup.io.spool import load_rows, rows_in_place, save_array, save_rows
from dedup.settings import Range, setting


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Same-event clustering (hashed TF-IDF, sparse kNN, average link)."""

    n_features: int = setting(2**20, Range(1 << 10, 1 << 24), doc="""
        Hash space. Smaller saves memory but collisions make unrelated terms match (precision);
        2**20 keeps collisions rare for news vocabularies.""")
    title_weight: float = setting(2.0, Range(0.0, 100.0), doc="""
        How many times a title token counts. Titles name the event, bodies drift into
        background: higher favours precision on same-kind events, too high over-trusts short
        generic headlines.""")
    max_text_tokens: int = setting(400, Range(1, None), doc="""
        Body tokens kept, lead first. Later paragraphs repeat background shared by same-kind
        events (precision) and cost time; too few loses detail (recall).""")
    url_words: bool = setting(True, doc="""
        Articles without a body (headline feeds) also count, as body terms, the words of
        their URL's slug that their title does not have. Publishers write slugs for search
        engines, and they often name what the headline leaves out (the person, the company):
        more of a thread's headlines share terms (recall of headline events and stories),
        while words a site puts in every slug (its sections) join its unrelated headlines
        (precision; IDF discounts them, and words under three letters or with digits are
        left out). Measured on aggregator headline stories, B-cubed F1: 0.849 -> 0.858
        (lexical 0.833 -> 0.846), and higher on each half of three halvings of the set (by
        story, by time, by source; +0.003 to +0.020), in both modes. Off: titles alone.""")
    min_token_chars: int = setting(2, Range(1, 100), doc="""
        Tokens shorter than this are dropped (single letters from initials, "s" of "'s").""")
    drop_numbers: bool = setting(False, doc="""
        Drop digits-only tokens: figures differ between reports of one event (recall) but years
        and scores can tell same-kind events apart (precision).""")
    drop_stopwords: bool = setting(True, doc="""
        Ignore function words ("the", "und", "и"...) of languages with a list in
        dedup/algorithms/lexicon.py. IDF discounts them only in large blocks; in small ones
        they decide similarities and top terms. Off keeps them (only sensible for huge
        blocks).""")
    stemming: bool = setting(True, doc="""
        Reduce words to their Snowball stem (PyStemmer) in the languages it covers, so
        "election"/"elections", "Казахстана"/"Казахстан" count as one term. Joins inflected
        reports of one event (recall, most in ru/de/pl) but also lets loosely related stories
        share more terms (precision); measured net gain on same-event sets.""")
    char_ngram: int = setting(2, Range(1, 10), doc="""
        Character n-gram length for scripts written without spaces (zh, ja, th ...).""")
    window_days: float = setting(7.0, Range(0.0, None), doc="""
        Articles further apart than this (days, both dates known) are never joined by the
        clustering: larger follows long-running stories (recall) but lets recurring events of
        one kind merge (precision). A copy still joins its canonical's event whatever its date.""")
    block_days: float = setting(0.0, Range(0.0, None), doc="""
        Dated articles of a language are clustered in periods of this many days (UTC, counted
        from 1970-01-01), each an independent task with its own document frequencies, and
        undated ones in a block of their own; 0 keeps one block per language. A block's memory
        and time grow with its rows, so set it when a language has millions of articles (30
        gives a few million per block at 100M a year); the price is that an event spanning a
        period boundary is split in two, and an undated article no longer joins dated ones.""")
    knn: int = setting(10, Range(1, 1000), doc="""
        Candidate neighbours kept per article. More finds more merge candidates in big stories
        (recall) at proportional cost (speed); it does not loosen the threshold.""")
    floor: float = setting(0.15, Range(0.0, 1.0), doc="""
        Minimum cosine for a candidate neighbour. Lower keeps more candidates (recall of big
        stories, whose average link is carried by many moderate pairs) at cost.""")
    self_weight: float = setting(0.5, Range(0.0, 1.0), doc="""
        Weight of an article itself in its neighbourhood vector, against its neighbours'
        similarities: higher keeps second-order similarity closer to direct similarity.""")
    fed_self_weight: float = setting(0.5, Range(0.0, 10.0), doc="""
        Incremental runs (`index.fed_articles`): added to a fed article's own weight in its
        neighbourhood vector, which holds the articles of today that found it and its
        event's other articles (fed, or absent ones counted as neighbours: see
        dedup/algorithms/absent.py). Higher keeps fed articles apart from the events of
        today that merely found them (precision) but also from today's reports of their
        own event (recall). Measured on ECB+ in three runs of drawn days (four draws),
        event B-cubed against one run, before absent articles counted: 0 -0.033, 0.3 and
        0.5 -0.0245, 0.75 -0.027.""")
    word_share: float = setting(0.5, Range(0.0, 1.0), doc="""
        Share of word cosine in the linkage similarity, the rest is neighbourhood cosine.
        Neighbourhoods split same-kind events (precision on big events) but are noisy for
        stories of two or three articles (recall there).""")
    neighbourhood_min_block: int = setting(50, Range(1, None), doc="""
        Blocks smaller than this give the neighbourhood part proportionally less weight (a block
        of 5 gets a tenth of it at 50): in a few articles everyone is everyone's neighbour,
        which would merge them all. Higher trusts word overlap alone in more small blocks; lower
        lets small same-topic blocks merge.""")
    threshold: float = setting(0.40, Range(0.0, 1.0, above=True), doc="""
        Average-link similarity needed to merge two clusters: the main precision vs recall dial.
        Measured with stemming: 0.35 splits same-kind events best (long articles) but merges
        successive stories of one saga told in short leads; 0.45 the reverse; 0.40 keeps both
        kinds of set near their best.""")
    story_threshold: float = setting(0.20, Range(0.0, 1.0, above=True), doc="""
        Stories: events keep merging, by average link over the same candidate pairs and by word
        cosine alone, down to this similarity. A story is the thread readers follow (a recall,
        the regulator's probe, the hearings); lower joins more of a thread's events (recall) but
        also threads of one beat (two carmakers' recalls; precision).""")
    headline_story_threshold: float = setting(0.04, Range(0.0, 1.0, above=True), doc="""
        ... for events of headlines without a body: a headline has a handful of terms, so
        headlines of one thread have lower cosines than articles do.""")
    headline_story_embedding_share: float = setting(0.3, Range(0.0, 1.0), doc="""
        With embeddings: share of the events' mean embedding cosine in the story similarity
        of headline events (the rest is their word cosine), which then need
        `headline_story_semantic_threshold` instead. A headline's few words tell a beat's
        threads apart poorly (two probes of one recall, the day's market reports); the
        encoder reads what they are about. Higher trusts it more (it also finds a beat's
        threads alike). Events with a body keep the word cosine alone. Measured on
        aggregator headline stories, B-cubed F1: 0 gave 0.828 to 0.835 (word thresholds
        0.035 to 0.045), 0.3 gave 0.829 to 0.849 (thresholds 0.12 to 0.14; 0.849 at 0.13),
        higher in precision (0.817 to 0.852); each half of the stories alone, on average
        over those thresholds, +0.003 and +0.017.""")
    headline_story_semantic_threshold: float = setting(0.13, Range(0.0, 1.0, above=True),
                                                      doc="""
        ... the story threshold of headline events with embeddings (see
        `headline_story_embedding_share`): embedding cosines of unrelated headlines are well
        above their word cosines, so it is higher than `headline_story_threshold`.""")
    max_df: float = setting(0.5, Range(0.0, 1.0, above=True), doc="""
        Terms in more than this share of a block's articles weigh nothing (scikit-learn's
        max_df), in blocks of at least `max_df_min_block` articles: the words of a language
        without a stop list in dedup/algorithms/lexicon.py, a section name in every title
        ("... | Politics"). IDF alone does not discount them in short rows, whose IDF is
        raised (`short_row_idf_offset`): 200 unrelated headlines ending " | Politics" made
        one story of 158. Lower drops more common words, but also an event's or a topic's
        own in a block that is mostly about it (0.3 cost the near-duplicate set's stories
        0.0024 B-cubed; 0.5 changes no development set); 1 keeps every term.""")
    max_df_min_block: int = setting(20, Range(1, None), doc="""
        ... the articles a block needs for `max_df`: in a few, an event's own words are in
        most of them.""")
    short_row_terms: int = setting(12, Range(0, 100000), doc="""
        Articles of at most this many distinct terms (a headline without a body has a
        handful) weigh their terms with a flatter IDF, `short_row_idf_offset`; 0: none.""")
    short_row_idf_offset: float = setting(3.0, Range(0.0, 100.0), doc="""
        Added to every term's IDF in short rows (`short_row_terms`). With the full IDF one rare
        word (a name, an outlet's wording) carries a headline's few terms, while headlines of
        one thread share mostly common words (the company, the recall, the verdict); higher
        lets those count (recall of headline stories) but also joins a beat's headlines
        (precision). Longer rows are not touched: their many terms average it out. Measured
        on aggregator headline stories, before headline stories compared embeddings: 0 gave
        B-cubed F1 0.806, 3 0.835 (2 to 9: 0.822 to 0.836), with precision and recall both
        higher; sets with bodies did not move. Since: 3 gives 0.849 with embeddings, 5 to 7
        0.854, but the lexical job 0.833 at 3 and 0.827 at 6.""")
    story_window_days: float = setting(30.0, Range(0.0, None), doc="""
        Events further apart than this (days, spans of both known) never share a story. Larger
        follows longer threads (recall) but lets a beat's recurring events of one kind join
        (precision).""")
    story_terms: int = setting(10, Range(0, 1000), doc="""
        Heaviest terms of an event's centroid through which it meets the next events in time
        that have the same term (story candidates beyond the neighbour search's window). More
        finds more of a long thread's events (recall) at more candidates.""")
    story_article_terms: int = setting(40, Range(1, 100000), doc="""
        Heaviest terms of each article its events' story similarities are computed over (terms
        of a single article left out). A story is told by its names and key words; more terms
        cost time in every story merge (they lengthen the events' sums) for similarities closer
        to the full cosine. At 20 the story step took 35% less time but a long article's 20
        terms missed what the seeds' reports share.""")
    word_floor: float = setting(0.25, Range(0.0, 1.0), doc="""
        Without embeddings: candidate pairs whose own word cosine is below this are never merged
        directly (a veto; shared neighbours alone cannot join two articles). Higher stops small
        clusters of stories that share a template or only neighbours (precision), but splits
        reports of one event worded differently (recall). Measured: 0.25 raised precision on
        graded same-story pairs in 10 languages from 0.73 to 0.81 and cost same-kind event
        clustering 0.004 BCubed F1; 0.3 cost it 0.02.""")
    semantic_floor: float = setting(0.56, Range(-1.0, 1.0), doc="""
        With embeddings, instead: candidate pairs whose embedding cosine is below this are never
        merged directly (a veto only: the encoder finds same-kind events alike, where names and
        numbers tell them apart). Higher vetoes more stories that share only a site's template
        or a beat's vocabulary (precision), but also reports of one event told from different
        angles (recall, most in small clusters). Measured: 0.56 took same-language precision on
        those pairs from 0.71 to 0.79 at a recall cost of 0.05, and left same-kind event
        clustering within 0.003.""")
    max_candidate_df: int = setting(1000, Range(1, None), doc="""
        Terms in more documents of a block than this are ignored when *searching* candidates
        (still used for similarities). Very common terms make the sparse products quadratic
        while saying little about the event: lower is faster but may miss candidates that share
        only common words.""")
    search_floor: float = setting(0.05, Range(0.0, 1.0), doc="""
        Search similarity (over the reduced search vectors, a lower bound of the cosine) below
        which a hit is not considered. Lower finds neighbours that share mostly light terms
        (recall) at more cost (speed).""")
    search_terms: int = setting(40, Range(1, None), doc="""
        Heaviest terms per article used to search neighbours. Fewer is faster; too few misses
        neighbours that share only lighter terms (recall).""")
    search_task_rows: int = setting(100_000, Range(1, None), doc="""
        Rows per task of a block's neighbour search and candidate pairs: a block with more
        (an incremental run's fed articles not counted: they search for none) is clustered
        in several passes of tasks, on every worker (its average link in about as many
        groups of connected rows). Fewer rows spread a large block over more workers, but
        each task reads the rows its queries can match (up to two windows around them), so more
        tasks read more. The clusters do not depend on it.""")
    batch_rows: int = setting(512, Range(1, 1 << 20), doc="""
        Rows per sparse product batch: memory vs per-batch overhead.""")
    threads: int = setting(0, Range(0, 256), doc="""
        Threads of the largest block's clustering task (the whole block up to
        search_task_rows; the summaries and stories of a larger one), which the other
        workers leave running alone once the small blocks are done, and of a larger block's
        largest agglomeration group (its largest connected component). 0: one per core the
        task may use. More finishes it sooner on idle cores; on busy ones threads only share
        them. The clusters do not depend on it.""")
    top_terms: int = setting(10, Range(0, 1000), doc="""
        Centroid terms reported per cluster.""")


@dataclass(slots=True)
class Stories:
    """The stories over a clustering's events: each event belongs to exactly one."""

    of_event: np.ndarray  # int64 per event: its story, numbered by smallest member id
    representative: np.ndarray  # int64 per story: row index of its most central member
    top_features: np.ndarray  # int32 (n_stories, top_terms), like Clustering's

    def features_of(self, story: int) -> list[int]:
        """The top feature indices of one story, best first."""
        row = self.top_features[story]
        return row[row >= 0].tolist()


@dataclass(slots=True)
class Clustering:
    """Result of :func:`cluster`, aligned with the input rows: events and their stories."""

    labels: np.ndarray  # int64 per row: event 0..n_clusters-1, numbered by smallest id
    representative: np.ndarray  # int64 per event: row index of its most central member
    similarity: np.ndarray  # float32 per row: cosine to its event's representative
    # int32 (n_clusters, top_terms): hashed feature indices, best first, -1 past the last.
    # One array, not a list per cluster: a million clusters' lists took 250 MB.
    top_features: np.ndarray
    stories: Stories
    # float32 (n_clusters, dimensions): mean member embedding, when embeddings were used;
    # the dot of two clusters' means is their average-link embedding similarity.
    centroids: np.ndarray | None = None
    # int64 per frozen row (see :class:`Frozen`): the event it was clustered into, or -1
    frozen_events: np.ndarray | None = None

    def features_of(self, label: int) -> list[int]:
        """The top feature indices of one cluster, best first."""
        row = self.top_features[label]
        return row[row >= 0].tolist()


# --------------------------------------------------------------------------- tokens

# Scripts written without spaces between words: words cannot be found, so overlapping
# character n-grams stand in for them.
_NO_SPACE_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "dz", "yue", "wuu"})
# In no-space languages: a run of no-space script (group 1), or any other word.
_SEGMENT = re.compile(rf"([{NO_SPACE_CHARS}]+)|(?:[^\W{NO_SPACE_CHARS}]|[{MARKS}])+")


@cache
def _uses_char_ngrams(lang: str) -> bool:
    """True for languages whose words are not separated by spaces (``zh-Hant`` -> zh)."""
    return re.split(r"[-_]", lang.lower(), maxsplit=1)[0] in _NO_SPACE_LANGS


def _kept_words(tokens: list[str], lang: str, cfg: ClusterConfig) -> list[str]:
    """Kept words as written: long enough, not function words, optionally not numbers.

    One comprehension without a call per token: this runs over every word of the dump.
    """
    stop = stopwords_for(lang) if cfg.drop_stopwords else frozenset()
    shortest = cfg.min_token_chars
    kept = [t for t in tokens if len(t) >= shortest and t not in stop]
    return [t for t in kept if not t.isdigit()] if cfg.drop_numbers else kept


_INT32_MIN = -(2**31)

# Snowball takes ISO 639-1 codes itself; Bokmål is its "no" algorithm under another code.
_SNOWBALL_ALIASES = {"nb": "no"}


@cache
def _stemmer(lang: str) -> Stemmer.Stemmer | None:
    """The Snowball stemmer of ``lang``, or None where Snowball has none (uk, zh...).

    Built once per process, without PyStemmer's own cache of stems: the vocabulary asks
    for each word's stem once, so that cache never hit and its upkeep tripled the cost
    of stemming a word (2.2 -> 0.7 us).
    """
    try:
        stemmer = Stemmer.Stemmer(_SNOWBALL_ALIASES.get(lang, lang))
    except KeyError:
        return None
    stemmer.maxCacheSize = 0
    return stemmer


def _term_keys(words: list[str], lang: str, cfg: ClusterConfig) -> list[str]:
    """The terms the vectors count: stems where stemming is on and possible, else words."""
    stemmer = _stemmer(lang) if cfg.stemming else None
    return stemmer.stemWords(words) if stemmer else words


def _char_ngrams(run: str, n: int) -> Iterator[str]:
    """Overlapping character n-grams of a run; a run shorter than n is one token."""
    if len(run) <= n:
        yield run
        return
    for i in range(len(run) - n + 1):
        yield run[i : i + n]


def _surface_tokens(text: str, lang: str, cfg: ClusterConfig) -> list[str]:
    """Lowercased kept words as written, or character n-grams for no-space scripts."""
    if not _uses_char_ngrams(lang):
        return _kept_words(words(text), lang, cfg)
    tokens: list[str] = []
    for match in _SEGMENT.finditer(text.casefold()):
        if match.group(1):
            tokens.extend(_char_ngrams(match.group(1), cfg.char_ngram))
        else:
            tokens.extend(_kept_words([match.group(0)], lang, cfg))
    return tokens


def tokenize(text: str, lang: str, cfg: ClusterConfig, limit: int | None = None) -> list[str]:
    """The first ``limit`` terms of a text that its vector counts (stems, or n-grams).

    The cut comes before stemming, so a long body costs no stemming beyond its lead.
    """
    return _term_keys(_surface_tokens(text, lang, cfg)[:limit], lang, cfg)


# ------------------------------------------------------------------------ vectorize

_NOT_A_TERM = -1


def _word_columns(words: list[str], lang: str, cfg: ClusterConfig, screen: bool) -> list[int]:
    """The column of each word (``_NOT_A_TERM`` for words the screen drops)."""
    terms = _kept_words(words, lang, cfg) if screen else words
    columns = dict.fromkeys(words, _NOT_A_TERM)
    for term, key in zip(terms, _term_keys(terms, lang, cfg), strict=True):
        columns[term] = feature_index(key, cfg.n_features)
    return [columns[word] for word in words]


@dataclass(slots=True)
class _Terms:
    """The terms some articles' vectors count, flat, each article's title terms first."""

    token: Callable[[int], str]  # the word (or n-gram) at a position
    position: np.ndarray  # int64: each term's token position
    column: np.ndarray  # int32: each term's hashed column
    row: np.ndarray  # int64: each term's article
    in_title: np.ndarray  # bool: whether the term is in its article's title


def _terms(docs: Documents, rows: np.ndarray, lang: str, cfg: ClusterConfig) -> _Terms:
    """Title terms, then the first ``cfg.max_text_tokens`` body terms, of ``rows`` (one language).

    Tokens are the words shared with the dedup stage; in no-space languages they are
    read again as character n-grams.  Each distinct token is screened, stemmed and
    hashed once per process (:data:`~dedup.algorithms.tokens.VOCABULARY`), and the whole batch's
    columns are gathered at once: per token, and then per field, that cost more than the
    rest of vectorising.
    """
    fields = np.stack([2 * rows, 2 * rows + 1], axis=1).ravel()
    screen = not _uses_char_ngrams(lang)
    token: Callable[[int], str]
    if screen:
        token = docs.token
        position, field_of = docs.positions(fields)
        ids = docs.ids[position]
    else:
        per_field = [_surface_tokens(docs.raw[field], lang, cfg) for field in fields.tolist()]
        tokens = list(itertools.chain.from_iterable(per_field))
        token = tokens.__getitem__
        position = np.arange(len(tokens))
        field_of = np.repeat(fields, [len(field) for field in per_field])
        ids = VOCABULARY.ids(tokens)
    column = VOCABULARY.facts(("column", lang, cfg, screen), ids,
                              lambda words: _word_columns(words, lang, cfg, screen), np.int32)
    is_term = column != _NOT_A_TERM
    position, column, field_of = position[is_term], column[is_term], field_of[is_term]
    field_starts = np.flatnonzero(np.r_[True, field_of[1:] != field_of[:-1]])
    rank = np.arange(field_of.size) - np.repeat(field_starts, np.diff(np.r_[field_starts,
                                                                            field_of.size]))
    in_title = field_of % 2 == 0
    kept = in_title | (rank < cfg.max_text_tokens)
    return _Terms(token=token, position=position[kept], column=column[kept],
                  row=field_of[kept] // 2, in_title=in_title[kept])


def rows_by_language(langs: Sequence[str]) -> dict[str, np.ndarray]:
    """Row indices (ascending) of each language, languages in code order."""
    by_lang: dict[str, list[int]] = {}
    for row, lang in enumerate(langs):
        by_lang.setdefault(lang, []).append(row)
    return {lang: np.array(rows, dtype=np.int64) for lang, rows in sorted(by_lang.items())}


def rows_by_block(langs: Sequence[str], days: np.ndarray,
                  block_days: float) -> list[np.ndarray]:
    """Row indices (ascending) of each clustering block: a language, or with
    ``block_days`` a language's period of that many days (its undated rows are one more
    block).  Periods are fixed on the calendar, so a block never depends on other rows."""
    if block_days <= 0:
        return list(rows_by_language(langs).values())
    period = _periods(days, block_days)
    blocks = []
    for rows in rows_by_language(langs).values():
        _, index = np.unique(period[rows], return_inverse=True)
        order = np.argsort(index, kind="stable")
        blocks += np.split(rows[order], np.cumsum(np.bincount(index))[:-1].tolist())
    return blocks


def _periods(days: np.ndarray, block_days: float) -> np.ndarray:
    """Each row's calendar period of ``block_days`` days (undated: one more period);
    without ``block_days``, one period for all."""
    if block_days <= 0:
        return np.zeros(days.size)
    return np.where(np.isnan(days), np.inf, np.floor(days / block_days))


def term_bodies(titles: Sequence[str], texts: Sequence[str], urls: Sequence[str | None],
                cfg: ClusterConfig) -> Sequence[str]:
    """The bodies articles' terms are read from: their texts, and for an article without
    one, the words of its URL's slug that its title does not have (``cfg.url_words``).

    ``texts`` itself when no article gains words, so the caller can tell that the
    documents it tokenised already are the ones to count.
    """
    if not cfg.url_words:
        return texts
    gained = {row: " ".join(new)
              for row, (title, text, url) in enumerate(zip(titles, texts, urls, strict=True))
              if not text and url and (new := _words_not_in(slug_words(url), title))}
    if not gained:
        return texts
    return [gained.get(row, text) for row, text in enumerate(texts)]


def slug_words(url: str) -> list[str]:
    """The words of a URL's slug: the path segment that joins the most words by hyphens or
    underscores (at least ``_SLUG_WORDS``), cut at its last dot (a file suffix), split
    there and at dots, commas and plus signs; words of letters only, ``_SLUG_WORD_CHARS``
    or more (numbers, ids, dates and two-letter section codes left out)."""
    try:
        path = unquote(urlsplit(url).path)
    except ValueError:  # a malformed address: no slug, not a failed article
        return []
    slug = max(path.split("/"), key=lambda segment: len(_SLUG_JOINS.findall(segment)))
    stem, dot, suffix = slug.rpartition(".")
    if dot and not _SLUG_JOINS.search(suffix):
        slug = stem
    if len(_SLUG_JOINS.findall(slug)) + 1 < _SLUG_WORDS:
        return []
    return [part for part in _SLUG_SPLITS.split(slug)
            if part.isalpha() and len(part) >= _SLUG_WORD_CHARS]


def _words_not_in(candidates: list[str], title: str) -> list[str]:
    """``candidates`` (case-folded) that ``title`` does not contain: the title's own
    words (as the terms read them) are counted once, with the title's weight."""
    known = set(words(title))
    return [word for word in map(str.casefold, candidates) if word not in known]


# What joins a slug's words, what splits them, and the least a slug and a word hold.
_SLUG_JOINS = re.compile(r"[-_]")
_SLUG_SPLITS = re.compile(r"[-_.,+]")
_SLUG_WORDS = 3
_SLUG_WORD_CHARS = 3


def vectorize(docs: Documents, langs: Sequence[str], cfg: ClusterConfig) -> sp.csr_matrix:
    """Raw title-weighted term counts, one float32 row per document.

    Hashed, with no shared vocabulary (the per-process word cache only saves work), so
    chunks can be vectorised in any worker and stacked afterwards; weighting by document
    frequency happens in :func:`cluster`.  Columns and counts are those of
    scikit-learn's ``FeatureHasher`` (non-negative, string input) over :func:`tokenize`'s
    terms.
    """
    parts = [_terms(docs, rows, lang, cfg) for lang, rows in rows_by_language(langs).items()]
    weight = np.array([1.0, cfg.title_weight], dtype=np.float32)
    counts = sp.csr_matrix(
        (np.concatenate([weight[p.in_title.astype(np.int64)] for p in parts] or [weight[:0]]),
         (np.concatenate([p.row for p in parts] or [np.zeros(0, np.int64)]),
          np.concatenate([p.column for p in parts] or [np.zeros(0, np.int32)]))),
        shape=(len(docs), cfg.n_features), dtype=np.float32,
    )
    counts.sum_duplicates()
    return counts


def feature_terms(docs: Documents, langs: Sequence[str], features: Sequence[Sequence[int]],
                  cfg: ClusterConfig) -> list[list[str]]:
    """Per article, its terms behind the hashed feature indices asked, in the order asked.

    Hashing cannot be inverted, so representatives are tokenised again and their own
    terms hashed; on a collision the term seen first in the article (title first) wins.
    A stem is shown as its first written form ("elections", not "elect").  Features an
    article does not contain are skipped.  Every (article, feature) asked is looked up
    at once among the first occurrence of each of the articles' terms (one sort, one
    search): a dictionary per article, filled term by term, took twice as long.
    """
    found: list[list[str]] = [[] for _ in range(len(docs))]
    for lang, rows in rows_by_language(langs).items():
        terms = _terms(docs, rows, lang, cfg)
        keys, first = np.unique(terms.row * cfg.n_features + terms.column, return_index=True)
        if not keys.size:  # no term in any of these articles
            continue
        asked_row, asked = _asked_keys(features, rows, cfg.n_features)
        at = np.minimum(np.searchsorted(keys, asked), keys.size - 1)
        hit = np.flatnonzero(keys[at] == asked)
        for row, position in zip(asked_row[hit].tolist(),
                                 terms.position[first[at[hit]]].tolist(), strict=True):
            found[row].append(terms.token(position))
    return found


def _asked_keys(features: Sequence[Sequence[int]], rows: np.ndarray,
                n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """The (row, feature) pairs asked of ``rows``, in order, as rows and keys
    ``row * n_features + feature``."""
    asked = [np.asarray(features[row], np.int64) for row in rows.tolist()]
    asked_row = np.repeat(rows, [part.size for part in asked])
    return asked_row, asked_row * n_features + np.concatenate([np.zeros(0, np.int64), *asked])


def feature_index(term: str, n_features: int) -> int:
    """The column scikit-learn's ``FeatureHasher`` gives ``term`` (its exact formula).

    Same columns as that hasher, so hashed vectors stay comparable with vectors users
    build with scikit-learn.
    """
    signed = mmh3.hash(term, 0, signed=True)
    if signed == _INT32_MIN:
        return (2**31 - 1 - (n_features - 1)) % n_features
    return abs(signed) % n_features


# -------------------------------------------------------------------------- weights


def _tfidf_rows(weights: sp.csr_matrix, cfg: ClusterConfig,
                earlier: DocumentCounts | None = None,
                clustered: int | None = None) -> sp.csr_matrix:
    """Sublinear TF, log(1 + count), times block IDF (plus ``cfg.short_row_idf_offset`` in
    short rows); rows L2-normalised (zero rows stay zero).

    Sublinear TF stops a long body from being dominated by one repeated word; the IDF
    uses only this block's document frequencies, so it can be computed per block.  With
    ``earlier`` (an incremental run's), they are those of the block's own rows (the
    first ``clustered``; the frozen ones were counted in their run) and of the earlier
    runs' articles: one day's articles weigh their terms as one run over every day would.
    Turns float64 counts into weights in place and returns them: the largest block's
    task peaked on the temporary matrices of the plain formula.
    """
    weights.sum_duplicates()
    np.log1p(weights.data, out=weights.data)
    if earlier is None:
        doc_freq = np.bincount(weights.indices, minlength=weights.shape[1])
        documents = weights.shape[0]
    else:
        own = weights.shape[0] if clustered is None else clustered
        doc_freq = np.bincount(weights.indices[: weights.indptr[own]], minlength=weights.shape[1])
        doc_freq[earlier.terms] += earlier.holding
        documents = own + earlier.documents
    idf = inverse_document_frequency(doc_freq, documents)[weights.indices]
    idf[_short_row_entries(weights.indptr, cfg.short_row_terms)] += cfg.short_row_idf_offset
    if documents >= cfg.max_df_min_block:
        idf[doc_freq[weights.indices] > cfg.max_df * documents] = 0.0
    weights.data *= idf
    del idf  # a float per entry: gone before the normalisation's temporaries
    normalise_rows(weights).eliminate_zeros()
    return weights


def _short_row_entries(indptr: np.ndarray, max_terms: int) -> np.ndarray:
    """Positions in a CSR matrix's data of the entries of its rows of 1 to ``max_terms``
    entries."""
    lengths = np.diff(indptr)
    short = np.flatnonzero(lengths <= max_terms)
    lengths = lengths[short]
    # the k-th of the short rows' entries, counted over them all, is entry k - before of
    # its row, where before counts the short rows' entries ahead of that row
    before = np.cumsum(lengths) - lengths
    return np.repeat(indptr[short] - before, lengths) + np.arange(lengths.sum(), dtype=np.int64)


# ----------------------------------------------------------------------- neighbours


def _searchable(weights: sp.csr_matrix, cfg: ClusterConfig) -> sp.csr_matrix:
    """Weights reduced to what the neighbour search multiplies.

    Each row keeps its ``cfg.search_terms`` heaviest terms, and terms found in more
    than ``cfg.max_candidate_df`` documents are dropped: common terms make the
    products quadratic while saying little about the event.  Terms of one document
    cannot link two.
    """
    doc_freq = np.bincount(weights.indices, minlength=weights.shape[1])
    return heaviest_per_row(weights, (doc_freq >= 2) & (doc_freq <= cfg.max_candidate_df),
                           cfg.search_terms)


def _date_order(days: np.ndarray) -> np.ndarray:
    """Rows by date, undated last, ties by row (= id order within a block)."""
    return np.lexsort((np.arange(days.size), np.nan_to_num(days), np.isnan(days)))


# A run of date-ordered query rows (first, last) and the row ranges its rows can match.
_Slab = tuple[int, int, list[tuple[int, int]]]


def _slabs(sorted_days: np.ndarray, n_dated: int, cfg: ClusterConfig) -> list[_Slab]:
    """Date-ordered query row ranges, each with the row ranges its rows can match.

    A slab of dated rows spans at most ``window_days`` (or one batch) and matches the
    dated rows within ``window_days`` of it plus the undated; undated rows match all.
    This is what keeps dated data sub-quadratic, and a slab's candidates are laid out
    for the products once, shared by all its batches: per batch, that copy cost more
    than the products.
    """
    n = sorted_days.size
    if not np.isfinite(cfg.window_days):
        return [(0, n, [(0, n)])]
    dated = sorted_days[:n_dated]
    slabs: list[_Slab] = []
    start = 0
    while start < n_dated:
        stop = max(int(np.searchsorted(dated, dated[start] + cfg.window_days, "right")),
                   min(start + cfg.batch_rows, n_dated))
        lo = int(np.searchsorted(dated, dated[start] - cfg.window_days, "left"))
        hi = int(np.searchsorted(dated, dated[stop - 1] + cfg.window_days, "right"))
        slabs.append((start, stop, [(lo, hi), (n_dated, n)]))
        start = stop
    if n_dated < n:
        slabs.append((n_dated, n, [(0, n)]))
    return slabs


def _block_slabs(days: np.ndarray, order: np.ndarray, cfg: ClusterConfig) -> list[_Slab]:
    """The slabs of a block's neighbour search (see :func:`_slabs`); ``order`` is
    :func:`_date_order` of ``days``."""
    return _slabs(days[order], int(np.count_nonzero(~np.isnan(days))), cfg)


def _slab_hits(searchable: sp.csr_matrix, order: np.ndarray, days: np.ndarray,
               slabs: Sequence[_Slab], cfg: ClusterConfig, threads: int = 1,
               clustered: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``2 * knn`` best search hits (row, column; block rows) of each query row of
    ``slabs``, in the window, ties by date then id; :func:`_closest` then keeps each
    row's ``knn`` nearest by exact cosine.  Block rows from ``clustered`` on are frozen
    (:class:`Frozen`): found, but not searched for (see :func:`_neighbour_matrix`).

    Sparse products of the reduced search vectors in row batches that keep each row's
    best hits while multiplying (:func:`_search_hits`), never an n x n matrix.
    ``searchable`` holds the search rows in date order (``order``); only the rows these
    slabs read (:func:`_rows_read`) need to be filled in."""
    sorted_days = days[order]
    frozen = order >= (order.size if clustered is None else clustered)  # per date-ordered
    found: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, np.int64),) * 2]
    for first, last, ranges in slabs:
        columns = np.concatenate([np.arange(lo, hi) for lo, hi in ranges])
        candidates = sp.vstack([searchable[lo:hi] for lo, hi in ranges], format="csr").T.tocsr()
        for start in range(first, last, cfg.batch_rows):
            stop = min(start + cfg.batch_rows, last)
            if frozen[start:stop].all():
                continue
            queries = _emptied(searchable[start:stop], frozen[start:stop])
            rows, cols, sims = _search_hits(queries, candidates, columns, start, sorted_days,
                                            cfg, threads)
            best = top_k_per_row(rows, cols, sims, 2 * cfg.knn)
            found.append((order[rows[best]], order[cols[best]]))
    rows, cols = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return rows, cols


def _emptied(rows: sp.csr_matrix, empty: np.ndarray) -> sp.csr_matrix:
    """``rows`` with those where ``empty`` is true left without entries."""
    if not empty.any():
        return rows
    return sp.csr_matrix(sp.diags((~empty).astype(rows.dtype)) @ rows)


def _neighbour_matrix(rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, n: int,
                      cfg: ClusterConfig, clustered: int | None = None,
                      fed: FedEvents | None = None,
                      frozen_rows: Callable[[], sp.csr_matrix] | None = None) -> sp.csr_matrix:
    """The matrix of neighbour cosines: each row's neighbours as its search found them
    (:func:`_closest`).  With frozen rows (from ``clustered`` on, of the earlier events
    ``fed``; ``frozen_rows``: the TF-IDF rows, the frozen ones at least), which searched
    none, their earlier events' absent members are neighbours too (one column each
    after the n rows', see :mod:`dedup.algorithms.absent`).

    What earlier runs decided among frozen rows is not searched again: every row
    searching all of them cost several times the day's own search, most of them being
    of events no article of today's comes near.
    """
    if clustered is None or clustered >= n or frozen_rows is None:
        return sp.csr_matrix((sims, (rows, cols)), shape=(n, n))
    weights = frozen_rows()
    return neighbours_with_absent(
        (rows, cols, sims), n, clustered, fed or FedEvents.alone(n - clustered),
        lambda a, b: _pair_dots(weights, a, b), cfg.knn)


def _closest(weights: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray,
             cfg: ClusterConfig, threads: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of the search hits (rows[i], cols[i]), each row's ``knn`` best by exact cosine, at
    least ``cfg.floor`` (row, column, cosine); ``weights`` need only the hits' rows."""
    exact = _pair_dots(weights, rows, cols, threads)
    close = np.flatnonzero(exact >= cfg.floor)
    best = close[top_k_per_row(rows[close], cols[close], exact[close], cfg.knn)]
    return rows[best], cols[best], exact[best]


def _rows_read(slabs: Sequence[_Slab], n: int) -> np.ndarray:
    """The date-ordered rows (of ``n``) a search over ``slabs`` reads: their queries and
    the ranges they match, sorted, each once."""
    read = np.zeros(n, dtype=bool)
    for first, last, ranges in slabs:
        read[first:last] = True
        for lo, hi in ranges:
            read[lo:hi] = True
    return np.flatnonzero(read)


# Search hits kept per row, in units of ``knn``: the row itself, ``2 * knn`` for the
# exact rescoring, and room for hits a slab's edge puts outside the date window.
_SEARCH_HITS = 3


def _search_hits(queries: sp.csr_matrix, candidates: sp.csr_matrix, columns: np.ndarray,
                 start: int, sorted_days: np.ndarray, cfg: ClusterConfig,
                 threads: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Search hits (row, column, score) of a batch of query rows (from ``start``), other
    rows within the date window, holding at least each row's ``2 * knn`` best.

    Each row's ``_SEARCH_HITS * knn`` best candidates are kept while multiplying; a slab
    spans up to ``window_days``, so some of them can lie outside a row's window.  A row
    whose list was full but kept fewer than ``2 * knn`` hits inside it may have lost
    some: its product is taken again in full and filtered by date first.
    """
    top = _SEARCH_HITS * cfg.knn
    product = _top_products(queries, candidates, top, cfg.search_floor, threads)
    rows, cols, sims = product.row, columns[product.col], product.data
    keep = _usable_hits(rows + start, cols, sorted_days, cfg)
    kept = np.bincount(rows[keep], minlength=queries.shape[0])
    redo = (np.bincount(rows, minlength=queries.shape[0]) == top) & (kept < 2 * cfg.knn)
    keep &= ~redo[rows]
    rows, cols, sims = rows[keep], cols[keep], sims[keep]
    if redo.any():
        again = np.flatnonzero(redo)
        full = (queries[again] @ candidates).tocoo()
        hit = full.data >= cfg.search_floor
        more_rows, more_cols = again[full.row[hit]], columns[full.col[hit]]
        usable = _usable_hits(more_rows + start, more_cols, sorted_days, cfg)
        rows = np.r_[rows, more_rows[usable]]
        cols = np.r_[cols, more_cols[usable]]
        sims = np.r_[sims, full.data[hit][usable]]
    return rows + start, cols, sims


def _usable_hits(rows: np.ndarray, cols: np.ndarray, sorted_days: np.ndarray,
                 cfg: ClusterConfig) -> np.ndarray:
    """Hits that are another row, within the date window."""
    return (rows != cols) & dates_within(sorted_days[rows], sorted_days[cols], cfg.window_days)


def _top_products(rows: sp.csr_matrix, columns: sp.csr_matrix, top: int,
                  floor: float, threads: int = 1) -> sp.coo_matrix:
    """The ``top`` largest entries (at least ``floor``) of each row of ``rows @ columns``
    (its rows shared by ``threads`` threads: each row's entries are the same).

    sparse_dot_topn keeps only those while it multiplies: the full product of a batch
    of queries with a slab's candidates holds a hit for most pairs sharing any term and
    took most of the neighbour search to build and sort.
    """
    product = sp_matmul_topn(rows, columns, top_n=top,
                             threshold=float(np.nextafter(floor, -np.inf)),
                             n_threads=threads if threads > 1 else None)
    return sp.coo_matrix(product)


def _pair_dots(vectors: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray,
               threads: int = 1) -> np.ndarray:
    """Dot products of the row pairs (rows[i], cols[i]), each unordered pair computed once.

    Neighbours are often mutual, so (i, j) and (j, i) are both searched; the dot is
    symmetric bit for bit (same products summed in the same index order).
    """
    n = vectors.shape[0]
    keys, inverse = np.unique(np.minimum(rows, cols) * n + np.maximum(rows, cols),
                              return_inverse=True)
    return _row_dots(vectors, keys // n, vectors, keys % n, threads)[inverse]


def _row_dots(left: sp.csr_matrix, left_rows: np.ndarray, right: sp.csr_matrix,
              right_rows: np.ndarray, threads: int = 1, batch: int = 16384) -> np.ndarray:
    """Dot products of ``left[left_rows[i]]`` and ``right[right_rows[i]]``, a batch at a time
    (up to ``threads`` batches at once).

    Gathering the rows of every pair at once held copies of a block's vectors several
    times over: the memory peak of clustering a large block.  A wide row (a big
    story's member sum, with much of the block's vocabulary) is not gathered once per
    pair but laid out once for all its partners (:func:`_wide_row_dots`).
    """
    dots = np.empty(left_rows.size)
    right_wide = np.diff(right.indptr)[right_rows] > _WIDE_ROW
    left_wide = (np.diff(left.indptr)[left_rows] > _WIDE_ROW) & ~right_wide
    _wide_row_dots(left, left_rows, right, right_rows, right_wide, dots, threads)
    _wide_row_dots(right, right_rows, left, left_rows, left_wide, dots, threads)
    narrow = np.flatnonzero(~right_wide & ~left_wide)
    parts = [narrow[start : start + batch] for start in range(0, narrow.size, batch)]

    def narrow_dots(part: np.ndarray) -> np.ndarray:
        products = left[left_rows[part]].multiply(right[right_rows[part]])
        return np.asarray(products.sum(axis=1)).ravel()

    for part, found in zip(parts, threads_mapped(narrow_dots, parts, threads), strict=True):
        dots[part] = found
    return dots


# Rows with more entries than this are laid out dense once and their partners looked up
# in them, not merged with each partner: gathered per pair, a story of thousands of
# articles cost its whole vocabulary for each member and each candidate partner.  Lower
# sends more rows through a Python loop (measured on a 376k-event block: 4,096 took 58 s,
# 512 took 39 s, 128 took 44 s).
_WIDE_ROW = 512


def _wide_row_dots(narrow: sp.csr_matrix, narrow_rows: np.ndarray, wide: sp.csr_matrix,
                   wide_rows: np.ndarray, chosen: np.ndarray, dots: np.ndarray,
                   threads: int) -> None:
    """Fill ``dots`` for the ``chosen`` pairs: the distinct wide rows are laid out as a
    dense table over their own terms, a group of rows at a time, and their partners'
    entries look their terms up in it, so a pair costs its narrow row's length only.

    A group, not a row, per step: a large block's rounds have thousands of wide rows
    (big events' member sums), and a Python step per row was a third of the
    agglomeration's time.  With ``threads``, that many runs of groups (about equal in
    pairs) at once, each with its own tables.
    """
    pairs = np.flatnonzero(chosen)
    if not pairs.size:
        return
    order = pairs[np.argsort(wide_rows[pairs], kind="stable")]
    sorted_rows = wide_rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    rows, bounds = sorted_rows[starts], np.r_[starts, order.size]
    groups = list(_groups_within(np.diff(wide.indptr)[rows], _WIDE_TABLE))
    pairs_done = np.array([bounds[last] for _, last in groups])
    runs = [groups[lo:hi] for lo, hi in itertools.pairwise(
        _cuts(pairs_done, -(-order.size // threads)))]

    def fill(run: list[tuple[int, int]]) -> None:
        place = np.full(wide.shape[1], -1, dtype=np.int64)  # a term's column in the table
        for first, last in run:
            table_rows = wide[rows[first:last]]
            place[table_rows.indices] = 0
            terms = np.flatnonzero(place == 0)  # sorted, each once: cheaper than a sort
            place[terms] = np.arange(terms.size)
            table = np.zeros((last - first, terms.size))
            entry_row = np.repeat(np.arange(last - first), np.diff(table_rows.indptr))
            table[entry_row, place[table_rows.indices]] = table_rows.data
            members = order[bounds[first] : bounds[last]]
            table_row = np.repeat(np.arange(last - first), np.diff(bounds[first : last + 1]))
            sizes = np.cumsum(np.diff(narrow.indptr)[narrow_rows[members]])
            for lo, hi in itertools.pairwise(_cuts(sizes, _WIDE_TABLE)):
                _looked_up_dots(table, place, table_row[lo:hi], narrow,
                                narrow_rows[members[lo:hi]], members[lo:hi], dots)
            place[terms] = -1

    for _ in threads_mapped(fill, runs, threads):
        pass


def _cuts(ends: np.ndarray, budget: int) -> list[int]:
    """Bounds of consecutive runs of items whose summed sizes (``ends``: running total)
    stay about ``budget`` each; an item alone may exceed it."""
    if not ends.size:
        return [0]
    marks = np.searchsorted(ends, np.arange(budget, int(ends[-1]), budget), side="right")
    return sorted({0, *marks.tolist(), ends.size})


def _looked_up_dots(table: np.ndarray, place: np.ndarray, table_row: np.ndarray,
                    narrow: sp.csr_matrix, narrow_rows: np.ndarray, pairs: np.ndarray,
                    dots: np.ndarray) -> None:
    """``dots[pairs]``: each narrow row's entries looked up in its wide row's ``table``
    row (``place``: a term's table column, -1 for none), so a batch of partners is
    gathered at most about a table's size at once."""
    partners = narrow[narrow_rows]
    column = place[partners.indices]
    entry_table_row = np.repeat(table_row, np.diff(partners.indptr))
    values = np.where(column >= 0, table[entry_table_row, np.maximum(column, 0)], 0.0)
    products = values * partners.data
    dots[pairs] = np.add.reduceat(np.r_[products, 0.0], partners.indptr[:-1]) * \
        (np.diff(partners.indptr) > 0)


# Entries (rows x their terms) of the dense table of wide rows laid out at once: 32 MB.
_WIDE_TABLE = 1 << 22


def _groups_within(lengths: np.ndarray, budget: int) -> Iterator[tuple[int, int]]:
    """Consecutive runs (first, last) of rows whose dense table, rows x the sum of their
    lengths (a bound on their distinct terms), stays within ``budget`` entries; a row
    alone is a run whatever its length."""
    first = 0
    while first < lengths.size:
        last = first + 1
        total = int(lengths[first])
        while last < lengths.size and (last + 1 - first) * (total + lengths[last]) <= budget:
            total += int(lengths[last])
            last += 1
        yield first, last
        first = last


def _neighbourhood_vectors(neighbours: sp.csr_matrix, cfg: ClusterConfig,
                           clustered: int | None = None) -> sp.csr_matrix:
    """Unit rows: the article itself plus its neighbours, weighted by similarity.

    Their cosine is high when two articles have the same neighbours.  Articles of one
    event share most of theirs, while a same-kind event (another earthquake, a match
    of the same club) shares only a few: this second-order signal is what separates
    them where the word overlap alone cannot.  Frozen rows (from ``clustered`` on)
    weigh themselves more (``cfg.fed_self_weight``): the rest of their neighbourhood
    is in earlier runs.
    """
    n = neighbours.shape[0]
    own = np.full(n, cfg.self_weight)
    own[n if clustered is None else clustered:] += cfg.fed_self_weight
    return normalise_rows(sp.csr_matrix(neighbours + sp.csr_matrix(
        (own, (np.arange(n), np.arange(n))), shape=neighbours.shape)))


def _linkage_parts(
    weights: sp.csr_matrix, neighbourhood: sp.csr_matrix, cfg: ClusterConfig
) -> list[tuple[sp.csr_matrix, float]]:
    """Unit rows and their shares: the linkage similarity mixes word cosine and
    neighbourhood cosine.

    The mixed similarity of two clusters is the share-weighted sum of the parts' dot
    products of member sums, so average link needs no copy of the rows that
    concatenates the parts (one was the memory peak of clustering a large block).
    """
    alpha = _word_share(weights.shape[0], cfg)
    return [(weights, alpha), (neighbourhood, 1.0 - alpha)]


def _word_share(block_size: int, cfg: ClusterConfig) -> float:
    """The word part of the linkage, raised towards 1 in blocks too small for neighbourhoods.

    In a block of a handful of articles every article is in every other's k nearest
    neighbours, so shared neighbours say "same event" for all pairs; the neighbourhood
    part only carries evidence once the block is well larger than ``knn``.
    """
    evidence = min(1.0, block_size / cfg.neighbourhood_min_block)
    return 1.0 - (1.0 - cfg.word_share) * evidence


def _candidate_pairs(neighbourhood: sp.csr_matrix, first: int, last: int,
                     cfg: ClusterConfig, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a < b) that are neighbours or share one, at most ``2 * knn`` per row, of
    the rows ``first``..``last``: a row's pairs depend on its own neighbourhood only, so
    a large block's rows are paired in parts, on every worker."""
    transposed = neighbourhood.T.tocsr()
    found_a: list[np.ndarray] = [np.zeros(0, np.int64)]
    found_b: list[np.ndarray] = [np.zeros(0, np.int64)]
    for start in range(first, last, cfg.batch_rows):
        product = _top_products(neighbourhood[start : min(start + cfg.batch_rows, last)],
                                transposed, 2 * cfg.knn, 0.0, threads)
        found_a.append(product.row + start)
        found_b.append(product.col)
    return unique_pairs(np.concatenate(found_a), np.concatenate(found_b),
                        neighbourhood.shape[0])


# ---------------------------------------------------------------------- agglomerate


def _average_similarity(
    parts: Sequence[tuple[sp.csr_matrix, float]], label: np.ndarray, size: np.ndarray,
    a: np.ndarray, b: np.ndarray, threads: int = 1
) -> np.ndarray:
    """Exact average-link similarity of cluster pairs (a[i], b[i]) (dots in up to
    ``threads`` threads; their member sums are made at once: in parts, stacked, they were
    twice the memory of a large block's story step).

    The mean similarity over all member pairs equals the dot product of the two member
    sums divided by both sizes, so no member pair needs to be a candidate; with several
    parts (vectors, share), the shares weigh each part's dot product.  The clusters
    asked are numbered in key order by marking them (a sort of the pairs' keys, in
    every round, cost more than the marks).
    """
    position = np.full(label.size, -1, dtype=np.int64)
    position[a] = position[b] = 0
    keys = np.flatnonzero(position == 0)
    position[keys] = np.arange(keys.size)
    left, right = position[a], position[b]
    indicator = membership(position[label], keys.size)
    dots = np.zeros(a.size)
    for vectors, share in parts:
        sums = sp.csr_matrix(indicator @ vectors)
        dots += share * _row_dots(sums, left, sums, right, threads)
    return dots / (size[a] * size[b])


def _best_partner(a: np.ndarray, b: np.ndarray, sim: np.ndarray, n: int) -> np.ndarray:
    """For each cluster key its best partner (-1 if none) under one total edge order.

    Edges (a < b) are ordered by similarity, then by their (smaller, larger) keys, so the
    globally best edge is the best of both its ends: every round merges something.
    Found with two unbuffered reductions per end instead of a sort of all edges: the
    sort ran in every round and was a tenth of the agglomeration's time on a large block.
    """
    src, dst = np.r_[a, b], np.r_[b, a]
    edge = np.r_[a, a] * n + np.r_[b, b]
    both = np.r_[sim, sim]
    top = np.full(n, -np.inf)
    np.maximum.at(top, src, both)
    tied = both == top[src]
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, src[tied], edge[tied])
    chosen = tied & (edge == first[src])
    best = np.full(n, -1, dtype=np.int64)
    best[src[chosen]] = dst[chosen]
    return best


def _relabel_edges(
    a: np.ndarray, b: np.ndarray, sim: np.ndarray, touched: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges between the merged clusters: self-loops dropped, parallel edges joined.

    Returns (a, b, sim, stale); only edges touching a merged cluster are stale, the
    others keep their similarity.
    """
    low, high = np.minimum(a, b), np.maximum(a, b)
    between = low != high
    keys, first = np.unique(low[between] * n + high[between], return_index=True)
    a, b = keys // n, keys % n
    return a, b, sim[between][first], touched[a] | touched[b]


def _average_link(
    parts: Sequence[tuple[sp.csr_matrix, float]],
    a: np.ndarray,
    b: np.ndarray,
    spans: tuple[np.ndarray, np.ndarray],
    threshold: float | np.ndarray,
    window_days: float,
    size: np.ndarray | None = None,
    sim: np.ndarray | None = None,
    threads: int = 1,
) -> np.ndarray:
    """Average-link agglomeration over the candidate pairs (a, b) of one block.

    Returns, per row, the smallest row index of its cluster.  Each round merges every
    pair of clusters that are each other's best partner (at least ``threshold``, date
    spans within ``window_days``).  Average link is reducible, so these parallel merges
    give the same result as merging the single best pair at a time, in far fewer rounds.
    ``parts`` are the rows' vectors with their shares of the similarity (see
    :func:`_average_similarity`).
    A row may stand for a group already made (vectors: its members' sum; ``size``:
    how many; ``spans``: its first and last day): stories grow from events this way.
    A threshold per row makes each cluster's the highest of its rows', and a pair's the
    higher of its two clusters'.  ``sim``, when given, holds the pairs' similarities
    before any merge (:func:`_first_links` computed them).  ``threads``: see
    :func:`_average_similarity`.
    """
    n = parts[0][0].shape[0]
    label = np.arange(n)
    size = np.ones(n) if size is None else size.astype(np.float64)
    first_day, last_day = spans[0].copy(), spans[1].copy()
    needed = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (n,)).copy()
    if sim is None:  # a batch of pairs at a time: at once, a large block's story
        # candidates (7.6M event pairs at 1M) held their temporaries all together
        sim = np.concatenate([np.zeros(0)] + [
            _average_similarity(parts, label, size, a[start : start + _PAIRS_PER_BATCH],
                                b[start : start + _PAIRS_PER_BATCH], threads)
            for start in range(0, a.size, _PAIRS_PER_BATCH)])
    stale = np.zeros(a.size, dtype=bool)
    while a.size:
        sim[stale] = _average_similarity(parts, label, size, a[stale], b[stale], threads)
        # A pair below its threshold is dropped for good: when a cluster merges, its
        # similarity to a third is the size-weighted mean of its parts', so it rises
        # only through parts with a pair of their own.  Kept, weak pairs were
        # recomputed in every round one of their clusters grew (most of the step).
        strong = _strong(a, b, sim, needed, (first_day, last_day), window_days)
        a, b, sim = a[strong], b[strong], sim[strong]
        if not a.size:
            break
        best = _best_partner(a, b, sim, n)
        keep = np.flatnonzero(best > np.arange(n))
        keep = keep[best[best[keep]] == keep]
        absorbed = best[keep]
        size[keep] += size[absorbed]
        needed[keep] = np.maximum(needed[keep], needed[absorbed])
        first_day[keep] = np.fmin(first_day[keep], first_day[absorbed])
        last_day[keep] = np.fmax(last_day[keep], last_day[absorbed])
        new_key = np.arange(n)
        new_key[absorbed] = keep
        label = new_key[label]
        touched = np.zeros(n, dtype=bool)
        touched[keep] = True
        a, b, sim, stale = _relabel_edges(new_key[a], new_key[b], sim, touched, n)
    return label


# Candidate pairs whose similarities before any merge are computed at once.
_PAIRS_PER_BATCH = 1 << 20


def _strong(a: np.ndarray, b: np.ndarray, sim: np.ndarray, needed: np.ndarray,
            spans: tuple[np.ndarray, np.ndarray], window_days: float) -> np.ndarray:
    """Which pairs of clusters may still merge: similar enough for both clusters'
    thresholds (``needed``), and their date spans (first, last day) within the window."""
    first_day, last_day = spans
    span_ok = within_days(np.fmin(first_day[a], first_day[b]),
                          np.fmax(last_day[a], last_day[b]), window_days)
    return span_ok & (sim >= np.maximum(needed[a], needed[b]))


# Candidate pairs of a block part (a, b) and the links among them (a, b, similarity).
_Pairs = tuple[np.ndarray, np.ndarray]
_Links = tuple[np.ndarray, np.ndarray, np.ndarray]


def _first_links(pairs: _Pairs, weights: sp.csr_matrix, neighbourhood: sp.csr_matrix,
                 embeddings: np.ndarray | None, days: np.ndarray, cfg: ClusterConfig,
                 threads: int = 1) -> _Links:
    """The candidate pairs (a < b, each once) that can merge: not vetoed
    (:func:`_vetoed`) and similar enough before any merge, with that similarity.

    The pairs below the threshold now never merge (see :func:`_average_link`), so the
    rows joined by these links fall apart into independent parts of the agglomeration.
    Before any merge a cluster is one row, so the linkage parts' dots are the rows' own
    (in :func:`_average_similarity`'s order of sums: the same bits) and the word cosine
    the veto needs is the linkage's word part: a large block's member sums of every
    row, a copy of its rows, are not built.  ``weights`` and ``neighbourhood`` need
    only the rows of the pairs.
    """
    a, b = pairs
    word = None
    if embeddings is None:
        word = _row_dots(weights, a, weights, b, threads)
        kept = ~_vetoed(word, cfg.word_floor)
    else:
        kept = ~_vetoed(_pair_cosines(embeddings, a, b), cfg.semantic_floor)
    a, b = a[kept], b[kept]
    word = _row_dots(weights, a, weights, b, threads) if word is None else word[kept]
    (_, word_share), (_, neighbourhood_share) = _linkage_parts(weights, neighbourhood, cfg)
    sim = word_share * word + neighbourhood_share * _row_dots(neighbourhood, a, neighbourhood,
                                                              b, threads)
    threshold = np.broadcast_to(cfg.threshold, weights.shape[:1])
    strong = _strong(a, b, sim, threshold, (days, days), cfg.window_days)
    return a[strong], b[strong], sim[strong]


def _pair_cosines(embeddings: np.ndarray, a: np.ndarray, b: np.ndarray,
                  batch: int = 1 << 16) -> np.ndarray:
    """The dots of the unit rows ``embeddings[a[i]]`` and ``embeddings[b[i]]``, a batch of
    pairs at a time (each pair's dot is the same bits in any batch).

    Gathering both rows of every candidate pair at once held two 512-wide copies per
    pair: 3.3 GB in one worker for the 73k-row English block of a 100k-article dump.
    """
    return np.concatenate([np.einsum("ij,ij->i", embeddings[a[start:start + batch]],
                                     embeddings[b[start:start + batch]])
                           for start in range(0, max(a.size, 1), batch)])


def _link_groups(links: _Links, n: int, groups: int) -> list[np.ndarray]:
    """The links cut into about ``groups`` groups, each a run of whole connected
    components (in order of their first row), cut at a component end near each
    ``1 / groups`` share of the links: merges never cross a component, so each
    group agglomerates on its own, on any worker, with the result of the whole.  A run
    holding a component larger than a share is larger by that much (a large block's
    largest component bounds its agglomeration's wall time)."""
    a, b, _ = links
    if not a.size:
        return []
    component = components(a, b, n)[a]
    order = np.argsort(component, kind="stable")
    per_component = np.bincount(component)
    ends = np.cumsum(per_component[per_component > 0])  # links up to each component's end
    bounds = np.r_[0, ends][_cuts(ends, -(-a.size // max(groups, 1)))]
    return [np.sort(order[lo:hi]) for lo, hi in itertools.pairwise(bounds.tolist())]


def _event_keys(weights: sp.csr_matrix, neighbourhood: sp.csr_matrix, links: _Links,
                days: np.ndarray, cfg: ClusterConfig, threads: int = 1) -> np.ndarray:
    """Each row's event key (its event's smallest row), by average link over ``links``;
    ``weights`` and ``neighbourhood`` need only the rows of the links."""
    a, b, sim = links
    return _average_link(_linkage_parts(weights, neighbourhood, cfg), a, b, (days, days),
                         cfg.threshold, cfg.window_days, sim=sim, threads=threads)


def _story_keys(sums: sp.csr_matrix, events: _Level, event_key: np.ndarray,
                pairs: tuple[np.ndarray, np.ndarray], days: np.ndarray,
                headline_only: np.ndarray, cfg: ClusterConfig, threads: int = 1,
                embeddings: np.ndarray | None = None) -> np.ndarray:
    """Story keys (smallest member row) of one block, grown from its events (``sums``:
    their salient terms, :func:`_event_salient_sums`; similarities in up to ``threads``
    threads).

    Stories continue the events' agglomeration by average link, at a lower threshold and
    a longer date window, without the direct-link veto: a story's events are told in
    different words (a recall, then the regulator's probe), which is what the veto is
    there to keep apart.  They are linked by word cosine alone: shared neighbours,
    which split same-kind events, would also join the threads of one beat.  The
    agglomeration runs over the events' member sums (an event is never split, and a big
    one is summed once, not in every round).  Candidates are the events' candidate
    pairs, plus, for each of an event's top terms, the first events beyond
    ``window_days`` that have it among theirs (:func:`_term_chains`): neighbours are
    only searched within ``window_days``.  Headlines alone have a handful of terms, so
    related ones have lower cosines than articles: events of ``headline_only`` rows
    have a threshold of their own, and a pair needs the higher of its two groups'.  With
    ``embeddings``, headline events also compare by meaning (:func:`_story_parts`).
    """
    n_events = events.representative.size
    first_day, last_day = np.full(n_events, np.nan), np.full(n_events, np.nan)
    np.fmin.at(first_day, events.labels, days)
    np.fmax.at(last_day, events.labels, days)
    headline_event = np.ones(n_events, dtype=bool)
    np.logical_and.at(headline_event, events.labels, headline_only)
    parts = _story_parts(sums, events.labels, headline_event, embeddings, cfg)
    by_meaning = len(parts) > 1  # the headline events' embeddings are a part
    headline_threshold = (cfg.headline_story_semantic_threshold if by_meaning
                          else cfg.headline_story_threshold)
    thresholds = np.where(headline_event, headline_threshold, cfg.story_threshold)
    chained = _term_chains(events.top_features, first_day, cfg)
    linked = events.labels[pairs[0]] != events.labels[pairs[1]]
    a, b = unique_pairs(np.r_[events.labels[pairs[0][linked]], chained[0]],
                         np.r_[events.labels[pairs[1][linked]], chained[1]], n_events)
    story_of_event = _average_link(parts, a, b, (first_day, last_day), thresholds,
                                   cfg.story_window_days,
                                   size=np.bincount(events.labels, minlength=n_events),
                                   threads=threads)
    first_row = sorted_unique(event_key)  # each event's smallest row, in event order
    return first_row[story_of_event][events.labels]


def _story_parts(sums: sp.csr_matrix, labels: np.ndarray, headline_event: np.ndarray,
                 embeddings: np.ndarray | None, cfg: ClusterConfig,
                 ) -> list[tuple[sp.csr_matrix, float]]:
    """The vectors stories are merged by: the events' salient term sums, and with
    ``embeddings`` (unit rows), a share above 0 and any headline event, the headline
    events' embedding sums (the one place that decides whether they compare by meaning).

    A headline event's similarity to another is then ``1 - s`` of their word cosine plus
    ``s`` of their mean embedding cosine (``s``:
    ``cfg.headline_story_embedding_share``): each part's rows are scaled by the square
    root of its share, so the average link's dot products of member sums stay exact.  An
    event with a body keeps its word rows whole and has no embedding part (against a
    headline event, ``sqrt(1 - s)`` of their word cosine).  Only headline events'
    embeddings are summed: a dump of articles with bodies pays nothing.
    """
    share = np.where(headline_event, cfg.headline_story_embedding_share, 0.0)
    if embeddings is None or not share.any():
        return [(sums, 1.0)]
    in_headline = headline_event[labels]
    numbered = np.cumsum(headline_event) - 1  # a headline event's place among them
    meaning = (membership(numbered[labels[in_headline]], int(headline_event.sum()))
               .astype(np.float32) @ embeddings[in_headline])
    meaning *= np.float32(np.sqrt(cfg.headline_story_embedding_share))
    return [(sp.csr_matrix(sp.diags(np.sqrt(1.0 - share)) @ sums), 1.0),
            (_dense_rows(meaning, headline_event), 1.0)]


def _dense_rows(dense: np.ndarray, placed: np.ndarray) -> sp.csr_matrix:
    """A CSR matrix with ``dense``'s rows at the rows where ``placed`` is true and empty
    rows elsewhere, sharing ``dense``'s memory (a float32 sum of 512-wide embeddings per
    headline event; through sparse products it took three times that)."""
    width = dense.shape[1]
    indptr = np.r_[0, np.cumsum(np.where(placed, width, 0))]
    indices = np.tile(np.arange(width, dtype=np.int32), dense.shape[0])
    return sp.csr_matrix((dense.ravel(), indices, indptr), shape=(placed.size, width))


def _event_salient_sums(weights: sp.csr_matrix, events: _Level, cfg: ClusterConfig,
                        threads: int) -> sp.csr_matrix:
    """Each event's sum of its articles' salient terms (:func:`_salient_terms`): the
    vectors its stories are merged by, which need nothing else of the block's rows."""
    return sp.csr_matrix(membership(events.labels, events.representative.size)
                         @ _salient_terms(weights, cfg.story_article_terms, threads))


def _salient_terms(weights: sp.csr_matrix, terms: int, threads: int) -> sp.csr_matrix:
    """Unit rows of each row's ``terms`` heaviest entries among the terms of two or more
    rows: what a story is told by.  A long article's tail of light terms would make its
    events' sums long, and every story merge costs their length."""
    doc_freq = np.bincount(weights.indices, minlength=weights.shape[1])
    return normalise_rows(heaviest_per_row(weights, doc_freq >= 2, terms, threads=threads))


# Events beyond the neighbour search each event meets per top term it shares with them.
_CHAIN_LINKS = 2


def _term_chains(event_terms: np.ndarray, first_day: np.ndarray,
                 cfg: ClusterConfig) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of dated events, further apart than the neighbour search looks
    (``cfg.window_days``) but within ``cfg.story_window_days``, that share a top term.

    Per term, the dated events with it among their ``cfg.story_terms`` heaviest are put
    in date order, and each is paired with the first ``_CHAIN_LINKS`` that start more
    than ``window_days`` after it: linear in the events however common the term, and
    enough for average link, which compares whole groups once one pair of their
    members is a candidate.  Nearer events are the neighbour search's candidates.
    """
    terms = event_terms[:, : cfg.story_terms]
    event, rank = np.nonzero((terms >= 0) & ~np.isnan(first_day)[:, None])
    term, day = terms[event, rank], first_day[event]
    order = np.lexsort((event, day, term))
    event, term, day = event[order], term[order], day[order]
    # one sorted key: the term's segment, then the day within it
    segment = np.cumsum(np.r_[0, term[1:] != term[:-1]])
    span = float(np.ptp(day)) + 2 * cfg.window_days + 1 if day.size else 1.0
    key = segment * span + (day - day.min(initial=0.0))
    later = np.searchsorted(key, key + cfg.window_days, side="right")
    found_a, found_b = [], []
    for step in range(_CHAIN_LINKS):
        partner = later + step
        ok = partner < key.size
        ok[ok] &= (segment[partner[ok]] == segment[ok]) & dates_within(
            day[partner[ok]], day[ok], cfg.story_window_days)
        found_a.append(event[ok])
        found_b.append(event[partner[ok]])
    return np.concatenate(found_a), np.concatenate(found_b)


def _vetoed(similarity: np.ndarray, floor: float) -> np.ndarray:
    """Which candidate pairs may not be merged directly: their own similarity is below
    ``floor``.

    Word overlap and shared neighbours (the linkage) let a site's template, a beat's
    stock phrases or a corner of the block join unrelated stories of two articles.  With
    embeddings a pair needs embedding cosine ``cfg.semantic_floor``: the encoder sees
    through those.  Without, it needs word cosine ``cfg.word_floor`` of its own, a
    blunter test.  Either only vetoes: on same-kind events (two earthquakes) the encoder
    finds the stories alike where names and numbers tell them apart, so it does not
    score merges.  Big clusters of one event are joined by many candidate pairs, so a
    few vetoed ones do not split them.
    """
    return similarity < floor


# ------------------------------------------------------------------------ summarise


def _top_features_per_row(sums: sp.csr_matrix, top: int) -> np.ndarray:
    """Indices of each row's largest entries, best first, ties by feature index (-1 pads).

    Rows are taken a batch at a time, each batch in a few array operations: a
    cluster's centroid has hundreds of terms and only ``top`` are reported, and a
    Python step per row cost seconds on a large block's hundreds of thousands of events.
    """
    sums = sp.csr_matrix(sums)
    sums.sort_indices()
    features = np.full((sums.shape[0], top), -1, dtype=np.int32)
    if top:
        ends = np.cumsum(np.diff(sums.indptr))
        for first, last in itertools.pairwise(_cuts(ends, _WIDE_TABLE)):
            features[first:last] = _top_features_of(sums[first:last], top)
    return features


def _top_features_of(rows: sp.csr_matrix, top: int) -> np.ndarray:
    """:func:`_top_features_per_row` of a batch of rows (indices sorted): per row, the
    entries above its ``top``-th largest value, then those equal to it in index order
    while there is room, ordered by value (descending), then index."""
    n = rows.shape[0]
    entry_row = np.repeat(np.arange(n), np.diff(rows.indptr))
    data, indices = rows.data, rows.indices
    cut = _top_values(rows, top)[entry_row]
    above = data > cut
    room = top - np.bincount(entry_row[above], minlength=n)
    tied = np.flatnonzero(data == cut)
    tied_row = entry_row[tied]
    tie_rank = np.arange(tied.size) - np.searchsorted(tied_row, tied_row)
    chosen = np.r_[np.flatnonzero(above), tied[tie_rank < room[tied_row]]]
    chosen = chosen[np.lexsort((indices[chosen], -data[chosen], entry_row[chosen]))]
    chosen_row = entry_row[chosen]
    features = np.full((n, top), -1, dtype=np.int32)
    features[chosen_row, np.arange(chosen.size) - np.searchsorted(chosen_row, chosen_row)] = \
        indices[chosen]
    return features


def _top_values(rows: sp.csr_matrix, top: int) -> np.ndarray:
    """Per row, its ``top``-th largest entry; -inf for rows of at most ``top`` entries
    (all of theirs are kept).  Rows are laid out dense in groups of similar size
    (padded with -inf) and partitioned together."""
    lengths = np.diff(rows.indptr)
    cut = np.full(rows.shape[0], -np.inf)
    long_rows = np.flatnonzero(lengths > top)
    by_length = long_rows[np.argsort(lengths[long_rows], kind="stable")]
    first = 0
    while first < by_length.size:
        # the next rows whose table (rows x the longest, the last) fits, at least one
        widths = lengths[by_length[first:]]
        fits = np.arange(1, widths.size + 1) * widths <= _WIDE_TABLE
        last = first + max(1, int(np.count_nonzero(fits)))
        group, first = by_length[first:last], last
        width = int(lengths[group[-1]])
        table = np.full((group.size, width), -np.inf)
        part = rows[group]
        entry = np.repeat(np.arange(group.size), np.diff(part.indptr))
        table[entry, np.arange(entry.size) - np.repeat(part.indptr[:-1], np.diff(part.indptr))] \
            = part.data
        cut[group] = np.partition(table, width - top, axis=1)[:, width - top]
    return cut


def _summarise(events: _Level, stories: _Level, embeddings: np.ndarray | None) -> Clustering:
    """A block's Clustering from its two levels (and with embeddings, the events' mean
    embeddings)."""
    story_of_event = np.zeros(events.representative.size, dtype=np.int64)
    story_of_event[events.labels] = stories.labels
    centroids = None
    if embeddings is not None:
        indicator = membership(events.labels, events.representative.size)
        centroids = ((indicator @ embeddings)
                     / np.bincount(events.labels)[:, None]).astype(np.float32)
    return Clustering(labels=events.labels, representative=events.representative,
                      similarity=events.similarity, top_features=events.top_features,
                      centroids=centroids, stories=Stories(
                          of_event=story_of_event, representative=stories.representative,
                          top_features=stories.top_features))


@dataclass(slots=True)
class _Level:
    """One level's groups (events or stories) over a block's rows."""

    labels: np.ndarray  # int64 per row: its group, numbered by smallest row
    representative: np.ndarray  # int64 per group: its most central row
    similarity: np.ndarray  # float32 per row: cosine to its group's representative
    top_features: np.ndarray  # int32 (groups, top_terms)


def _level(weights: sp.csr_matrix, key: np.ndarray, cfg: ClusterConfig,
           similarities: bool = True, threads: int = 1) -> _Level:
    """Groups (``key``: each row's smallest fellow row; rows in id order, so groups are
    numbered by smallest id), their representatives, similarities (unless not wanted:
    then all 1) and centroid terms.

    Centrality and similarity are only computed for members of groups with several
    articles: a single article is its own representative.  The groups' member sums are
    made a batch of groups at a time (:data:`_SUMS_PER_BATCH`): all at once, they were
    a second copy of a large block's rows, the peak of the 1M run.  With ``threads``,
    that many smaller batches at once (the same memory).
    """
    keys, labels = np.unique(key, return_inverse=True)
    n = key.size
    shared = np.bincount(labels)[labels] > 1
    centrality = np.zeros(n)
    top_features = np.full((keys.size, cfg.top_terms), -1, dtype=np.int32)
    entries = np.cumsum(np.bincount(labels, weights=np.diff(weights.indptr), minlength=keys.size))

    def summarised(batch: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The batch's central members, their dots with their sums, and its top features."""
        first, last = batch
        in_batch = (labels >= first) & (labels < last)
        sums = sp.csr_matrix(membership(np.where(in_batch, labels - first, -1), last - first)
                             @ weights)
        members = np.flatnonzero(in_batch & shared)
        return (members, _row_dots(weights, members, sums, labels[members] - first),
                _top_features_per_row(sums, cfg.top_terms))

    batches = list(itertools.pairwise(_cuts(entries, _SUMS_PER_BATCH // threads)))
    for (first, last), (members, dots, top) in zip(
            batches, threads_mapped(summarised, batches, threads), strict=True):
        centrality[members] = dots
        top_features[first:last] = top
    # Members of a pair are exactly as central as each other; rounding away the last
    # bits lets the id decide such ties instead of the summation order.
    centrality = np.round(centrality, 9)
    # Highest dot with the member sum = highest mean similarity to the other members.
    by_centrality = np.lexsort((np.arange(n), -centrality, labels))
    first_member = np.r_[True, labels[by_centrality][1:] != labels[by_centrality][:-1]]
    representative = by_centrality[first_member]
    similarity = np.ones(n)
    members = np.flatnonzero(shared)
    if similarities:  # stories' are not reported: each article's is to its event's
        similarity[members] = _row_dots(weights, members, weights,
                                        representative[labels[members]], threads)
    similarity[representative] = 1.0
    return _Level(labels=labels.astype(np.int64), representative=representative.astype(np.int64),
                  similarity=similarity.astype(np.float32), top_features=top_features)


# Member entries (a bound on the terms) of the groups whose sums :func:`_level` makes at
# once: about 200 MB.
_SUMS_PER_BATCH = 1 << 24


class RowSource(Protocol):
    """Where a block's rows come from; must pickle small to travel to a task."""

    def load(self) -> sp.csr_matrix:
        """The block's term-count rows, in the block's (id) order."""
        ...

    def embeddings(self) -> np.ndarray | None:
        """The block's embeddings in the same order, or None when the run has none."""
        ...


@dataclass(frozen=True, slots=True)
class DocumentCounts:
    """How many articles of one language earlier runs clustered, and per term how many of
    them hold it: their part of the IDF of an incremental run's blocks."""

    documents: int
    terms: np.ndarray  # int64 columns, ascending
    holding: np.ndarray  # int64 per term: the articles holding it

    @classmethod
    def of(cls, counts: sp.csr_matrix) -> DocumentCounts:
        """The counts of the rows of a term-count matrix."""
        counts = sp.csr_matrix(counts)
        counts.sum_duplicates()
        counts.eliminate_zeros()
        holding = np.bincount(counts.indices, minlength=counts.shape[1])
        terms = np.flatnonzero(holding)
        return cls(counts.shape[0], terms.astype(np.int64), holding[terms].astype(np.int64))

    @classmethod
    def summed(cls, parts: Sequence[DocumentCounts]) -> DocumentCounts:
        """The counts of several runs together."""
        terms = np.concatenate([np.zeros(0, np.int64), *(part.terms for part in parts)])
        holding = np.concatenate([np.zeros(0, np.int64), *(part.holding for part in parts)])
        unique, where = np.unique(terms, return_inverse=True)
        return cls(sum(part.documents for part in parts), unique,
                   np.bincount(where, weights=holding, minlength=unique.size).astype(np.int64))


@dataclass(frozen=True, slots=True)
class Frozen:
    """Rows that take part in the clustering without being clustered: an incremental
    run's earlier articles (``dedup.job.incremental``).  Each block takes those of its
    language (and period) along through its pairing and events, so today's articles
    meet them as in one run over both; in its neighbour search they are found by the
    block's rows but search none (their neighbours are the rows that found them).  They
    leave before the block's summaries and stories, and
    :attr:`Clustering.frozen_events` says which event each joined."""

    rows: sp.csr_matrix  # term counts, as :func:`vectorize` makes them
    langs: Sequence[str]
    days: np.ndarray  # float64, NaN when undated
    embeddings: np.ndarray | None = None  # when the runs that made them embedded
    # per language, the document frequencies of every article of the earlier runs (not
    # only the frozen ones): each block's IDF counts those of its language
    counts: Mapping[str, DocumentCounts] = field(default_factory=dict)
    # the earlier event of each row, and its members not among the rows (None: every
    # row an event of its own, nothing absent)
    events: FedEvents | None = None

    def __len__(self) -> int:
        return self.rows.shape[0]

    @classmethod
    def empty(cls, n_features: int) -> Frozen:
        """No frozen row."""
        return cls(sp.csr_matrix((0, n_features), dtype=np.float32), [], np.zeros(0))

    def take(self, picks: np.ndarray) -> Frozen:
        """The rows at ``picks``, in that order."""
        return Frozen(sp.csr_matrix(self.rows[picks]), [self.langs[p] for p in picks.tolist()],
                      self.days[picks],
                      None if self.embeddings is None else self.embeddings[picks], self.counts,
                      None if self.events is None else self.events.take(picks))


@dataclass(frozen=True, slots=True)
class WithFrozen:
    """A block's rows followed by its frozen rows (a ``RowSource``)."""

    source: RowSource
    frozen: Frozen

    def load(self) -> sp.csr_matrix:
        """The block's rows, then the frozen ones."""
        return sp.csr_matrix(sp.vstack([self.source.load(), self.frozen.rows], format="csr"),
                             dtype=np.float32)

    def embeddings(self) -> np.ndarray | None:
        """The block's embeddings, then the frozen rows'.  A frozen row without one (its
        run did not embed) gets zeros: in semantic mode it is never linked directly."""
        found = self.source.embeddings()
        if found is None:
            return None
        extra = self.frozen.embeddings
        return np.vstack([found, np.zeros((len(self.frozen), found.shape[1]), found.dtype)
                          if extra is None else extra.astype(found.dtype)])


@dataclass(frozen=True, slots=True)
class InMemoryRows:
    """Rows already in memory (tests, small inputs)."""

    matrix: sp.csr_matrix
    vectors: np.ndarray | None = None

    def load(self) -> sp.csr_matrix:
        """The rows as given."""
        return self.matrix

    def embeddings(self) -> np.ndarray | None:
        """The embeddings as given."""
        return self.vectors


@dataclass(frozen=True, slots=True)
class BlockSpool:
    """Where a large block's tasks leave what its later tasks read (see
    :func:`_cluster_blocks`).  Paths only, so it travels to a task in a few bytes."""

    folder: Path
    n_features: int

    @property
    def weights(self) -> Path:
        """The block's TF-IDF rows, in its (id) order (:func:`~dedup.io.spool.save_rows`)."""
        return self.folder / "weights"

    @property
    def searchable(self) -> Path:
        """The block's reduced search rows, in date order (:func:`~dedup.io.spool.save_rows`)."""
        return self.folder / "search"

    @property
    def order(self) -> Path:
        """The block's rows in date order (:func:`_date_order`), which the search reads."""
        return self.folder / "order.npy"

    @property
    def neighbourhood(self) -> Path:
        """The block's neighbourhood rows (:func:`_neighbourhood_vectors`), in id order."""
        return self.folder / "neighbourhood"

    def hits(self, part: int) -> list[Path]:
        """The neighbours (rows, columns, cosines) that search part ``part`` found."""
        return [self.folder / f"hits-{part}-{name}.npy" for name in ("rows", "cols", "sims")]

    def pairs(self, part: int) -> list[Path]:
        """The candidate pairs (a, b) of pairing part ``part``'s rows."""
        return [self.folder / f"pairs-{part}-{name}.npy" for name in ("a", "b")]

    def links(self, part: int) -> list[Path]:
        """The links (a, b, similarity) among pairing part ``part``'s pairs."""
        return [self.folder / f"links-{part}-{name}.npy" for name in ("a", "b", "sims")]

    def group(self, group: int) -> list[Path]:
        """The links (a, b, similarity) that agglomeration group ``group`` merges over."""
        return [self.folder / f"group-{group}-{name}.npy" for name in ("a", "b", "sims")]

    def events(self, group: int) -> list[Path]:
        """The rows that group ``group`` agglomerated, and their event keys."""
        return [self.folder / f"events-{group}-{name}.npy" for name in ("rows", "keys")]

    def neighbours(self, parts: int, n: int, cfg: ClusterConfig, clustered: int | None = None,
                   fed: FedEvents | None = None) -> sp.csr_matrix:
        """The matrix of neighbour cosines that the ``parts`` of the search found
        (:func:`_neighbour_matrix`; the frozen rows' TF-IDF read from the spool)."""
        found = [_load(self.hits(part)) for part in range(parts)]
        rows, cols, sims = (np.concatenate(arrays) for arrays in zip(*found, strict=True))
        first = n if clustered is None else clustered
        return _neighbour_matrix(rows, cols, sims, n, cfg, clustered, fed, lambda: rows_in_place(
            self.weights, np.arange(first, n), n, self.n_features))


def _load(paths: Sequence[Path]) -> tuple[np.ndarray, ...]:
    """The arrays saved at ``paths``."""
    return tuple(np.load(path) for path in paths)


def _save(paths: Sequence[Path], arrays: Sequence[np.ndarray]) -> None:
    """Each array at its path."""
    for path, array in zip(paths, arrays, strict=True):
        save_array(path, array)


@dataclass(frozen=True, slots=True)
class SplitBlock:
    """A large block whose earlier passes left their results in ``spool``: its pairing in
    ``pairings`` parts, its agglomeration in ``groups`` groups."""

    spool: BlockSpool
    pairings: int
    groups: int


def prepare_block(source: RowSource, order: np.ndarray, spool: BlockSpool,
                  cfg: ClusterConfig, earlier: DocumentCounts | None = None,
                  clustered: int | None = None) -> None:
    """A large block's first task: its TF-IDF rows (document frequencies need the whole
    block) and its search rows in date order (``order``), spooled with that order for
    the search parts and the clustering."""
    spool.folder.mkdir(parents=True, exist_ok=True)
    weights = _tfidf_rows(source.load().astype(np.float64), cfg, earlier,
                          clustered)  # float32 rows freed here
    save_rows(spool.weights, weights)
    save_rows(spool.searchable, _searchable(weights, cfg)[order])
    save_array(spool.order, order)


def search_parts(days: np.ndarray, order: np.ndarray,
                 cfg: ClusterConfig) -> list[list[_Slab]]:
    """A block's neighbour search cut into parts of about ``cfg.search_task_rows`` query
    rows, whole slabs each: a row's neighbours come from its slab alone, so the parts
    find what one search finds, and a large block's search uses every worker."""
    parts: list[list[_Slab]] = [[]]
    queries = 0
    for slab in _block_slabs(days, order, cfg):
        if queries >= cfg.search_task_rows:
            parts.append([])
            queries = 0
        parts[-1].append(slab)
        queries += slab[1] - slab[0]
    return parts


def search_block(spool: BlockSpool, days: np.ndarray, slabs: list[_Slab], part: int,
                 cfg: ClusterConfig, clustered: int | None = None) -> None:
    """One part of a block's neighbour search: the neighbours of the query rows of
    ``slabs`` (from ``clustered`` on frozen, see :func:`_slab_hits`), spooled as ``part``.
    Reads only the rows those slabs match, and the TF-IDF rows of the hits."""
    searchable = rows_in_place(spool.searchable, _rows_read(slabs, days.size), days.size,
                               spool.n_features)
    rows, cols = _slab_hits(searchable, np.load(spool.order), days, slabs, cfg,
                            clustered=clustered)
    del searchable
    weights = rows_in_place(spool.weights, sorted_unique(np.r_[rows, cols]), days.size,
                            spool.n_features)
    _save(spool.hits(part), _closest(weights, rows, cols, cfg))


def _pairing_parts(n: int, cfg: ClusterConfig) -> list[tuple[int, int]]:
    """Row ranges (first, last) of a block's pairing parts, ``cfg.search_task_rows`` each."""
    return [(first, min(first + cfg.search_task_rows, n))
            for first in range(0, n, cfg.search_task_rows)]


def save_neighbourhood(spool: BlockSpool, searches: int, n: int, cfg: ClusterConfig,
                       clustered: int | None = None, fed: FedEvents | None = None) -> None:
    """The neighbourhood rows of a block, from its search parts' neighbours (rows from
    ``clustered`` on frozen, of the earlier events ``fed``): every pairing part
    multiplies its rows by all of them."""
    save_rows(spool.neighbourhood, _neighbourhood_vectors(
        spool.neighbours(searches, n, cfg, clustered, fed), cfg, clustered))


# Candidate pairs whose rows' TF-IDF a pairing task reads at once: the partners of a part's
# rows are spread over the whole block, and read at once two parts held most of its rows
# each (the 1M run's peak).  Fewer read some rows again for less memory.
_PAIRS_PER_READ = 1 << 17


def pair_block(spool: BlockSpool, source: RowSource, days: np.ndarray, rows: tuple[int, int],
               part: int, cfg: ClusterConfig) -> None:
    """One part of a block's pairing: the candidate pairs of rows ``rows`` (first, last)
    and their links (:func:`_first_links`), spooled as ``part``.  Reads the TF-IDF rows
    of its pairs only, a batch of pairs at a time."""
    n = days.size
    neighbourhood = load_rows(spool.neighbourhood, _neighbourhood_columns(n))
    pairs = _candidate_pairs(neighbourhood, *rows, cfg)
    embeddings = _embeddings(source)
    found = []
    for start in range(0, max(pairs[0].size, 1), _PAIRS_PER_READ):  # no pairs: no links
        batch = pairs[0][start : start + _PAIRS_PER_READ], pairs[1][start : start + _PAIRS_PER_READ]
        weights = rows_in_place(spool.weights, sorted_unique(np.r_[batch[0], batch[1]]), n,
                                spool.n_features)
        found.append(_first_links(batch, weights, neighbourhood, embeddings, days, cfg))
        del weights
    _save(spool.pairs(part), pairs)
    _save(spool.links(part), [np.concatenate(arrays) for arrays in zip(*found, strict=True)])


def group_links(spool: BlockSpool, pairings: int, n: int, groups: int) -> list[int]:
    """Cut a block's links into agglomeration groups (:func:`_link_groups`), each
    spooled; returns their numbers of links."""
    found = [_load(spool.links(part)) for part in range(pairings)]
    a, b, sim = (np.concatenate(arrays) for arrays in zip(*found, strict=True))
    # a pair whose rows are in two parts was found by both, with the same similarity
    _, first = np.unique(a * n + b, return_index=True)
    links = a[first], b[first], sim[first]
    cut = _link_groups(links, n, groups)
    for group, chosen in enumerate(cut):
        _save(spool.group(group), [array[chosen] for array in links])
    return [chosen.size for chosen in cut]


def link_block(spool: BlockSpool, days: np.ndarray, group: int, cfg: ClusterConfig,
               threads: int = 1) -> None:
    """One group of a block's agglomeration: the event keys of its rows, spooled (dots
    in ``threads`` threads, 0: one per core).  Reads the TF-IDF and neighbourhood rows
    of its links only."""
    a, b, sim = _load(spool.group(group))
    rows = sorted_unique(np.r_[a, b])
    n = days.size
    weights = rows_in_place(spool.weights, rows, n, spool.n_features)
    neighbourhood = rows_in_place(spool.neighbourhood, rows, n, _neighbourhood_columns(n))
    _save(spool.events(group), (rows, _event_keys(weights, neighbourhood, (a, b, sim), days,
                                                  cfg, usable_threads(threads))[rows]))


def cluster_block(source: RowSource, days: np.ndarray, headline_only: np.ndarray,
                  split: SplitBlock | None, cfg: ClusterConfig, threads: int = 1,
                  clustered: int | None = None,
                  earlier: DocumentCounts | None = None) -> Clustering:
    """Clusters of one language block, numbered, with representatives and top terms: a
    small block (``split`` None) clustered whole here, a large one finished from what
    its earlier passes spooled.  Its sparse work runs in ``threads`` threads (0: one
    per core of the worker it runs on).

    A pure function of the block (rows in id order), so an engine can run blocks as
    independent tasks; only the small result travels back.  Rows from ``clustered`` on
    are frozen (:class:`Frozen`): they take part in the events' agglomeration only;
    ``earlier``: the earlier runs' document frequencies of the block's language.
    """
    embeddings = _embeddings(source)
    threads = usable_threads(threads)
    if split is None:
        weights, neighbourhood = _weights_and_neighbourhood(source, days, cfg, threads,
                                                            clustered, earlier)
        pairs = _candidate_pairs(neighbourhood, 0, days.size, cfg, threads)
        links = _first_links(pairs, weights, neighbourhood, embeddings, days, cfg, threads)
        event_key = _event_keys(weights, neighbourhood, links, days, cfg, threads)
    else:
        weights = load_rows(split.spool.weights, split.spool.n_features)
        pairs = _spooled_pairs(split, days.size)
        event_key = _spooled_event_keys(split, days.size)
    frozen_key = None
    if clustered is not None and clustered < days.size:
        # Frozen rows come after the block's, so an event holding rows of the block has
        # one of them as its key (its smallest row): the frozen rows' keys say which
        # event they joined, and the rest of the block never sees them.
        frozen_key = np.where(event_key[clustered:] < clustered, event_key[clustered:], -1)
        weights = sp.csr_matrix(weights[:clustered])
        event_key, days = event_key[:clustered], days[:clustered]
        headline_only = headline_only[:clustered]
        inside = (pairs[0] < clustered) & (pairs[1] < clustered)
        pairs = pairs[0][inside], pairs[1][inside]
        if embeddings is not None:
            embeddings = embeddings[:clustered]
    events = _level(weights, event_key, cfg, threads=threads)
    story_sums = _event_salient_sums(weights, events, cfg, threads)
    if split is not None:  # the story merges (the task's peak) need only the sums, and
        del weights  # the rows are spooled: read again below for the story summaries
    story_key = _story_keys(story_sums, events, event_key, pairs, days, headline_only, cfg,
                            threads, embeddings)
    del story_sums, pairs
    if split is not None:
        weights = load_rows(split.spool.weights, split.spool.n_features)
        if frozen_key is not None:
            weights = sp.csr_matrix(weights[:clustered])
    found = _summarise(events, _level(weights, story_key, cfg, similarities=False,
                                      threads=threads), embeddings)
    if frozen_key is not None:
        found.frozen_events = np.where(frozen_key >= 0, events.labels[np.maximum(frozen_key, 0)],
                                       -1)
    return found


def _spooled_pairs(split: SplitBlock, n: int) -> _Pairs:
    """The candidate pairs of a large block that its pairing tasks spooled, each once."""
    found = [_load(split.spool.pairs(part)) for part in range(split.pairings)]
    return unique_pairs(np.concatenate([a for a, _ in found]),
                        np.concatenate([b for _, b in found]), n)


def _spooled_event_keys(split: SplitBlock, n: int) -> np.ndarray:
    """Each row's event key, from what a large block's link groups spooled (a row in
    none of them is an event of its own)."""
    event_key = np.arange(n)
    for group in range(split.groups):
        rows, keys = _load(split.spool.events(group))
        event_key[rows] = keys
    return event_key


def _weights_and_neighbourhood(source: RowSource, days: np.ndarray, cfg: ClusterConfig,
                               threads: int, clustered: int | None = None,
                               earlier: DocumentCounts | None = None,
                               ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """A small block's TF-IDF rows and neighbourhood rows, in memory (in ``threads``
    threads; rows from ``clustered`` on frozen): what a large block's first three
    passes spool."""
    weights = _tfidf_rows(source.load().astype(np.float64), cfg, earlier, clustered)
    order = _date_order(days)
    rows, cols = _slab_hits(_searchable(weights, cfg)[order], order, days,
                            _block_slabs(days, order, cfg), cfg, threads, clustered)
    rows, cols, sims = _closest(weights, rows, cols, cfg, threads)
    neighbours = _neighbour_matrix(rows, cols, sims, days.size, cfg, clustered,
                                   _fed_events(source), lambda: weights)
    return weights, _neighbourhood_vectors(neighbours, cfg, clustered)


def _neighbourhood_columns(n: int) -> int:
    """Columns of the spooled neighbourhood rows of a block of ``n`` rows: one per row, and
    room for one per earlier event of its frozen rows (at most one per row), whose
    absent members are neighbours too (:func:`_neighbour_matrix`)."""
    return 2 * n


def _fed_events(source: RowSource) -> FedEvents | None:
    """The earlier events of a block's frozen rows, if it has any."""
    return source.frozen.events if isinstance(source, WithFrozen) else None


def term_sums(source: RowSource, groups: np.ndarray, n_groups: int, cfg: ClusterConfig,
              earlier: DocumentCounts | None = None) -> sp.csr_matrix:
    """The rows' TF-IDF vectors, weighed as the clustering weighs them (IDF of these
    rows and of ``earlier``'s), summed per group (``groups``: per row, 0..n_groups-1):
    the term profiles an incremental run keeps of its events."""
    weights = _tfidf_rows(sp.csr_matrix(source.load(), dtype=np.float64), cfg, earlier)
    return sp.csr_matrix(membership(groups, n_groups) @ weights)


def _embeddings(source: RowSource) -> np.ndarray | None:
    """The block's embeddings as float32, if the run has them."""
    found = source.embeddings()
    return None if found is None else found.astype(np.float32)


def cluster(
    vectors: sp.csr_matrix | Callable[[np.ndarray], RowSource],
    langs: Sequence[str],
    days: np.ndarray,
    ids: Sequence[str],
    cfg: ClusterConfig,
    engine: Engine | None = None,
    embeddings: np.ndarray | None = None,
    headline_only: np.ndarray | None = None,
    scratch: Path | None = None,
    frozen: Frozen | None = None,
) -> Clustering:
    """Group articles about the same event, and events into stories; see the module
    docstring for the method.

    ``vectors`` are :func:`vectorize` rows (and ``embeddings`` their semantic vectors, if
    any), or a function giving the row source of a list of row indices (so they can stay
    on disk); ``days`` are float days since the epoch (NaN when unknown) and ``ids``
    unique article ids, which break every tie so the result does not depend on row
    order; ``headline_only`` marks rows without a body (see ``headline_story_threshold``).
    Language blocks are independent: with an ``engine`` they run as parallel tasks,
    largest first so the longest one starts at once, and a large block's neighbour
    search, pairing and agglomeration are split over several (:func:`_cluster_blocks`).
    Large blocks keep their rows between tasks in ``scratch`` (a folder every task can
    read; a temporary one if not given).  ``frozen`` rows join the events' agglomeration
    of the block of their language only (:class:`Frozen`).
    """
    n = len(ids)
    if n == 0:
        empty, no_terms = np.zeros(0, dtype=np.int64), np.zeros((0, cfg.top_terms), np.int32)
        return Clustering(empty, empty, np.zeros(0, dtype=np.float32), no_terms,
                          Stories(empty, empty, no_terms), frozen_events=np.full(
                              len(frozen) if frozen else 0, -1, dtype=np.int64))
    rows_of = vectors if callable(vectors) else _in_memory(sp.csr_matrix(vectors), embeddings)
    order = np.array(sorted(range(n), key=ids.__getitem__), dtype=np.int64)
    all_days = np.asarray(days, dtype=np.float64)
    blocks = [order[rows] for rows in rows_by_block([langs[i] for i in order],
                                                    all_days[order], cfg.block_days)]
    blocks.sort(key=len, reverse=True)
    bare = np.zeros(n, dtype=bool) if headline_only is None else np.asarray(headline_only, bool)
    frozen = frozen or Frozen.empty(cfg.n_features)
    fed = _frozen_per_block(blocks, langs, all_days, frozen, cfg.block_days)
    counts = [frozen.counts.get(langs[int(rows[0])]) for rows in blocks]
    with _scratch_folder(scratch) as folder:
        parts = _cluster_blocks(blocks, rows_of, all_days, bare, folder, cfg,
                                engine or SerialEngine(), frozen, fed, counts)
    return _merge_blocks(blocks, parts, order, n, fed, len(frozen))


def _frozen_per_block(blocks: Sequence[np.ndarray], langs: Sequence[str], days: np.ndarray,
                      frozen: Frozen, block_days: float) -> list[np.ndarray]:
    """Per block, the frozen rows (ascending) of its language and, with ``block_days``,
    its period; frozen rows of no block's are left out."""
    firsts = [int(rows[0]) for rows in blocks]
    block_of = dict(zip(zip([langs[row] for row in firsts],
                            _periods(days[firsts], block_days).tolist(), strict=True),
                        range(len(blocks)), strict=True))
    fed: list[list[int]] = [[] for _ in blocks]
    for row, key in enumerate(zip(frozen.langs, _periods(frozen.days, block_days).tolist(),
                                  strict=True)):
        if key in block_of:
            fed[block_of[key]].append(row)
    return [np.array(rows, dtype=np.int64) for rows in fed]


def _cluster_blocks(blocks: Sequence[np.ndarray], rows_of: Callable[[np.ndarray], RowSource],
                    days: np.ndarray, bare: np.ndarray, folder: Path, cfg: ClusterConfig,
                    engine: Engine, frozen: Frozen, fed: Sequence[np.ndarray],
                    counts: Sequence[DocumentCounts | None]) -> list[Clustering]:
    """Each block's Clustering.

    A block whose neighbour search is one task (``cfg.search_task_rows``) is clustered
    whole in one task.  A larger one is split over every worker in passes whose tasks
    spool what the next pass reads: TF-IDF (the whole block), the neighbour search in
    parts of its rows, the candidate pairs and links in parts of its rows, the
    agglomeration in groups of rows that links connect; its last task (in the last pass,
    with the small blocks) makes the events' summaries and the stories.  Every split
    gives the result of the whole.  A block's ``fed`` frozen rows follow its own in
    every pass; its ``counts`` (earlier runs' document frequencies) join its IDF.
    """
    sources: list[RowSource] = [rows_of(rows) for rows in blocks]
    dates = [days[rows] for rows in blocks]
    bares = [bare[rows] for rows in blocks]
    for i, picks in enumerate(fed):
        if picks.size:
            sources[i] = WithFrozen(sources[i], frozen.take(picks))
            dates[i] = np.r_[dates[i], frozen.days[picks]]
            bares[i] = np.r_[bares[i], np.zeros(picks.size, dtype=bool)]
    # the search's queries: frozen rows search none, so they do not make a block large
    large = [i for i, rows in enumerate(blocks) if len(rows) > cfg.search_task_rows]
    splits: dict[int, SplitBlock] = {}
    if large:
        splits = _split_blocks(large, dates, [len(rows) for rows in blocks], sources, folder,
                               cfg, engine, counts)
    # The largest block's task is the longest, and the last one running: the other
    # workers finish the small blocks and are then idle.  Threads in every task only
    # shared the cores and raised the memory peak (+300 MB at 1M).
    tasks = ((sources[i], dates[i], bares[i], splits.get(i), cfg,
              cfg.threads if i == 0 else 1, len(rows), counts[i])
             for i, rows in enumerate(blocks))
    return list(engine.map(cluster_block, tasks, Pass(
        "cluster", sum(len(rows) for rows in blocks), "article",
        share=lambda task: len(task[1]))))


def _split_blocks(large: Sequence[int], dates: Sequence[np.ndarray],
                  clustered: Sequence[int], sources: Sequence[RowSource], folder: Path,
                  cfg: ClusterConfig, engine: Engine,
                  counts: Sequence[DocumentCounts | None]) -> dict[int, SplitBlock]:
    """The passes of the large blocks before their last task (see :func:`_cluster_blocks`);
    ``dates``: each block's rows' days, its frozen rows' after its ``clustered`` own."""
    spools = {i: BlockSpool(folder / f"block-{i}", cfg.n_features) for i in large}
    orders = {i: _date_order(dates[i]) for i in large}
    searches = {i: search_parts(dates[i], orders[i], cfg) for i in large}
    articles = sum(len(dates[i]) for i in large)
    _run(engine, prepare_block, [(sources[i], orders[i], spools[i], cfg, counts[i], clustered[i])
                                 for i in large],
         Pass("cluster: weights", articles, "article", share=lambda task: len(task[1])))
    _run(engine, search_block, [(spools[i], dates[i], slabs, part, cfg, clustered[i])
                                for i in large for part, slabs in enumerate(searches[i])],
         Pass("cluster: neighbours", articles, "article",
              share=lambda task: sum(last - first for first, last, _ in task[2])))
    for i in large:
        save_neighbourhood(spools[i], len(searches[i]), len(dates[i]), cfg, clustered[i],
                           _fed_events(sources[i]))
    pairings = {i: _pairing_parts(len(dates[i]), cfg) for i in large}
    _run(engine, pair_block, [(spools[i], sources[i], dates[i], rows, part, cfg)
                              for i in large for part, rows in enumerate(pairings[i])],
         Pass("cluster: pairs", articles, "article",
              share=lambda task: task[3][1] - task[3][0]))
    groups = {i: group_links(spools[i], len(pairings[i]), len(dates[i]), len(pairings[i]))
              for i in large}
    _run(engine, link_block, _agglomeration_tasks(groups, spools, dates, cfg),
         "cluster: events")
    return {i: SplitBlock(spools[i], len(pairings[i]), len(groups[i])) for i in large}


def _agglomeration_tasks(groups: dict[int, list[int]], spools: dict[int, BlockSpool],
                         dates: Sequence[np.ndarray],
                         cfg: ClusterConfig) -> list[tuple[object, ...]]:
    """The large blocks' link groups as tasks, most links first.  A group holds whole
    connected components, so one holding a large block's largest component can be
    several times the others: it starts first, and in ``cfg.threads`` threads, to use
    the cores the others leave idle once they are done (the same result in any order)."""
    by_size = sorted(((-size, i, group) for i, sizes in groups.items()
                      for group, size in enumerate(sizes)))
    return [(spools[i], dates[i], group, cfg, cfg.threads if rank == 0 else 1)
            for rank, (_, i, group) in enumerate(by_size)]


def _run(engine: Engine, func: Callable[..., None], tasks: Sequence[tuple[object, ...]],
         desc: str | Pass) -> None:
    """Run a pass whose tasks leave their results in files."""
    for _ in engine.map(func, tasks, desc):
        pass


@contextmanager
def _scratch_folder(scratch: Path | None) -> Iterator[Path]:
    """``scratch``, or a temporary folder removed afterwards."""
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
        yield scratch
        return
    with tempfile.TemporaryDirectory(prefix="dedup-cluster-") as folder:
        yield Path(folder)


def _in_memory(matrix: sp.csr_matrix,
               embeddings: np.ndarray | None) -> Callable[[np.ndarray], RowSource]:
    """Row sources slicing a matrix (and embeddings) held in memory."""
    return lambda rows: InMemoryRows(matrix[rows],
                                     None if embeddings is None else embeddings[rows])


def _merge_blocks(blocks: Sequence[np.ndarray], parts: Sequence[Clustering],
                  order: np.ndarray, n: int, fed: Sequence[np.ndarray],
                  n_frozen: int) -> Clustering:
    """One Clustering from per-block ones: events and stories renumbered by their
    smallest id (``fed``: each block's frozen rows, of ``n_frozen``).

    Block rows are input rows listed in id order, so a block group's first member is
    its smallest id, and ``order`` ranks input rows by id.
    """
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[order] = np.arange(n)
    event_numbers = _numbered_by_first_id(blocks, [part.labels for part in parts], id_rank)
    story_numbers = _numbered_by_first_id(
        blocks, [part.stories.of_event[part.labels] for part in parts], id_rank)
    n_events = sum(numbers.size for numbers in event_numbers)
    n_stories = sum(numbers.size for numbers in story_numbers)
    labels = np.empty(n, dtype=np.int64)
    similarity = np.empty(n, dtype=np.float32)
    representative = np.empty(n_events, dtype=np.int64)
    top_features = np.full((n_events, parts[0].top_features.shape[1]), -1, np.int32)
    stories = Stories(of_event=np.empty(n_events, dtype=np.int64),
                      representative=np.empty(n_stories, dtype=np.int64),
                      top_features=np.full_like(top_features, -1, shape=(n_stories,
                                                                     top_features.shape[1])))
    dimensions = {part.centroids.shape[1] for part in parts if part.centroids is not None}
    # blocks without embeddings (languages the encoder does not cover) get zero vectors
    centroids = np.zeros((n_events, dimensions.pop()), dtype=np.float32) if dimensions else None
    frozen_events = np.full(n_frozen, -1, dtype=np.int64)
    for rows, part, events, threads, picks in zip(blocks, parts, event_numbers, story_numbers,
                                                  fed, strict=True):
        labels[rows] = events[part.labels]
        similarity[rows] = part.similarity
        representative[events] = rows[part.representative]
        top_features[events] = part.top_features
        stories.of_event[events] = threads[part.stories.of_event]
        stories.representative[threads] = rows[part.stories.representative]
        stories.top_features[threads] = part.stories.top_features
        if centroids is not None and part.centroids is not None:
            centroids[events] = part.centroids
        if part.frozen_events is not None:
            joined = part.frozen_events >= 0
            frozen_events[picks[joined]] = events[part.frozen_events[joined]]
    return Clustering(labels=labels, representative=representative, similarity=similarity,
                      top_features=top_features, stories=stories, centroids=centroids,
                      frozen_events=frozen_events)


def _numbered_by_first_id(blocks: Sequence[np.ndarray], row_groups: Sequence[np.ndarray],
                          id_rank: np.ndarray) -> list[np.ndarray]:
    """Per block, the global number of each of its groups (``row_groups``: each block
    row's group, numbered by first row): all blocks' groups numbered by smallest id."""
    firsts = [rows[np.unique(groups, return_index=True)[1]]
              for rows, groups in zip(blocks, row_groups, strict=True)]
    first = np.concatenate(firsts)
    number = np.empty(first.size, dtype=np.int64)
    number[np.argsort(id_rank[first])] = np.arange(first.size)
    return np.split(number, np.cumsum([f.size for f in firsts])[:-1].tolist())
