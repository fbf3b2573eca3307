"""Incremental runs with an index: copies and events across runs, stable ids, a killed
append, a concurrent one, settings that do not match, an index on ``memory://``, and
the index commands.  Generated corpora of invented words only."""

from __future__ import annotations

import random
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import scipy.sparse as sp
from synthetic import make_corpus
from test_pipeline import assert_parquet_holds_the_jsonl
from test_stories import feed, invented

from dedup.algorithms.continuation import Groups, IndexConfig, continuations
from dedup.cli import main
from dedup.config import load_config
from dedup.io.index import HEAD, LOCK, Index, LocalStorage, Strings
from dedup.job import run as run_module
from dedup.job.incremental import Fed, _clustered_votes
from dedup.job.index_commands import compact_index
from dedup.job.run import run_job

SETTINGS = ["language.trust_input=true", 'embed.model="off"']


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def day_run(tmp_path: Path, records: list[dict[str, Any]], name: str, index: str,
            *settings: str) -> Path:
    """One day's run appending to ``index``; returns its output folder."""
    source = write(tmp_path / f"{name}.jsonl", records)
    run_job([str(source)], tmp_path / name, load_config(overrides=[*SETTINGS, *settings]),
            index=index)
    return tmp_path / name


def rows(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def by_id(out: Path) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows(out / "articles.jsonl")}


def copies_split() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Originals on day one, their syndicated and verbatim copies on day two."""
    records, truth = make_corpus(seed=21, per_language=2)
    first = [r for r in records if truth[r["id"]]["copy_of"] == r["id"]]
    second = [r for r in records if truth[r["id"]]["copy_of"] != r["id"]]
    return first, second, truth


def test_copies_of_earlier_articles_join_their_group_event_and_story(tmp_path: Path) -> None:
    first, second, truth = copies_split()
    index = str(tmp_path / "index")
    before = by_id(day_run(tmp_path, first, "day1", index))
    out = day_run(tmp_path, second, "day2", index, "write.parquet=true")
    after = by_id(out)
    for record in second:
        original = before[truth[record["id"]]["copy_of"]]
        placed = after[record["id"]]
        assert placed["duplicate_of"] == placed["dup_group"] == original["id"]
        assert (placed["cluster_id"], placed["story_id"]) == (original["cluster_id"],
                                                              original["story_id"])
    clusters = rows(out / "clusters.jsonl")
    assert clusters and all(c["continues"] for c in clusters)
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["index"]["copies_of_earlier"] == len(second)
    assert report["index"]["articles_appended"] == 0, "copies of indexed articles not kept again"
    # the counts say what articles.jsonl says: every article a copy, one group per original
    assert report["counts"]["duplicates"] == len(second)
    assert report["counts"]["dup_groups_with_copies"] == len(
        {truth[record["id"]]["copy_of"] for record in second}) < len(second)
    assert_parquet_holds_the_jsonl(out, ("articles", "clusters", "stories"))


def test_a_run_without_index_writes_no_continuation_fields(tmp_path: Path) -> None:
    first, _, _ = copies_split()
    source = write(tmp_path / "in.jsonl", first)
    run_job([str(source)], tmp_path / "out", load_config(overrides=SETTINGS))
    assert "continues" not in rows(tmp_path / "out" / "clusters.jsonl")[0]
    assert "index" not in orjson.loads((tmp_path / "out" / "report.json").read_bytes())


def test_an_id_the_index_holds_names_no_other_article(tmp_path: Path) -> None:
    # day 2 reuses day 1's id for another story: it took over that event's id
    first, second, truth = copies_split()
    index = str(tmp_path / "index")
    day1 = by_id(day_run(tmp_path, first, "day1", index))
    copy = second[0]
    reused = truth[copy["id"]]["copy_of"]
    unrelated, _ = make_corpus(seed=5, per_language=1)  # other made-up words
    again = {**unrelated[0], "id": reused}
    day2 = by_id(day_run(tmp_path, [again, copy], "day2", index))
    renamed = day2[f"{reused}~2"]
    assert reused not in day2 and "duplicate_id" in renamed["flags"]
    assert renamed["cluster_id"] != day1[reused]["cluster_id"]
    assert day2[copy["id"]]["duplicate_of"] == reused
    assert day2[copy["id"]]["cluster_id"] == day1[reused]["cluster_id"]
    events = [row["cluster_id"] for row in rows(tmp_path / "day2" / "clusters.jsonl")]
    assert len(events) == len(set(events))
    day3 = by_id(day_run(tmp_path, [{**again, "id": "later"}], "day3", index))
    assert day3["later"]["duplicate_of"] == f"{reused}~2"


def test_a_day_without_articles_leaves_the_index_as_it_was(tmp_path: Path) -> None:
    first, second, _ = copies_split()
    index = tmp_path / "index"
    for name, records in (("nothing", []), ("rejected", [{"id": "x"}, {"id": "y"}])):
        with pytest.raises(FileNotFoundError):
            (index / HEAD).read_bytes()  # a new index: the first days have no article
        source = write(tmp_path / f"{name}.jsonl", records)
        report = run_job([str(source)], tmp_path / name, load_config(overrides=SETTINGS),
                         index=str(index))
        assert report["counts"]["out"] == 0 and report["warnings"][0].startswith("no article")
        assert report["index"]["articles_appended"] == 0
    day_run(tmp_path, first, "day1", str(index))
    head = (index / HEAD).read_bytes()
    report = run_job([str(tmp_path / "rejected.jsonl")], tmp_path / "again",
                     load_config(overrides=SETTINGS), index=str(index))
    assert report["counts"]["rejected"] == 2 and (index / HEAD).read_bytes() == head
    assert all(row["duplicate_of"] for row in rows(day_run(tmp_path, second, "day2",
                                                            str(index)) / "articles.jsonl"))


def test_every_article_a_copy_of_the_index_is_warned_about(tmp_path: Path) -> None:
    first, _, _ = copies_split()
    index = str(tmp_path / "index")
    day_run(tmp_path, first, "day1", index)
    report = run_job([str(write(tmp_path / "copy.jsonl", first))], tmp_path / "copy",
                     load_config(overrides=SETTINGS), index=index)  # another file: not refused
    assert report["warnings"][-1].startswith(f"every article ({len(first)}) is a copy of one "
                                             f"the index {index} already holds")


def halves(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], ...]:
    """Each event's first reports in one run, the rest in the next (in time order)."""
    ordered = sorted(records, key=lambda r: (r["published"], r["id"]))
    first = [r for r in ordered if int(r["id"][-1]) < 3]
    return first, [r for r in ordered if int(r["id"][-1]) >= 3]


def partition(articles: dict[str, dict[str, Any]], key: str) -> set[frozenset[str]]:
    """The articles grouped by ``key``."""
    found: dict[str, set[str]] = defaultdict(set)
    for record_id, article in articles.items():
        found[article[key]].add(record_id)
    return {frozenset(members) for members in found.values()}


def test_events_and_stories_continue_across_runs_as_one_run_groups_them(
        tmp_path: Path) -> None:
    made = feed(seed=3)
    first, second = halves(made.records)
    index = str(tmp_path / "index")
    earlier = by_id(day_run(tmp_path, first, "day1", index))
    articles = {**earlier, **by_id(day_run(tmp_path, second, "day2", index))}
    source = write(tmp_path / "all.jsonl", made.records)
    run_job([str(source)], tmp_path / "all", load_config(overrides=SETTINGS))
    whole = by_id(tmp_path / "all")
    assert partition(articles, "cluster_id") == partition(whole, "cluster_id")
    assert partition(articles, "story_id") == partition(whole, "story_id")
    for record_id, article in earlier.items():  # the ids of day one are kept
        assert all(articles[other]["cluster_id"] == article["cluster_id"]
                   for other in articles if whole[other]["cluster_id"]
                   == whole[record_id]["cluster_id"])
    kinds = {articles[i]["story_id"] for i, truth in made.story.items() if truth in ("s1", "s2")}
    assert len(kinds) == 2, "events of one kind months apart stay apart"


def test_fed_articles_carry_events_over_where_profiles_alone_would_not(
        tmp_path: Path) -> None:
    """With the profiles out of play (a cosine of 1 needed), the earlier articles fed
    along still continue each event as one run groups it; without them the second
    run's reports start new events.  The fed articles never reach the outputs."""
    made = feed(seed=3)
    first, second = halves(made.records)
    source = write(tmp_path / "all.jsonl", made.records)
    run_job([str(source)], tmp_path / "all", load_config(overrides=SETTINGS))
    whole = partition(by_id(tmp_path / "all"), "cluster_id")
    found = {}
    for fed in (5, 0):
        index = str(tmp_path / f"index-{fed}")
        settings = ("index.event_threshold=1.0", f"index.fed_articles={fed}")
        earlier = by_id(day_run(tmp_path, first, f"day1-{fed}", index, *settings))
        today = by_id(day_run(tmp_path, second, f"day2-{fed}", index, *settings))
        assert set(today) == {r["id"] for r in second}
        found[fed] = partition({**earlier, **today}, "cluster_id")
    assert found[5] == whole
    assert found[0] != whole


def events_of_one_kind(seed: int) -> list[dict[str, Any]]:
    """Event "a" (eight reports on days 1-2, three more on day 4) and event "b" of the
    same kind (eight reports on days 4-5): every sentence holds three of the kind's six
    words, one of its event's words and one of its names; among eight unrelated events
    ("f..."), so that the block is large enough for neighbourhoods to count."""
    rng = random.Random(seed)
    common = [invented(rng, 3) for _ in range(60)]
    kind = [invented(rng, 3) for _ in range(6)]
    records = []

    def reports(prefix: str, shared: list[str], days: list[int]) -> None:
        own = [invented(rng, 3) for _ in range(4)]
        names = [invented(rng, 3).capitalize() for _ in range(3)]
        for number, day in enumerate(days):
            def sentence(extra: int) -> str:
                chosen = (rng.sample(shared, len(shared) // 2) + rng.sample(own, 1)
                          + rng.sample(names, 1) + rng.sample(common, extra))
                rng.shuffle(chosen)
                return " ".join(chosen).capitalize() + "."
            records.append({"id": f"{prefix}{number}", "title": sentence(2)[:-1],
                            "text": "\n".join(sentence(6) for _ in range(6)),
                            "published": f"2025-01-{day:02d}T{number:02d}:00:00Z",
                            "source": f"site-{number % 3}", "lang": "en"})

    reports("a", kind, [1, 2] * 4 + [4] * 3)
    reports("b", kind, [4, 5] * 4)
    for other in range(8):
        reports(f"f{other}-", [invented(rng, 3) for _ in range(2)], [1 + 3 * (other % 2)] * 8)
    return records


def test_an_event_of_one_kind_today_does_not_take_an_earlier_one(tmp_path: Path) -> None:
    """Today's reports of another event of the earlier one's kind find its fed articles
    (they share most words) but do not take them, as one run over both days keeps the
    two apart; the earlier event's own later reports continue it.  Fed articles stood
    for their event without its other reports and were taken."""
    records = events_of_one_kind(seed=0)
    source = write(tmp_path / "all.jsonl", records)
    run_job([str(source)], tmp_path / "all", load_config(overrides=SETTINGS))
    whole = by_id(tmp_path / "all")
    assert whole["a0"]["cluster_id"] != whole["b0"]["cluster_id"]
    index = str(tmp_path / "index")
    first = [r for r in records if r["published"] < "2025-01-03"]
    earlier = by_id(day_run(tmp_path, first, "day1", index))
    today = by_id(day_run(tmp_path, [r for r in records if r not in first], "day2", index))
    assert partition({**earlier, **today}, "cluster_id") == partition(whole, "cluster_id")
    assert today["a8"]["cluster_id"] == earlier["a0"]["cluster_id"] != today["b0"]["cluster_id"]


def test_clustered_votes_need_a_share_of_both_events_fed_articles_and_two_headlines() -> None:
    cfg = load_config(overrides=[*SETTINGS, "index.fed_share=0.8"]).index
    # fed articles 0-4 of earlier event 0 (bodies), 5-6 of event 1 (headlines), 7 of 2
    none = Fed.none(2**10)
    fed = Fed(none.rows, np.array([0, 0, 0, 0, 0, 1, 1, 2]),
              np.array([False] * 5 + [True] * 3), none.days, np.zeros(8, dtype=np.int64))
    def votes(joined: list[int], share: IndexConfig = cfg) -> dict[tuple[int, int], float]:
        found = _clustered_votes(np.array(joined), fed, 3, 3, share).tocoo()
        return {(int(t), int(e)): float(n) for t, e, n in zip(found.row, found.col,
                                                               found.data, strict=True)}
    # today's event 0 holds 4 of event 0's 5: 0.8 of them, and all it holds
    assert votes([0, 0, 0, 0, 1, -1, -1, -1]) == {(0, 0): 4.0}
    # 3 of 5 is too few; two headlines of event 1 are enough, one (event 2) is not
    assert votes([0, 0, 0, 1, 1, 2, 2, 0]) == {(2, 1): 2.0}
    # an event of today holding all of event 0 and all of event 1 is most of neither
    assert votes([0, 0, 0, 0, 0, 0, 0, -1]) == {}
    # one headline alone, all its event had fed, is not enough
    assert votes([-1] * 7 + [2]) == {}
    # by default two fifths are enough, of an earlier event's fed articles and of those
    # today's event holds: 3 of 5, and 2 of 5 (two events of today then continue one)
    share = load_config(overrides=SETTINGS).index
    assert share.fed_share == 0.4
    assert votes([0, 0, 0, 1, 1, 2, 2, 0], share) == {(0, 0): 3.0, (1, 0): 2.0, (2, 1): 2.0}
    # event 1's two are 2 of the 7 today's event holds: too few
    assert votes([0, 0, 0, 0, 0, 0, 0, -1], share) == {(0, 0): 5.0}
    # one of event 0's 5 is too few, even when it is all that today's event holds
    assert votes([1, 0, 0, 0, 0, -1, -1, -1], share) == {(0, 0): 4.0}
    # 3 of event 0's 5 and both of event 1's are each two fifths of the 5 it holds: it
    # meets both (and merges them), as the other event of today meets event 0
    assert votes([0, 0, 1, 1, 1, 1, 1, -1], share) == {(0, 0): 2.0, (1, 0): 3.0, (1, 1): 2.0}


def test_second_run_bytes_do_not_depend_on_workers_chunks_or_storage(tmp_path: Path) -> None:
    made = feed(seed=5)
    first, second = halves(made.records)
    index = tmp_path / "index"
    day_run(tmp_path, first, "day1", str(index))
    shutil.copytree(index, tmp_path / "index-b")
    memory = f"memory://dedup-test-{tmp_path.name}/index"
    day_run(tmp_path, first, "day1-memory", memory)
    one = day_run(tmp_path, second, "one", str(index))
    other = day_run(tmp_path, list(reversed(second)), "other", str(tmp_path / "index-b"),
                    "run.workers=2", "run.chunk_size=7")
    stored = day_run(tmp_path, second, "stored", memory)
    for name in ("clusters.jsonl", "stories.jsonl"):
        assert (one / name).read_bytes() == (other / name).read_bytes() \
            == (stored / name).read_bytes(), name
    assert sorted(rows(one / "articles.jsonl"), key=lambda r: r["id"]) == sorted(
        rows(other / "articles.jsonl"), key=lambda r: r["id"])
    for generation in ("gen-000002/events.json", "gen-000002/articles.json"):
        assert (index / generation).read_bytes() == (tmp_path / "index-b" / generation
                                                     ).read_bytes()


def test_a_killed_append_leaves_the_index_as_it_was(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, _ = copies_split()
    index = tmp_path / "index"
    day_run(tmp_path, first, "day1", str(index))
    head = (index / HEAD).read_bytes()
    real_write = LocalStorage.write

    def dies_at_the_head(self: LocalStorage, name: str, data: bytes) -> None:
        if name == HEAD:
            raise KeyboardInterrupt  # the run is stopped after writing its generation
        real_write(self, name, data)

    monkeypatch.setattr(LocalStorage, "write", dies_at_the_head)
    with pytest.raises(KeyboardInterrupt):
        day_run(tmp_path, second, "day2", str(index))
    with pytest.raises(KeyboardInterrupt):  # a new index's first run, killed the same way
        day_run(tmp_path, first, "first", str(tmp_path / "new"))
    monkeypatch.undo()
    assert (index / HEAD).read_bytes() == head
    assert (index / "gen-000002").exists(), "the half-made generation is not named"
    # killed after its outputs were published: their report says the day is not in it
    said = orjson.loads((tmp_path / "day2" / "report.json").read_bytes())["index"]
    assert said["generation"] == 2 and said["committed"] is False
    out = day_run(tmp_path, second, "day2", str(index))  # the same run again
    assert orjson.loads((out / "report.json").read_bytes())["index"]["committed"] is True
    assert all(row["duplicate_of"] for row in rows(out / "articles.jsonl"))
    assert sorted(p.name for p in index.iterdir() if p.name.startswith("gen-")) == [
        "gen-000001", "gen-000002"]
    assert Index.at(str(index)).head() is not None
    # a folder holding a generation and no head is that killed first run's: a new index
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [LOCK, "gen-000001"]
    day_run(tmp_path, first, "first", str(tmp_path / "new"))
    assert Index.at(str(tmp_path / "new")).head() is not None


def cli(*args: str) -> int:
    return main(["run", *args, "-q", "--set", "language.trust_input=true",
                 "--set", 'embed.model="off"'])


def test_user_mistakes_with_the_index_are_refused_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second, _ = copies_split()
    day1 = write(tmp_path / "day1.jsonl", first)
    day2 = write(tmp_path / "day2.jsonl", second)
    index = tmp_path / "index"
    assert cli(str(day1), "--out", str(tmp_path / "o1"), "--index", str(index)) == 0

    def refused(*args: str) -> str:
        capsys.readouterr()
        assert cli(*args) == 2
        assert not (tmp_path / "o2").exists(), "nothing was written"
        return capsys.readouterr().err

    assert "already appended" in refused(str(day1), "--out", str(tmp_path / "o2"),
                                         "--index", str(index))
    assert "dedup.num_perm: index 128, this run 64" in refused(
        str(day2), "--out", str(tmp_path / "o2"), "--index", str(index),
        "--set", "dedup.num_perm=64")
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    assert "not a dedup index" in refused(str(day2), "--out", str(tmp_path / "o2"),
                                          "--index", str(foreign))
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / ".lock").write_text("the user's")
    assert "not a dedup index (it holds .lock" in refused(
        str(day2), "--out", str(tmp_path / "o2"), "--index", str(tmp_path / "locks"))
    assert [(p.name, p.read_text()) for p in (tmp_path / "locks").iterdir()] == [
        (".lock", "the user's")]
    (tmp_path / "a-file").write_text("not a folder")
    assert "Not a directory" in refused(str(day2), "--out", str(tmp_path / "o2"),
                                        "--index", str(tmp_path / "a-file"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / HEAD).write_text('{"format": "something else"}')
    assert "not a dedup index" in refused(str(day2), "--out", str(tmp_path / "o2"),
                                          "--index", str(tmp_path / "bad"))
    assert "folder of its own" in refused(str(day2), "--out", str(tmp_path / "o2"),
                                          "--index", str(tmp_path / "o2" / "index"))
    damaged = tmp_path / "damaged"
    shutil.copytree(index, damaged)
    (damaged / "gen-000001" / "events.npz").write_bytes(b"PK\x03\x04 cut short")
    capsys.readouterr()
    assert cli(str(day2), "--out", str(tmp_path / "o3"), "--index", str(damaged)) == 2
    assert "damaged index, gen-000001 cannot be read" in capsys.readouterr().err
    shutil.rmtree(damaged)
    shutil.copytree(index, damaged)
    signatures = damaged / "gen-000001" / "signatures.npy"
    signatures.write_bytes(signatures.read_bytes()[:-100])
    assert cli(str(day2), "--out", str(tmp_path / "o3"), "--index", str(damaged)) == 2
    assert "damaged index, gen-000001 cannot be read" in capsys.readouterr().err
    older = tmp_path / "older"  # made before dedup.min_line_words: every line signed
    shutil.copytree(index, older)
    head = orjson.loads((older / HEAD).read_bytes())
    del head["settings"]["dedup.min_line_words"]
    (older / HEAD).write_bytes(orjson.dumps(head))
    assert "dedup.min_line_words: index 0, this run 20" in refused(
        str(day2), "--out", str(tmp_path / "o2"), "--index", str(older))
    assert cli(str(day2), "--out", str(tmp_path / "o4"), "--index", str(older),
               "--set", "dedup.min_line_words=0") == 0
    with Index.at(str(index)).storage.locked():  # another run is appending
        assert "another dedup run" in refused(str(day2), "--out", str(tmp_path / "o2"),
                                              "--index", str(index))
    assert cli(str(day2), "--out", str(tmp_path / "o2"), "--index", str(index)) == 0


def test_index_commands_write_nothing_where_there_is_no_index(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / ".lock").write_text("the user's")
    for command in ("stats", "compact"):
        for location, message in ((notes, "not a dedup index"),
                                  (tmp_path / "absent" / "index", "no index there yet")):
            capsys.readouterr()
            assert main(["index", command, str(location)]) == 2
            assert message in capsys.readouterr().err
    assert [(p.name, p.read_text()) for p in notes.iterdir()] == [(".lock", "the user's")]
    assert not (tmp_path / "absent").exists()


def test_index_stats_and_compact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = feed(seed=7)
    first, second = halves(made.records)
    index = str(tmp_path / "index")
    day_run(tmp_path, first, "day1", index, "index.fed_articles=3")
    day_run(tmp_path, second, "day2", index, "index.fed_articles=3")
    assert main(["index", "stats", index, "--json"]) == 0
    stats = orjson.loads(capsys.readouterr().out)
    assert stats["articles"] == len(first) + len(second)  # no copies in this feed
    n_features = load_config().cluster.n_features

    def documents_counted() -> dict[str, int]:
        store = Index.at(index)
        head = store.head()
        assert head is not None
        counted: dict[str, int] = defaultdict(int)
        for name in head.generations:
            for lang, counts in store.read_counts(name).items():
                counted[lang] += counts.documents
                assert counts.terms.size == counts.holding.size > 0
                assert counts.holding.min() >= 1 and counts.terms.max() < n_features
        return dict(counted)

    assert documents_counted() == {"en": stats["articles"]}  # every run's articles
    assert stats["generations"] == 2 and stats["events"] >= stats["open_events"] > 0
    assert stats["first_day"] == "2025-01-01"
    # a short horizon retires all but the newest events; compacting drops them
    assert main(["index", "compact", index, "--set", "index.horizon_days=10",
                 "--set", "index.fed_articles=3"]) == 0
    capsys.readouterr()
    assert main(["index", "stats", index, "--json", "--set", "index.horizon_days=10"]) == 0
    after = orjson.loads(capsys.readouterr().out)
    for command, setting in (("compact", "dedup.num_perm=64"), ("stats", "dedup.num_perm=64"),
                             ("compact", "cluster.n_features=4096")):
        assert main(["index", command, index, "--set", setting]) == 2
        assert "was made with other settings" in capsys.readouterr().err
    assert after["generations"] == 1 and after["articles"] == stats["articles"]
    assert after["events"] == after["open_events"] < stats["events"]
    assert after["bytes"] < stats["bytes"]
    assert documents_counted() == {"en": stats["articles"]}  # summed into the one generation
    # the term counts of the articles a later run is fed are kept
    store = Index.at(index)
    head = store.head()
    assert head is not None
    kept = store.read_rows(head.generations[0], load_config().cluster.n_features)
    assert kept is not None and kept.rows.nnz and len(kept.langs) == kept.articles.size > 0
    # copies of any article are still found after compaction
    copies = [{**r, "id": r["id"] + "-again"} for r in first[:5]]
    out = by_id(day_run(tmp_path, copies, "day3", index))
    assert [out[r["id"] + "-again"]["duplicate_of"] for r in first[:5]] == [
        r["id"] for r in first[:5]]
    assert main(["index", "stats", str(tmp_path / "nothing")]) == 2


def groups(langs: list[str], days: list[float], vectors: list[list[float]]) -> Groups:
    return Groups(langs, np.array(days, dtype=float), np.array(days, dtype=float),
                  sp.csr_matrix(np.array(vectors, dtype=np.float32)))


def test_continuations_prefer_copies_then_cosine_and_record_merges() -> None:
    earlier = groups(["en", "en", "de", "en"], [0, 1, 1, 30],
                     [[1, 0, 0], [0.8, 0.6, 0], [1, 0, 0], [1, 0, 0]])
    today = groups(["en", "en", "en"], [2, 2, 2], [[1, 0, 0], [0, 0, 1], [0, 0, 1]])
    copies = sp.csr_matrix(([2.0], ([2], [1])), shape=(3, 4))
    found = continuations(today, earlier, copies, 0.7, 7.0, np.arange(4),
                          np.array([5, 3, 1, 1]))
    # today 0 meets 0 (1.0) and 1 (0.8): same language, within the window; 2 is German,
    # 3 a month away.  The two earlier events become one, the larger one kept.
    assert found.merged == [(1, 0)]
    assert found.earlier_of.tolist() == [0, -1, 0], "copies of 1 lead where 1 went"


def test_the_python_api_appends_to_an_index(tmp_path: Path) -> None:
    import dedup

    first, second, truth = copies_split()
    options: dict[str, Any] = {"language__trust_input": True, "embed__model": "off"}
    with dedup.run(first, index=tmp_path / "index", **options) as earlier:
        assert earlier.report["index"]["articles_appended"] == len(first)
    with dedup.run(second, index=tmp_path / "index", **options) as today:
        copies = {a["id"]: a["duplicate_of"] for a in today.articles()}
    assert copies == {r["id"]: truth[r["id"]]["copy_of"] for r in second}


def test_stories_continue_their_best_match_and_never_merge_earlier_ones() -> None:
    """Without merges (the story level), the group that met two earlier ones continues
    the closer, and the other stays as it was: merges would chain from run to run."""
    earlier = groups(["en", "en"], [0, 1], [[1, 0, 0], [0.8, 0.6, 0]])
    today = groups(["en", "en"], [2, 2], [[1, 0, 0], [0.8, 0.6, 0]])
    found = continuations(today, earlier, sp.csr_matrix((2, 2)), 0.7, 7.0, np.arange(2),
                          np.array([1, 9]), merge=False)
    assert found.merged == []
    assert found.earlier_of.tolist() == [0, 1]
    merged = continuations(today, earlier, sp.csr_matrix((2, 2)), 0.7, 7.0, np.arange(2),
                           np.array([1, 9]))
    assert merged.merged == [(0, 1)] and merged.earlier_of.tolist() == [1, 1]


def test_a_story_of_today_is_cut_where_its_events_continue_different_stories() -> None:
    """One story of today holds event 0 (continuing earlier story 5), event 1 (earlier
    story 7) and event 2 (new): events 0 and 2 stay together, event 1 keeps its story.
    A story whose events continue one earlier story, or none, is left whole."""
    from dedup.algorithms.cluster import Clustering, Stories
    from dedup.job.incremental import _stories_apart

    top = np.arange(12, dtype=np.int32).reshape(4, 3)
    clustering = Clustering(
        labels=np.array([0, 0, 0, 1, 1, 2, 3]), representative=np.array([0, 3, 5, 6]),
        similarity=np.ones(7, dtype=np.float32), top_features=top,
        stories=Stories(of_event=np.array([0, 0, 0, 1]), representative=np.array([1, 6]),
                        top_features=top[[3, 2]]))
    cut = _stories_apart(clustering, np.array([5, 7, -1, 5]))
    assert cut.stories.of_event.tolist() == [0, 1, 0, 2]
    assert cut.stories.representative.tolist() == [0, 3, 6], "parts speak by their largest event"
    assert cut.stories.top_features.tolist() == [top[0].tolist(), top[1].tolist(),
                                                 top[2].tolist()]
    whole = _stories_apart(clustering, np.array([5, -1, -1, 7]))
    assert whole is clustering


def test_index_strings_read_back_as_the_lists_they_were() -> None:
    """Article ids, events and stories are kept as one UTF-8 buffer: every item, in
    order, whatever its script or length (empty ones too), alone or joined."""
    first = ["nd-1", "", "Київ/новини-3", "東京-7", "a" * 300]
    second = ["z", "ü"]
    kept, more = Strings.of(first), Strings.of(second)
    assert list(kept) == first and len(kept) == len(first)
    assert [kept[i] for i in range(len(first))] == first and kept[-1] == first[-1]
    assert list(Strings.joined([kept, more, []])) == first + second
    assert list(Strings.joined([])) == []
    with pytest.raises(IndexError):
        kept[len(first)]


def test_a_run_killed_without_the_index_is_not_resumed_with_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids are renamed against the index in the chunks' results: a run killed without
    --index (or against another state of the index) must not be resumed with it, or
    an earlier day's id would name two articles."""
    first, second, _ = copies_split()
    index = str(tmp_path / "index")
    day_run(tmp_path, first, "day1", index)
    reused = {**second[0], "id": first[0]["id"]}  # an earlier day's id, another article
    source = write(tmp_path / "day2.jsonl", [reused, *second[1:]])
    cfg = load_config(overrides=[*SETTINGS, "run.chunk_size=3", "run.workers=1"])

    def killed(*args: Any) -> Any:
        raise KeyboardInterrupt  # after every chunk was analysed

    monkeypatch.setattr(run_module, "group_events", killed)
    with pytest.raises(KeyboardInterrupt):
        run_job([str(source)], tmp_path / "day2", cfg)
    monkeypatch.undo()
    report = run_job([str(source)], tmp_path / "day2", cfg, resume=True, index=index)
    assert report["resumed"] is False
    renamed = by_id(tmp_path / "day2")[f"{first[0]['id']}~2"]
    assert renamed["title"] == reused["title"] and "duplicate_id" in renamed["flags"]


def test_a_copys_id_is_never_reused_by_a_later_day(tmp_path: Path) -> None:
    """The index keeps canonical articles only, and its copies' ids beside them: a later
    record with a copy's id is another article, renamed, also after compaction."""
    first, second, truth = copies_split()
    index = str(tmp_path / "index")
    copy = second[0]
    day1 = by_id(day_run(tmp_path, [*first, copy], "day1", index))
    assert day1[copy["id"]]["duplicate_of"] == truth[copy["id"]]["copy_of"]
    other = {**second[1], "id": copy["id"]}  # another article, with the copy's id
    day2 = by_id(day_run(tmp_path, [other], "day2", index))
    assert set(day2) == {f"{copy['id']}~2"}
    assert "duplicate_id" in day2[f"{copy['id']}~2"]["flags"]
    compact_index(index, load_config(overrides=SETTINGS))
    day3 = by_id(day_run(tmp_path, [{**other, "title": "Again"}], "day3", index))
    assert set(day3) == {f"{copy['id']}~3"}


def test_compacting_keeps_when_undated_groups_retire(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Undated events retire after ``index.undated_runs`` runs: compacting two runs into
    one generation must not make old groups look recent again."""
    records, _ = make_corpus(seed=5, per_language=3)
    undated = [{key: value for key, value in r.items() if key != "published"}
               for r in records]
    days = [undated[day::3] for day in range(3)]
    settings = ["index.undated_runs=1"]
    for name in ("plain", "compacted"):
        index = str(tmp_path / f"{name}-index")
        for day, part in enumerate(days):
            day_run(tmp_path, part, f"{name}{day}", index, *settings)
            if name == "compacted" and day == 1:
                compact_index(index, load_config(overrides=[*SETTINGS, *settings]))
    opened = []
    for name in ("plain", "compacted"):
        assert main(["index", "stats", str(tmp_path / f"{name}-index"), "--json",
                     "--set", "index.undated_runs=1"]) == 0
        stats = orjson.loads(capsys.readouterr().out)
        opened.append((stats["open_events"], stats["open_stories"]))
    assert opened[0] == opened[1] and opened[0][0] < len(undated)


def test_a_run_with_the_encoder_on_a_lexical_index_is_warned(tmp_path: Path) -> None:
    """Earlier articles fed without embeddings cannot join today's events by meaning:
    the run says so rather than continue fewer events in silence."""
    records, _ = make_corpus(seed=9, per_language=2)
    index = str(tmp_path / "index")
    day_run(tmp_path, records[::2], "day1", index)
    shutil.copytree(index, tmp_path / "index2")
    source = write(tmp_path / "day2.jsonl", records[1::2])
    report = run_job([str(source)], tmp_path / "day2", load_config(overrides=[
        "language.trust_input=true", 'embed.model="use-multilingual-v3"']), index=index)
    assert report["index"]["fed_without_embeddings"] == report["index"]["articles_fed"] > 0
    assert any("have no embeddings" in warning for warning in report["warnings"])
    lexical = day_run(tmp_path, records[1::2], "day2-lexical", str(tmp_path / "index2"))
    said = orjson.loads((lexical / "report.json").read_bytes())
    assert said["index"]["articles_fed"] > said["index"]["fed_without_embeddings"] == 0
    assert not said["warnings"]
