"""Cross-lingual event linking: anchors, the linking rules, and the job end to end."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import orjson
import pytest
import scipy.sparse as sp
from synthetic import FRAME_SETS, Event, article, made_up_name

from dedup.algorithms.cluster import Clustering, Stories
from dedup.algorithms.link import (
    ClusterAnchors,
    ClusterSpans,
    LinkConfig,
    _cross_language_pairs,
    _dates_allow,
    anchor_of,
    anchor_rows,
    anchor_words,
    link_clusters,
    merge_linked,
)
from dedup.config import load_config
from dedup.job.run import run_job

CFG = LinkConfig()


def anchors(title: str, text: str, cfg: LinkConfig) -> list[str]:
    """The anchors of one article, in order (what anchor_rows counts)."""
    _, words = anchor_words([title], [text], cfg.lead_chars)
    return [a for a in (anchor_of(w, cfg.prefix_chars) for w in words) if a is not None]


def test_anchors_match_across_scripts_and_inflection() -> None:
    english = anchors("Zelensky meets Macron in Paris", "The talks lasted 12 hours.", CFG)
    russian = anchors("Зеленский встретился с Макроном в Париже", "Переговоры шли 12 часов.", CFG)
    german = anchors("Selenskyj trifft Macron in Paris", "", CFG)
    assert {"zelen", "macro", "paris", "#12"} <= set(english)
    assert {"zelen", "makro", "parizh"[:5], "#12"} <= set(russian)
    assert {"macro", "paris"} <= set(german)
    assert "lasted" not in english and "the" in english  # lower case words are not anchors
    assert anchors("Łódź i Kraków", "", CFG) == ["lodz", "krako"]
    assert anchors("Τσίπρας και Βαρουφάκης", "", CFG) == ["tsipr", "varou"]
    assert anchors("Tsipras and Varoufakis", "", CFG) == ["tsipr", "varou"]


def test_scripts_without_capitals_give_only_their_latin_names_and_numbers() -> None:
    assert anchors("الرئيس اللبنانى ميشال عون", "", CFG) == []
    assert anchors("Mohanlal 主演的电影将于 2020 年上映", "", CFG) == ["mohan", "#2020"]


def test_anchor_rows_count_each_anchor_per_article() -> None:
    rows = anchor_rows(["Paris talks", ""], ["Paris and Berlin agreed.", ""], CFG)
    assert rows.shape == (2, CFG.n_features)
    assert sorted(rows[0].data.tolist()) == [1.0, 2.0] and rows[1].nnz == 0


def cluster_anchors(words: list[str], langs: list[str],
                    days: list[float] | None = None) -> ClusterAnchors:
    """One cluster per entry of ``words`` (its anchors, space separated)."""
    sums = anchor_rows([w.title() for w in words], [""] * len(words), CFG)
    frequency = np.bincount(sums.indices, minlength=CFG.n_features)
    day = np.array(days if days is not None else [np.nan] * len(words))
    return ClusterAnchors(sums=sums, document_frequency=frequency, articles=len(words),
                          spans=ClusterSpans(langs=langs, first_day=day, last_day=day))


def test_clusters_of_different_languages_sharing_names_are_linked() -> None:
    clusters = cluster_anchors(["kovalenko brussels nato 2025", "kovalenko brüssel nato 2025",
                                "kovalenko brussels nato 2025", "lisbon tram strike"],
                               ["en", "de", "en", "fr"])
    events = link_clusters(clusters, CFG, window_days=7.0)
    # 0 and 2 are both English: only one of them (the first, on a tie) joins the German one.
    assert events.tolist() == [0, 0, 1, 2]


def test_links_need_mutual_best_match() -> None:
    clusters = cluster_anchors(["ostrava mining union strike", "ostrava mining union",
                                "ostrava mining"], ["pl", "cs", "cs"])
    events = link_clusters(clusters, CFG, window_days=7.0)
    assert events.tolist() == [0, 0, 1]


def test_one_shared_name_is_not_enough() -> None:
    clusters = cluster_anchors(["kovalenko", "kovalenko"], ["en", "de"])
    assert link_clusters(clusters, CFG, window_days=7.0).tolist() == [0, 1]
    lenient = LinkConfig(min_shared=1)
    assert link_clusters(clusters, lenient, window_days=7.0).tolist() == [0, 0]


def test_links_respect_dates_and_unknown_language() -> None:
    words = ["kovalenko brussels nato 2025"] * 2
    far_apart = cluster_anchors(words, ["en", "de"], days=[100.0, 200.0])
    assert link_clusters(far_apart, CFG, window_days=7.0).tolist() == [0, 1]
    close = cluster_anchors(words, ["en", "de"], days=[100.0, 104.0])
    assert link_clusters(close, CFG, window_days=7.0).tolist() == [0, 0]
    assert link_clusters(cluster_anchors(words, ["en", "und"]), CFG, 7.0).tolist() == [0, 1]


def test_merged_event_speaks_through_its_largest_cluster() -> None:
    # four clusters (the last two one story); clusters 0 and 1 are linked, and so are 1 and 3
    stories = Stories(of_event=np.array([0, 1, 2, 2]), representative=np.array([0, 1, 3]),
                      top_features=np.array([[7], [8], [9]], dtype=np.int32))
    clustering = Clustering(labels=np.array([0, 1, 1, 2, 3]),
                            representative=np.array([0, 2, 3, 4]),
                            similarity=np.array([1.0, 0.5, 1.0, 1.0, 1.0], dtype=np.float32),
                            top_features=np.array([[1, -1], [2, 3], [4, -1], [5, -1]],
                                                  dtype=np.int32), stories=stories)
    merged = merge_linked(clustering, np.array([0, 0, 1, 0]))
    assert merged.labels.tolist() == [0, 0, 0, 1, 0]
    assert merged.representative.tolist() == [2, 3]
    assert merged.top_features.tolist() == [[2, 3], [4, -1]]
    assert merged.similarity.tolist() == clustering.similarity.tolist()
    # with the linking similarity, the other languages' members are scaled by their
    # cluster's closeness to the speaking cluster (1), which keeps its own
    def closeness(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        assert b.tolist() == [1, 1]
        return np.where(a == 0, 0.5, 0.8)

    scaled = merge_linked(clustering, np.array([0, 0, 1, 0]), closeness)
    assert scaled.similarity.tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0, 0.8])
    # linked events join their stories: all are one story now, spoken for by the largest
    # old story (stories 1 and 2 have two articles each: the first wins)
    assert merged.stories.of_event.tolist() == [0, 0]
    assert merged.stories.representative.tolist() == [1]
    assert merged.stories.top_features.tolist() == [[8]]


def test_unlinked_events_keep_their_stories() -> None:
    stories = Stories(of_event=np.array([0, 0, 1]), representative=np.array([0, 2]),
                      top_features=np.array([[7], [9]], dtype=np.int32))
    clustering = Clustering(labels=np.array([0, 1, 2]), representative=np.array([0, 1, 2]),
                            similarity=np.ones(3, dtype=np.float32),
                            top_features=np.array([[1], [2], [3]], dtype=np.int32),
                            stories=stories)
    merged = merge_linked(clustering, np.array([0, 1, 2]))
    assert merged.stories.of_event.tolist() == [0, 0, 1]
    assert merged.stories.representative.tolist() == [0, 2]


def multilingual_records() -> tuple[list[dict[str, object]], dict[str, str]]:
    """Two events, each reported in English, German and Russian (three articles per
    language), plus one more English event: records and the event of each id."""
    rng = random.Random(5)
    records: list[dict[str, object]] = []
    event_of: dict[str, str] = {}
    for key in ("a", "b", "c"):
        entities = {"person": f"{made_up_name(rng, 2)} {made_up_name(rng, 3)}",
                    "city": made_up_name(rng, 3), "org": f"{made_up_name(rng, 2)}-Union",
                    "n": str(rng.randint(10, 90))}
        for lang in ("en", "de", "ru") if key != "c" else ("en",):
            event = Event(key, lang, entities, date(2025, 3, 1))
            for number, frames in enumerate(FRAME_SETS):
                title, text = article(rng, event, frames)
                rid = f"{key}-{lang}-{number}"
                records.append({"id": rid, "title": title, "text": text,
                                "published": "2025-03-01"})
                event_of[rid] = key
    return records, event_of


def clusters_of(out: Path) -> dict[str, set[str]]:
    """Article ids per cluster id."""
    found: dict[str, set[str]] = defaultdict(set)
    for line in (out / "articles.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        found[row["cluster_id"]].add(row["id"])
    return found


def test_one_event_in_three_languages_is_one_cluster(tmp_path: Path) -> None:
    records, event_of = multilingual_records()
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    run_job([str(source)], tmp_path / "out", load_config())
    found = clusters_of(tmp_path / "out")
    assert sorted(sorted({event_of[i] for i in ids}) for ids in found.values()) == [
        ["a"], ["b"], ["c"]]
    manifest = [orjson.loads(line) for line in (tmp_path / "out" / "clusters.jsonl")
                .read_bytes().splitlines()]
    assert sorted(c["languages"] == {"de": 3, "en": 3, "ru": 3} for c in manifest) == [
        False, True, True]
    for linked in (c for c in manifest if len(c["languages"]) == 3):
        # each member's similarity is to the event's one representative, in any language
        assert [m["similarity"] == 1.0 for m in linked["members"]] == [True] + [False] * 8
        assert all(m["title"] for m in linked["members"])
    stories = [orjson.loads(line) for line in (tmp_path / "out" / "stories.jsonl")
               .read_bytes().splitlines()]
    assert {c["story_id"] for c in manifest} == {s["story_id"] for s in stories}
    for story in stories:  # a linked event's story holds its articles in every language
        events = {e["cluster_id"] for e in story["events"]}
        assert story["languages"] == Counter(
            lang for c in manifest if c["cluster_id"] in events for lang in c["languages"]
            for _ in range(c["languages"][lang]))

    run_job([str(source)], tmp_path / "off", load_config(overrides=["link.enabled=false"]))
    assert len(clusters_of(tmp_path / "off")) == 7


def test_linked_clusters_span_no_more_than_one_cluster_may() -> None:
    """Days 0-6 and 12-13 are six days apart but span 13: not one event, as in one
    language; a report within a cluster that its copies made longer than the window
    may join it, and an undated cluster meets any."""
    first, last = np.array([0.0, 12.0, 5.0, 0.0, np.nan]), np.array([6.0, 13.0, 6.0, 400.0, np.nan])
    a, b = np.array([0, 0, 3, 4]), np.array([1, 2, 2, 0])
    assert _dates_allow(first, last, a, b, 7.0).tolist() == [False, True, True, True]


@pytest.mark.parametrize("dense", [False, True])
def test_date_slabs_find_every_pair_the_dates_allow(dense: bool) -> None:
    rng = np.random.default_rng(7)
    n = 300
    first = rng.uniform(0, 200, n)
    first[rng.random(n) < 0.2] = np.nan  # some clusters undated
    last = first + rng.uniform(0, 6, n)
    spans = ClusterSpans(langs=[["en", "de", "fr", "und"][i % 4] for i in range(n)],
                         first_day=first, last_day=last)
    vectors = sp.random(n, 40, density=0.2, random_state=7, format="csr")
    vectors = vectors.toarray() if dense else vectors
    found = _cross_language_pairs(vectors, spans, 0.5, 16, 7.0)
    products = vectors @ vectors.T
    products = products if dense else products.toarray()
    a, b = np.triu_indices(n, 1)
    keep = (np.array(spans.langs)[a] != np.array(spans.langs)[b]) \
        & (np.array(spans.langs)[a] != "und") & (np.array(spans.langs)[b] != "und") \
        & (products[a, b] >= 0.5) & _dates_allow(first, last, a, b, 7.0)
    expected = {(min(x, y), max(x, y)) for x, y in zip(a[keep], b[keep], strict=True)}
    got = {(min(x, y), max(x, y)) for x, y in zip(*found[:2], strict=True)}
    assert got == expected and len(got) == found[0].size and len(got) > 50


def test_a_chain_of_links_through_other_languages_never_joins_two_clusters_of_one() -> None:
    """English A and German X share names, X and French Y others, Y and English B others:
    each pair is mutual best, but A and B were kept apart by English clustering.  The
    weakest link of the chain gives way."""
    clusters = cluster_anchors(["vodrak elmira sunet palov", "vodrak elmira sunet kirav tolmo",
                                "kirav tolmo gansel ostrin", "gansel ostrin bekla murano"],
                               ["en", "de", "fr", "en"])
    assert link_clusters(clusters, CFG, window_days=7.0).tolist() == [0, 0, 0, 1]


def test_an_undated_cluster_links_at_its_storys_dates(tmp_path: Path) -> None:
    """An undated Catalan report sits in a Catalan story of August (an undated cluster
    meets any date) and shares its names with a French event of October: linked by its
    missing dates, it joined the two stories 61 days apart."""
    rng = random.Random(4)

    def word() -> str:
        return "".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3))

    filler = [word() for _ in range(3000)]
    names = ["Zorvanek", "Plimstad", "Quarvel", "4821", "Dettmold"]
    catalan = ["vorquel", "plimbast", "zandor", "quiffle", "morbane", "trelk"]
    french = ["gruvette", "plonsier", "marbeau", "quillon", "dravelle", "sornet"]

    def text(words: list[str], share: float = 0.4) -> str:
        return "\n".join(" ".join(rng.choice(words) if rng.random() < share
                                  else rng.choice(filler) for _ in range(25)).capitalize() + "."
                         for _ in range(5))

    records: list[dict[str, object]] = [
        {"id": f"fr{i}", "title": " ".join(rng.sample(names + french, 6)),
         "text": text(french + names), "lang": "fr", "published": "2024-10-17T08:00:00Z"}
        for i in range(4)]
    records.append({"id": "ca-undated", "title": " ".join(rng.sample(names + catalan, 6)),
                    "text": text(catalan + names), "lang": "ca"})
    records.append({"id": "ca-august", "title": " ".join(rng.sample(catalan + filler[:20], 5)),
                    "text": text(catalan, 0.2), "lang": "ca", "published": "2024-08-17T08:00:00Z"})
    records += [{"id": f"bg{i}", "title": " ".join(rng.sample(filler, 6)),
                 "text": text(filler[:50], 0.0), "lang": rng.choice(["fr", "ca"]),
                 "published": f"2024-09-0{1 + i % 9}"} for i in range(40)]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    run_job([str(source)], tmp_path / "out",
            load_config(overrides=['embed.model="off"', "language.trust_input=true"]))
    story = {row["id"]: row["story_id"] for row in map(
        orjson.loads, (tmp_path / "out" / "articles.jsonl").read_bytes().splitlines())}
    assert story["ca-undated"] == story["ca-august"]  # the Catalan story holds it
    assert story["ca-august"] != story["fr0"]
