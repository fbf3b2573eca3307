"""Loud mistakes and the input formats people have: field mappings checked against the
records, presets, runs that produce nothing, stdin, .json, compression, CSV/TSV."""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import io
import lzma
import os
import subprocess
import sys
import threading
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import fsspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic import make_corpus

from dedup.cli import main
from dedup.config import load_config
from dedup.io.discover import InputError, InputFile, discover_inputs
from dedup.io.read import (
    CsvCutter,
    CsvRows,
    Entry,
    RawItem,
    ReadConfig,
    ValueCutter,
    numbered_items,
    read_batches,
)
from dedup.job.run import run_job
from dedup.records import Record, Reject
from dedup.stages.parse import parse_item

BODY = ("Ministers from twelve countries met in Brussels on Tuesday to agree on a common plan "
        "for the reconstruction of the damaged power grid before the winter.")
ARGS = ["--workers", "1", "--set", "run.chunk_size=3"]


def news_please(index: int) -> dict[str, Any]:
    """One record as news-please writes it."""
    return {"title": f"Grid plan {index} agreed", "maintext": f"Story {index}. {BODY}",
            "description": "A plan.", "url": f"https://news.example/{index}",
            "date_publish": "2020-01-01 10:00:00", "source_domain": "news.example",
            "language": "en", "authors": ["A. Writer"]}


def write_lines(path: Path, records: list[dict[str, Any]]) -> Path:
    """A JSONL file of ``records``."""
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def articles(out: Path) -> list[dict[str, Any]]:
    """The rows of a finished run's articles.jsonl."""
    return [orjson.loads(line) for line in (out / "articles.jsonl").read_bytes().splitlines()]


def test_news_please_records_are_refused_with_the_preset_to_use(tmp_path: Path) -> None:
    dump = write_lines(tmp_path / "np.jsonl", [news_please(i) for i in range(3)])
    with pytest.raises(InputError, match=r"no record has a 'text' or 'html' field .*"
                       r"maintext.*--preset news-please"):
        run_job([str(dump)], tmp_path / "out", load_config())
    assert not (tmp_path / "out").exists()


def test_the_news_please_preset_reads_text_url_and_date(tmp_path: Path) -> None:
    dump = write_lines(tmp_path / "np.jsonl", [news_please(i) for i in range(3)])
    assert main(["run", str(dump), "--out", str(tmp_path / "out"), "--preset", "news-please",
                 *ARGS]) == 0
    rows = articles(tmp_path / "out")
    assert [row["text"].split(".")[0] for row in rows] == ["Story 0", "Story 1", "Story 2"]
    assert rows[0]["url"] == "https://news.example/0"
    assert rows[0]["published"] == "2020-01-01T10:00:00Z"
    assert rows[0]["source"] == "news.example"


def test_a_field_no_record_has_is_refused_naming_the_fields_seen(tmp_path: Path,
                                                                 capsys: Any) -> None:
    dump = write_lines(tmp_path / "np.jsonl", [news_please(i) for i in range(3)])
    code = main(["run", str(dump), "--out", str(tmp_path / "out"), "--set",
                 'read.fields.text="body"', *ARGS])
    error = capsys.readouterr().err
    assert code == 2
    assert "read.fields.text = 'body': no record has this field in the first 3 records" in error
    assert "fields seen: title, maintext" in error and "--preset news-please" in error


def test_a_dotted_path_reads_a_nested_field_of_jsonl_and_parquet(tmp_path: Path,
                                                                 capsys: Any) -> None:
    nested = [{"id": f"n{i}", "title": f"Grid plan {i} agreed",
               "content": {"body": f"Story {i}. {BODY}"},
               "metadata": {"date": f"2025-03-2{i}", "site": {"name": "news.example"}},
               "meta.date": "a field whose name holds a dot is read by that name"}
              for i in range(3)]
    fields = ['read.fields={text="content.body", source="metadata.site.name", '
              'published="metadata.date"}']
    dump = write_lines(tmp_path / "nested.jsonl", nested)
    assert main(["run", str(dump), "--out", str(tmp_path / "out"), "--set", *fields,
                 *ARGS]) == 0
    rows = sorted(articles(tmp_path / "out"), key=lambda row: row["id"])
    assert [(row["text"], row["source"], row["published"]) for row in rows] == [
        (f"Story {i}. {BODY}", "news.example", f"2025-03-2{i}") for i in range(3)]
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in r.items() if k != "meta.date"}
                                         for r in nested]), tmp_path / "nested.parquet")
    assert main(["run", str(tmp_path / "nested.parquet"), "--out", str(tmp_path / "pq"),
                 "--set", *fields, *ARGS]) == 0
    assert sorted(articles(tmp_path / "pq"), key=lambda row: row["id"]) == rows
    dotted = write_lines(tmp_path / "dotted.jsonl", nested)  # the whole name comes first
    assert main(["run", str(dotted), "--out", str(tmp_path / "dot"), "--set",
                 'read.fields.title="meta.date"', *ARGS]) == 0
    assert {row["title"] for row in articles(tmp_path / "dot")} == {nested[0]["meta.date"]}
    capsys.readouterr()
    assert main(["run", str(dump), "--out", str(tmp_path / "typo"), "--set",
                 'read.fields.published="metadata.dat"', *ARGS]) == 2
    error = capsys.readouterr().err
    assert "read.fields.published = 'metadata.dat': no record has this field" in error
    assert "metadata.date" in error  # the nested paths are among the fields seen
    assert main(["run", str(tmp_path / "nested.parquet"), "--out", str(tmp_path / "typo"),
                 "--set", 'read.fields.published="metadata.dat"', *ARGS]) == 2
    assert f"no record has this field in the columns of {tmp_path / 'nested.parquet'} " in \
        capsys.readouterr().err


def test_strict_off_reads_on_regardless(tmp_path: Path) -> None:
    dump = write_lines(tmp_path / "np.jsonl", [news_please(i) for i in range(3)])
    report = run_job([str(dump)], tmp_path / "out",
                     load_config(overrides=["read.strict=false", "run.workers=1"]))
    assert report["counts"]["out"] == 3
    assert all(row["text"] == "" for row in articles(tmp_path / "out"))  # headlines only


def test_a_feed_of_headlines_is_no_mistake(tmp_path: Path) -> None:
    dump = write_lines(tmp_path / "feed.jsonl", [{"id": str(i), "title": f"Headline {i}"}
                                                 for i in range(3)])
    report = run_job([str(dump)], tmp_path / "out", load_config(overrides=["run.workers=1"]))
    assert report["counts"]["out"] == 3


def test_a_run_without_any_article_fails_with_the_reason(tmp_path: Path, capsys: Any) -> None:
    dump = write_lines(tmp_path / "f.jsonl", [{"id": str(i), "body": BODY} for i in range(4)])
    assert main(["run", str(dump), "--out", str(tmp_path / "out"), *ARGS]) == 1
    error = capsys.readouterr().err
    assert "no article: all 4 records were rejected" in error
    assert f"4 of 4 records (100%) were rejected as empty (e.g. {dump}:1)" in error
    report = orjson.loads((tmp_path / "out" / "report.json").read_bytes())
    assert report["warnings"][0].startswith("no article")


def test_dates_in_a_form_not_read_are_counted_and_warned_about(tmp_path: Path,
                                                                capsys: Any) -> None:
    dates = ["2025/03/20", "20/03/2025", "Mar 20th", "2025-03-20"]  # the last one is read
    dump = write_lines(tmp_path / "d.jsonl", [
        {"id": str(i), "title": f"Grid plan {i} <i>agreed</i>", "text": BODY, "published": date}
        for i, date in enumerate(dates)])
    assert main(["run", str(dump), "--out", str(tmp_path / "out"), *ARGS]) == 0
    error = capsys.readouterr().err
    assert "3 of 4 articles (75%) have a published date that could not be read" in error
    report = orjson.loads((tmp_path / "out" / "report.json").read_bytes())
    assert report["counts"]["flagged"] == {"bad_published": 3, "markup_removed": 4}
    assert len(report["warnings"]) == 1
    read_back = write_lines(tmp_path / "ok.jsonl", [  # a few unread dates are no mistake
        {"id": str(i), "title": f"Plan {i}", "text": BODY, "published": date}
        for i, date in enumerate(["2025/03/20", "2025-03-20", "2025-03-21"])])
    report = run_job([str(read_back)], tmp_path / "ok", load_config(overrides=["run.workers=1"]))
    assert report["counts"]["flagged"] == {"bad_published": 1} and report["warnings"] == []


def test_an_input_without_records_fails(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"\n\n")
    assert main(["run", str(tmp_path / "empty.jsonl"), "--out", str(tmp_path / "out"),
                 *ARGS]) == 1
    assert "no article: the inputs hold no record" in capsys.readouterr().err


def test_most_records_rejected_for_one_reason_is_a_warning(tmp_path: Path,
                                                          capsys: Any) -> None:
    dump = tmp_path / "f.jsonl"
    dump.write_bytes(orjson.dumps({"id": "ok", "title": "Grid", "text": BODY}) + b"\n"
                     + b"{broken\n" * 3)
    assert main(["run", str(dump), "--out", str(tmp_path / "out"), *ARGS]) == 0
    captured = capsys.readouterr()
    said = f"3 of 4 records (75%) were rejected as malformed_json (e.g. {dump}:2)"
    assert f"dedup: warning: {said}" in captured.err
    assert f"warning: {said}" in captured.out  # the summary


def test_a_folder_without_readable_files_is_refused(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.xml").write_text("<a/>")
    assert main(["run", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 2
    assert "no readable file in this folder" in capsys.readouterr().err


def test_an_input_folder_inside_the_output_folder_is_named_as_the_mistake(
        tmp_path: Path, capsys: Any) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(orjson.dumps({"id": "a", "title": "Grid", "text": BODY}))
    assert main(["run", str(folder), "--out", str(folder)]) == 2
    said = capsys.readouterr().err
    assert "is the output folder" in said and "choose another --out" in said
    assert sorted(p.name for p in folder.iterdir()) == ["a.jsonl"]  # refused before any work
    assert main(["run", f"{folder}/*.jsonl", "--out", str(folder)]) == 2  # a pattern too
    assert "is the output folder" in capsys.readouterr().err


def test_a_users_folder_inside_the_output_folder_is_read_with_force_as_a_file_there_is(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "mine").mkdir(parents=True)
    (out / "mine" / "a.jsonl").write_bytes(
        orjson.dumps({"id": "a", "title": "Grid", "text": BODY}) + b"\n")
    for named in (out / "mine", out / "mine" / "a.jsonl", f"{out}/mine/*.jsonl"):
        assert main(["run", str(named), "--out", str(out), "--force", *ARGS]) == 0
        assert [row["id"] for row in articles(out)] == ["a"]
    assert (out / "mine" / "a.jsonl").exists()


def test_stdin_is_read_after_its_fields_are_checked(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"".join(orjson.dumps(news_please(i)) + b"\n" for i in range(250))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    report = run_job(["-"], tmp_path / "out", load_config(
        overrides=["run.workers=1"], preset="news-please"))
    assert report["counts"]["in"] == report["counts"]["out"] == 250  # sampled, then all read
    assert report["inputs"] == ["-"]
    assert len({row["id"] for row in articles(tmp_path / "out")}) == 250


def test_a_named_pipe_is_an_input(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    data = b"".join(orjson.dumps({"id": str(i), "title": f"Story {i}", "text": BODY}) + b"\n"
                    for i in range(5))
    writer = threading.Thread(target=pipe.write_bytes, args=(data,))
    writer.start()
    report = run_job([str(pipe)], tmp_path / "out", load_config(overrides=["run.workers=1"]))
    writer.join()
    assert report["counts"]["out"] == 5


def items_of(paths: list[Path], cfg: ReadConfig | None = None) -> list[RawItem | Reject]:
    """Every raw record the reader gives for these files, in order."""
    return [item for batch in read_batches([InputFile(str(p)) for p in paths], 4,
                                           cfg or ReadConfig())
            for _, item in numbered_items(batch)]


def parsed(paths: list[Path], cfg: ReadConfig | None = None) -> list[Record | Reject]:
    """The records (or rejects) these files give, parsed as the workers do."""
    cfg = cfg or ReadConfig()
    return [parse_item(item, cfg) if isinstance(item, RawItem) else item
            for item in items_of(paths, cfg)]


def test_json_files_hold_an_object_an_array_or_json_lines(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(orjson.dumps({"id": "a", "title": "A", "text": "x}\"]"},
                                option=orjson.OPT_INDENT_2).decode())
    array = tmp_path / "array.json"
    array.write_text('[\n  {"id": "b", "title": "B"},\n  {"id": "c", "title": "C"},\n  7\n]\n')
    lines = tmp_path / "lines.json"
    lines.write_text('{"id": "d", "title": "D"}\n{"id": "e", "title": "E"\n'
                     '{"id": "f", "title": "F"}\n')
    ndjson = tmp_path / "x.ndjson"
    ndjson.write_text('{"id": "g", "title": "G"}\n')
    found = parsed([one, array, lines, ndjson])
    assert [r.id if isinstance(r, Record) else (r.origin, r.reason) for r in found] == [
        "a", "b", "c", (f"{array}:4", "not_an_object"), "d",
        (f"{lines}:2", "malformed_json"), "f", "g"]
    assert [r.origin for r in found[:3] if isinstance(r, Record)] == [
        f"{one}:1", f"{array}:2", f"{array}:3"]


def test_a_folder_of_news_please_files_with_the_preset(tmp_path: Path) -> None:
    folder = tmp_path / "np"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.json").write_bytes(orjson.dumps(news_please(i),
                                                        option=orjson.OPT_INDENT_2))
    with pytest.raises(InputError, match="--preset news-please"):
        run_job([str(folder)], tmp_path / "out", load_config())
    report = run_job([str(folder)], tmp_path / "out",
                     load_config(overrides=["run.workers=1"], preset="news-please"))
    assert report["counts"]["out"] == 3
    assert all(row["text"].startswith("Story") for row in articles(tmp_path / "out"))


def test_a_json_value_over_the_limit_is_rejected_while_streaming(tmp_path: Path) -> None:
    dump = tmp_path / "big.json"
    dump.write_bytes(b'[{"id": "a", "title": "' + b"x" * 500 + b'"},\n{"id": "b", "title": "B"}]')
    found = items_of([dump], ReadConfig(max_line_bytes=100))
    assert isinstance(found[0], Reject) and found[0].reason == "line_too_long"
    assert found[0].origin == f"{dump}:1"
    assert isinstance(found[1], RawItem) and found[1].origin == f"{dump}:2"


def test_stdin_may_hold_a_json_array(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = orjson.dumps([{"id": str(i), "title": f"Story {i}", "text": BODY} for i in range(4)])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    report = run_job(["-"], tmp_path / "out", load_config(overrides=["run.workers=1"]))
    assert report["counts"]["out"] == 4


def cut_values(data: bytes, block: int, limit: int = 64) -> list[tuple[str, bytes | str]]:
    """What a ValueCutter makes of ``data`` fed in blocks of ``block`` bytes."""
    cutter = ValueCutter("f", limit)
    entries: list[Entry] = []
    for start in range(0, len(data), block):
        entries.extend(cutter.cut(data[start: start + block]))
    entries.extend(cutter.end())
    return [(entry.origin, entry.reason) if isinstance(entry, Reject) else
            (str(entry.numbers[0]), entry.lines[0]) for entry in entries]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 40))
def test_any_bytes_cut_into_json_values_the_same_in_any_blocks(data: bytes,
                                                               block: int) -> None:
    assert cut_values(data, block) == cut_values(data, len(data) or 1)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 53), 2 ** 53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3), max_leaves=6)


@settings(max_examples=100, deadline=None)
@given(st.lists(json_values, max_size=5), st.integers(1, 30), st.booleans())
def test_a_json_array_is_cut_into_its_elements(values: list[Any], block: int,
                                               indent: bool) -> None:
    text = orjson.dumps(values, option=orjson.OPT_INDENT_2 if indent else 0)
    found = cut_values(text, block, limit=10_000)
    assert [orjson.loads(line) for _, line in found] == values


COMPRESSORS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress,
               ".zst": zstandard.ZstdCompressor().compress}


def plain_files(folder: Path) -> list[Path]:
    """One small file of each text format."""
    folder.mkdir()
    files = {"a.jsonl": b'{"id": "j1", "title": "J1"}\n{"id": "j2", "title": "J2"}\n',
             "b.json": b'[{"id": "a1", "title": "A1"}, {"id": "a2", "title": "A2"}]',
             "c.txt": b"Title of c\nBody of c.\n",
             "d.html": b"<html><head><title>D</title></head><body><article><p>"
                       + BODY.encode() + b"</p></article></body></html>"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files]


def summary_of(found: list[Record | Reject]) -> list[tuple[str, str, str]]:
    """What a reader's records say, origins without the compression suffix."""
    return [(r.id, r.title, r.text) if isinstance(r, Record) else ("", r.reason, "")
            for r in found]


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_every_text_format_may_be_compressed(tmp_path: Path, suffix: str) -> None:
    plain = plain_files(tmp_path / "plain")
    packed = []
    for path in plain:
        packed.append(tmp_path / (path.name + suffix))
        packed[-1].write_bytes(COMPRESSORS[suffix](path.read_bytes()))
    expected = summary_of(parsed(plain))
    assert summary_of(parsed(packed)) == expected
    assert [r.id for r in parsed(packed) if isinstance(r, Record)][-2:] == ["c", "d"]


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_a_truncated_compressed_file_keeps_the_records_before_the_break(
        tmp_path: Path, suffix: str) -> None:
    lines = b"".join(orjson.dumps({"id": f"r{i}", "title": hashlib.sha256(b"%d" % i).hexdigest()})
                     + b"\n" for i in range(20_000))  # over one bzip2 block (900 kB)
    whole = COMPRESSORS[suffix](lines)
    dump = tmp_path / ("cut.jsonl" + suffix)
    dump.write_bytes(whole[: len(whole) // 2])
    found = items_of([dump])
    assert isinstance(found[-1], Reject) and found[-1].reason == "unreadable_file"
    assert len(found) > 10 and all(isinstance(item, RawItem) for item in found[:-2])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(COMPRESSORS)),
       st.sampled_from([".jsonl", ".json", ".csv", ".tsv", ".txt"]),
       st.binary(max_size=200), st.integers(0, 400), st.booleans())
def test_any_compressed_bytes_give_records_or_rejects(suffix: str, kind: str, data: bytes,
                                                      cut: int, compress: bool) -> None:
    import tempfile

    payload = COMPRESSORS[suffix](data)[:cut] if compress else data
    with tempfile.TemporaryDirectory() as folder:
        dump = Path(folder) / ("x" + kind + suffix)
        dump.write_bytes(payload)
        found = parsed([dump])
    assert all(isinstance(r, Record | Reject) for r in found)


def test_csv_and_tsv_with_a_header_take_the_field_mapping(tmp_path: Path) -> None:
    table = tmp_path / "a.csv"
    table.write_bytes(b'\xef\xbb\xbfid,headline,body,date\r\n'
                      b'1,First,"Line one,\r\nline ""two""",2025-03-20\r\n'
                      b'\r\n'
                      b'2,Second,,\r\n'
                      b'3,Third,x,2025-03-21,extra\r\n'
                      b'4,Fourth,"cut off')
    tabs = tmp_path / "b.tsv.gz"
    tabs.write_bytes(gzip.compress(b"id\theadline\tbody\n5\tFifth\tFive\n"))
    cfg = load_config(overrides=['read.fields={title="headline", text="body", '
                                 'published="date"}']).read
    found = parsed([table, tabs], cfg)
    assert [(r.id, r.title, r.text, r.published) if isinstance(r, Record) else
            (r.origin.rsplit("/", 1)[1], r.reason) for r in found] == [
        ("1", "First", 'Line one,\r\nline "two"', "2025-03-20"),
        ("2", "Second", "", None),
        ("a.csv:6", "malformed_csv"),
        ("a.csv:7", "malformed_csv"),
        ("5", "Fifth", "Five", None)]


def test_csv_bytes_that_are_not_utf8_are_read_as_in_a_json_line(tmp_path: Path) -> None:
    # they were replaced by U+FFFD without a flag
    title, text = b"Caf\xe9 closes", b"The caf\xe9 closed, \x93for good\x94."
    (tmp_path / "a.csv").write_bytes(b'id,title,text\nc2,%s,"%s"\n' % (title, text))
    (tmp_path / "a.jsonl").write_bytes(b'{"id":"c2","title":"%s","text":"%s"}\n'
                                       % (title, text))
    found = parsed([tmp_path / "a.csv", tmp_path / "a.jsonl"])
    assert [(r.title, r.text, r.flags) for r in found if isinstance(r, Record)] == [
        ("Café closes", "The café closed, “for good”.", ["invalid_utf8"])] * 2


def test_a_mapped_column_named_twice_is_said_not_read_half(tmp_path: Path) -> None:
    """Which of two ``text`` columns would be read is a guess: the file is not read, and
    the run says why; a repeated column nobody reads is no matter."""
    (tmp_path / "a.csv").write_text("id,title,text,text\n1,T,Body A,Body B\n")
    pq.write_table(pa.Table.from_arrays([pa.array(["1"]), pa.array(["A"]), pa.array(["B"])],
                                        names=["id", "text", "text"]), tmp_path / "b.parquet")
    (tmp_path / "c.csv").write_text("id,title,text,note,note\n3,T,Body C,x,y\n")
    for name in ("a.csv", "b.parquet", "c.csv"):
        report = run_job([str(tmp_path / name)], tmp_path / f"out-{name}",
                         load_config(overrides=["run.workers=1", 'embed.model="off"']))
        if name == "c.csv":
            assert report["counts"]["out"] == 1
            continue
        rejects = [orjson.loads(line) for line in
                   (tmp_path / f"out-{name}" / "rejects.jsonl").read_bytes().splitlines()]
        assert [(r["origin"], r["reason"], r["detail"]) for r in rejects] == [
            (f"{tmp_path / name}:1", "unreadable_file",
             "the header names the column 'text' twice")]
        assert any("the column 'text' twice" in warning for warning in report["warnings"])


def test_a_csv_column_the_header_lacks_is_refused(tmp_path: Path, capsys: Any) -> None:
    table = tmp_path / "a.csv"
    table.write_text("id,title,maintext\n1,First,Body\n")
    assert main(["run", str(table), "--out", str(tmp_path / "out"), "--set",
                 'read.fields.text="body"']) == 2
    assert "fields seen: id, title, maintext" in capsys.readouterr().err


def test_a_csv_run_accounts_for_every_row(tmp_path: Path) -> None:
    table = tmp_path / "a.csv"
    table.write_text("id,title,text\n" + "".join(f'{i},Story {i},"{BODY}\n{i}"\n'
                                                   for i in range(6)) + "9,x,y,z\n")
    report = run_job([str(table)], tmp_path / "out", load_config(overrides=["run.workers=1"]))
    assert (report["counts"]["in"], report["counts"]["out"], report["counts"]["rejected"]) == \
        (7, 6, 1)


def csv_rows(data: bytes, block: int) -> list[tuple[str, bytes | str]]:
    """What the CSV reader makes of ``data`` fed in blocks of ``block`` bytes: each
    row's line number and JSON line, or its reject."""
    cutter, table = CsvCutter("f", 64, ","), CsvRows("f", ",")
    entries = [entry for start in range(0, len(data), block)
               for entry in table.entries(cutter.cut(data[start: start + block]))]
    entries += table.entries(cutter.end())
    return [item for entry in entries for item in
            ([(entry.origin, entry.reason)] if isinstance(entry, Reject) else
             [(str(number), line) for number, line in zip(entry.numbers, entry.lines,
                                                          strict=True)])]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 40))
def test_any_csv_bytes_give_the_same_rows_in_any_blocks(data: bytes, block: int) -> None:
    assert csv_rows(data, block) == csv_rows(data, len(data) or 1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.text(max_size=6), min_size=2, max_size=2), max_size=5),
       st.integers(1, 30))
def test_csv_rows_come_back_as_written(cells: list[list[str]], block: int) -> None:
    text = io.StringIO()
    csv.writer(text).writerows([["a", "b"], *cells])
    expected = [{name: cell for name, cell in zip("ab", row, strict=True) if cell}
                for row in cells]
    found = [orjson.loads(line) for _, line in csv_rows(text.getvalue().encode(), block)
             if isinstance(line, bytes)]
    assert found == expected  # a row of empty cells is a record (rejected "empty")


# CSV cells as people write them: plain ones that may hold a quote past their start
# (``6'2" tall``), and quoted ones (doubled quotes, commas and line ends inside).
PLAIN_CELLS = st.text(alphabet='ab"', max_size=5).filter(lambda cell: cell[:1] != '"')
QUOTED_CELLS = st.text(alphabet='ab,"\n', max_size=6).map(
    lambda cell: '"' + cell.replace('"', '""') + '"')
CSV_BODIES = st.lists(st.lists(PLAIN_CELLS | QUOTED_CELLS, min_size=1, max_size=4)
                      .map(",".join), max_size=5).map(lambda rows: "".join(
                          row + "\n" for row in rows))


@settings(max_examples=300, deadline=None)
@given(CSV_BODIES, st.integers(1, 30))
def test_csv_rows_are_the_csv_modules_even_with_stray_quotes(body: str, block: int) -> None:
    """A quote inside a plain cell is a character, as for the csv module: it must not
    swallow the rows after it."""
    data = "a,b,c\n" + body
    rows = [row for row in csv.reader(io.StringIO(data, newline="")) if row][1:]
    expected = [{name: cell for name, cell in zip("abc", row, strict=False) if cell}
                if len(row) <= 3 else "malformed_csv" for row in rows]
    found = [orjson.loads(line) if isinstance(line, bytes) else line
             for _, line in csv_rows(data.encode(), block)]
    assert found == expected


def test_a_stray_quote_in_a_plain_cell_costs_no_row(tmp_path: Path) -> None:
    for name, delimiter in (("a.csv", ","), ("a.tsv", "\t")):
        table = tmp_path / name
        table.write_text(delimiter.join(["id", "title", "text"]) + "\n" + "".join(
            delimiter.join([f"r{i}", title, f"Body {i} about the race"]) + "\n"
            for i, title in enumerate(['Man 6\'2" tall wins', "Second", 'A "quoted" word',
                                       "Fourth", "Fifth"])))
        report = run_job([str(table)], tmp_path / f"out-{name}",
                         load_config(overrides=["run.workers=1", 'embed.model="off"']))
        assert (report["counts"]["in"], report["counts"]["out"]) == (5, 5)


def same_records_in(folder: Path, records: list[dict[str, Any]]) -> dict[str, Path]:
    """The records written in each format, by name."""
    folder.mkdir()
    lines = b"".join(orjson.dumps(r) + b"\n" for r in records)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    files = {"in.jsonl": lines,
             "in.json": orjson.dumps(records, option=orjson.OPT_INDENT_2),
             "in.csv": table.getvalue().encode(),
             "in.jsonl.zst": COMPRESSORS[".zst"](lines),
             "in.ndjson.bz2": COMPRESSORS[".bz2"](lines)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


def test_every_format_gives_the_jsonl_output_on_both_engines(tmp_path: Path) -> None:
    records, _ = make_corpus(seed=3, per_language=3)
    records.append({"id": "bad", "title": "", "text": ""})  # one reject, accounted for
    inputs = same_records_in(tmp_path / "in", records)
    outputs = {}
    for name, path in inputs.items():
        engine = "dask" if name == "in.json" else "local"
        out = tmp_path / name.replace(".", "-")
        report = run_job([str(path)], out, load_config(overrides=[
            f"run.workers={2 if engine == 'dask' else 1}", "run.chunk_size=7",
            f'run.engine="{engine}"']))
        counts = report["counts"]
        assert (counts["in"], counts["out"], counts["rejected"]) == \
            (len(records), len(records) - 1, 1), name
        outputs[name] = [(out / f).read_bytes() for f in
                         ("articles.jsonl", "clusters.jsonl", "stories.jsonl")]
    assert all(found == outputs["in.jsonl"] for found in outputs.values())


def test_new_formats_read_from_urls_as_from_local_files(tmp_path: Path) -> None:
    records = [{"id": str(i), "title": f"Story {i}", "text": BODY} for i in range(3)]
    local = same_records_in(tmp_path / "in", records)
    root = f"memory://dedup-{uuid.uuid4().hex}"
    for name, path in local.items():
        with fsspec.open(f"{root}/{name}", "wb") as handle:
            handle.write(path.read_bytes())
    try:
        remote = discover_inputs([root]).files
        assert sorted(f.name for f in remote) == sorted(local)
        assert [(r.id, r.text) for r in parsed([Path(p) for p in sorted(local.values())])] == \
            [(r.id, r.text) for r in parsed_files(sorted(remote, key=lambda f: f.name))]
    finally:
        fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)


def parsed_files(files: list[InputFile]) -> list[Record | Reject]:
    """:func:`parsed` of InputFiles (URLs)."""
    cfg = ReadConfig()
    return [parse_item(item, cfg) if isinstance(item, RawItem) else item
            for batch in read_batches(files, 4, cfg) for _, item in numbered_items(batch)]


@pytest.mark.parametrize("name, data", [
    ("array.json", b'[{"id": "a", "text": "' + b"x" * (8 << 20) + b'"}, {"id": "b"}]'),
    ("open.json", b'{"id": "a", "text": "' + b"x" * (8 << 20)),
    ("quoted.csv", b'id,text\n1,"' + b"x\n" * (4 << 20) + b'"\n2,b\n'),
])
def test_a_value_or_row_over_the_limit_is_never_held(tmp_path: Path, name: str,
                                                     data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    del data
    tracemalloc.start()
    try:
        found = items_of([path], ReadConfig(max_line_bytes=1 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 << 20  # the 8 MiB value never whole (blocks of 1 MiB are)
    assert isinstance(found[0], Reject)
    assert found[0].reason in ("line_too_long", "malformed_json")


def test_stdin_is_named_as_such_and_devices_are_inputs(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"".join(orjson.dumps(news_please(i)) + b"\n" for i in range(2))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    with pytest.raises(InputError, match="the first 2 records of stdin"):
        run_job(["-"], tmp_path / "out", load_config())
    assert discover_inputs(["/dev/null"]).files == [InputFile("/dev/null")]
    assert InputFile("/dev/null").is_stream and not InputFile(str(tmp_path)).is_stream


def test_a_name_that_says_nothing_is_read_as_the_file_it_leads_to(tmp_path: Path) -> None:
    """``dedup run /dev/stdin < dump.jsonl`` and a link ``latest`` to a dump read the
    dump; a file whose own name says nothing is still refused."""
    dump = write_lines(tmp_path / "dump.jsonl", [{"id": f"a{i}", "title": f"Title {i}",
                                                  "text": BODY} for i in range(3)])
    with dump.open("rb") as redirected:
        done = subprocess.run([sys.executable, "-m", "dedup.cli", "run", "/dev/stdin", "--out",
                               str(tmp_path / "piped"), *ARGS], stdin=redirected,
                              capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert [a["id"] for a in articles(tmp_path / "piped")] == ["a0", "a1", "a2"]
    (tmp_path / "latest").symlink_to(dump)
    assert main(["run", str(tmp_path / "latest"), "--out", str(tmp_path / "linked"), *ARGS]) == 0
    assert len(articles(tmp_path / "linked")) == 3
    (tmp_path / "plain").write_bytes(dump.read_bytes())
    with pytest.raises(InputError, match="unsupported input"):
        discover_inputs([str(tmp_path / "plain")])


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_compressed_stdin_is_recognised_by_its_first_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    """``cat dump.jsonl.gz | dedup run -``: a stream has no suffix to go by."""
    data = b"".join(orjson.dumps(news_please(i)) + b"\n" for i in range(120))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(COMPRESSORS[suffix](data))))
    report = run_job(["-"], tmp_path / "out", load_config(
        overrides=["run.workers=1"], preset="news-please"))  # sampled, then all read
    assert report["counts"]["in"] == report["counts"]["out"] == 120
    assert len({row["id"] for row in articles(tmp_path / "out")}) == 120


def test_a_mapping_wrong_after_the_first_records_is_warned(tmp_path: Path) -> None:
    """read.fields.text = "body" is checked on the first 100 records; later ones that
    hold "text" and no "body" are flagged and the run warns, not a silent headline."""
    records = [{"id": f"r{i}", "title": f"Title {i}", "body": f"Body number {i} here."}
               for i in range(120)]
    records += [{"id": f"s{i}", "title": f"Other {i}", "text": f"Text number {i} here."}
                for i in range(30)]
    (tmp_path / "a.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    report = run_job([str(tmp_path / "a.jsonl")], tmp_path / "out", load_config(
        overrides=["run.workers=1", 'embed.model="off"', 'read.fields.text="body"']))
    assert report["counts"]["flagged"]["default_field_unread"] == 30
    assert any("flag default_field_unread" in warning for warning in report["warnings"])
    assert "default_field_unread" not in run_job(
        [str(tmp_path / "a.jsonl")], tmp_path / "out2",
        load_config(overrides=["run.workers=1", 'embed.model="off"']))["counts"]["flagged"]
