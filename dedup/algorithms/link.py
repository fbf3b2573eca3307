"""Cross-lingual event linking: per-language clusters that report one event become one.

Event clustering runs per language because words do not match across languages.  Names
and numbers mostly do: "Zelensky", "Selenskyj" and "Зеленский" all start "zelen" once
transliterated to Latin letters, stripped of accents and cut to a short prefix (which
also absorbs inflection: "Trumpa", "Trumpem").  These *anchors* (capitalised words and
numbers of two or more digits, from the title and the lead) are weighted by IDF over the
whole corpus, summed per cluster, and two clusters of different languages are linked
when their anchor cosine clears a threshold over at least two shared anchors and each is
the other's best match in its language.  Linked clusters share one cluster id: the
event, in every language.

Anchors need no model and no dictionary, but what they cannot see (an event told without
shared names, or in scripts without capitals such as Chinese or Arabic, unless Latin
names appear) stays unlinked.  When the run has semantic embeddings (:mod:`dedup.stages.embed`)
clusters in the languages the encoder covers are linked by their mean embeddings instead,
which see through the language.  Either way the threshold and the mutual-best rule keep
links precise.

Two steps, like the clustering: :func:`anchor_rows` runs per chunk in the workers and
returns hashed anchor counts; :func:`link_clusters` runs once on per-cluster sums.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import scipy.sparse as sp

from dedup.algorithms.arrays import (
    components,
    heaviest_per_row,
    inverse_document_frequency,
    largest_per_group,
    normalise_rows,
    within_days,
)
from dedup.algorithms.cluster import Clustering, Stories, feature_index
from dedup.algorithms.tokens import code_points, token_spans
from dedup.settings import Range, setting


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Cross-lingual event linking: per-language clusters that share names and numbers
    ("anchors": capitalised words transliterated to Latin letters, accents stripped, cut to a
    prefix; numbers of 2+ digits) become one cluster. Only runs when the input has more than
    one language."""

    enabled: bool = setting(True, doc="""
        Off keeps every cluster within one language.""")
    threshold: float = setting(0.3, Range(0.0, 1.0, above=True), doc="""
        Anchor cosine (IDF-weighted) two clusters of different languages need to be linked,
        besides being each other's best match in that language. Lower links more reports of one
        event (recall on cross-lingual pairs) but also same-topic events that share a country or
        a leader's name (precision). Measured on cross-lingual news pairs in 10 languages: 0.2
        linked 0.61 of same-event pairs at precision 0.75, 0.25 0.55 at 0.76, 0.3 0.50 at 0.82,
        0.35 0.35 at 0.81.""")
    semantic_threshold: float = setting(0.6, Range(-1.0, 1.0), doc="""
        With embeddings, clusters of the languages the encoder covers are linked by the average
        cosine of their members' embeddings instead of anchors (two clusters that both have
        anchors must still share min_shared of them); this is the cosine a link needs, with the
        same date and mutual-best rules. Lower links more reports of one event (recall) but also
        same-topic events (precision). Measured on the 10-language pairs: 0.55 found 64 of 82
        cross-lingual pairs at precision 0.81, 0.6 60 at 0.88, 0.65 43 at 0.93 (before the
        anchor rule, which costs 3 of them).""")
    min_shared: int = setting(2, Range(1, None), doc="""
        Anchors two clusters must have in common besides the cosine (with embeddings, two
        clusters linked by meaning that both have anchors too): with one, a single shared name
        (or a common word capitalised at a sentence start) gives two one-article clusters a high
        cosine. On the 100k benchmark dump 2 removed 103 of 132 wrong links and 66 of 2,600
        right ones; higher loses short headlines that share two names only.""")
    prefix_chars: int = setting(5, Range(3, 64), doc="""
        Letters an anchor keeps. Fewer absorbs more inflection and transliteration variants
        ("Trumpa", "Зеленский"/"Zelensky") but lets different names collide.""")
    lead_chars: int = setting(800, Range(0, None), doc="""
        Characters of the body read for anchors, after the title: the lead names the event,
        later paragraphs add background names. Reading them is most of the linking's cost (16 us
        per article at 800, 31 at 1500); 1500 linked 43 of 82 cross-lingual same-event pairs of
        the development set, 800 41, at the same precision.""")
    max_anchors: int = setting(30, Range(1, 100_000), doc="""
        Heaviest anchors kept per cluster: bounds the cost of the cluster-by-cluster product.""")
    max_df: int = setting(1000, Range(1, None), doc="""
        Anchors in more articles than this ("Covid", the year) are ignored: they say little
        about the event and make the product quadratic in big dumps.""")
    n_features: int = setting(2**20, Range(1 << 10, 1 << 24), doc="""
        Hash space of the anchors; collisions between different names are rare at 2**20.""")
    batch_rows: int = setting(512, Range(1, 1 << 20), doc="""
        Clusters per sparse product batch: memory vs per-batch overhead.""")


# Cyrillic letters (Russian, Ukrainian, Belarusian, Bulgarian, Serbian, Macedonian,
# Kazakh) and Greek ones in Latin letters, close to the spellings the Latin-script press
# uses for names; the prefix cut hides most of the remaining differences in endings.
_TO_LATIN = str.maketrans({
    **dict(zip("абвгдзклмнопрстуфэ", "abvgdzklmnoprstufe", strict=True)),
    "е": "e", "ё": "e", "ж": "zh", "и": "i", "й": "i", "х": "kh", "ц": "ts", "ч": "ch",
    "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "ю": "yu", "я": "ya", "і": "i",
    "ї": "i", "є": "ye", "ґ": "g", "ў": "u", "ђ": "dj", "ћ": "c", "џ": "dz", "ј": "j",
    "љ": "lj", "њ": "nj", "ѓ": "gj", "ќ": "kj", "ѕ": "dz", "ә": "a", "ғ": "g", "қ": "k",
    "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h",
    **dict(zip("αβγδεζηικλμνξοπρσςτυφω", "avgdezoiklmnxoprsstyfo", strict=True)),
    "θ": "th", "χ": "ch", "ψ": "ps",
    "ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ı": "i", "þ": "th",
})
# Per code point: 1 for an upper-case letter, 2 for a decimal digit, else 0.
_CAPITAL, _DIGIT = 1, 2


@cache
def _char_kinds() -> np.ndarray:
    """:data:`_CAPITAL`/:data:`_DIGIT` per code point, tabulated once per process."""
    kinds = np.zeros(sys.maxunicode + 1, dtype=np.uint8)
    bmp = [chr(c) for c in range(0x10000)]
    kinds[[ord(c) for c in bmp if c.isupper()]] = _CAPITAL
    kinds[[ord(c) for c in bmp if c.isdecimal()]] = _DIGIT
    return kinds


def anchor_words(titles: Sequence[str], texts: Sequence[str],
                 lead_chars: int) -> tuple[np.ndarray, list[str]]:
    """The capitalised words and 2+ digit numbers of each article's title and lead.

    Words are the tokens of :func:`dedup.algorithms.tokens.token_spans` (an apostrophe ends one, so
    "Şişli'de" gives "Şişli" and a lower-case suffix), found for the whole batch in
    numpy; only the few picked become strings.  Returns each word's article and the words.
    """
    fields = [f"{title}\n{text[:lead_chars]}" for title, text in zip(titles, texts, strict=True)]
    joined = "\n".join(fields)
    codes = code_points(joined)
    starts, ends = token_spans(codes)
    first = _char_kinds()[codes[starts]]
    capital = first == _CAPITAL
    numeric = np.flatnonzero((first == _DIGIT) & (ends - starts >= 2))
    capital[numeric] = [joined[a:b].isdecimal() for a, b in zip(starts[numeric].tolist(),
                                                                ends[numeric].tolist(),
                                                                strict=True)]
    picked = np.flatnonzero(capital)
    field_starts = np.cumsum([0, *(len(field) + 1 for field in fields[:-1])])
    article = np.searchsorted(field_starts, starts[picked], side="right") - 1
    words = [joined[a:b] for a, b in zip(starts[picked].tolist(), ends[picked].tolist(),
                                         strict=True)]
    return article, words


def anchor_of(word: str, prefix_chars: int) -> str | None:
    """A capitalised word's anchor (Latin letters, no accents, cut) or a number's, or None.

    None for words left with non-Latin letters or shorter than three letters (initials).
    """
    if word[0].isdecimal():
        return f"#{word}"
    bare = "".join(c for c in unicodedata.normalize("NFKD", word.lower())
                   if not unicodedata.combining(c))
    plain = bare.replace("ου", "ou").translate(_TO_LATIN)  # Greek's "ou" is a digraph
    if len(plain) < 3 or not (plain.isascii() and plain.isalnum()):
        return None
    return plain[:prefix_chars]


# Distinct words remembered per process before the memo starts over (tens of MB).
_MEMO_LIMIT = 1 << 18


@cache
def _column_memo(prefix_chars: int, n_features: int) -> dict[str, int]:
    """Word -> its anchor's column (-1: no anchor), per setting: names repeat, so nearly
    every look-up is a hit and the transliteration and hash run once per distinct word."""
    return {}


def anchor_columns(words: Sequence[str], cfg: LinkConfig) -> np.ndarray:
    """The hashed column of each word's anchor, -1 where it has none."""
    memo = _column_memo(cfg.prefix_chars, cfg.n_features)
    if len(memo) > _MEMO_LIMIT:
        memo.clear()
    columns = []
    for word in words:
        column = memo.get(word)
        if column is None:
            anchor = anchor_of(word, cfg.prefix_chars)
            column = memo[word] = -1 if anchor is None else feature_index(anchor, cfg.n_features)
        columns.append(column)
    return np.array(columns, dtype=np.int64)


def anchor_rows(titles: Sequence[str], texts: Sequence[str], cfg: LinkConfig) -> sp.csr_matrix:
    """Hashed anchor counts, one row per article (stateless: runs in the workers)."""
    article, words = anchor_words(titles, texts, cfg.lead_chars)
    columns = anchor_columns(words, cfg)
    kept = columns >= 0
    counts = sp.csr_matrix((np.ones(int(kept.sum()), dtype=np.float32),
                            (article[kept], columns[kept])), shape=(len(titles), cfg.n_features))
    counts.sum_duplicates()
    return counts


@dataclass(frozen=True, slots=True)
class ClusterSpans:
    """Per cluster: its language and its members' earliest and latest dates (NaN: none)."""

    langs: list[str]
    first_day: np.ndarray
    last_day: np.ndarray

    def lang_codes(self) -> np.ndarray:
        """Per cluster, its language's number in code order."""
        return np.unique(np.array(self.langs, dtype=object), return_inverse=True)[1]


@dataclass(slots=True)
class ClusterAnchors:
    """Per-cluster anchor sums and what linking needs to know about each cluster."""

    sums: sp.csr_matrix  # (clusters, n_features): summed anchor counts of the members
    document_frequency: np.ndarray  # per feature: articles with that anchor
    articles: int  # articles counted in document_frequency
    spans: ClusterSpans


def link_clusters(anchors_of: ClusterAnchors, cfg: LinkConfig, window_days: float,
                  centroids: np.ndarray | None = None) -> np.ndarray:
    """Event number per cluster: linked clusters share one, numbered by smallest cluster.

    A link needs clusters of two different (known) languages, dates that allow one event
    (together spanning at most ``window_days``, see :func:`_dates_allow`, or one
    undated), and that each is the other's best match in its language: a cluster joins
    at most one cluster per other language directly, so one shared name cannot pull a
    whole topic together.

    Anchors link when their cosine reaches ``cfg.threshold`` over at least
    ``cfg.min_shared`` common anchors (one shared name gives small clusters a high cosine
    by itself).  With ``centroids`` (mean member embeddings) two clusters in languages the
    encoder covers are linked by meaning instead, see :func:`_links_by_meaning`; anchors
    still link the other languages' clusters.
    """
    spans = anchors_of.spans
    weights = _anchor_weights(anchors_of, cfg)
    a, b, sims = _cross_language_pairs(weights, spans, cfg.threshold, cfg.batch_rows,
                                       window_days)
    enough = _shared_anchors(weights, a, b) >= cfg.min_shared
    a, b, sims = a[enough], b[enough], sims[enough]
    langs = spans.lang_codes()
    if centroids is None:
        return _events([_strength(_mutual_best(a, b, sims, langs), cfg.threshold)], langs)
    covered = _has_meaning(centroids)
    uncovered = ~(covered[a] & covered[b])
    by_anchors = _mutual_best(a[uncovered], b[uncovered], sims[uncovered], langs)
    by_meaning = _links_by_meaning(centroids, covered, weights, spans, cfg, window_days)
    return _events([_strength(by_anchors, cfg.threshold),
                    _strength(by_meaning, cfg.semantic_threshold)], langs)


_Links = tuple[np.ndarray, np.ndarray, np.ndarray]  # cluster a, cluster b, similarity


def _strength(links: _Links, threshold: float) -> _Links:
    """Links with their similarity as the share of the way from ``threshold`` to 1: how
    far each cleared its bar, comparable between anchor and embedding cosines."""
    a, b, sims = links
    return a, b, (sims - threshold) / max(1.0 - threshold, 1e-9)


def _links_by_meaning(centroids: np.ndarray, covered: np.ndarray, weights: sp.csr_matrix,
                      spans: ClusterSpans, cfg: LinkConfig,
                      window_days: float) -> _Links:
    """Mutual-best links of ``covered`` clusters whose mean embeddings' dot (the average
    cosine of their member pairs) reaches ``cfg.semantic_threshold``.

    Two clusters that both have anchors must also share ``cfg.min_shared`` of them: the
    encoder finds two events of one kind alike (a strike here, a strike there), names
    tell them apart.  Clusters without any (Chinese or Arabic text with no Latin name or
    number) link by meaning alone.  The dense product is bounded by dates like the
    anchors' one; undated clusters meet every cluster of the other languages.
    """
    a, b, sims = _cross_language_pairs(centroids, spans, cfg.semantic_threshold,
                                       cfg.batch_rows, window_days)
    named = np.diff(sp.csr_matrix(weights).indptr) > 0
    agree = (_shared_anchors(weights, a, b) >= cfg.min_shared) | ~named[a] | ~named[b]
    agree &= covered[a] & covered[b]
    return _mutual_best(a[agree], b[agree], sims[agree], spans.lang_codes())


def _has_meaning(centroids: np.ndarray) -> np.ndarray:
    """Clusters whose mean embedding says something: the embed stage leaves zero rows in
    the languages its encoder does not cover, so their clusters' means are zero."""
    return np.any(centroids != 0, axis=1)


def _events(links: Sequence[_Links], lang_codes: np.ndarray) -> np.ndarray:
    """Event numbers of the clusters (one language code each) that the links join,
    numbered by smallest cluster.

    Links join strongest first, and never two clusters of one language: clustering kept
    those apart, and a chain of mutual-best links through other languages (English A to
    German, German to French, French to English B) would otherwise make them one event.
    """
    a, b, strength = (np.concatenate([link[part] for link in links]) for part in range(3))
    n = lang_codes.size
    parent = np.arange(n)
    held = {cluster: {int(lang_codes[cluster])} for cluster in set(a.tolist()) | set(b.tolist())}

    def root(cluster: int) -> int:
        while parent[cluster] != cluster:
            parent[cluster] = parent[parent[cluster]]
            cluster = int(parent[cluster])
        return cluster

    for index in np.lexsort((b, a, -strength)).tolist():
        first, second = root(int(a[index])), root(int(b[index]))
        if first == second or held[first] & held[second]:
            continue
        first, second = min(first, second), max(first, second)
        parent[second] = first  # so a component's root is its smallest cluster
        held[first] |= held.pop(second)
    root_of = parent
    while not np.array_equal(root_of, root_of[root_of]):
        root_of = root_of[root_of]
    return np.unique(root_of, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _anchor_weights(anchors_of: ClusterAnchors, cfg: LinkConfig) -> sp.csr_matrix:
    """Log-scaled anchor counts times IDF, the ``max_anchors`` heaviest per cluster, L2-normed.

    Anchors in more than ``max_df`` articles ("Covid", the year) are dropped: they say
    little about the event and would make the cluster-by-cluster product quadratic.
    """
    sums = anchors_of.sums.tocsr().astype(np.float64)
    idf = inverse_document_frequency(anchors_of.document_frequency, anchors_of.articles)
    common = anchors_of.document_frequency > cfg.max_df
    weights = sums.copy()
    weights.data = np.log1p(weights.data) * idf[weights.indices]
    return normalise_rows(heaviest_per_row(weights, ~common, cfg.max_anchors))


def _cross_language_pairs(vectors: sp.csr_matrix | np.ndarray, spans: ClusterSpans,
                          threshold: float, batch_rows: int,
                          window_days: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of clusters of two different known languages whose vectors' dot reaches
    ``threshold`` and whose dates allow one event, each pair once, with its dot.

    Clusters are taken language by language, each block against the clusters of the
    languages after it: no product is spent on pairs of one language, which share the
    most names, nor on a pair twice.  Within that, dated clusters are only multiplied
    with the clusters whose dates could allow a link (see :func:`_date_slabs`).
    """
    lang_codes = spans.lang_codes()
    known = _by_first_date(np.flatnonzero(np.array([lang != "und" for lang in spans.langs])),
                           spans)
    order = known[np.argsort(lang_codes[known], kind="stable")]
    bounds = np.flatnonzero(np.r_[True, np.diff(lang_codes[order]) != 0, True])
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for lo, hi in itertools.pairwise(bounds.tolist()):
        queries, candidates = order[lo:hi], _by_first_date(order[hi:], spans)
        rows = batch_rows if sp.issparse(vectors) else \
            max(1, min(batch_rows, _DENSE_PRODUCT_CELLS // max(1, candidates.size)))
        for query, pool in _date_slabs(queries, candidates, spans, window_days, rows):
            row, col, dot = _entries_at_least(vectors[query] @ vectors[pool].T, threshold)
            a, b = query[row], pool[col]
            allowed = _dates_allow(spans.first_day, spans.last_day, a, b, window_days)
            found.append((a[allowed], b[allowed], dot[allowed]))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    a, b, sims = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return a.astype(np.int64), b.astype(np.int64), sims


def _by_first_date(clusters: np.ndarray, spans: ClusterSpans) -> np.ndarray:
    """``clusters`` by first date, undated last, ties by cluster number."""
    return clusters[np.lexsort((clusters, np.nan_to_num(spans.first_day[clusters],
                                                        nan=np.inf)))]


# Entries of one dense product of cluster means (float32: 16 MB), however many clusters.
_DENSE_PRODUCT_CELLS = 4_000_000


def _date_slabs(queries: np.ndarray, candidates: np.ndarray, spans: ClusterSpans,
                window_days: float, rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of ``queries`` (sorted by first date, undated last) with the
    ``candidates`` (sorted alike) that their dates could allow.

    A dated batch needs only the candidates first dated from its earliest first date
    less the window and the longest cluster span, to its latest last date plus the
    window, and the undated ones: that keeps dated dumps from a product of every
    cluster with every cluster.  Undated queries need all candidates.
    """
    first = spans.first_day[candidates]
    dated = int(np.count_nonzero(~np.isnan(first)))
    spans_days = spans.last_day - spans.first_day
    longest = float(np.nanmax(spans_days)) if np.any(~np.isnan(spans_days)) else 0.0
    for start in range(0, queries.size, rows):
        query = queries[start : start + rows]
        if np.isnan(spans.first_day[query]).any() or not np.isfinite(window_days):
            yield query, candidates
            continue
        earliest, latest = spans.first_day[query].min(), spans.last_day[query].max()
        lo = int(np.searchsorted(first[:dated], earliest - window_days - longest, "left"))
        hi = int(np.searchsorted(first[:dated], latest + window_days, "right"))
        yield query, np.r_[candidates[lo:hi], candidates[dated:]]


def _entries_at_least(product: sp.spmatrix | np.ndarray,
                      threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, value) of a product's entries at or above ``threshold``."""
    if isinstance(product, np.ndarray):
        row, col = np.nonzero(product >= threshold)
        return row, col, product[row, col]
    coo = product.tocoo()
    close = coo.data >= threshold
    return coo.row[close], coo.col[close], coo.data[close]


def _shared_anchors(weights: sp.csr_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many anchors each pair of clusters has in common."""
    present = weights.copy()
    present.data[:] = 1.0
    return np.asarray(present[a].multiply(present[b]).sum(axis=1)).ravel().astype(np.int64)


def _dates_allow(first: np.ndarray, last: np.ndarray, a: np.ndarray, b: np.ndarray,
                window_days: float) -> np.ndarray:
    """True where the two clusters' dates together span at most ``window_days``, as the
    members of one cluster do (an event of days 0-6 and a report of days 12-13 are not
    one event), or no more than the longer of them already does (its copies, which join
    it whatever their dates), or either cluster has no dated member."""
    longest = np.fmax(np.fmax(last[a] - first[a], last[b] - first[b]), window_days)
    return within_days(np.minimum(first[a], first[b]), np.maximum(last[a], last[b]), longest)


def _mutual_best(a: np.ndarray, b: np.ndarray, sims: np.ndarray,
                 lang_codes: np.ndarray) -> _Links:
    """The pairs (and their similarity) where each is the other's most similar cluster
    in its language.

    Ties go to the smaller cluster number, so the choice does not depend on order.
    """
    if a.size == 0:
        return a, b, sims
    src, dst, sim = np.r_[a, b], np.r_[b, a], np.r_[sims, sims]
    order = np.lexsort((dst, -sim, lang_codes[dst], src))
    src, dst = src[order], dst[order]
    group = src * (lang_codes.max(initial=0) + 1) + lang_codes[dst]
    first = np.r_[True, group[1:] != group[:-1]]
    n = lang_codes.size
    best = src[first] * n + dst[first]
    mutual = np.isin(a * n + b, best) & np.isin(b * n + a, best)
    return a[mutual], b[mutual], sims[mutual]


def merge_linked(clustering: Clustering, event_of: np.ndarray,
                 closeness: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 ) -> Clustering:
    """One cluster per event: its largest member cluster (ties: the first) speaks for it.

    That cluster's representative and top terms become the event's.  An article of
    another language's cluster cannot be compared with the representative word by word:
    its similarity becomes its similarity to its own cluster's representative times
    ``closeness`` (the linking similarity, by anchors or meaning) of its cluster and the
    speaking one, so each language's representative no longer shows 1.0.  Without
    ``closeness`` the similarities are kept.  Stories that linked events belong to
    become one story, spoken for the same way by its largest member story.
    """
    leads = largest_per_group(event_of, np.bincount(clustering.labels, minlength=event_of.size))
    stories = join_stories(clustering, _stories_joined_by(clustering.stories.of_event,
                                                          event_of)).stories
    of_event = np.zeros(leads.size, dtype=np.int64)
    of_event[event_of] = stories.of_event  # per old cluster, so per event
    return Clustering(labels=event_of[clustering.labels],
                      representative=clustering.representative[leads],
                      similarity=_similarity_to_leads(clustering, leads[event_of], closeness),
                      top_features=clustering.top_features[leads],
                      stories=dataclasses.replace(stories, of_event=of_event),
                      frozen_events=None if clustering.frozen_events is None else np.where(
                          clustering.frozen_events >= 0,
                          event_of[np.maximum(clustering.frozen_events, 0)], -1))


def join_stories(clustering: Clustering, story_of: np.ndarray) -> Clustering:
    """Stories joined: ``story_of`` gives each old story its new one (numbered 0..);
    the largest old story of each (ties: the first) speaks for it."""
    old = clustering.stories
    sizes = np.bincount(old.of_event[clustering.labels], minlength=old.representative.size)
    leads = largest_per_group(story_of, sizes)
    return dataclasses.replace(clustering, stories=Stories(
        of_event=story_of[old.of_event], representative=old.representative[leads],
        top_features=old.top_features[leads]))


def _similarity_to_leads(clustering: Clustering, lead_of: np.ndarray,
                         closeness: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
                         ) -> np.ndarray:
    """Each row's similarity to its event's representative (see :func:`merge_linked`);
    ``lead_of`` is, per cluster, the cluster that speaks for its event."""
    followers = np.flatnonzero(lead_of != np.arange(lead_of.size))
    if closeness is None or not followers.size:
        return clustering.similarity
    factor = np.ones(lead_of.size, dtype=np.float32)
    factor[followers] = np.clip(closeness(followers, lead_of[followers]), 0.0, 1.0)
    return (clustering.similarity * factor[clustering.labels]).astype(np.float32)


def linking_closeness(anchors_of: ClusterAnchors, cfg: LinkConfig,
                      centroids: np.ndarray | None = None,
                      ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The similarity linking uses, for pairs of clusters ``(a[i], b[i])``: their mean
    embeddings' dot where both languages are ones the encoder covers (and the run has
    embeddings), else their anchor cosine."""
    weights = _anchor_weights(anchors_of, cfg)
    covered = np.zeros(weights.shape[0], bool) if centroids is None else _has_meaning(centroids)

    def closeness(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        sims = np.asarray(weights[a].multiply(weights[b]).sum(axis=1)).ravel()
        if centroids is not None:
            meaning = covered[a] & covered[b]
            sims[meaning] = np.einsum("ij,ij->i", centroids[a[meaning]].astype(np.float64),
                                      centroids[b[meaning]].astype(np.float64))
        return sims

    return closeness


def _stories_joined_by(story_of_cluster: np.ndarray, event_of: np.ndarray) -> np.ndarray:
    """Per old story, its new story: stories whose clusters became one event are one.

    New stories are numbered by their first event, which is numbered by smallest id,
    as the old stories were; so an unlinked run keeps its numbers.
    """
    n_stories = int(story_of_cluster.max(initial=-1)) + 1
    n_events = int(event_of.max(initial=-1)) + 1
    component = components(story_of_cluster, n_stories + event_of, n_stories + n_events)
    first_event = np.full(n_stories, n_events, dtype=np.int64)
    np.minimum.at(first_event, story_of_cluster, event_of)
    first_of_component = np.full(component.max(initial=-1) + 1, n_events, dtype=np.int64)
    np.minimum.at(first_of_component, component[:n_stories], first_event)
    _, story_of = np.unique(first_of_component[component[:n_stories]], return_inverse=True)
    return story_of.reshape(-1).astype(np.int64)
