"""Stories above events: generated threads of events made of invented words, headline
feeds, the hierarchy's invariants, the stories manifest and the site language prior."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import scipy.sparse as sp

from dedup.algorithms.cluster import (
    ClusterConfig,
    _average_similarity,
    _story_parts,
    cluster,
    slug_words,
    term_bodies,
    vectorize,
)
from dedup.algorithms.tokens import documents
from dedup.config import load_config
from dedup.job.run import run_job
from dedup.stages.language import LanguageConfig, SiteLanguages, SitePrior, detect_languages

SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "pe", "du", "go", "zi", "ba",
             "fe", "hu", "ju", "xo", "qa", "wy", "el", "or", "an", "ix", "um"]
# Words every article uses, whatever it is about: the beat's vocabulary.
COMMON = 40


def invented(rng: random.Random, syllables: int) -> str:
    """One made-up word."""
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables))


@dataclass(slots=True)
class Thread:
    """A story: its own names, and its events (each with its own words and day)."""

    names: list[str]
    events: list[tuple[list[str], int]]  # (the event's words, its day)


@dataclass(slots=True)
class Feed:
    """Generated records, and per record id its true story and event."""

    records: list[dict[str, Any]] = field(default_factory=list)
    story: dict[str, str] = field(default_factory=dict)
    event: dict[str, str] = field(default_factory=dict)


def threads_of_one_beat(seed: int) -> tuple[list[Thread], list[str]]:
    """Threads of a beat and the beat's common words.

    Thread 0 has three events nine days apart (one story); threads 1 and 2 are events
    of one kind months apart (the same kind words, other names): two stories.  The
    others are unrelated threads of one or two events.
    """
    rng = random.Random(seed)
    common = [invented(rng, 3) for _ in range(COMMON)]
    kind = [invented(rng, 3) for _ in range(3)]

    def names() -> list[str]:
        return [invented(rng, 3).capitalize() for _ in range(3)]

    def words() -> list[str]:
        return [invented(rng, 3) for _ in range(4)]

    threads = [Thread(names(), [(words(), 0), (words(), 9), (words(), 18)]),
               Thread(names(), [(kind + words()[:1], 5)]),
               Thread(names(), [(kind + words()[:1], 160)])]
    threads += [Thread(names(), [(words(), day), (words(), day + 6)][: 1 + index % 2])
                for index, day in enumerate(range(30, 130, 12))]
    return threads, common


def feed(seed: int, per_event: int = 6, headlines_only: bool = False) -> Feed:
    """Reports of every event of :func:`threads_of_one_beat`: each sentence names two of
    its story's names and two of its event's words, among the beat's common words (a
    title among fewer of them, like a headline)."""
    threads, common = threads_of_one_beat(seed)
    rng = random.Random(seed + 1)
    made = Feed()
    for story, thread in enumerate(threads):
        for event, (words, day) in enumerate(thread.events):
            for report in range(per_event):
                record_id = f"s{story:02d}-e{event}-r{report}"

                def sentence(common_words: int, names: list[str] = thread.names,
                             own: list[str] = words) -> str:
                    chosen = rng.sample(names, 2) + rng.sample(own, 2) + rng.sample(
                        common, common_words)
                    rng.shuffle(chosen)
                    return " ".join(chosen).capitalize() + "."

                when = np.datetime64("2025-01-01") + np.timedelta64(day, "D")
                made.records.append({
                    "id": record_id, "title": sentence(2)[:-1],
                    "text": "" if headlines_only else "\n".join(sentence(6) for _ in range(6)),
                    "published": f"{when}T{report:02d}:00:00Z",
                    "source": f"site-{report % 3}", "lang": "en"})
                made.story[record_id] = f"s{story}"
                made.event[record_id] = f"s{story}-e{event}"
    return made


def run(tmp_path: Path, records: list[dict[str, Any]], name: str = "out",
        **settings: Any) -> Path:
    """The job over ``records`` (languages as given: invented words have none)."""
    source = tmp_path / f"{name}.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    overrides = ["language.trust_input=true", "embed.model=\"off\"",
                 *(f"{key}={value}" for key, value in settings.items())]
    run_job([str(source)], tmp_path / name, load_config(overrides=overrides))
    return tmp_path / name


def rows(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of an output file."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def groups(articles: list[dict[str, Any]], key: str) -> dict[str, set[str]]:
    """Article ids per value of ``key``."""
    found: dict[str, set[str]] = defaultdict(set)
    for article in articles:
        found[article[key]].add(article["id"])
    return found


@pytest.mark.parametrize("headlines_only", [False, True])
def test_a_thread_of_events_is_one_story_and_same_kind_events_are_not(
        tmp_path: Path, headlines_only: bool) -> None:
    made = feed(seed=3, headlines_only=headlines_only)
    articles = rows(run(tmp_path, made.records) / "articles.jsonl")
    stories = groups(articles, "story_id")
    story_of = {a["id"]: a["story_id"] for a in articles}
    thread = {story_of[i] for i, truth in made.story.items() if truth == "s0"}
    assert len(thread) == 1, "the three events of thread 0 are one story"
    assert len({a["cluster_id"] for a in articles if made.story[a["id"]] == "s0"}) >= 3, \
        "and stay three events"
    kind_twins = {story_of[i] for i, truth in made.story.items() if truth in ("s1", "s2")}
    assert len(kind_twins) == 2, "events of one kind months apart are two stories"
    for members in stories.values():
        assert len({made.story[i] for i in members}) == 1, "no story mixes two threads"


def headlines_with_pooled_words(seed: int, per_event: int = 6, slugs: bool = False) -> Feed:
    """Headlines of :func:`threads_of_one_beat`'s events: two of the thread's names, one of
    the beat's common words and two words of a pool of 300 that headlines of any thread
    use now and then (an outlet's wording), so a pool word is rarer than a name.

    With ``slugs``, a headline names one of its thread's names and has a URL whose slug
    names all three (and a word of its event) after its site's section word, as
    publishers' slugs do: by their titles a thread's headlines share a name now and then.
    """
    threads, common = threads_of_one_beat(seed)
    rng = random.Random(seed + 1)
    pool = [invented(rng, 4) for _ in range(300)]
    sections = [invented(rng, 3) for _ in range(3)] if slugs else []
    made = Feed()
    for story, thread in enumerate(threads):
        for event, (words, day) in enumerate(thread.events):
            for report in range(per_event):
                record_id = f"s{story:02d}-e{event}-r{report}"
                chosen = (rng.sample(thread.names, 1 if slugs else 2) + rng.sample(common, 1)
                          + rng.sample(pool, 2))
                rng.shuffle(chosen)
                when = np.datetime64("2025-01-01") + np.timedelta64(day, "D")
                made.records.append({
                    "id": record_id, "title": " ".join(chosen).capitalize(), "text": "",
                    "published": f"{when}T{report:02d}:00:00Z", "source": f"site-{report % 3}",
                    "lang": "en"})
                if slugs:
                    slug = [name.lower() for name in thread.names] + rng.sample(words, 1)
                    rng.shuffle(slug)
                    made.records[-1]["url"] = (f"https://site-{report % 3}.example/"
                                               f"{sections[report % 3]}/{'-'.join(slug)}-"
                                               f"{rng.randrange(10**6)}.html")
                made.story[record_id] = f"s{story}"
    return made


def stories_per_thread(tmp_path: Path, made: Feed,
                       **settings: Any) -> tuple[list[int], list[int]]:
    """How many stories each true story (thread) of ``made`` is split into, and how
    many threads each story found mixes, from a run with ``settings``."""
    articles = rows(run(tmp_path, made.records, name=f"out{len(settings)}", **settings)
                    / "articles.jsonl")
    threads = groups([{**a, "truth": made.story[a["id"]]} for a in articles], "truth")
    story_of = {a["id"]: a["story_id"] for a in articles}
    mixed = [len({made.story[i] for i in members})
             for members in groups(articles, "story_id").values()]
    return [len({story_of[i] for i in members}) for members in threads.values()], mixed


@pytest.mark.parametrize("seed", [5, 11])
def test_headlines_of_a_thread_meet_by_its_names_not_by_rarer_stray_words(
        tmp_path: Path, seed: int) -> None:
    """Headlines have a handful of terms: with the full IDF the stray pool words outweigh
    the thread's names and the thread falls apart; their flatter IDF
    (``cluster.short_row_idf_offset``) keeps every thread one story, and apart."""
    made = headlines_with_pooled_words(seed)

    split, mixed = stories_per_thread(tmp_path, made)
    assert split == [1] * len(split) and mixed == [1] * len(mixed)
    split, _ = stories_per_thread(tmp_path, made, **{"cluster.short_row_idf_offset": 0})
    assert max(split) > 1, "the full IDF splits a thread"


@pytest.mark.parametrize("seed", [5, 11])
def test_headlines_of_a_thread_meet_by_the_words_of_their_url_slugs(
        tmp_path: Path, seed: int) -> None:
    """A thread's headlines rarely share their words, but their slugs name the thread
    (``cluster.url_words``): each thread is one story, and the sites' section words in
    every slug join no two threads (so on 11 of 12 seeds tried; on the twelfth two
    threads share one).  By titles alone a thread falls apart into three to six."""
    made = headlines_with_pooled_words(seed, slugs=True)

    split, mixed = stories_per_thread(tmp_path, made)
    assert split == [1] * len(split) and mixed == [1] * len(mixed)
    flagged = [a.get("flags") for a in rows(tmp_path / "out0" / "articles.jsonl")]
    assert flagged == [["url_words"]] * len(made.records), "each says it read its URL"
    split, _ = stories_per_thread(tmp_path, made, **{"cluster.url_words": "false"})
    assert max(split) > 1, "by their titles a thread's headlines fall apart"


@pytest.mark.parametrize("seed", [5, 11])
def test_a_feed_whose_titles_end_with_their_sites_name_gives_the_stories_of_bare_titles(
        tmp_path: Path, seed: int) -> None:
    """Feeds and page titles carry the site ("Title - Kelvo Daily"): every headline of a
    site would share those words (``clean.strip_site_from_title`` drops them), and with
    them the site's headlines of other threads join its stories (so on 12 of 12 seeds
    tried)."""
    made = headlines_with_pooled_words(seed)
    named = {f"site-{k}": f"{invented(random.Random(k), 3).capitalize()} Daily"
             for k in range(3)}
    suffixed = [{**r, "title": f"{r['title']} - {named[r['source']]}",
                 "source": named[r["source"]]} for r in made.records]

    def partition(records: list[dict[str, Any]], name: str, **settings: Any) -> set[frozenset[str]]:
        articles = rows(run(tmp_path, records, name=name, **settings) / "articles.jsonl")
        return {frozenset(members) for members in groups(articles, "story_id").values()}

    bare = partition(made.records, "bare")
    assert partition(suffixed, "suffixed") == bare
    kept = partition(suffixed, "kept", **{"clean.strip_site_from_title": "false"})
    assert kept != bare
    assert max(len({made.story[i] for i in members}) for members in kept) > 1, \
        "a site's name joins its headlines of other threads"


def test_a_section_name_in_every_title_joins_no_stories(tmp_path: Path) -> None:
    """Every headline ends with its section's name (" | Zorvek"): in short rows, whose
    IDF is raised, that one word made stories of unrelated threads; a term in most of a
    block's articles (``cluster.max_df``) now weighs nothing."""
    made = headlines_with_pooled_words(3)
    sectioned = [{**r, "title": f"{r['title']} | Zorvek"} for r in made.records]

    def partition(records: list[dict[str, Any]], name: str, **settings: Any) -> set[frozenset[str]]:
        articles = rows(run(tmp_path, records, name=name, **settings) / "articles.jsonl")
        return {frozenset(members) for members in groups(articles, "story_id").values()}

    assert partition(sectioned, "sectioned") == partition(made.records, "bare")
    kept = partition(sectioned, "kept", **{"cluster.max_df": 1.0})
    assert max(len({made.story[i] for i in members}) for members in kept) > 1


@pytest.mark.parametrize(("url", "words"), [
    ("https://a.example/zoku/Vamo-Kelitu-resh-dorn_falu.html?id=1-2-3",
     ["Vamo", "Kelitu", "resh", "dorn", "falu"]),  # the segment joining most words
    ("http://a.example/la-fi-mo-tarek-wibbon-gale-20140310,0,1312750.story",
     ["tarek", "wibbon", "gale"]),  # numbers, ids and two-letter codes left out
    ("https://a.example/news/%D0%B1%D0%BE%D1%80%D0%B0-%D0%BA%D1%83%D0%BB%D1%8C-%D0%BD%D0%B8%D0%BC",
     ["бора", "куль", "ним"]),  # percent-encoded
    ("https://a.example/story/tarek-wibbon", []),  # two words are no slug
    ("https://a.example/2025/05/17/index.html", []),
    ("https://a.example/", []),
    ("http://[a.example/tarek-wibbon-gale", []),  # malformed: nothing, no error
])
def test_a_urls_slug_words(url: str, words: list[str]) -> None:
    assert slug_words(url) == words


def test_only_articles_without_a_body_read_the_slug_words_their_title_lacks() -> None:
    titles = ["Tarek meets Wibbon", "Tarek meets Wibbon", "Gale"]
    texts = ["", "A body of its own.", ""]
    urls = ["https://a.example/tarek-wibbon-gale-sorn", "https://a.example/tarek-wibbon-gale",
            None]
    assert term_bodies(titles, texts, urls, ClusterConfig()) == ["gale sorn", texts[1], ""]
    assert term_bodies(titles, texts, urls, ClusterConfig(url_words=False)) is texts
    rest = texts[1:]  # no article gains words: the texts themselves, not a copy
    assert term_bodies(titles[1:], rest, urls[1:], ClusterConfig()) is rest
    nothing_new = term_bodies(["Tarek Wibbon Gale"], [""], ["https://a.example/tarek-wibbon-gale"],
                              ClusterConfig())
    assert nothing_new == [""], "a slug that repeats the title adds nothing"


def threads_told_by_meaning(seed: int, threads: int = 4, events: int = 3, reports: int = 4,
                            dimensions: int = 64) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Headlines of a beat's threads whose events share no name: two of the event's own
    names and one of the beat's four words.  Their embeddings are made here: one
    direction per thread, each event and headline a little off it.  Returns the titles,
    each one's thread and the unit embeddings."""
    rng, noise = random.Random(seed), np.random.default_rng(seed)
    beat = [invented(rng, 3) for _ in range(4)]
    titles: list[str] = []
    thread_of: list[int] = []
    vectors: list[np.ndarray] = []

    def unit(vector: np.ndarray) -> np.ndarray:
        return vector / np.linalg.norm(vector)

    def nudged(vector: np.ndarray, scale: float) -> np.ndarray:
        return unit(vector + scale * noise.normal(size=dimensions) / np.sqrt(dimensions))

    for thread in range(threads):
        direction = unit(noise.normal(size=dimensions))
        for _ in range(events):
            names = [invented(rng, 3).capitalize() for _ in range(3)]
            event = nudged(direction, 0.3)
            for _ in range(reports):
                words = rng.sample(names, 2) + rng.sample(beat, 1)
                rng.shuffle(words)
                titles.append(" ".join(words).capitalize())
                thread_of.append(thread)
                vectors.append(nudged(event, 0.2))
    return titles, np.array(thread_of), np.array(vectors, dtype=np.float32)


def headline_stories(titles: list[str], embeddings: np.ndarray | None,
                     cfg: ClusterConfig) -> np.ndarray:
    """Each headline's story, clustering them as one dated block."""
    n = len(titles)
    langs = ["en"] * n
    found = cluster(vectorize(documents(titles, [""] * n), langs, cfg), langs,
                    19000.0 + np.arange(n) % 5, [f"h{i:03d}" for i in range(n)], cfg,
                    embeddings=embeddings, headline_only=np.ones(n, dtype=bool))
    return found.stories.of_event[found.labels]


@pytest.mark.parametrize("seed", [2, 7])
def test_headline_events_of_a_thread_join_by_meaning_where_their_words_do_not(
        seed: int) -> None:
    """A thread's events share no name, only the beat's words, as the other threads'
    do: by words alone every thread falls into one story of the beat.  With embeddings
    (``cluster.headline_story_embedding_share``) each thread is one story and the
    threads stay apart (so on 9 of 12 seeds tried; on the others two threads still meet
    through the beat's words, or one splits)."""
    titles, thread_of, embeddings = threads_told_by_meaning(seed)

    def stories_per_thread_and_threads_per_story(
            story: np.ndarray) -> tuple[list[int], list[int]]:
        return ([len(set(story[thread_of == thread].tolist()))
                 for thread in range(thread_of.max() + 1)],
                [len(set(thread_of[story == one].tolist())) for one in set(story.tolist())])

    cfg = ClusterConfig()
    split, mixed = stories_per_thread_and_threads_per_story(
        headline_stories(titles, embeddings, cfg))
    assert split == [1] * len(split) and mixed == [1] * len(mixed)
    for words_only in (headline_stories(titles, None, cfg),
                       headline_stories(titles, embeddings,
                                        ClusterConfig(headline_story_embedding_share=0.0))):
        _, mixed = stories_per_thread_and_threads_per_story(words_only)
        assert max(mixed) > 1, "by words alone a story holds several threads"


def test_a_headline_events_story_similarity_mixes_word_and_embedding_cosine() -> None:
    """Two headline events' average-link similarity is ``1 - s`` of their mean word
    cosine plus ``s`` of their mean embedding cosine; an event with a body has no
    embedding part, and without headline events the words are all there is."""
    rng = np.random.default_rng(3)
    words = sp.random(4, 30, density=0.3, random_state=4, format="csr")
    embeddings = rng.normal(size=(5, 8)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    labels = np.array([0, 0, 1, 2, 3])  # five rows in four events; event 3 has a body
    headline_event = np.array([True, True, True, False])
    size = np.array([2.0, 1.0, 1.0, 1.0])
    cfg = ClusterConfig(headline_story_embedding_share=0.3)
    parts = _story_parts(words, labels, headline_event, embeddings, cfg)
    got = _average_similarity(parts, np.arange(4), size, np.array([0, 0]), np.array([1, 3]))
    word = np.asarray((words @ words.T).todense())
    mean_embedding = (embeddings[0] + embeddings[1]) @ embeddings[2] / 2.0
    assert got[0] == pytest.approx(0.7 * word[0, 1] / 2.0 + 0.3 * mean_embedding)
    assert got[1] == pytest.approx(np.sqrt(0.7) * word[0, 3] / 2.0)
    no_headline = _story_parts(words, labels, np.zeros(4, dtype=bool), embeddings, cfg)
    assert len(no_headline) == 1 and no_headline[0][0] is words


def test_every_event_is_in_one_story_and_copies_follow_their_canonical(tmp_path: Path) -> None:
    made = feed(seed=5)
    copies = [{**record, "id": record["id"] + "-copy", "source": "elsewhere"}
              for record in made.records[::7]]
    out = run(tmp_path, made.records + copies)
    articles = rows(out / "articles.jsonl")
    by_id = {a["id"]: a for a in articles}
    story_of_event: dict[str, set[str]] = defaultdict(set)
    for article in articles:
        story_of_event[article["cluster_id"]].add(article["story_id"])
    assert all(len(stories) == 1 for stories in story_of_event.values())
    for copy in copies:
        placed, original = by_id[copy["id"]], by_id[copy["id"].removesuffix("-copy")]
        assert placed["duplicate_of"] == original["id"]
        assert (placed["cluster_id"], placed["story_id"]) == (original["cluster_id"],
                                                              original["story_id"])
    clusters = rows(out / "clusters.jsonl")
    assert all(c["story_id"] == by_id[c["members"][0]["id"]]["story_id"] for c in clusters)


def test_stories_manifest_lists_each_event_once_in_time_order(tmp_path: Path) -> None:
    out = run(tmp_path, feed(seed=7).records)
    articles = rows(out / "articles.jsonl")
    clusters = {c["cluster_id"]: c for c in rows(out / "clusters.jsonl")}
    stories = rows(out / "stories.jsonl")
    assert [s["size"] for s in stories] == sorted((s["size"] for s in stories), reverse=True)
    by_id = {a["id"]: a for a in articles}
    listed = [event["cluster_id"] for story in stories for event in story["events"]]
    assert sorted(listed) == sorted(clusters)
    story_sizes = groups(articles, "story_id")
    for story in stories:
        events = story["events"]
        assert story["size"] == len(story_sizes[story["story_id"]]) == sum(
            e["size"] for e in events)
        assert [e["first"] for e in events] == sorted(e["first"] for e in events)
        assert story["first"] == events[0]["first"]
        assert story["last"] == max(e["last"] for e in events)
        for event in events:
            cluster = clusters[event["cluster_id"]]
            assert cluster["story_id"] == story["story_id"]
            assert event["title"] == cluster["representative"]["title"]
            lead = by_id[cluster["representative"]["id"]]
            assert (event["source"], event["published"]) == (lead.get("source"),
                                                             lead.get("published"))
        representative = story["representative"]["id"]
        assert {a["story_id"] for a in articles if a["id"] == representative} == {
            story["story_id"]}
        assert story["top_terms"]


def test_story_ids_do_not_depend_on_input_order_chunks_or_workers(tmp_path: Path) -> None:
    records = feed(seed=11).records
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    first = run(tmp_path, records, "first")
    second = run(tmp_path, shuffled, "second", **{"run.chunk_size": 17, "run.workers": 2})
    story_of = {a["id"]: a["story_id"] for a in rows(first / "articles.jsonl")}
    assert story_of == {a["id"]: a["story_id"] for a in rows(second / "articles.jsonl")}
    assert (first / "stories.jsonl").read_bytes() == (second / "stories.jsonl").read_bytes()


def test_seeds_are_one_story_of_five_events(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parent.parent
    out = tmp_path / "seeds"
    run_job([str(repo / "seeds")], out, load_config(overrides=['embed.model="off"']))
    articles = rows(out / "articles.jsonl")
    assert len(articles) == 5
    assert len({a["story_id"] for a in articles}) == 1
    (story,) = rows(out / "stories.jsonl")
    assert len(story["events"]) == len({a["cluster_id"] for a in articles}) == 5


# Short English lines the n-gram model alone gives to other languages.
MISREAD = ["Banana prices tumble", "Regulator demands answers", "Retail sales slump",
           "Senate passes budget", "Talks stall again"]


def test_a_sites_languages_decide_its_ambiguous_headlines() -> None:
    cfg = LanguageConfig()
    alone = [d.lang for d in detect_languages(MISREAD, [""] * len(MISREAD), cfg)]
    assert all(lang != "en" for lang in alone), "the lines are ambiguous on their own"
    site_pages = SiteLanguages.counted(["news.example"] * 50, ["en"] * 50)
    prior = SitePrior.of(site_pages).log_prior(["news.example"] * len(MISREAD), cfg)
    helped = [d.lang for d in detect_languages(MISREAD, [""] * len(MISREAD), cfg, prior)]
    assert helped == ["en"] * len(MISREAD)
    longer = "Die Staats- und Regierungschefs treffen sich nächste Woche in Paris."
    assert detect_languages([longer], [""], cfg, prior[:1])[0].lang == "de", \
        "a clear text in another language is not overruled"


def test_site_language_counts_add_up_the_same_in_any_chunking() -> None:
    rng = random.Random(2)
    sites = [rng.choice(["a", "b", "c"]) for _ in range(300)]
    langs = [rng.choice(["en", "de", "und", "hy"]) for _ in range(300)]
    whole = SiteLanguages.counted(sites, langs)
    parts = [SiteLanguages.counted(sites[i:i + 37], langs[i:i + 37]) for i in range(0, 300, 37)]
    summed = SiteLanguages.summed([p.sites for p in parts], [p.columns for p in parts],
                                  [p.pages for p in parts])
    for name in ("sites", "columns", "pages"):
        assert np.array_equal(getattr(whole, name), getattr(summed, name))
    assert int(whole.pages.sum()) == sum(lang in ("en", "de") for lang in langs)
