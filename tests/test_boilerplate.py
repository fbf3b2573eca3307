"""Boilerplate learned from the corpus (dedup/algorithms/boilerplate.py): what repeats
across unrelated articles and on a site's pages goes, what a story repeats stays.  Sites
and articles are generated from invented words in three scripts (tests/sites.py), so
nothing can pass by knowing a string."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from sites import ALPHABETS, Words, make_sites_corpus

from dedup.algorithms import boilerplate
from dedup.algorithms.boilerplate import (
    SENTENCE_BIT,
    SITE_BIT,
    Article,
    KnownLines,
    Thresholds,
    count_stories,
    frames_of,
    groups_learned,
    is_sentence,
    label_of,
    learn_key_range,
    map_lines,
    names,
    pattern_text,
    save_chunk_lines,
    shape_of,
    shapes_of,
    site_ending,
    stable_hash,
    stamp_of,
    story_tokens,
)
from dedup.algorithms.duplicates import key_ranges
from dedup.algorithms.hashing import string_hashes
from dedup.config import load_config
from dedup.job.run import run_job
from dedup.stages.clean import normalise_lines

SETTINGS = ["run.workers=1", 'embed.model="off"']


def norm(line: str) -> str:
    """A line as the scorer compares it: words joined by one space."""
    return " ".join(line.split())


@pytest.fixture(scope="module")
def sites_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any], Path]:
    """The job on the generated sites: the corpus, its articles out, the output folder."""
    corpus = make_sites_corpus()
    folder = tmp_path_factory.mktemp("sites")
    (folder / "in.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n"
                                               for r in corpus.records))
    run_job([str(folder / "in.jsonl")], folder / "out",
            load_config(overrides=[*SETTINGS, "run.chunk_size=17"]))
    articles = {a["id"]: a for a in map(orjson.loads,
                                        (folder / "out" / "articles.jsonl").read_bytes()
                                        .splitlines())}
    return corpus, articles, folder


def test_furniture_of_unseen_sites_goes_and_every_content_line_stays(
        sites_run: tuple[Any, dict[str, Any], Path]) -> None:
    corpus, articles, _ = sites_run
    furniture = kept_furniture = content = lost = 0
    for rid, lines in corpus.furniture.items():
        out = {norm(line) for line in articles[rid]["text"].split("\n")}
        furniture += len(lines)
        kept_furniture += sum(norm(line) in out for line in lines)
        content += len(corpus.content[rid])
        lost += sum(norm(line) not in out for line in corpus.content[rid])
    assert lost == 0, f"{lost} of {content} content lines removed"
    assert kept_furniture / furniture <= 0.03, f"{kept_furniture} of {furniture} kept"


def test_lines_a_story_repeats_on_several_sites_stay(
        sites_run: tuple[Any, dict[str, Any], Path]) -> None:
    """Quotes several articles of a story share, and syndicated copies' lines."""
    corpus, articles, _ = sites_run
    out_lines = {norm(line) for article in articles.values()
                 for line in article["text"].split("\n")}
    assert {norm(line) for line in corpus.shared_content} <= out_lines


def test_report_says_what_was_learned_per_source(
        sites_run: tuple[Any, dict[str, Any], Path]) -> None:
    corpus, _, folder = sites_run
    cleaning = orjson.loads((folder / "out" / "report.json").read_bytes())["cleaning"]
    furniture = sum(map(len, corpus.furniture.values()))
    assert cleaning["by_learned"] > 0.75 * furniture  # the rules catch some of it first
    assert cleaning["lines_removed"] == cleaning["by_learned"] + cleaning["by_rules"]
    kinds = {pattern["kind"] for row in cleaning["sources"] for pattern in row["top_patterns"]}
    assert kinds == {"line", "shape", "label"}
    assert any("<site>" in pattern["pattern"] for pattern in cleaning["top_patterns"])
    sources = {row["source"]: row for row in cleaning["sources"]}
    assert set(sources) == {r["source"] for r in corpus.records}
    for row in sources.values():
        assert row["by_learned"] == sum(p["lines_removed"] for p in row["top_patterns"]) \
            or len(row["top_patterns"]) == 20
        assert row["articles"] > 0


def test_learning_does_not_depend_on_chunks_or_workers(
        sites_run: tuple[Any, dict[str, Any], Path], tmp_path: Path) -> None:
    _, _, folder = sites_run
    run_job([str(folder / "in.jsonl")], tmp_path / "other",
            load_config(overrides=['embed.model="off"', "run.workers=2", "run.chunk_size=1000"]))
    for name in ("articles.jsonl", "clusters.jsonl"):
        assert (tmp_path / "other" / name).read_bytes() == (folder / "out" / name).read_bytes()


# ---------------------------------------------------------------------------------------
# The parts
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "site", "shape"), [
    ("Updated 14 August 2025, 10:30", "", "\x03 \x02 \x03 \x02, \x02:\x02"),
    ("Themen: Zorvak Belim", "", "themen: \x04 \x04"),
    ("Kelda Morn, Vasto Gazet", "Vasto Gazet", "\x04 \x04, \x01"),
    ("Vorn Tel skrivet for 东方通讯社", "", "\x04 skrivet for \x04"),  # a caseless name
    # names in a row are one name where the line has two groups or words in lower case
    ("Skrivet ab Ana de la Vorn Tel for Tarn Agencia", "", "skrivet ab \x04 for \x04"),
    ("Zorvak Belim Tarn skrivet ulnavet", "", "\x04 skrivet ulnavet"),
    ("Kontakt: morn@vastogazet.example", "", "kontakt: \x05"),  # an address
    ("© 2025 Vasto Gazet. Ulna verkat", "Vasto Gazet", "© \x02 \x01. \x04 verkat"),
    ("Αλφα 12.03.2024 10:05", "", "αλφα \x02.\x02.\x02 \x02:\x02"),
])
def test_shapes_mask_numbers_dates_names_and_the_site(line: str, site: str, shape: str) -> None:
    assert shape_of(line, site) == shape


@pytest.mark.parametrize("line", [
    "Comments are closed.",  # nothing to mask: the line itself is its key
    "12 / 34",  # only masked parts: would match any line of numbers
    "The minister said the plan would cost 12 million and take three more years.",
    "Beamte in Velmar erklärten, die Torva-Union werde ihren Plan binnen 12 Tagen vorlegen.",
    "وقال المتحدث إن WhatsApp سيطلق الخدمة.",  # a brand in a caseless line is not its shape
])
def test_sentences_and_telling_nothing_have_no_shape(line: str) -> None:
    assert shape_of(line, "") is None


def test_labels_are_the_few_words_before_a_colon() -> None:
    assert label_of("Fotka: Vorn kelda in the rain") == "fotka"
    assert label_of("VELDO | Zorvak Belim tarn") is None  # a bar sets off a table's cells
    # the site's name counts as one word: "Also on SITE: <Headline>"
    assert label_of("Ern op Vasto Gazet: Zorvak Belim Tarn", "Vasto Gazet") == "ern op \x01"
    # an interviewer named by the outlet asks a question: a format, not furniture
    assert label_of("Vasto Gazet: what did the mayor say about the bridge?", "Vasto Gazet") is None
    assert pattern_text("label", "Ern op Vasto Gazet: Zorvak Belim", "Vasto Gazet") == \
        "ern op <site>: …"


def test_a_site_is_named_by_its_name_as_a_word() -> None:
    assert names("AP reported on Monday", "AP") and names("Photo: ap/Kelda", "AP")
    assert not names("It happened in Japan", "AP") and not names("Gestern sagte er", "stern")


def test_copies_share_story_tokens_and_other_stories_do_not() -> None:
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abdefgiklmnoprstuvz"), 6)) for _ in range(80)]
    text = " ".join(words)
    edited = text.replace(words[30], "zzz").replace(words[60], "yyy")
    other = " ".join(reversed(words[:40])) + " kelda vorn"
    tokens = story_tokens([text, edited, other, "tiny"])
    assert (tokens[0] == tokens[1]).sum() >= 2
    assert not (tokens[0] == tokens[2]).any()
    assert not tokens[3].any()
    assert count_stories(tokens[[0, 1, 2]]) == 2 and count_stories(tokens[[0, 2]]) == 2


def test_story_tokens_do_not_depend_on_the_text_before_in_the_chunk() -> None:
    # Text written without spaces starts few words: its first byte must start one
    # whatever the chunk's text before it ends with (it did not after a letter or a
    # stop, so learning depended on the chunk size).
    unspaced = "".join(chr(0x4E00 + index * 37 % 2000) for index in range(60))
    alone = story_tokens([unspaced])[0]
    assert alone.any()
    for before in ("Closing words without a newline.", "tail", "x\n", ""):
        assert np.array_equal(story_tokens([before, unspaced])[1], alone)


def test_many_strings_hash_at_once_to_what_each_hashes_to_alone() -> None:
    # the index's ids are hashed this way: equal ids meet, others do not
    rng = np.random.default_rng(4)
    ids = ["", "a", "a~2", "ab\x00", "é", "x" * 3000, "\ud800 lone", *(
        "".join(rng.choice(list("abcdefghij~-é"), rng.integers(1, 40))) for _ in range(3000))]
    together = string_hashes(ids)
    assert [int(string_hashes([one])[0]) for one in ids[:50]] == together[:50].tolist()
    assert len(set(together.tolist())) == len(set(ids))
    assert string_hashes([]).shape == (0,)


def test_a_line_rare_in_big_groups_is_not_learned_but_furniture_is() -> None:
    thresholds = Thresholds(min_stories=3, min_share=0.2, min_sites=5, site_min_share=0.05,
                            loose_min_share=0.3)
    group_keys = np.array([1, 2, 3, 4, 5, 6, 7], dtype=np.uint64)
    group_docs = np.array([100, 100, 5, 1, 2, 2, 1], dtype=np.int64)

    def learned(groups: list[int], many_sites: bool = False, key: int = 0) -> list[int]:
        return groups_learned(np.array(groups, dtype=np.uint64), group_keys, group_docs,
                              thresholds, many_sites, thresholds.share_of(key))

    # a line naming its site (an author's bio) needs fewer of the site's pages
    assert learned([1] * 6) == [] and learned([1] * 6, key=SITE_BIT) == [1]
    assert learned([1] * 4, key=SITE_BIT | SENTENCE_BIT) == []

    assert learned([1, 1, 2]) == []  # 2 of 100 pages, 1 of 100
    assert learned([1] * 40 + [3] * 4) == [1, 3]
    # a one-page site counts when many sites show the line on most of their pages ...
    assert learned([4, 3, 3, 3], many_sites=True) == [3, 4]
    assert learned([4, 3, 3, 3]) == [3]
    # ... but not when those sites show it on few of theirs
    assert learned([4, 1, 1], many_sites=True) == []
    assert learned([4, 1, 1, 2, 2], many_sites=True) == []
    # one page in a big group (its language guessed wrong) does not hide what most of
    # the small groups show: 5 pages of 106 in all, but four groups of five
    assert learned([4, 5, 6, 7, 1], many_sites=True) == [4, 5, 6, 7]


def test_a_chunks_keys_do_not_depend_on_the_lines_the_worker_met_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker keeps the keys of lines it met (a site's furniture is in every chunk):
    whatever it holds, how often its generations turn over, and what line limit the
    chunk before had, a chunk's keys are those of a fresh worker."""
    corpus = make_sites_corpus(seed=8, stories=6)
    articles = [Article(r["source"], "xx", normalise_lines(r["text"])) for r in corpus.records]
    chunks = [articles[start:start + 9] for start in range(0, len(articles), 9)]

    def arrays(chunk: list[Article], chars: int) -> tuple[np.ndarray, ...]:
        lines = map_lines(chunk, chars)
        return lines.keys, lines.rows, lines.lines, lines.kinds, lines.tokens

    def keys(limit: int, max_chars: list[int]) -> list[tuple[np.ndarray, ...]]:
        monkeypatch.setattr(boilerplate, "_KNOWN_LINES", KnownLines(limit))
        return [arrays(chunk, chars)
                for chunk, chars in zip(chunks, max_chars * len(chunks), strict=False)]

    def fresh(chars: int) -> list[tuple[np.ndarray, ...]]:
        found = []
        for chunk in chunks:
            monkeypatch.setattr(boilerplate, "_KNOWN_LINES", KnownLines(10**9))
            found.append(arrays(chunk, chars))
        return found

    expected = {chars: fresh(chars) for chars in (40, 200)}
    for limit, max_chars in ((10**9, [200]), (25, [200]), (25, [200, 40])):
        for index, found in enumerate(keys(limit, max_chars)):
            chars = max_chars[index % len(max_chars)]
            assert all(np.array_equal(a, b) for a, b in zip(found, expected[chars][index],
                                                            strict=True))


def test_learned_pairs_do_not_depend_on_how_chunks_or_key_ranges_cut(tmp_path: Path) -> None:
    corpus = make_sites_corpus(seed=8, stories=6)
    articles = [Article(r["source"], "xx", normalise_lines(r["text"])) for r in corpus.records]

    def learned(cut: int, ranges: int) -> np.ndarray:
        folder = tmp_path / f"{cut}-{ranges}"
        folder.mkdir()
        chunks = []
        for index, start in enumerate(range(0, len(articles), cut)):
            chunk = folder / f"chunk-{index:06d}.jsonl"
            lines = map_lines(articles[start:start + cut], 200)
            save_chunk_lines(chunk, lines)
            chunks.append((chunk, lines))
        groups = np.concatenate([lines.groups.reshape(-1) for _, lines in chunks])
        keys, counts = np.unique(groups, return_counts=True)
        parts = [learn_key_range([chunk for chunk, _ in chunks], key_range, keys, counts,
                                 STRICT)
                 for key_range in key_ranges(ranges)]
        return np.sort(np.concatenate([part.pairs for part in parts]))

    whole = learned(len(articles), 1)
    assert whole.size > 0
    assert np.array_equal(learned(7, 5), whole) and np.array_equal(learned(40, 2), whole)


def story(number: int) -> str:
    """A paragraph of its own (long: what story tokens are taken from)."""
    rng = np.random.default_rng(number)
    return " ".join("".join(rng.choice(list("abdefgiklmnoprstuvz"), 7)) for _ in range(40))


# The thresholds most tests learn with: three stories for any line.
STRICT = Thresholds(3, 0.2, 5, 0.05, 0.3)


def learn(records: list[tuple[str, str, str]], folder: Path,
          thresholds: Thresholds = STRICT) -> set[tuple[int, int]]:
    """(article, line number) of the lines learned as boilerplate in ``records`` (site,
    language, text), through the map and reduce sides as the job runs them."""
    from dedup.algorithms.boilerplate import Boilerplate, learned_lines, save_boilerplate

    articles = [Article(site, lang, normalise_lines(text)) for site, lang, text in records]
    chunk = folder / "chunk-000000.jsonl"
    lines = map_lines(articles, 200)
    save_chunk_lines(chunk, lines)
    keys, counts = np.unique(lines.groups.reshape(-1), return_counts=True)
    parts = [learn_key_range([chunk], key_range, keys, counts, thresholds)
             for key_range in key_ranges(3)]
    save_boilerplate(folder / "learned.npy", parts)
    found = learned_lines(chunk, Boilerplate.load(folder / "learned.npy"))
    return {(row, line) for row, numbers in found.items() for line in numbers}


# A per-section footer line as sites print it, in several languages.
SECTION_FOOTERS = {
    "en": "All the news from the ECONOMY desk", "de": "Alle Nachrichten aus dem Ressort Wirtschaft",
    "fr": "Toute l'actualité Économie", "es": "Todas las noticias de Economía",
    "pl": "Wszystkie wiadomości z działu Gospodarka", "tr": "Ekonomi haberlerinin tümü",
    "uk": "Усі новини розділу «Економіка»", "el": "Όλες οι ειδήσεις της Οικονομίας",
    "zh": "经济频道的全部新闻", "ar": "كل أخبار قسم الاقتصاد",
}


@pytest.mark.parametrize("lang", sorted(SECTION_FOOTERS))
def test_a_section_footer_on_a_share_of_a_sites_pages_is_learned(lang: str,
                                                                  tmp_path: Path) -> None:
    """On 4 of 12 pages (the others are another section's); a line on 1 page is not."""
    footer, rare = SECTION_FOOTERS[lang], f"{SECTION_FOOTERS[lang]} 2"
    records = [("site", lang, f"{story(i)}\n" + (footer if i % 3 == 0 else "")
                + ("\n" + rare if i == 1 else "")) for i in range(12)]
    found = learn(records, tmp_path)
    assert {(row, 1) for row in range(0, 12, 3)} <= found
    assert (1, 2) not in found and all(line == 1 for _, line in found)


# Invented letters of a script without case (CJK ideographs), beside tests/sites.py's
# cased ones.
CASELESS = "".join(chr(code) for code in range(0x4E00, 0x4E00 + 40, 2))


@pytest.mark.parametrize("script", [*sorted(ALPHABETS), "caseless"])
def test_a_label_before_sentences_is_a_format_not_furniture(script: str,
                                                           tmp_path: Path) -> None:
    """An interview site's "Q: ...?" / "A: ... ." lines, on every page, stay; its
    caption label before names goes."""
    rng = random.Random(5)
    words = Words(rng, "latin") if script == "caseless" else Words(rng, script)
    if script == "caseless":
        words.alphabet = CASELESS
    ask, answer, caption = words.name(), words.name(), words.name()

    def sentence(end: str) -> str:
        if script == "caseless":
            return words.word() + words.word() + words.word() + end
        return words.sentence(8)[:-1] + end

    pages = [[story(i), f"{ask}: {sentence('?')}", f"{answer}: {sentence('.')}",
              f"{ask}: {sentence('?')}", f"{answer}: {sentence('.')}",
              f"{caption}: {words.name()} {words.name()}"] for i in range(12)]
    found = learn([("site", "xx", "\n".join(page)) for page in pages], tmp_path)
    assert found == {(row, 5) for row in range(12)}


def test_a_site_ending_like_one_and_has_words_of_its_own() -> None:
    assert is_sentence("What did the minister say about it?")
    assert is_sentence("你如何看待这次会议的结果？")
    assert is_sentence("他说 Affinity 的结果已经公布了很久了。")  # scripts mixed
    assert not is_sentence("John Smith for The Daily Vorn.")  # names, one lower-case word
    assert not is_sentence("Ukraine talks stall as leaders meet in Paris")  # no end
    assert not is_sentence("Yes.") and not is_sentence("新华社。")


def test_a_quote_that_reports_on_small_sites_share_stays_and_their_widget_goes(
        tmp_path: Path) -> None:
    """Five small sites (three pages each) report one event, each in its own words, and
    each report holds the same quoted sentence; a widget's call is on one page of each.
    Both are on five sites and a third of their pages: the sentence stays."""
    rng = random.Random(11)
    words = Words(rng, "latin")
    quote = words.sentence(12)
    widget = f"{words.name()} {words.word()} {words.name()}"
    records, where = [], {}
    for site in range(5):
        for page in range(3):
            lines = [story(100 * site + page)]
            if page == 0:
                lines.append(quote)
                where[(len(records), 1)] = "quote"
            if page == 1:
                lines.append(widget)
                where[(len(records), 1)] = "widget"
            records.append((f"site{site}", "xx", "\n".join(lines)))
    found = learn(records, tmp_path)
    assert {where[place] for place in found} == {"widget"}
    assert len(found) == 5


def shipped_thresholds() -> Thresholds:
    """The learner's thresholds as the default configuration sets them."""
    clean = load_config().clean
    return Thresholds(clean.boilerplate_min_stories, clean.boilerplate_min_share,
                      clean.boilerplate_min_sites, clean.boilerplate_site_min_share,
                      clean.boilerplate_loose_min_share)


@pytest.mark.parametrize("script", sorted(ALPHABETS))
def test_lines_naming_the_site_are_furniture_unless_they_are_sentences(
        script: str, tmp_path: Path) -> None:
    """A site's pages carry, each with another author or headline, a byline naming the
    site ("NAME | SITE") and a teaser of its pages ("Also on SITE: A Headline"), each
    form on a few pages: they go.  A sentence naming the site in a quarter of its
    stories ("NAME did not answer SITE's questions."), a format line before a sentence
    and the paragraph stay."""
    rng = random.Random(17)
    words = Words(rng, script)
    site = f"{words.name()} {words.name()}"
    people = [f"{words.name()} {words.name()}" for _ in range(12)]
    also, format_label = f"{words.name()} {words.word()}", words.name()
    records = []
    for page in range(24):
        own = [words.word() for _ in range(40)]
        lines = [" ".join(own), f"{rng.choice(people)} | {site}",
                 f"{also} {site}: {words.name()} {words.name()} {words.name()}",
                 f"{format_label}: {' '.join(own[:10]).capitalize()}."]
        if page % 4 == 0:
            lines.append(f"{rng.choice(people)} {words.word()} {words.word()} {site} "
                         f"{words.word()} {words.word()}.")
        records.append((site, "xx", "\n".join(lines)))
    found = learn(records, tmp_path, shipped_thresholds())
    assert {line for _, line in found} == {1, 2}
    assert len(found) >= 22 * 2  # nearly every page's two


@pytest.mark.parametrize(("line", "frame"), [
    ("→ Vorn kelda tarn belim ulna in the rain.", ("lead→", "lead\0→")),
    ("VELDO | Vorn kelda tarn belim ulna in the rain.", ("lead|", "lead\0veldo |")),
    ("Ern op more → Zorvak Belim", ("lead→", "lead\0ern op more →")),
    ("Vorn kelda tarn belim ulna. Fotka ba Zorvak Belim", ("credit", "credit\0fotka ba \x04")),
    ("Vorn kelda tarn belim (Kreditu: Zorvak/Belim)", ("credit", "credit\0(kreditu: \x04)")),
    ("Zorvak Belim / Tarn Ulnavi", ("names/", "names\0\x04 / \x04")),
    ("Zorvak Belim · Agencia de Tarn Ulnavi", ("names·", "names\0\x04 · \x04")),  # one name
    ("#Zorvak #belim", ("names#", "names\0#\x04 #\x04")),
    ("Zorvak Belim | Tarn Ulnavi", ("names|", "names\0\x04 | \x04")),
    ("Zorvak Belim, Agencia de Tarn", ("names,", "names\0\x04, \x04")),
    ("Zorvak Belim — Tarn Ulnavi", ("names—", "names\0\x04 — \x04")),
])
def test_frames_are_a_lead_in_a_credit_or_names_and_separators(
        line: str, frame: tuple[str, str]) -> None:
    assert frames_of(line, "") == [frame]


@pytest.mark.parametrize("line", [
    "Labour | 412,330 | 38.1%",  # a table's row: a name before the bar
    "Zorvak 2 | Belim 1",  # a result
    "14:05 | Police have closed the bridge",  # a live blog's time
    "— Vorn kelda tarn belim, he said.",  # dialogue and datelines open with dashes
    "Vorn kelda tarn belim. Nobody knows why",  # the next sentence, unfinished
    "Vorn kelda tarn belim ulna (AP)",  # a credit that keeps no word
    "Vorn kelda tarn belim ulna (Serves 4)",  # a number is not a name
    "Zorvak Belim",  # names alone: any short heading
    "Zorvak, Belim",  # a place, its country
    "Zorvak Belim, tarn ulnavi kelda",  # a name, then words
    "#Zorvak",
])
def test_lines_of_content_forms_have_no_frame(line: str) -> None:
    assert frames_of(line, "") == []


def test_the_report_names_a_frame_by_its_fixed_part() -> None:
    line = "Vorn kelda tarn belim ulna. Fotka ba Zorvak Belim"
    (_, credit), = frames_of(line, "")
    key = stable_hash(f"frame\0{credit}")
    assert pattern_text("frame", line, "", key) == "… fotka ba <Name>"
    (_, lead), = frames_of("VELDO | Zorvak belim tarn", "")
    assert pattern_text("frame", "VELDO | Zorvak belim tarn", "",
                        stable_hash(f"frame\0{lead}")) == "veldo | …"


@pytest.mark.parametrize("script", sorted(ALPHABETS))
def test_framed_furniture_alone_goes_and_framed_runs_stay(script: str, tmp_path: Path) -> None:
    """Each page holds, with another headline, caption or person each time, a teaser
    after a lead-in, a caption with a credit, a byline of names and a line of hashtags,
    each alone between paragraphs -- and the same forms in runs, as content writes
    them: a list of arrowed facts, a table's rows, a post's hashtags.  The furniture
    goes, the runs stay."""
    rng = random.Random(23)
    words = Words(rng, script)
    lead, credit = words.word().upper(), f"{words.name()} {words.word()}"
    outlets = [f"{words.name()} {words.name()}" for _ in range(5)]

    def person() -> str:
        return f"{words.name()} {words.name()}"

    records, runs = [], set()
    for page in range(24):
        lines = [story(page),
                 f"{lead} | {words.sentence(9)}",
                 story(1000 + page),
                 f"{words.sentence(7)[:-1]}. {credit} {person()}",
                 story(2000 + page),
                 f"{person()} · {rng.choice(outlets)}",
                 story(3000 + page),
                 f"#{words.name()} #{words.name()}"]
        if page % 3 == 0:
            run = [f"→ {words.sentence(8)}" for _ in range(3)] + \
                [f"{words.name()} {words.name()} · {words.name()}" for _ in range(3)] + \
                [f"#{words.name()} #{words.name()}" for _ in range(2)]
            runs |= {(page, number) for number in range(len(lines), len(lines) + len(run))}
            lines += run
        records.append(("site", "xx", "\n".join(lines)))
    found = learn(records, tmp_path, shipped_thresholds())
    assert not found & runs
    assert found == {(page, line) for page in range(24) for line in (1, 3, 5, 7)}


def test_a_lead_in_before_a_sentence_about_its_page_stays(tmp_path: Path) -> None:
    """A site's updates ("UPDATE | <more of this story>") on every page stay; its
    teasers ("VELDO | <another story's headline>") go."""
    rng = random.Random(29)
    words = Words(rng, "latin")
    update, teaser = words.word().upper(), words.word().upper()
    records = []
    for page in range(12):
        own = [words.word() + "s" for _ in range(30)]  # this page's words (4+ letters)
        update_line = f"{update} | {' '.join(rng.sample(own, 8)).capitalize()}."
        records.append(("site", "xx", "\n".join([
            " ".join(own), update_line, story(page), f"{teaser} | {words.sentence(8)}"])))
    found = learn(records, tmp_path, shipped_thresholds())
    assert found == {(page, 3) for page in range(12)}


@pytest.mark.parametrize("script", sorted(ALPHABETS))
def test_a_label_naming_the_site_leads_its_teasers_not_its_reports(
        script: str, tmp_path: Path) -> None:
    """On every page of a site: its correspondent's line about the page's story
    ("<SITE> <word>: <more of this story>.") and an interviewer named by the outlet
    ("<SITE>: <question>?") stay; a teaser of another story ("<Also> <SITE>: <its
    headline>.") goes."""
    rng = random.Random(31)
    words = Words(rng, script)
    site = f"{words.name()} {words.name()}"
    correspondent, also = words.word(), words.name()
    records = []
    for page in range(12):
        own = [words.word() + words.word() for _ in range(30)]  # this page's words
        records.append((site, "xx", "\n".join([
            " ".join(own),
            f"{site} {correspondent}: {' '.join(rng.sample(own, 8)).capitalize()}.",
            story(page),
            f"{also} {site}: {words.sentence(8)}",
            f"{site}: {' '.join(rng.sample(own, 6)).capitalize()}?"])))
    found = learn(records, tmp_path, shipped_thresholds())
    assert found == {(page, 3) for page in range(12)}


@pytest.mark.parametrize("script", sorted(ALPHABETS))
def test_names_a_report_names_again_stay_and_bylines_go(script: str, tmp_path: Path) -> None:
    """Every page of one site carries a byline, a person and an outlet its text never
    names, around a bar, a comma or a dash; every page of another a match's header,
    two clubs its report names (one of them, on some pages).  The bylines go, the
    headers stay, in whichever form."""
    rng = random.Random(37)
    words = Words(rng, script)
    people = [f"{words.name()} {words.name()}" for _ in range(10)]
    outlets = [f"{words.name()} {words.name()}" for _ in range(4)]
    clubs = [f"{words.name()} {words.name()}" for _ in range(8)]
    separators = [" | ", ", ", " — "]
    records = []
    for page in range(18):
        separator = separators[page % 3]
        home, away = rng.sample(clubs, 2)
        named = f"{home} {words.word()} {away}" if page % 2 else f"{words.word()} {home}"
        records.append(("wire", "xx", "\n".join([
            story(page), f"{rng.choice(people)}{separator}{rng.choice(outlets)}",
            story(100 + page)])))
        records.append(("clubs", "xx", "\n".join([
            f"{home}{separator}{away}", story(200 + page), f"{named} {story(300 + page)}"])))
    found = learn(records, tmp_path, shipped_thresholds())
    assert found == {(2 * page, 1) for page in range(18)}


def test_a_line_ending_with_its_sites_name_is_known_by_its_ends() -> None:
    """Its first words and its last, names, the site and addresses masked; not a short
    line (its shape is its template), nor one that does not end with the site's name or
    an address: a report's formula naming the site ends with the page's news."""
    site = "Vell Gazett"
    first = site_ending("Zorvak Belim is a tarnist ulna kelda for Vell Gazett.", site)
    second = site_ending("Orn Tel Arvik is a tarnist belim for Vell Gazett.", site)
    assert first == second == "\x04 is a tarnist \u2026 \x01."
    assert site_ending("Zorvak told Vell Gazett.", site) is None
    assert site_ending("Zorvak Belim is a tarnist ulna kelda for Orn.", site) is None
    assert site_ending("Vell Gazett has asked Zorvak ulna kelda for comment.", site) is None
    assert site_ending("Zorvak Belim tarn ulna for Vell Gazett kelda. Orn: zb@vell.example",
                       site) == "\x04 tarn ulna for \u2026 \x05"
    assert site_ending("Zorvak Belim is a tarnist ulna kelda for Vell Gazett.", "") is None
    assert pattern_text("shape", "Orn Tel Arvik is a tarnist belim for Vell Gazett.",
                        site) == "<Name> is a tarnist … <site>."


@pytest.mark.parametrize("script", sorted(ALPHABETS))
def test_a_sites_notes_on_its_authors_go_and_its_reports_sentences_stay(
        script: str, tmp_path: Path) -> None:
    """Each page ends with a note on its author naming the site ("<Name> <is a
    reporter> <a beat> <for> <SITE>."), the beat one of five; on a quarter of the pages
    a sentence names the site among other words, and on a third a formula opens with it
    ("<SITE> <has asked> <whom> <for comment>.").  The notes go, the sentences stay."""
    rng = random.Random(41)
    words = Words(rng, script)
    site = f"{words.name()} {words.name()}"
    verb = f"{words.word()} {words.word()}"
    role, particle = words.word(), words.word()
    beats = [" ".join(words.word() for _ in range(rng.randint(1, 3))) for _ in range(5)]
    records = []
    asked = f"{words.word()} {words.word()} {words.word()}"
    for page in range(20):
        lines = [story(page), story(100 + page)]
        if page % 3 == 1:
            lines.insert(1, f"{site} {asked} {words.word()} {words.word()} {words.word()}.")
        if page % 4 == 0:
            lines.insert(1, f"{words.name()} {words.word()} {words.word()} {site} "
                            f"{words.word()} {words.word()} {words.word()}.")
        lines.append(f"{words.name()} {words.name()} {verb} {role} {rng.choice(beats)} "
                     f"{particle} {site}.")
        records.append((site, "xx", "\n".join(lines)))
    found = learn(records, tmp_path, shipped_thresholds())
    assert found == {(page, 2 + (page % 4 == 0) + (page % 3 == 1)) for page in range(20)}


def test_a_title_case_line_keeps_its_words_and_its_loose_shape_makes_them_one_name() -> None:
    """A line of one group of capitalised words after a few short ones is a heading as
    well as a byline: its shape counts the words, its loose shape does not."""
    assert shapes_of("Ulna ab Vorn Tel Arvik", "") == \
        ("ulna ab \x04 \x04 \x04", "ulna ab \x04", None)
    assert shapes_of("Ulna ab Vorn Tel", "")[1] == "ulna ab \x04"
    assert shapes_of("Ulna ab Vorn", "")[1] is None  # one word: nothing to join
    assert shapes_of("Updated Dec 28, 2025 06:54", "")[2] == "updated \x03"
    assert pattern_text("shape", "Ulna ab Vorn Tel", "",
                        stable_hash("shape\0ulna ab \x04")) == "ulna ab <Name>"


@pytest.mark.parametrize(("line", "stamp"), [
    ("Updated 28 Dec 2025 06:54", "updated \x03"),
    ("Updated 12/26/2024 11:00", "updated \x03"),
    ("Updated Dec 28, 2025 06:54", "updated \x03"),
    ("Veröffentlicht am 3. März 2024, 14.05", "veröffentlicht am \x03"),
    ("Ulna 12.03.2024 vo 14:05", "ulna \x03 vo \x03"),  # a stamp word the lexicon lacks
    ("12 March 2024", None),  # only a date: a report's dateline as often as furniture
    ("Ulna 3-1", None),  # a score is not a date
    ("Ulna: 4,312", None),  # nor a figure
    ("Updated 2024", None),  # nothing merged: its shape is its template
])
def test_a_stamp_is_one_template_whatever_form_its_dates_take(line: str,
                                                             stamp: str | None) -> None:
    assert stamp_of(line, "") == stamp


def test_a_sites_stamps_in_several_forms_go_and_its_reports_dates_stay(
        tmp_path: Path) -> None:
    """Every page ends with a stamp whose date takes one of six forms, each on fewer of
    the pages than a line needs; a third of the pages open with a dateline, a date
    alone, in the same forms.  The stamps go, the datelines stay."""
    rng = random.Random(43)
    forms = ["{d} {m} {y} 06:{d:02}", "{d:02}/{d:02}/{y} 11:00", "{m} {d}, {y}",
             "{d}.{d}.{y}, 14:15", "{m} {d} {y}", "{d}-{d}-{y}"]
    records = []
    for page in range(24):
        def when(form: str) -> str:
            return form.format(d=rng.randint(1, 28), m=rng.choice(["March", "Dec", "Mai"]),
                               y=rng.choice([2024, 2025]))
        lines = [story(page), f"Updated {when(forms[page % 6])}"]
        if page % 3 == 0:
            lines.insert(0, when(forms[page % 6]))
        records.append(("site", "xx", "\n".join(lines)))
    found = learn(records, tmp_path, shipped_thresholds())
    assert found == {(page, 1 + (page % 3 == 0)) for page in range(24)}


@pytest.mark.parametrize("script", sorted(ALPHABETS))
def test_teasers_go_and_formats_speaking_of_their_page_stay(script: str, tmp_path: Path) -> None:
    """A label before a sentence: on half of one site's pages a headline of another
    story, naming what the page does not, goes.  A format on every page of another site
    whose sentence names the page's own names or none stays, and so does a third site's
    format that names someone new on a fifth of its pages (below the loose share)."""
    rng = random.Random(47)
    words = Words(rng, script)
    teaser, fmt, note = (f"{words.name()} {words.word()}" for _ in range(3))
    records = []

    def page_lines(page: int) -> tuple[list[str], list[str]]:
        people = [words.name() for _ in range(3)]
        return people, [f"{people[0]} {story(page)}",
                        f"{words.word()} {people[1]} {story(500 + page)}"]

    for page in range(20):
        _, lines = page_lines(page)
        if page % 2 == 0:
            lines.insert(1, f"{teaser.upper()}: {words.sentence(7)[:-1]} {words.name()}.")
        records.append(("teasers", "xx", "\n".join(lines)))
        people, lines = page_lines(100 + page)
        own = f"{words.word()} {people[page % 2]} {words.word()}" if page % 3 else words.word()
        lines.insert(1, f"{fmt}: {words.word().capitalize()} {words.word()} {own} {words.word()}.")
        records.append(("formats", "xx", "\n".join(lines)))
        _, lines = page_lines(200 + page)
        if page % 5 == 0:
            lines.insert(1, f"{note}: {words.name()} {words.name()} {words.word()} {words.word()} "
                            f"{words.word()} {words.name()}.")
        records.append(("notes", "xx", "\n".join(lines)))
    found = learn(records, tmp_path, shipped_thresholds())
    assert found == {(3 * page, 1) for page in range(0, 20, 2)}


def test_a_byline_whose_author_the_sites_note_names_again_goes(tmp_path: Path) -> None:
    """Names a page names again are its subject, unless only the site's own lines
    name them (its note on the author, naming the site)."""
    rng = random.Random(53)
    words = Words(rng, "latin")
    site = f"{words.name()} {words.name()}"
    outlets = [f"{words.name()} {words.name()}" for _ in range(3)]
    records = []
    for page in range(18):
        author = f"{words.name()} {words.name()}"
        records.append((site, "xx", "\n".join([
            story(page), f"{author} | {rng.choice(outlets)}", story(100 + page),
            f"{author} {words.word()} {words.word()} {words.word()} {site} {words.word()}."])))
    found = learn(records, tmp_path, shipped_thresholds())
    assert {(page, 1) for page in range(18)} <= found
