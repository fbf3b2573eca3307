"""Loud mistakes and the input formats people have: field mappings checked against the
records, presets, runs that produce nothing, stdin, .json, compression, CSV/TSV."""

from __future__ import annotations

import io
import os
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from dedup.cli import main
from dedup.config import load_config
from dedup.discover import InputError
from dedup.pipeline import run_job

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
