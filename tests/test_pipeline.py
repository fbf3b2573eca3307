"""End-to-end runs of the job: the seeds, and a generated multilingual corpus with known truth."""

from __future__ import annotations

import gc
import pickle
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from synthetic import make_corpus

from dedup.algorithms.cluster import ClusterConfig, feature_index
from dedup.cli import main
from dedup.config import load_config
from dedup.io.spool import json_bytes
from dedup.io.write import (
    LEAD_CHARS,
    Placement,
    article_row_parts,
    cluster_description,
    cluster_line,
    member_entry,
    member_head,
    placed_row,
    row_fields,
)
from dedup.job.run import run_job
from dedup.job.tasks import (
    ChunkFiles,
    band_keys_path,
    chunk_path,
    describe_representatives,
    signatures_path,
)
from dedup.records import Record

SEEDS = Path(__file__).parent.parent / "seeds"
SEED_CRUFT = ["ua en ru", "Share.", "Leave A Reply", "Exit mobile version", "Comments",
              "Author: Daryna Vialko", "The Kyiv IndependentChris York"]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All rows of a JSONL file."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as JSONL and return the path."""
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of the CLI on the seeds folder."""
    out = tmp_path_factory.mktemp("seeds") / "out"
    assert main(["run", str(SEEDS), "--out", str(out), "--workers", "1"]) == 0
    return out


def test_seeds_lose_cruft_and_keep_every_sentence(seeds_run: Path) -> None:
    articles = {a["id"]: a for a in read_jsonl(seeds_run / "articles.jsonl")}
    assert len(articles) == 5
    for path in sorted(SEEDS.glob("*.txt")):
        article = articles[path.stem]
        output_lines = {line.strip() for line in
                        (article["title"] + "\n" + article["text"]).split("\n")}
        for cruft in SEED_CRUFT:
            assert cruft not in output_lines, (path.name, cruft)
        body = " ".join((article["title"] + "\n" + article["text"]).split())
        for line in path.read_text(encoding="utf-8").split("\n"):
            line = " ".join(line.split())
            is_sentence = len(line.split()) >= 8 and line.endswith((".", '"', "”", "’", "'"))
            if is_sentence and "Photo:" not in line and "ball is in" not in line:
                assert line in body, (path.name, line)
        assert article["lang"] == "en"


def test_seed_teaser_and_caption_are_gone(seeds_run: Path) -> None:
    articles = {a["id"]: a for a in read_jsonl(seeds_run / "articles.jsonl")}
    assert "There will still be war" not in articles["001_5a22a9f7725d6c69"]["text"]
    assert "ball is in" not in articles["001_5a22a9f7725d6c69"]["text"]
    assert "Getty Images" not in articles["000_49556e529cafbafb"]["text"]


def test_seed_outputs_are_complete(seeds_run: Path) -> None:
    report = orjson.loads((seeds_run / "report.json").read_bytes())
    assert report["counts"]["in"] == 5 and report["counts"]["out"] == 5
    assert report["counts"]["rejected"] == 0
    clusters = read_jsonl(seeds_run / "clusters.jsonl")
    assert sum(c["size"] for c in clusters) == 5
    # The seeds cover different coalition meetings months apart: a block this small must
    # not merge them just because every article is every other's neighbour.
    assert len(clusters) >= 3
    for c in clusters:
        assert c["representative"]["id"] == c["members"][0]["id"]
        assert c["top_terms"] and not {"the", "to", "of", "and", "in"} & set(c["top_terms"])
    assert not (seeds_run / ".dedup-work").exists()


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The job over a generated corpus in four languages with known copies and events."""
    records, truth = make_corpus()
    base = tmp_path_factory.mktemp("synthetic")
    source = write_jsonl(base / "in.jsonl", records)
    out = base / "out"
    run_job([str(source)], out, load_config(overrides=["run.workers=2", "run.chunk_size=7"]))
    return out, truth


def test_synthetic_languages(synthetic_run: tuple[Path, dict[str, Any]]) -> None:
    out, truth = synthetic_run
    for article in read_jsonl(out / "articles.jsonl"):
        assert article["lang"] == truth[article["id"]]["lang"], article["id"]


def test_synthetic_duplicate_groups_are_exactly_the_copies(
        synthetic_run: tuple[Path, dict[str, Any]]) -> None:
    out, truth = synthetic_run
    articles = {a["id"]: a for a in read_jsonl(out / "articles.jsonl")}
    groups: dict[str, set[str]] = defaultdict(set)
    for article_id, article in articles.items():
        groups[article["dup_group"]].add(truth[article_id]["copy_of"])
        canonical = articles[article["dup_group"]]
        assert canonical["duplicate_of"] is None
        assert article["duplicate_of"] == (None if article is canonical else canonical["id"])
        assert len(canonical["text"]) >= len(article["text"])
    assert all(len(originals) == 1 for originals in groups.values())
    assert len(groups) == len({t["copy_of"] for t in truth.values()})


def test_synthetic_clusters_are_the_events(synthetic_run: tuple[Path, dict[str, Any]]) -> None:
    out, truth = synthetic_run
    by_cluster: dict[str, set[str]] = defaultdict(set)
    for article in read_jsonl(out / "articles.jsonl"):
        by_cluster[article["cluster_id"]].add(truth[article["id"]]["event"])
    events = {t["event"] for t in truth.values()}
    assert all(len(found) == 1 for found in by_cluster.values())
    assert len(by_cluster) == len(events)


def test_synthetic_manifest_matches_articles(synthetic_run: tuple[Path, dict[str, Any]]) -> None:
    out, _ = synthetic_run
    articles = {a["id"]: a for a in read_jsonl(out / "articles.jsonl")}
    clusters = read_jsonl(out / "clusters.jsonl")
    assert sum(c["size"] for c in clusters) == len(articles)
    for c in clusters:
        rep = articles[c["representative"]["id"]]
        assert rep["is_representative"] and rep["cluster_id"] == c["cluster_id"]
        assert {m["id"] for m in c["members"]} == {
            i for i, a in articles.items() if a["cluster_id"] == c["cluster_id"]}
        assert c["unique"] == sum(1 for m in c["members"] if m["duplicate_of"] is None)
        members = [articles[m["id"]] for m in c["members"]]
        assert [(m["title"], m["source"], m["published"]) for m in c["members"]] == [
            (a["title"], a.get("source"), a.get("published")) for a in members]
        assert c["languages"] == dict(sorted(Counter(a["lang"] for a in members).items()))
        dates = [a["published"] for a in members if a.get("published")]
        assert (c["first"], c["last"]) == (min(dates, default=None), max(dates, default=None))
        assert c["first"] <= c["last"]
        assert c["representative"]["title"] == rep["title"]
        assert c["representative"]["lead"] == rep["text"][:300]
        assert c["top_terms"]


# language x period blocks; blocks split over pairing parts and agglomeration groups
@pytest.mark.parametrize("settings", [[], ["cluster.block_days=30"],
                                      ["cluster.search_task_rows=5"]])
def test_output_bytes_do_not_depend_on_workers_or_chunks(tmp_path: Path,
                                                         settings: list[str]) -> None:
    records, _ = make_corpus(seed=3, per_language=2)
    source = write_jsonl(tmp_path / "in.jsonl", records)
    outputs = []
    for workers, chunk in [(1, 1000), (2, 5)]:
        out = tmp_path / f"out-{workers}-{chunk}"
        run_job([str(source)], out, load_config(
            overrides=[f"run.workers={workers}", f"run.chunk_size={chunk}", *settings]))
        outputs.append({name: (out / name).read_bytes()
                        for name in ("articles.jsonl", "clusters.jsonl", "rejects.jsonl")})
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("chunk_size", [1000, 1])  # 1: chunks where every record is rejected
def test_every_record_is_accounted_for(tmp_path: Path, chunk_size: int) -> None:
    good = [{"id": "a", "title": "Talks in Paris", "text": "Leaders met in Paris on Monday."},
            {"id": "a", "title": "Same id", "text": "A different article reusing the id."},
            {"title": "No id here", "text": "This record has no id at all, so it gets one."},
            {"id": "feed", "title": "Headline only, from a feed"},
            {"id": "caption", "text": "Photo: The minister said the talks would resume next "
                                      "week in Geneva (Reuters)"}]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in good)
                       + b'{"id": "broken", "title": \n'
                       + b'[1, 2, 3]\n'
                       + b'{"id": "empty", "title": "", "text": "  "}\n'
                       + b'{"id": "cruft", "title": "", "text": "Share.\\nLeave A Reply"}\n'
                       + b'{"id": "typed", "title": ["not", "text"]}\n')
    out = tmp_path / "out"
    report = run_job([str(source)], out, load_config(
        overrides=["run.workers=1", f"run.chunk_size={chunk_size}"]))
    counts = report["counts"]
    assert counts["in"] == 10 and counts["out"] == 5 and counts["rejected"] == 5
    assert counts["rejected_by_reason"] == {"empty": 1, "malformed_json": 1, "not_an_object": 1,
                                            "only_boilerplate": 1, "wrong_field_type": 1}
    articles = read_jsonl(out / "articles.jsonl")
    assert [a["id"] for a in articles][:2] == ["a", "a~2"]
    assert "duplicate_id" in articles[1]["flags"]
    assert articles[2]["id"].startswith("h")
    assert articles[3]["title"] == "Headline only, from a feed" and articles[3]["text"] == ""
    assert "cleaning_skipped" in articles[4]["flags"] and "Geneva" in articles[4]["text"]
    rejects = read_jsonl(out / "rejects.jsonl")
    assert [r["origin"].rsplit(":", 1)[1] for r in rejects] == ["6", "7", "8", "9", "10"]


def test_user_errors_exit_2_before_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["run", str(SEEDS), "--out", str(tmp_path / "o"), "--set", "dedup.nope=1"]) == 2
    assert "unknown config key" in capsys.readouterr().err
    assert main(["run", str(SEEDS), "--out", str(tmp_path / "o"), "--set",
                 "dedup.threshold=high"]) == 2
    assert "dedup.threshold" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    (tmp_path / "a-file").write_text("not a directory")
    assert main(["run", str(SEEDS), "--out", str(tmp_path / "a-file")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "dangling").symlink_to(tmp_path / "gone" / "out")
    assert main(["run", str(SEEDS), "--out", str(tmp_path / "dangling")]) == 2
    assert f"a symbolic link to {tmp_path / 'gone' / 'out'}, which does not exist" in \
        capsys.readouterr().err
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("optional", [
    {},
    {"url": "https://a.example/1", "source": "A \"quoted\" outlet", "published": "2025-03-01",
     "flags": ["title_from_text"]},
])
def test_article_rows_joined_from_parts_equal_whole_rows(optional: dict[str, Any]) -> None:
    """The write pass splices placement fields between spooled row parts; the line must
    be exactly the row serialised whole, keys in the documented order."""
    record = Record(id="a-1", title="Kyiv talks", text="Line one\nЛінія \u2028two", lang="uk",
                    lang_confidence=0.9871, **optional)
    placed = Placement(cluster_id="c-0f", story_id="s-1e", dup_group="a-0",
                       duplicate_of="a-0", is_representative=False)
    whole = {"id": "a-1", "title": "Kyiv talks", "text": "Line one\nЛінія \u2028two",
             "lang": "uk", "lang_confidence": 0.9871, "cluster_id": "c-0f", "story_id": "s-1e",
             "dup_group": "a-0", "duplicate_of": "a-0", "is_representative": False, **optional}
    head, tail = article_row_parts(record)
    line = placed_row(head, tail, placed)
    assert line == json_bytes(whole) + b"\n" and orjson.loads(line) == whole
    assert len(line.decode().splitlines()) == 1  # U+2028 escaped: one line to every reader
    assert b"\n" not in head + tail  # each part is one spool line
    assert row_fields(head, tail) == {k: v for k, v in whole.items()
                                      if k not in ("cluster_id", "story_id", "dup_group",
                                                   "duplicate_of", "is_representative")}


@pytest.mark.parametrize("url", [None, "https://a.example/1?q=\"x\""])
def test_cluster_lines_joined_from_parts_equal_whole_rows(url: str | None) -> None:
    """The manifest splices each cluster's description, made in the write pass, between
    its head and members; the line must be exactly the row serialised whole."""
    text = "Лід \u2028" + "x" * LEAD_CHARS
    row = {"id": "a-1", "title": "Kyiv \"talks\"", "text": text, "url": url}
    head = {"cluster_id": "c-0f", "size": 2, "unique": 1, "languages": {"en": 1, "uk": 1},
            "first": "2025-03-01", "last": None}
    members = [{"id": "a-1", "title": "Kyiv \"talks\"", "source": None, "published": None,
                "similarity": 1.0, "duplicate_of": None},
               {"id": "b-2", "title": "Лід", "source": "Kyiv Post", "published": "2025-03-01",
                "similarity": 0.8125, "duplicate_of": "a-1"}]
    whole = {**head,
             "representative": {"id": "a-1", "title": "Kyiv \"talks\"", "url": url,
                                "lead": text[:LEAD_CHARS]},
             "top_terms": ["kyiv", "лід"], "members": members}
    entries = []
    for member in members:
        parts = article_row_parts(Record(id=member["id"], title=member["title"], text=text,
                                         source=member["source"],
                                         published=member["published"]))
        entries.append(member_entry(member_head(*parts), member["similarity"],
                                    member["duplicate_of"]))
    line = cluster_line(head, cluster_description(row, ["kyiv", "лід"]),
                        b"[" + b",".join(entries) + b"]")
    assert line == json_bytes(whole) + b"\n" and orjson.loads(line) == whole
    assert len(line.decode().splitlines()) == 1
    assert orjson.loads(line) == whole


def test_each_representative_is_described_with_its_own_terms_in_the_order_asked() -> None:
    cfg = ClusterConfig()
    rows = [article_row_parts(Record(id=f"a-{i}", title=title, text=text, lang="en"))
            for i, (title, text) in enumerate([
                ("Flood closes the Vorn bridge", "The Vorn bridge was shut after the flood."),
                ("Talks in Qelmar resume", "Envoys met in Qelmar on Monday for the talks.")])]
    feature = {term: feature_index(term, cfg.n_features)
               for term in ("vorn", "bridg", "flood", "qelmar", "talk", "envoy")}
    chosen = [(0, [feature["vorn"], feature["flood"]]),  # an event and its one-event story
              (1, [feature["qelmar"], feature["envoy"]]),
              (0, [feature["vorn"], feature["flood"]]),
              (0, [feature["bridg"], feature["qelmar"]])]  # a term the article lacks
    described = [orjson.loads(b"{" + d + b"}")
                 for d in describe_representatives(rows, chosen, cfg)]
    assert [(d["representative"]["id"], d["top_terms"]) for d in described] == [
        ("a-0", ["vorn", "flood"]), ("a-1", ["qelmar", "envoys"]), ("a-0", ["vorn", "flood"]),
        ("a-0", ["bridge"])]


def test_input_order_changes_only_the_order_of_article_rows(tmp_path: Path) -> None:
    records, _ = make_corpus(seed=5, per_language=3)
    outputs = []
    for name, order in [("given", records), ("reversed", records[::-1])]:
        source = write_jsonl(tmp_path / f"{name}.jsonl", order)
        run_job([str(source)], tmp_path / name, load_config(
            overrides=["run.workers=1", "run.chunk_size=4"]))
        outputs.append(tmp_path / name)
    given, reversed_ = ((out / "articles.jsonl").read_bytes().splitlines() for out in outputs)
    assert sorted(given) == sorted(reversed_) and given != reversed_
    assert (outputs[0] / "clusters.jsonl").read_bytes() == (
        outputs[1] / "clusters.jsonl").read_bytes()


def test_parquet_input_gives_the_jsonl_output(tmp_path: Path) -> None:
    records, _ = make_corpus(seed=2, per_language=2)
    half = len(records) // 2
    parts = tmp_path / "parts"
    parts.mkdir()
    for number, rows in enumerate([records[:half], records[half:]]):
        pq.write_table(pa.Table.from_pylist(rows), parts / f"part-{number}.parquet")
    (parts / "broken.parquet").write_bytes(b"PAR1 not really parquet")
    jsonl = write_jsonl(tmp_path / "in.jsonl", records)
    run_job([str(jsonl)], tmp_path / "from-jsonl", load_config())
    report = run_job([str(parts / "part-*.parquet"), str(parts / "broken.parquet")],
                     tmp_path / "from-parquet", load_config())
    for name in ("articles.jsonl", "clusters.jsonl"):
        assert (tmp_path / "from-jsonl" / name).read_bytes() == (
            tmp_path / "from-parquet" / name).read_bytes()
    assert report["counts"]["rejected_by_reason"] == {"unreadable_file": 1}


def test_parquet_dates_and_numbers_become_fields(tmp_path: Path) -> None:
    table = pa.table({"id": [17], "title": ["Grid plan agreed"], "text": ["Ministers met."],
                      "published": pa.array([datetime(2025, 3, 20, 10, 0, tzinfo=UTC)])})
    pq.write_table(table, tmp_path / "one.parquet")
    run_job([str(tmp_path)], tmp_path / "out", load_config())
    [article] = read_jsonl(tmp_path / "out" / "articles.jsonl")
    assert article["id"] == "17" and article["published"].startswith("2025-03-20T10:00:00")


def test_parquet_copies_hold_the_jsonl_rows(tmp_path: Path) -> None:
    records, _ = make_corpus(seed=4, per_language=2)
    source = write_jsonl(tmp_path / "in.jsonl", records)
    run_job([str(source)], tmp_path / "out", load_config(
        overrides=["write.parquet=true", "write.kept_only=true"]))
    assert_parquet_holds_the_jsonl(tmp_path / "out", ("articles", "clusters", "stories", "kept"))


def assert_parquet_holds_the_jsonl(out: Path, names: Sequence[str]) -> None:
    """Each ``name.parquet`` holds the rows of ``name.jsonl``, every field."""
    for name in names:
        rows = read_jsonl(out / f"{name}.jsonl")
        table = pq.read_table(out / f"{name}.parquet")
        copied = table.to_pylist(maps_as_pydicts="strict")
        assert len(copied) == len(rows)
        for row, copy in zip(rows, copied, strict=True):  # absent fields come back null
            assert {k: v for k, v in copy.items() if v is not None} == {
                k: v for k, v in row.items() if v is not None}


def test_kept_holds_one_article_per_duplicate_group(tmp_path: Path) -> None:
    records, truth = make_corpus(seed=6, per_language=3)
    source = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    assert main(["run", str(source), "--out", str(out), "--kept-only", "--workers", "2",
                 "--set", "run.chunk_size=5"]) == 0
    articles = read_jsonl(out / "articles.jsonl")
    kept = read_jsonl(out / "kept.jsonl")
    assert any(a["duplicate_of"] for a in articles)  # the corpus has copies to leave out
    assert sorted(a["dup_group"] for a in kept) == sorted({a["dup_group"] for a in articles})
    assert all(a["duplicate_of"] is None and a["dup_group"] == a["id"] for a in kept)
    kept_ids = {a["id"] for a in kept}
    for article in articles:
        assert (article["id"] in kept_ids) != (article["duplicate_of"] in kept_ids)
    # the rows are articles.jsonl's, bytes and order kept
    lines = (out / "articles.jsonl").read_bytes().splitlines(keepends=True)
    assert (out / "kept.jsonl").read_bytes() == b"".join(
        line for line, a in zip(lines, articles, strict=True) if a["id"] in kept_ids)
    assert len(kept) == len({t["copy_of"] for t in truth.values()}) < len(articles)
    # an output of the run like the others: the next run without it removes it
    assert main(["run", str(source), "--out", str(out), "-q", "--workers", "1"]) == 0
    assert not (out / "kept.jsonl").exists()


def test_article_parts_are_articles_jsonl_cut_per_chunk(tmp_path: Path) -> None:
    records, _ = make_corpus(seed=4, per_language=2)
    source = write_jsonl(tmp_path / "in.jsonl", records)
    settings = ["run.workers=2", "run.chunk_size=7"]
    run_job([str(source)], tmp_path / "whole", load_config(overrides=settings))
    out = tmp_path / "parts"
    run_job([str(source)], out, load_config(  # an earlier run with more, smaller parts
        overrides=["run.workers=2", "run.chunk_size=3", "write.article_parts=true"]))
    run_job([str(source)], out, load_config(
        overrides=[*settings, "write.article_parts=true", "write.parquet=true"]))
    parts = sorted((out / "articles").glob("*"))
    assert [p.name for p in parts] == [f"part-{i:06d}.jsonl" for i in range(-(-len(records) // 7))]
    assert b"".join(p.read_bytes() for p in parts) == (
        tmp_path / "whole" / "articles.jsonl").read_bytes()
    assert not (out / "articles.jsonl").exists()
    assert (out / "clusters.jsonl").read_bytes() == (
        tmp_path / "whole" / "clusters.jsonl").read_bytes()
    ids = [row["id"] for row in read_jsonl(tmp_path / "whole" / "articles.jsonl")]
    assert pq.read_table(out / "articles.parquet").column("id").to_pylist() == ids


def test_chunk_files_name_every_chunks_file_and_pickle_small(tmp_path: Path) -> None:
    """Tasks reading one file of every chunk get its names, not a list 3 MB long."""
    files = ChunkFiles(tmp_path, 50_000, signatures_path)
    assert len(files) == 50_000 and len(pickle.dumps(files)) < 300
    assert files[7] == signatures_path(chunk_path(tmp_path, 7))
    assert files[-1] == tmp_path / "chunk-049999-signatures.npy"
    assert list(ChunkFiles(tmp_path, 2, band_keys_path)) == [
        tmp_path / "chunk-000000-bands.npy", tmp_path / "chunk-000001-bands.npy"]
    with pytest.raises(IndexError):
        files[50_000]


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_leaves_the_garbage_collector_as_it_found_it(enabled: bool,
                                                           tmp_path: Path) -> None:
    """Chunk tasks pause the collector's cycle detection (the clean stage's CPU); a run
    in the caller's process gives it back as the caller had it."""
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        run_job([str(SEEDS)], tmp_path / "out", load_config(
            overrides=["run.workers=1", 'embed.model="off"']))
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
