"""Bad input never crashes a run and never vanishes: a corpus of every kind of bad record
through the whole job, and property tests for the reader and the cleaner."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.config import load_config
from dedup.io.read import RawItem, ReadConfig
from dedup.job.run import run_job
from dedup.records import Record, Reject
from dedup.stages.clean import CleanConfig, clean_article
from dedup.stages.extract import ExtractConfig, extract_html
from dedup.stages.parse import parse_item

BODY = ("Ministers from twelve countries met in Brussels on Tuesday to agree on a common plan "
        "for the reconstruction of the damaged power grid before the winter.")
MAX_TEXT = 5000
MAX_LINE = 2_000_000  # read.max_line_bytes, scaled down from 16 MiB


def line(record: dict[str, Any]) -> bytes:
    """One JSONL line."""
    return orjson.dumps(record) + b"\n"


def bad_corpus(folder: Path) -> list[Path]:
    """Input files holding every kind of bad record the job must survive."""
    jsonl = folder / "dump.jsonl"
    jsonl.write_bytes(b"".join([
        line({"id": "good", "title": "Grid plan agreed", "text": BODY}),
        b'{"id": "truncated", "title": "Cut off in the mid\n',
        b"[1, 2, 3]\n",
        b'"just a string"\n',
        line({"id": "typed", "title": "Grid", "text": {"nested": BODY}}),
        line({"id": "no-text"}),
        line({"id": "blank", "title": "  ", "text": "\n\n"}),
        line({"id": "invisible", "title": "\u200c\u200d", "text": "\u200b\ufeff\u2060 \u00ad"}),
        line({"id": "cruft", "title": "", "text": "Share.\nLeave A Reply\nExit mobile version"}),
        b'{"id": "latin1", "title": "Caf\xe9 owners protest", "text": "' + BODY.encode() + b'"}\n',
        line({"id": "nul", "title": "Grid\u0000 plan", "text": BODY + "\u0000"}),
        b"\x00\x9f\x92\xff binary junk \xfe\n",
        line({"id": "huge", "title": "A very long article", "text": (BODY + "\n") * 10_000}),
        line({"id": "dup", "title": "First with this id", "text": BODY}),
        line({"id": "dup", "title": "Second with this id", "text": "Another article. " + BODY}),
        line({"id": "bad-date", "title": "Grid plan", "text": BODY, "published": "last Tuesday"}),
        line({"id": "big-html", "html": "<html><body><article><h1>Grid</h1><p>" + BODY
              + "</p></article>" + "<div><p>filler</p></div>" * 30_000 + "</body></html>"}),
        line({"id": "deep-html", "html": "<html><body>" + "<div>" * 5000 + "deep"
              + "</div>" * 5000 + "</body></html>"}),
        line({"id": "feed", "title": "Headline only, from a feed"}),
        line({"title": "No id given", "text": BODY}),
        line({"id": "giant", "title": "Over the line limit", "text": (BODY + "\n") * 20_000}),
        b'{"id": "surrogate", "title": "Half \\ud800 a pair", "text": "Kyiv. ' + BODY.encode()
        + b'"}\n',
        b'{"id": 123456789012345678901234567890, "title": "Big id", "text": "Lviv. '
        + BODY.encode() + b'"}\n',
        line({"id": "end-of-time", "title": "Late", "text": "Odesa. " + BODY,
              "published": "9999-12-31T23:59:59-14:00"}),
        # each site-name look-up was quadratic: minutes and gigabytes for one record
        line({"id": "separators", "title": "w - " * 30_000, "text": "Kherson. " + BODY}),
        line({"id": "brackets", "title": "Grid plan - Wire", "text": "Sumy. " + BODY,
              "source": "(" * 50_000}),
    ]))
    wide = folder / "wide.jsonl"  # UTF-16 without a byte-order mark
    wide.write_bytes(line({"id": "utf16", "title": "Wide text", "text": BODY}).decode()
                     .encode("utf-16-le"))
    truncated = folder / "cut.jsonl.gz"
    whole = gzip.compress(b"".join(line({"id": f"gz-{i}", "title": f"Story {i}", "text": BODY})
                                   for i in range(50)))
    truncated.write_bytes(whole[: len(whole) // 2])
    return [jsonl, truncated, wide]


def test_every_bad_record_is_kept_flagged_or_rejected_with_a_reason(tmp_path: Path) -> None:
    report = run_job([str(p) for p in bad_corpus(tmp_path)], tmp_path / "out",
                     load_config(overrides=[f"read.max_text_chars={MAX_TEXT}",
                                            f"read.max_line_bytes={MAX_LINE}", "run.workers=2",
                                            "run.chunk_size=4"]))
    articles = {a["id"]: a for a in map(orjson.loads,
                                        (tmp_path / "out" / "articles.jsonl").read_bytes()
                                        .splitlines())}
    rejects = [orjson.loads(r) for r in (tmp_path / "out" / "rejects.jsonl").read_bytes()
               .splitlines()]
    counts = report["counts"]
    assert counts["in"] == counts["out"] + counts["rejected"] == len(articles) + len(rejects)

    reason_of = {r["origin"].rsplit(":", 1)[1] if r["id"] is None else r["id"]: r["reason"]
                 for r in rejects if not r["origin"].startswith(str(tmp_path / "cut"))}
    assert reason_of == {"2": "malformed_json", "3": "not_an_object", "4": "not_an_object",
                         "typed": "wrong_field_type", "no-text": "empty", "blank": "empty",
                         "invisible": "empty",
                         "cruft": "only_boilerplate", "12": "malformed_json",
                         "deep-html": "no_main_text", "21": "line_too_long"}
    assert all(r["origin"].startswith(str(tmp_path)) and r["detail"] for r in rejects)

    assert articles["good"]["text"] == BODY and "flags" not in articles["good"]
    assert articles["latin1"]["title"] == "Café owners protest"
    assert "invalid_utf8" in articles["latin1"]["flags"]
    assert "\u0000" not in articles["nul"]["text"] and "nul_bytes" in articles["nul"]["flags"]
    assert len(articles["huge"]["text"]) <= MAX_TEXT
    assert "text_truncated" in articles["huge"]["flags"]
    assert articles["dup"]["title"] == "First with this id"
    assert articles["dup~2"]["flags"] == ["duplicate_id"]
    assert articles["bad-date"].get("published") is None
    assert "bad_published" in articles["bad-date"]["flags"]
    assert BODY in articles["big-html"]["text"]
    assert {"html_truncated", "html_no_fallback"} <= set(articles["big-html"]["flags"])
    assert articles["feed"]["text"] == ""
    assert any(a["title"] == "No id given" for a in articles.values())
    assert articles["surrogate"]["title"] == "Half \ufffd a pair"
    assert articles["surrogate"]["flags"] == ["invalid_surrogates"]
    assert articles["123456789012345678901234567890"]["title"] == "Big id"
    assert articles["end-of-time"].get("published") is None
    assert articles["end-of-time"]["flags"] == ["bad_published"]
    assert len(articles["separators"]["title"]) <= 2_000
    assert articles["separators"]["flags"] == ["title_truncated"]
    assert articles["brackets"]["title"] == "Grid plan - Wire"
    assert articles["utf16"]["text"] == BODY

    gz_kept = [i for i in articles if i.startswith("gz-")]
    gz_rejects = [r for r in rejects if r["origin"].startswith(str(tmp_path / "cut"))]
    assert gz_kept == [f"gz-{i}" for i in range(len(gz_kept))]  # everything before the cut
    assert [r["reason"] for r in gz_rejects] == ["unreadable_file"]


def test_an_id_as_given_is_changed_only_because_it_was_given_before(tmp_path: Path) -> None:
    """A made name (``a~2``) yields to a later record that has it as its own id, across
    chunks; ids keep their spaces; a blank id is none."""
    given = ["a", "a", "a~2", " b", "b", "a", "a~3", "  "]
    records = [{"id": rid, "title": f"Title {n}", "text": f"Words of article {n} here."}
               for n, rid in enumerate(given)]
    (tmp_path / "in.jsonl").write_bytes(b"".join(map(line, records)))
    run_job([str(tmp_path / "in.jsonl")], tmp_path / "out",
            load_config(overrides=["run.chunk_size=2", 'embed.model="off"']))
    rows = [orjson.loads(row) for row in (tmp_path / "out" / "articles.jsonl").read_bytes()
            .splitlines()]
    ids = {row["title"]: (row["id"], "duplicate_id" in row.get("flags", [])) for row in rows}
    assert [ids[f"Title {n}"] for n in range(7)] == [
        ("a", False), ("a~5", True), ("a~2", False), (" b", False), ("b", False),
        ("a~4", True), ("a~3", False)]
    assert ids["Title 7"][0].startswith("h") and len({rid for rid, _ in ids.values()}) == 8


def test_a_file_read_only_up_to_a_break_is_warned_about(tmp_path: Path) -> None:
    lines = b"".join(orjson.dumps({"id": f"r{i}", "title": f"Report {i}", "text": BODY})
                     + b"\n" for i in range(5))
    packed = bytearray(gzip.compress(lines))
    packed[-8] ^= 0xFF  # the data's CRC: gzip checks it after all of it was read
    (tmp_path / "crc.jsonl.gz").write_bytes(bytes(packed))
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(lines)[:-12])
    cfg = load_config(overrides=['embed.model="off"', "run.workers=1"])
    said = {}
    for name in ("crc", "cut"):
        report = run_job([str(tmp_path / f"{name}.jsonl.gz")], tmp_path / name, cfg)
        assert report["counts"]["rejected_by_reason"] == {"unreadable_file": 1}
        [said[name]] = [text for text in report["warnings"] if "could not be read" in text]
    assert said["crc"].startswith("1 input file could not be read to the end (e.g. ")
    assert "CRC check failed" in said["crc"] and "may have given garbled records" in said["crc"]
    assert "the records before the break were read" in said["cut"]
    assert "garbled" not in said["cut"]


def parse(payload: bytes, kind: str = "json") -> Record | Reject:
    """The reader on one JSONL line (or one .txt/.html file's bytes)."""
    return parse_item(RawItem("f.jsonl:1", kind, payload), ReadConfig())


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8)
FIELDS = st.sampled_from(["id", "title", "text", "html", "url", "published", "source", "lang"])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["json", "txt", "html"]))
def test_reader_turns_any_bytes_into_a_record_or_a_reject(payload: bytes, kind: str) -> None:
    assert isinstance(parse(payload, kind), Record | Reject)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=500) | st.binary(max_size=500).map(lambda b: b.decode("latin-1")))
def test_extraction_turns_any_page_into_text_or_a_flag(page: str) -> None:
    extracted = extract_html(page, None, ExtractConfig())
    assert extracted.text or "html_no_main_text" in extracted.flags


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(FIELDS | st.text(max_size=5), JSON_VALUES, max_size=6))
def test_reader_turns_any_json_object_into_a_record_or_a_reject(data: dict[str, Any]) -> None:
    parsed = parse(json.dumps(data).encode())  # orjson cannot write ints past 64 bits
    if isinstance(parsed, Record):
        assert parsed.id and isinstance(parsed.title, str) and isinstance(parsed.text, str)
    else:
        assert parsed.reason and parsed.detail


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.text(max_size=2000), st.none() | st.text(max_size=20))
def test_cleaner_accepts_any_text(title: str, text: str, source: str | None) -> None:
    cleaned = clean_article(title, text, source, CleanConfig())
    assert isinstance(cleaned.title, str) and isinstance(cleaned.text, str)


def test_text_extracted_from_html_is_capped_like_given_text() -> None:
    """500k ``&amp;`` fit in the page cap (1 MB) but expand to 200k characters of text."""
    from dedup.stages.extract import apply_extraction

    cfg = load_config(overrides=["read.max_text_chars=1000"])
    page = "<html><body><article><p>" + "&amp; " * 50_000 + "</p></article></body></html>"
    record = apply_extraction(Record(id="amp", html=page), cfg.extract, cfg.read.max_text_chars,
                              cfg.read.max_title_chars)
    assert isinstance(record, Record)
    assert len(record.text) == 1000 and "text_truncated" in record.flags
