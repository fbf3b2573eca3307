"""Same-event clustering on articles generated here from small templates.

Each event has its own names and details but shares the vocabulary of its kind
(two earthquakes, two football matches ...), so separating events is non-trivial.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher

import dedup.algorithms.cluster as cluster_module
from dedup.algorithms.absent import FedEvents
from dedup.algorithms.absent import neighbour_matrix as absent_neighbours
from dedup.algorithms.cluster import (
    BlockSpool,
    ClusterConfig,
    Clustering,
    DocumentCounts,
    Frozen,
    InMemoryRows,
    _agglomeration_tasks,
    _date_order,
    _pair_cosines,
    _row_dots,
    _searchable,
    _tfidf_rows,
    cluster,
    feature_index,
    feature_terms,
    prepare_block,
    rows_by_block,
    search_block,
    search_parts,
    tokenize,
    vectorize,
)
from dedup.algorithms.tokens import documents

KIND_SENTENCES = {
    "quake": [
        "A powerful earthquake struck the region early on {day}, officials said.",
        "Rescue teams searched collapsed buildings for survivors after the quake.",
        "The earthquake had a magnitude of {magnitude} according to the seismological service.",
        "Aftershocks rattled residents who spent the night outside their homes.",
        "Experts warned that more tremors could follow in the coming days.",
    ],
    "match": [
        "The home side won the league match on {day} in front of a full stadium.",
        "The coach praised his players after a hard fought game.",
        "Fans celebrated the victory late into the night.",
        "The result moves the club up the table with five games left.",
        "Tickets for the game had sold out within hours.",
    ],
}


@dataclass(frozen=True)
class Event:
    """One real-world event: its own title, detail sentences and names."""

    kind: str
    title: str
    details: list[str]
    slots: dict[str, str]


EVENTS = [
    Event(
        kind="quake",
        title="Earthquake hits {place}, killing dozens",
        details=[
            "The quake was centred near {place}, close to the {river} river valley.",
            "Governor {person} declared a state of emergency in {place}.",
            "Hospitals in {place} treated hundreds of injured people.",
            "Tents for families from {place} were set up along the {river}.",
        ],
        slots={
            "place": "Valdoria",
            "river": "Serpa",
            "person": "Maren Holt",
            "magnitude": "6.1",
            "day": "Monday",
        },
    ),
    Event(
        kind="quake",
        title="Strong quake shakes {place}",
        details=[
            "Buildings in {place} swayed and the {river} bridge was closed.",
            "Mayor {person} said schools in {place} would stay shut.",
            "Power was cut across {place} and nearby mountain villages.",
            "Engineers from {place} inspected the old dam on the {river}.",
        ],
        slots={
            "place": "Kestrana",
            "river": "Olm",
            "person": "Ivo Brandt",
            "magnitude": "5.4",
            "day": "Thursday",
        },
    ),
    Event(
        kind="match",
        title="{team} beat {rival} in derby",
        details=[
            "{striker} scored twice as {team} beat {rival}.",
            "{rival} goalkeeper {keeper} was sent off before half time.",
            "It was the first derby win for {team} over {rival} in three years.",
            "{striker} dedicated the win to the {team} supporters.",
        ],
        slots={
            "team": "Northport Rovers",
            "rival": "Eastfield Athletic",
            "striker": "Tomas Reyne",
            "keeper": "Ola Fjeld",
            "day": "Saturday",
        },
    ),
    Event(
        kind="match",
        title="{team} edge {rival} after late goal",
        details=[
            "A late header by {striker} gave {team} the win against {rival}.",
            "{rival} had led through a penalty by {keeper}.",
            "{team} are now unbeaten in six games against {rival}.",
            "{keeper} apologised to the {rival} fans after the final whistle.",
        ],
        slots={
            "team": "Harbour City",
            "rival": "Millbrook United",
            "striker": "Jonas Weir",
            "keeper": "Pavel Sorin",
            "day": "Sunday",
        },
    ),
]

CFG = ClusterConfig(n_features=2**18, window_days=7.0)
UNSTEMMED = ClusterConfig(n_features=2**18, stemming=False)


def make_articles(per_event: int, seed: int) -> tuple[list[str], list[str], list[int]]:
    """Titles, texts and gold event index: each article mixes event and kind sentences."""
    rng = np.random.default_rng(seed)
    titles: list[str] = []
    texts: list[str] = []
    gold: list[int] = []
    for event_index, event in enumerate(EVENTS):
        for _ in range(per_event):
            details = [str(s) for s in rng.choice(event.details, size=3, replace=False)]
            kind = [str(s) for s in rng.choice(KIND_SENTENCES[event.kind], size=2, replace=False)]
            sentences = details + kind
            rng.shuffle(sentences)
            titles.append(event.title.format(**event.slots))
            texts.append(" ".join(s.format(**event.slots) for s in sentences))
            gold.append(event_index)
    return titles, texts, gold


def run(
    titles: list[str],
    texts: list[str],
    langs: list[str] | None = None,
    days: np.ndarray | None = None,
    ids: list[str] | None = None,
    cfg: ClusterConfig = CFG,
) -> Clustering:
    """Vectorise and cluster, defaulting to English, undated rows with sortable ids."""
    n = len(titles)
    langs = langs or ["en"] * n
    days = np.full(n, np.nan) if days is None else days
    ids = ids or [f"doc-{i:04d}" for i in range(n)]
    return cluster(vectorize(documents(titles, texts), langs, cfg), langs, days, ids, cfg)


def same_partition(labels: np.ndarray, gold: list[int]) -> bool:
    """True when labels and gold group the rows identically (names aside)."""
    pairs = set(zip(labels.tolist(), gold, strict=True))
    return len(pairs) == len(set(labels.tolist())) == len(set(gold))


def test_vectorize_counts_title_tokens_with_weight() -> None:
    cfg = ClusterConfig(n_features=2**12, title_weight=3.0)
    vectors = vectorize(documents(["Storm"], ["storm warning issued"]), ["en"], cfg)
    assert vectors.shape == (1, 2**12)
    assert vectors.dtype == np.float32
    assert sorted(vectors.data.tolist()) == [1.0, 1.0, 4.0]  # storm: 3 (title) + 1 (text)


def test_tokenize_words_numbers_and_no_space_scripts() -> None:
    no_numbers = ClusterConfig(drop_numbers=True)
    assert tokenize("Kerry's 2 ÉLAN, élan 2024", "fr", no_numbers) == ["kerry", "élan", "élan"]
    assert tokenize("vote in 2024", "en", ClusterConfig(drop_numbers=False)) == ["vote", "2024"]
    keep_all = ClusterConfig(drop_stopwords=False)
    assert tokenize("the vote in Kyiv", "en", keep_all) == ["the", "vote", "in", "kyiv"]
    assert tokenize("Голосування в Києві та Львові", "uk", ClusterConfig()) == [
        "голосування", "києві", "львові"]
    assert tokenize("東京都の地震", "ja", CFG) == ["東京", "京都", "都の", "の地", "地震"]
    assert tokenize("iPhone東京", "zh", CFG) == ["iphone", "東京"]
    # Hindi vowel signs are combining marks: words must not be cut at them.
    assert tokenize("भारत सरकार", "hi", CFG) == ["भारत", "सरकार"]


def test_stemming_joins_inflected_forms_where_snowball_has_the_language() -> None:
    assert tokenize("Elections elected election", "en", CFG) == ["elect"] * 3
    assert tokenize("Казахстана Казахстан", "ru", CFG) == ["казахста"] * 2
    assert tokenize("Elections election", "en", UNSTEMMED) == ["elections", "election"]
    # Snowball has no Ukrainian stemmer: words stay whole rather than get a wrong stem.
    assert tokenize("Голосування Києві", "uk", CFG) == ["голосування", "києві"]


def test_top_terms_show_a_stem_as_the_word_written_in_the_article() -> None:
    title, text = "Elections in Kyiv", "The elections were held. Election officials counted."
    counts = vectorize(documents([title], [text]), ["en"], CFG)
    features = [int(f) for f in counts.indices[np.argsort(-counts.data, kind="stable")]]
    terms = feature_terms(documents([title], [text]), ["en"], [features], CFG)[0]
    assert terms[0] == "elections"
    assert "elect" not in terms and "kyiv" in terms


def test_events_of_the_same_kind_are_separated() -> None:
    titles, texts, gold = make_articles(per_event=6, seed=1)
    result = run(titles, texts)
    assert same_partition(result.labels, gold)


def test_recurring_event_months_apart_splits_only_when_dated() -> None:
    titles, texts, _ = make_articles(per_event=6, seed=2)
    titles, texts = titles[:6], texts[:6]  # one event, reported twice
    days = np.array([100.0, 100.5, 101.0, 220.0, 220.5, 221.0])
    assert len(set(run(titles, texts).labels.tolist())) == 1
    dated = run(titles, texts, days=days)
    assert same_partition(dated.labels, [0, 0, 0, 1, 1, 1])


def test_no_cluster_spans_more_than_the_window() -> None:
    titles, texts, _ = make_articles(per_event=10, seed=3)
    days = np.arange(10, dtype=float) * 2.0  # a chain: each within 7 days of the next
    result = run(titles[:10], texts[:10], days=days)
    for label in set(result.labels.tolist()):
        member_days = days[result.labels == label]
        assert member_days.max() - member_days.min() <= CFG.window_days


def test_period_blocks_split_at_calendar_boundaries_and_keep_undated_apart() -> None:
    langs = ["en", "en", "de", "en", "en", "en", "de", "en"]
    days = np.array([29.0, 30.5, 31.0, np.nan, 59.9, 60.0, np.nan, -40.0])  # and 1969
    blocks = sorted(b.tolist() for b in rows_by_block(langs, days, block_days=30.0))
    assert blocks == [[0], [1, 4], [2], [3], [5], [6], [7]]
    assert sorted(b.tolist() for b in rows_by_block(langs, days, 0.0)) == [
        [0, 1, 3, 4, 5, 7], [2, 6]]


def test_one_event_in_each_period_block_clusters_as_in_one_block() -> None:
    """Blocks are independent tasks: two events in two periods come out the same."""
    titles, texts, gold = make_articles(per_event=6, seed=2)
    days = np.array([30.0 * event + 5 + row % 3 for row, event in enumerate(gold)])
    blocked = run(titles, texts, days=days,
                  cfg=ClusterConfig(n_features=2**18, window_days=7.0, block_days=30.0))
    assert same_partition(blocked.labels, gold)
    assert same_partition(run(titles, texts, days=days).labels, gold)


def test_an_event_across_a_period_boundary_is_split() -> None:
    titles, texts, _ = make_articles(per_event=6, seed=2)
    days = np.array([28.0, 28.5, 29.0, 30.0, 30.5, 31.0])
    assert len(set(run(titles[:6], texts[:6], days=days).labels.tolist())) == 1
    blocked = run(titles[:6], texts[:6], days=days,
                  cfg=ClusterConfig(n_features=2**18, window_days=7.0, block_days=30.0))
    assert same_partition(blocked.labels, [0, 0, 0, 1, 1, 1])


def test_same_text_in_two_languages_never_joins() -> None:
    titles, texts, _ = make_articles(per_event=3, seed=4)
    langs = ["en"] * 3 + ["de"] * 3
    result = run(titles[:3] * 2, texts[:3] * 2, langs=langs)
    assert same_partition(result.labels, [0, 0, 0, 1, 1, 1])


def test_permuting_rows_permutes_the_result() -> None:
    titles, texts, _ = make_articles(per_event=5, seed=5)
    ids = [f"a{i:03d}" for i in range(len(titles))]
    days = np.where(np.arange(len(titles)) % 3 == 0, np.nan, 10.0 + np.arange(len(titles)) % 4)
    base = run(titles, texts, days=days, ids=ids)
    perm = np.random.default_rng(0).permutation(len(titles))
    moved = run(
        [titles[i] for i in perm],
        [texts[i] for i in perm],
        days=days[perm],
        ids=[ids[i] for i in perm],
    )
    np.testing.assert_array_equal(moved.labels, base.labels[perm])
    np.testing.assert_array_equal(moved.similarity, base.similarity[perm])
    np.testing.assert_array_equal(perm[moved.representative], base.representative)
    np.testing.assert_array_equal(moved.top_features, base.top_features)


def test_clusters_are_numbered_by_smallest_id() -> None:
    titles, texts, _ = make_articles(per_event=3, seed=6)
    ids = [f"z{i:02d}" for i in range(len(titles))][::-1]
    result = run(titles, texts, ids=ids)
    smallest: dict[int, str] = {}
    for label, doc_id in zip(result.labels.tolist(), ids, strict=True):
        smallest[label] = min(smallest.get(label, doc_id), doc_id)
    assert [smallest[label] for label in sorted(smallest)] == sorted(smallest.values())


def test_representative_is_a_member_with_similarity_one() -> None:
    titles, texts, _ = make_articles(per_event=4, seed=7)
    result = run(titles, texts)
    n_clusters = int(result.labels.max()) + 1
    assert result.representative.shape == (n_clusters,)
    assert len(result.top_features) == n_clusters
    for label, row in enumerate(result.representative.tolist()):
        assert result.labels[row] == label
        assert result.similarity[row] == pytest.approx(1.0)
        members = result.similarity[result.labels == label]
        assert np.all(members <= 1.0 + 1e-6) and np.all(members > 0.0)


def test_batching_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nor splitting a block into search and pairing parts (their pairs read a few at a
    time) and agglomeration groups, nor taking the pairs' first similarities a few at a
    time, nor finishing the split block in threads."""
    monkeypatch.setattr(cluster_module, "_PAIRS_PER_READ", 5)
    titles, texts, _ = make_articles(per_event=5, seed=8)
    whole = run(titles, texts)
    monkeypatch.setattr(cluster_module, "_PAIRS_PER_BATCH", 3)
    batched = run(titles, texts, cfg=ClusterConfig(n_features=2**18, batch_rows=3))
    np.testing.assert_array_equal(whole.labels, batched.labels)
    np.testing.assert_array_equal(whole.stories.of_event, batched.stories.of_event)
    days = np.arange(len(titles), dtype=np.float64) % 9  # dated: the search has slabs
    searched_in_parts = [run(titles, texts, days=days, cfg=ClusterConfig(
        n_features=2**18, batch_rows=3, search_task_rows=rows, threads=1))
        for rows in (4, 10**6)]
    for got in ("labels", "similarity", "representative"):
        np.testing.assert_array_equal(getattr(searched_in_parts[0], got),
                                      getattr(searched_in_parts[1], got))
    np.testing.assert_array_equal(searched_in_parts[0].stories.of_event,
                                  searched_in_parts[1].stories.of_event)
    # In threads (split: the largest link group and the last task), the summaries a few
    # groups at a time: the same bits.
    monkeypatch.setattr(cluster_module, "_SUMS_PER_BATCH", 40)
    for task_rows in (4, 10**6):
        threaded = run(titles, texts, days=days, cfg=ClusterConfig(
            n_features=2**18, batch_rows=3, search_task_rows=task_rows, threads=3))
        for got in ("labels", "similarity", "representative", "top_features"):
            np.testing.assert_array_equal(getattr(threaded, got),
                                          getattr(searched_in_parts[0], got))
        for got in ("of_event", "representative", "top_features"):
            np.testing.assert_array_equal(getattr(threaded.stories, got),
                                          getattr(searched_in_parts[0].stories, got))


def test_frozen_rows_join_the_events_of_their_own_and_never_the_output() -> None:
    """Earlier articles fed along (an incremental run's) are clustered with the block of
    their language, whole or split into tasks, and say which event each joined; the
    clustering itself is of today's rows only."""
    titles, texts, gold = make_articles(per_event=5, seed=8)
    today = [i for i in range(len(titles)) if i % 5 >= 2]
    earlier = [i for i in range(len(titles)) if i % 5 < 2]
    days = np.full(len(titles), np.nan)
    counts = vectorize(documents(titles, texts), ["en"] * len(titles), CFG)
    frozen = Frozen(sp.csr_matrix(counts[earlier]), ["en"] * len(earlier),
                    days[earlier])
    found = [cluster(counts[today], ["en"] * len(today), days[today],
                     [f"doc-{i:04d}" for i in today],
                     ClusterConfig(n_features=2**18, window_days=7.0, search_task_rows=rows),
                     frozen=frozen) for rows in (4, 10**6)]
    for got in found:
        assert got.labels.size == len(today) and got.frozen_events is not None
        event_of_gold = {gold[i]: label for i, label in zip(today, got.labels.tolist(),
                                                             strict=True)}
        assert same_partition(got.labels, [gold[i] for i in today])
        assert got.frozen_events.tolist() == [event_of_gold[gold[i]] for i in earlier]
    np.testing.assert_array_equal(found[0].labels, found[1].labels)
    np.testing.assert_array_equal(found[0].frozen_events, found[1].frozen_events)
    # rows of another language are no block's: they join nothing
    foreign = Frozen(sp.csr_matrix(counts[earlier]), ["de"] * len(earlier), days[earlier])
    alone = cluster(counts[today], ["en"] * len(today), days[today],
                    [f"doc-{i:04d}" for i in today], CFG, frozen=foreign)
    assert alone.frozen_events is not None and (alone.frozen_events == -1).all()


def brute_force_neighbours(weights: sp.csr_matrix, days: np.ndarray,
                           cfg: ClusterConfig) -> list[list[int]]:
    """The neighbour search's definition, pair by pair over dense matrices."""
    n = days.size
    date_rank = np.empty(n, dtype=np.int64)
    date_rank[_date_order(days)] = np.arange(n)
    search = (_searchable(weights, cfg) @ _searchable(weights, cfg).T).toarray()
    exact = (weights @ weights.T).toarray()
    found = []
    for i in range(n):
        hits = [j for j in range(n) if j != i and search[i, j] >= cfg.search_floor
                and not abs(days[i] - days[j]) > cfg.window_days]
        hits = sorted(hits, key=lambda j: (-search[i, j], date_rank[j]))[: 2 * cfg.knn]
        close = [j for j in hits if exact[i, j] >= cfg.floor]
        found.append(sorted(close, key=lambda j: (-exact[i, j], j))[: cfg.knn])
    return found


def random_block(n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Unit rows of random terms, and dates over 40 days, a tenth unknown."""
    rng = np.random.default_rng(3)
    weights = sp.random(n, 60, density=0.08, format="csr", random_state=rng)
    norms = np.sqrt(np.asarray(weights.multiply(weights).sum(axis=1)).ravel())
    weights = sp.csr_matrix(sp.diags(1 / np.maximum(norms, 1e-9)) @ weights)
    days = rng.uniform(0, 40, n).round(1)
    days[rng.random(n) < 0.1] = np.nan  # undated articles match every date
    return weights, days


def assert_neighbours_are(got: sp.csr_matrix, want: list[list[int]]) -> None:
    """Each row's neighbours, best first, are the wanted ones."""
    for i, wanted in enumerate(want):
        row = got[i]
        assert row.indices[np.lexsort((row.indices, -row.data))].tolist() == wanted


def found_by(neighbours: list[list[int]], weights: sp.csr_matrix,
             clustered: int, knn: int) -> list[list[int]]:
    """The neighbours when rows from ``clustered`` on are frozen (each of an event of its
    own, nothing absent): the others' as searched among all rows, and each frozen row's
    the ``knn`` closest rows whose neighbours it is, closest first."""
    exact = (weights @ weights.T).toarray()
    found = [[] if i >= clustered else row for i, row in enumerate(neighbours)]
    for i in range(clustered, len(neighbours)):
        found[i] = sorted((j for j in range(clustered) if i in neighbours[j]),
                          key=lambda j: (-exact[i, j], j))[:knn]
    return found


@pytest.mark.parametrize(("batch_rows", "task_rows", "clustered"),
                         [(7, 40, None), (512, 40, None), (7, 10**6, None), (7, 40, 120),
                          (512, 10**6, 120)])
def test_the_neighbour_search_finds_the_k_nearest_within_the_window(
        tmp_path: Path, batch_rows: int, task_rows: int, clustered: int | None) -> None:
    """In one part or several, each reading only the rows its slabs match from the
    block's spooled rows; frozen rows (from ``clustered`` on) are found, never search."""
    counts, days = random_block(300)
    cfg = ClusterConfig(n_features=60, knn=4, floor=0.2, search_terms=5,
                        max_candidate_df=30, batch_rows=batch_rows, search_task_rows=task_rows)
    spool = BlockSpool(tmp_path / "block", cfg.n_features)
    order = _date_order(days)
    prepare_block(InMemoryRows(counts), order, spool, cfg)
    plan = search_parts(days, order, cfg)
    assert len(plan) >= 2 if task_rows < days.size else len(plan) == 1
    for part, slabs in enumerate(plan):
        search_block(spool, days, slabs, part, cfg, clustered)
    weights = _tfidf_rows(counts.astype(np.float64), cfg)
    want = brute_force_neighbours(weights, days, cfg)
    if clustered is not None:
        want = found_by(want, weights, clustered, cfg.knn)
        assert sum(map(len, want[clustered:])) > clustered  # frozen rows are found
    assert_neighbours_are(spool.neighbours(len(plan), days.size, cfg, clustered), want)


def test_short_rows_weigh_terms_with_a_flatter_idf_and_the_others_keep_theirs() -> None:
    rng = np.random.default_rng(4)
    lengths = [0, 1, 3, 4, 9, 2, 0, 3]
    dense = np.zeros((len(lengths), 12))
    for row, length in enumerate(lengths):
        dense[row, rng.choice(12, length, replace=False)] = rng.integers(1, 4, length)
    cfg = ClusterConfig(n_features=12, short_row_terms=3, short_row_idf_offset=2.0)
    weights = _tfidf_rows(sp.csr_matrix(dense), cfg).toarray()
    doc_freq = (dense > 0).sum(axis=0)
    idf = np.log((1 + len(lengths)) / (1 + doc_freq)) + 1
    for row, length in enumerate(lengths):
        want = np.log1p(dense[row]) * (idf + (2.0 if length <= 3 else 0.0))
        norm = np.linalg.norm(want)
        np.testing.assert_allclose(weights[row], want / norm if norm else want)
    plain = _tfidf_rows(sp.csr_matrix(dense), ClusterConfig(n_features=12, short_row_idf_offset=0))
    long_rows = [row for row, length in enumerate(lengths) if length > 3]
    assert np.array_equal(weights[long_rows], plain.toarray()[long_rows])  # same bits


def test_earlier_runs_document_counts_weigh_a_day_as_one_run_over_every_day() -> None:
    """A day's rows weighed with the earlier days' counts get the weights one block of
    every day gives them; frozen rows after the day's own are not counted again."""
    rng = np.random.default_rng(8)
    days = [sp.random(n, 40, density=0.2, random_state=rng, format="csr") * 5
            for n in (30, 25, 20)]
    for counts in days:
        counts.data = np.ceil(counts.data)
    cfg = ClusterConfig(n_features=40)
    whole = _tfidf_rows(sp.csr_matrix(sp.vstack(days)), cfg)
    earlier = DocumentCounts.summed([DocumentCounts.of(days[0]), DocumentCounts.of(days[1])])
    assert earlier.documents == 55
    today = _tfidf_rows(days[2].copy(), cfg, earlier)  # (weighs its argument in place)
    np.testing.assert_allclose(today.toarray(), whole.toarray()[55:])
    frozen = days[0][:7]  # earlier articles taken along: counted in their own run
    along = _tfidf_rows(sp.csr_matrix(sp.vstack([days[2], frozen])), cfg, earlier, clustered=20)
    np.testing.assert_allclose(along.toarray()[:20], whole.toarray()[55:])
    assert not np.allclose(_tfidf_rows(days[2].copy(), cfg).toarray(),
                           whole.toarray()[55:])  # its own IDF alone differs


def test_feature_terms_are_terms_of_the_representative() -> None:
    titles, texts, _ = make_articles(per_event=4, seed=9)
    result = run(titles, texts)
    for label, row in enumerate(result.representative.tolist()):
        features = result.features_of(label)
        terms = feature_terms(documents([titles[row]], [texts[row]]), ["en"], [features], CFG)[0]
        written = set(tokenize(titles[row] + " " + texts[row], "en", UNSTEMMED))
        assert terms and set(terms) <= written
        assert len(terms) <= len(features) <= CFG.top_terms
    # The place name is the most distinctive term of the first quake's cluster.
    first = result.labels[0]
    row = result.representative[first]
    top = feature_terms(documents([titles[row]], [texts[row]]), ["en"],
                        [result.features_of(first)[:3]], CFG)[0]
    assert "valdoria" in top


def test_feature_terms_of_a_batch_are_each_articles_own() -> None:
    """Articles of several languages asked together get what each gets alone."""
    titles = ["Storm hits Kyiv", "東京で地震", "Выборы в Киеве", "", "Storm over Lviv"]
    texts = ["The storm hit Kyiv hard.", "東京都の地震", "Выборы прошли спокойно.", "", ""]
    langs = ["en", "ja", "ru", "en", "en"]
    vectors = vectorize(documents(titles, texts), langs, CFG)
    features = [vectors[row].indices.tolist()[::-1] for row in range(len(titles))]
    together = feature_terms(documents(titles, texts), langs, features, CFG)
    alone = [feature_terms(documents([title], [text]), [lang], [wanted], CFG)[0]
             for title, text, lang, wanted in zip(titles, texts, langs, features, strict=True)]
    assert together == alone
    assert [len(terms) for terms in together] == [len(f) for f in features]
    assert "東京" in together[1] and together[3] == []


def test_empty_documents_become_singletons() -> None:
    result = run(["", "", "Storm hits coast"], ["", "", "A storm hit the coast."])
    assert len(set(result.labels.tolist())) == 3
    np.testing.assert_array_equal(result.similarity, np.ones(3, dtype=np.float32))


def test_no_articles_give_an_empty_result() -> None:
    result = run([], [])
    assert result.labels.size == 0 and result.representative.size == 0
    assert result.top_features.shape == (0, CFG.top_terms)


def test_vectors_are_feature_hasher_counts() -> None:
    """Columns and title-weighted counts are scikit-learn FeatureHasher's over the same terms."""
    cfg = ClusterConfig(n_features=2**12)
    hasher = FeatureHasher(n_features=cfg.n_features, input_type="string",
                           alternate_sign=False, dtype=np.float32)
    titles, texts, _ = make_articles(per_event=3, seed=4)
    titles, texts = [*titles, "北京 naïve", "", "a" * 40], [*texts, "Киев 1999", "", ""]
    langs = ["en"] * (len(titles) - 3) + ["zh", "en", "ru"]
    got = vectorize(documents(titles, texts), langs, cfg)
    want = (hasher.transform(tokenize(t, lang, cfg) for t, lang in zip(titles, langs, strict=True))
            * np.float32(cfg.title_weight)
            + hasher.transform(tokenize(t, lang, cfg, cfg.max_text_tokens)
                               for t, lang in zip(texts, langs, strict=True)))
    assert got.dtype == np.float32 and got.has_canonical_format
    assert (got != want).nnz == 0
    shuffled = np.random.default_rng(0).permutation(len(titles))
    again = vectorize(documents([titles[i] for i in shuffled], [texts[i] for i in shuffled]),
                      [langs[i] for i in shuffled], cfg)
    assert (again != want[shuffled]).nnz == 0
    for term in ["storm", "election", "киев", "вибори", "北京", "a" * 40, "naïve", "1999"]:
        assert hasher.transform([[term]]).indices.tolist() == [feature_index(term, cfg.n_features)]


def test_the_smaller_id_represents_a_pair_whatever_the_order() -> None:
    """Both members of a pair are equally central; the tie must not hang on rounding."""
    titles, texts, _ = make_articles(per_event=2, seed=5)
    pairs = {}
    for ids in ([f"doc-{i:04d}" for i in range(len(titles))],
                [f"doc-{len(titles) - i:04d}" for i in range(len(titles))]):
        result = run(titles, texts, ids=ids)
        for label, row in enumerate(result.representative.tolist()):
            members = [ids[r] for r in np.flatnonzero(result.labels == label)]
            if len(members) == 2:
                assert ids[row] == min(members)
                pairs[frozenset(members)] = ids[row]
    assert pairs


@pytest.mark.parametrize("wide_row", [0, 6, 10_000])
def test_row_dots_are_dot_products_whichever_way_rows_are_multiplied(
        wide_row: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide rows are laid out dense and looked up, the others merged pairwise: both give
    the dot products (0: every non-empty row is wide; 10,000: none is)."""
    monkeypatch.setattr(cluster_module, "_WIDE_ROW", wide_row)
    rng = np.random.default_rng(5)
    lengths = rng.choice([0, 2, 5, 9, 40], size=60)
    rows = [rng.choice(200, size=k, replace=False) for k in lengths]
    left = sp.csr_matrix((rng.random(int(lengths.sum())),
                          (np.repeat(np.arange(60), lengths), np.concatenate(rows))),
                         shape=(60, 200))
    right = sp.csr_matrix(rng.random((30, 200)) * (rng.random((30, 200)) < 0.1))
    a, b = rng.integers(0, 60, 500), rng.integers(0, 30, 500)
    want = np.einsum("ij,ij->i", left.toarray()[a], right.toarray()[b])
    np.testing.assert_allclose(_row_dots(left, a, right, b, batch=64), want, rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(_row_dots(right, b, left, a, batch=64), want, rtol=1e-12,
                               atol=1e-12)
    # In threads, the same bits: batches, and runs of wide-row tables (cut small here).
    monkeypatch.setattr(cluster_module, "_WIDE_TABLE", 100)
    for threads in (2, 3):
        np.testing.assert_array_equal(_row_dots(left, a, right, b, threads, batch=64),
                                      _row_dots(left, a, right, b, batch=64))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_pair_cosines_are_the_same_bits_in_any_batch(dtype: type) -> None:
    """The semantic veto's pair cosines, a batch of pairs at a time (bounded memory), are
    those of every pair gathered at once, and keep the embeddings' type."""
    rng = np.random.default_rng(8)
    vectors = rng.standard_normal((40, 512)).astype(dtype)
    a, b = rng.integers(0, 40, 1000), rng.integers(0, 40, 1000)
    whole = np.einsum("ij,ij->i", vectors[a], vectors[b])
    for batch in (1, 7, 1 << 16):
        found = _pair_cosines(vectors, a, b, batch)
        assert found.dtype == whole.dtype and np.array_equal(found, whole)
    assert _pair_cosines(vectors, a[:0], b[:0]).shape == (0,)


@pytest.mark.parametrize("top", [1, 3, 10])
def test_top_features_are_the_largest_entries_ties_to_the_smaller_feature(top: int) -> None:
    """Against a sort of each row, on rows of every length, with many tied values, and
    with the batches and dense groups cut small."""
    rng = np.random.default_rng(top)
    sums = sp.random(300, 2000, density=0.02, format="csr", random_state=rng)
    sums.data = np.ceil(sums.data * 4)  # four values: ties everywhere
    long_row = sp.csr_matrix(np.r_[np.arange(1.0, 1501.0) % 7 + 1, np.zeros(500)][None, :])
    sums = sp.vstack([sums, long_row, sp.csr_matrix((1, 2000))], format="csr")  # and empty
    want = np.full((sums.shape[0], top), -1)
    for row in range(sums.shape[0]):
        entries = sorted(zip(-sums[row].data, sums[row].indices, strict=True))[:top]
        want[row, : len(entries)] = [feature for _, feature in entries]
    np.testing.assert_array_equal(cluster_module._top_features_per_row(sums, top), want)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cluster_module, "_WIDE_TABLE", 64)
        np.testing.assert_array_equal(cluster_module._top_features_per_row(sums, top), want)


def test_link_groups_hold_whole_components_and_every_link_once() -> None:
    rng = np.random.default_rng(5)
    n = 400
    a = rng.integers(0, n, 600)
    b = (a + rng.integers(1, 4, a.size)) % n
    a, b = np.minimum(a, b), np.maximum(a, b)
    sims = rng.random(a.size)
    groups = cluster_module._link_groups((a, b, sims), n, 4)
    assert len(groups) > 1 and np.array_equal(np.sort(np.concatenate(groups)),
                                              np.arange(a.size))
    group_of_row = np.full(n, -1)
    for number, links in enumerate(groups):
        rows = np.r_[a[links], b[links]]
        assert np.all(np.isin(group_of_row[rows], [-1, number]))  # no row in two groups
        group_of_row[rows] = number
    assert cluster_module._link_groups((a[:0], b[:0], sims[:0]), n, 4) == []


def test_group_summaries_do_not_depend_on_their_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    weights, _ = random_block(200)
    rng = np.random.default_rng(11)
    fellow = rng.integers(0, 200, 200)  # each row's group: the smaller of itself and a pick
    key = np.minimum(np.arange(200), fellow)
    key = key[key]  # a row's group key is its group's smallest row
    whole = cluster_module._level(weights, key, CFG)
    monkeypatch.setattr(cluster_module, "_SUMS_PER_BATCH", 40)
    batched = cluster_module._level(weights, key, CFG)
    assert np.unique(key).size > 20
    for got in ("labels", "representative", "similarity", "top_features"):
        np.testing.assert_array_equal(getattr(batched, got), getattr(whole, got))


def test_the_largest_link_group_starts_first_and_alone_gets_threads(tmp_path: Path) -> None:
    spools = {0: BlockSpool(tmp_path / "a", 2**10), 2: BlockSpool(tmp_path / "b", 2**10)}
    dates = {0: np.zeros(3), 2: np.zeros(4)}
    cfg = ClusterConfig(threads=3)
    tasks = _agglomeration_tasks({0: [5, 20, 5], 2: [30, 1]}, spools, dates, cfg)
    assert [(task[0], task[2], task[4]) for task in tasks] == [
        (spools[2], 0, 3), (spools[0], 1, 1), (spools[0], 0, 1), (spools[0], 2, 1),
        (spools[2], 1, 1)]


def test_absent_members_of_a_fed_event_compete_for_neighbour_places() -> None:
    """Rows 0-2 are today's, 3-4 the fed articles of one earlier event with four more
    articles absent (column 5 stands for them).  A row counts them as four neighbours
    at its mean cosine to all the event's fed articles, and keeps its ``knn`` (3) best:
    row 0 (close to both fed articles) keeps two of them and drops weaker real
    neighbours, row 1 (busy with its own, and close to one fed article only) none; the
    fed rows keep their mate and the absent members, not the rows of today that found
    them."""
    found = (np.array([0, 0, 0, 1, 1, 1]), np.array([3, 4, 1, 2, 0, 3]),
             np.array([0.6, 0.5, 0.4, 0.9, 0.8, 0.3]))
    cosine = np.zeros((5, 5))
    for (a, b), value in {(0, 3): 0.6, (0, 4): 0.5, (1, 3): 0.3, (1, 4): 0.1,
                          (3, 4): 0.7}.items():
        cosine[a, b] = cosine[b, a] = value
    def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return cosine[a, b]
    fed = FedEvents(np.array([0, 0]), np.array([4]))
    matrix = absent_neighbours(found, 5, 3, fed, cosines, knn=3)
    root2 = np.sqrt(2.0)
    expected = np.zeros((5, 6))
    expected[0, [3, 5]] = [0.6, 0.55 * root2]
    expected[1, [2, 0, 3]] = [0.9, 0.8, 0.3]
    expected[3, [4, 5]] = [0.7, 0.7 * root2]
    expected[4, [3, 5]] = [0.7, 0.7 * root2]
    assert np.allclose(matrix.toarray(), expected)
    # one close fed article is not the event: row 1 finds row 3 at 0.6 (and row 2), but
    # its mean over both fed articles is (0.6 + 0.1) / 2: its last place goes to an
    # absent member at 0.35, not 0.6
    cosine[1, 3] = cosine[3, 1] = 0.6
    one = absent_neighbours((np.array([1, 1]), np.array([2, 3]), np.array([0.9, 0.6])),
                            5, 3, fed, cosines, knn=3).toarray()
    assert np.allclose(one[1], [0, 0, 0.9, 0.6, 0, 0.35])
    # nothing absent: the fed rows keep their mate and the best rows that found them
    alone = absent_neighbours(found, 5, 3, FedEvents(np.array([0, 0]), np.array([0])),
                              cosines, knn=3).toarray()
    assert np.allclose(alone[3, :5], [0.6, 0.3, 0, 0, 0.7])
    assert np.allclose(alone[0, :5], [0, 0.4, 0, 0.6, 0.5])
