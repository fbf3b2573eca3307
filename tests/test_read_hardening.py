"""Hostile inputs for the reader: lines and files too big to hold, every text encoding a
dump arrives in, JSON orjson refuses, dates at the ends of time, charsets that are not
text encodings, and folders full of symbolic links."""

from __future__ import annotations

import codecs
import encodings.aliases
import glob
import gzip
import math
import os
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute  # imported before memory is traced
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import dedup.io.discover
import dedup.io.read
from dedup.config import ConfigError, load_config
from dedup.io.discover import InputError, InputFile, discover_inputs
from dedup.io.read import LineBlock, RawItem, ReadConfig, numbered_items, read_batches
from dedup.records import Record, Reject
from dedup.stages.parse import (
    WHATWG_CODECS,
    declared_charset,
    decode_document,
    guessed_charset,
    normalise_published,
    parse_item,
    published_day,
    text_codec,
)

MiB = 1024 * 1024
WHITELIST = {codecs.lookup(name).name for name in WHATWG_CODECS}


def line(record: dict[str, Any]) -> bytes:
    """One JSONL line."""
    return orjson.dumps(record) + b"\n"


def items_of(files: list[InputFile], cfg: ReadConfig | None = None,
             size: int = 1000) -> list[tuple[int, RawItem | Reject]]:
    """Every record of the files with its input position."""
    return [numbered for batch in read_batches(files, size, cfg or ReadConfig())
            for numbered in numbered_items(batch)]


def origins_and_reasons(files: list[InputFile], cfg: ReadConfig | None = None,
                        size: int = 1000) -> list[tuple[str, str]]:
    """(line number, "json" or the reject reason) of each record."""
    return [(item.origin.rsplit(":", 1)[1],
             item.reason if isinstance(item, Reject) else item.kind)
            for _, item in items_of(files, cfg, size)]


def peak_python_bytes(work: Callable[[], Any]) -> tuple[Any, int]:
    """What ``work`` returns and the most memory Python objects held while it ran."""
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- lines too long to hold -------------------------------------------------------------


def test_a_huge_line_in_a_gzip_is_rejected_without_being_held(tmp_path: Path) -> None:
    """Scaled down from a 2 MB .jsonl.gz that inflates to one 1 GB line."""
    path = tmp_path / "bomb.jsonl.gz"
    head = b'{"id": "bomb", "text": "'
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(line({"id": "before", "title": "Before"}))
        handle.write(head)
        for _ in range(64):
            handle.write(b"x" * MiB)
        handle.write(b'"}\n\n')
        handle.write(line({"id": "after", "title": "After"}))
        handle.write(line({"id": "last", "title": "Last"}))
    cfg = ReadConfig(max_line_bytes=MiB)
    found, peak = peak_python_bytes(lambda: items_of([InputFile(str(path))], cfg))
    assert peak < 12 * MiB  # the 64 MiB line was never held whole
    assert [(seq, item.origin.rsplit(":", 1)[1]) for seq, item in found] == [
        (0, "1"), (1, "2"), (2, "4"), (3, "5")]
    reject = found[1][1]
    assert isinstance(reject, Reject) and reject.reason == "line_too_long"
    assert f"line of {len(head) + 64 * MiB + 2} bytes" in reject.detail
    assert str(MiB) in reject.detail
    after = parse_item(found[2][1], cfg)  # type: ignore[arg-type]
    assert isinstance(after, Record) and after.id == "after"


def test_lines_at_the_limit_are_kept_and_over_it_rejected(tmp_path: Path) -> None:
    short, exact, over = (line({"t": "x" * n})[:-1] for n in (10, 92, 93))
    assert len(exact) == 100 and len(over) == 101
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\n".join([short, exact, over, over + b" " * 2 * MiB, short, b"  ",
                                 over, short, b" " * 200, exact]))
    cfg = ReadConfig(max_line_bytes=100)
    assert origins_and_reasons([InputFile(str(path))], cfg) == [
        ("1", "json"), ("2", "json"), ("3", "line_too_long"), ("4", "line_too_long"),
        ("5", "json"), ("7", "line_too_long"), ("8", "json"), ("9", "line_too_long"),
        ("10", "json")]
    whole = items_of([InputFile(str(path))], cfg)
    assert all(items_of([InputFile(str(path))], cfg, size) == whole for size in (1, 2, 3))


def test_blank_lines_make_no_blocks_and_cost_no_records(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"\n" * 1_500_000 + b" \t\r\n" * 1000 + line({"id": "only"}) + b"\n" * 10)
    batches = list(read_batches([InputFile(str(path))], 10, ReadConfig()))
    assert len(batches) == 1
    [block] = batches
    assert isinstance(block, LineBlock) and block.count == 1
    assert block.data == b'{"id":"only"}'
    assert [(seq, item.origin) for seq, item in numbered_items(block)] == [
        (0, f"{path}:1501001")]


def test_blocks_are_cut_by_bytes_without_changing_any_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"".join(line({"id": str(i), "text": "y" * (i * 37 % 300)}) + b"\n" * (i % 3)
                              for i in range(200)))
    whole = items_of([InputFile(str(path))], size=1000)
    monkeypatch.setattr(dedup.io.read, "BLOCK_DATA_BYTES", 2000)
    monkeypatch.setattr(dedup.io.read, "READ_BLOCK_BYTES", 777)
    blocks = list(read_batches([InputFile(str(path))], 1000, ReadConfig()))
    assert len(blocks) > 10
    assert all(isinstance(b, LineBlock) and len(b.data) < 2000 + 400 for b in blocks)
    for size in (1, 7, 1000):
        assert items_of([InputFile(str(path))], size=size) == whole


# -- encodings and line ends ------------------------------------------------------------

RECORDS = [{"id": "1", "title": "Київ 🇺🇦 «ok»"}, {"id": "2", "title": "北京 café"},
           {"id": "3", "title": "plain"}]
TEXT = "\n".join(orjson.dumps(r).decode() for r in RECORDS[:2]) + "\n\n" + \
    orjson.dumps(RECORDS[2]).decode() + "\n"


@pytest.mark.parametrize(("name", "data"), [
    ("utf-8 bom", codecs.BOM_UTF8 + TEXT.encode()),
    ("utf-16-le bom", codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le")),
    ("utf-16-be bom", codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be")),
    ("utf-16-le", TEXT.encode("utf-16-le")),
    ("utf-16-be", TEXT.encode("utf-16-be")),
    ("utf-32-le bom", codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le")),
    ("utf-32-be bom", codecs.BOM_UTF32_BE + TEXT.encode("utf-32-be")),
    ("cr only", TEXT.replace("\n", "\r").encode()),
    ("crlf", TEXT.replace("\n", "\r\n").encode()),
    ("utf-16-le crlf", TEXT.replace("\n", "\r\n").encode("utf-16")),
    # two files joined with cat, each with its own byte-order mark
    ("utf-8 boms mid-file", codecs.BOM_UTF8 + TEXT.encode().replace(
        b"\n\n", b"\n\n" + codecs.BOM_UTF8)),
])
@pytest.mark.parametrize("gzipped", [False, True])
def test_every_encoding_and_line_end_reads_the_same_records(
        tmp_path: Path, name: str, data: bytes, gzipped: bool) -> None:
    path = tmp_path / ("d.jsonl.gz" if gzipped else "d.jsonl")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    found = items_of([InputFile(str(path))])
    assert [item.origin.rsplit(":", 1)[1] for _, item in found] == ["1", "2", "4"], name
    parsed = [parse_item(item, ReadConfig()) for _, item in found]  # type: ignore[arg-type]
    assert [(r.id, r.title, r.flags) for r in parsed if isinstance(r, Record)] == [
        (r["id"], r["title"], []) for r in RECORDS]


@pytest.mark.parametrize(("encoding", "newline"), [
    ("utf-16", "\n"), ("utf-32", "\n"), ("utf-8", "\n"), ("utf-8", "\r"), ("utf-16-be", "\r\n")])
def test_characters_and_line_ends_split_across_read_blocks_are_kept(
        tmp_path: Path, encoding: str, newline: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup.io.read, "READ_BLOCK_BYTES", 1001)
    records = [{"id": str(i), "title": "Ж😀" * (i % 50 + 1)} for i in range(300)]
    path = tmp_path / "wide.jsonl"
    text = "".join(orjson.dumps(r).decode() + newline for r in records)
    path.write_bytes(text.encode(encoding))
    parsed = [parse_item(item, ReadConfig())  # type: ignore[arg-type]
              for _, item in items_of([InputFile(str(path))])]
    assert [(r.id, r.title) for r in parsed if isinstance(r, Record)] == [
        (r["id"], r["title"]) for r in records]


def test_bad_utf16_becomes_replacement_characters(tmp_path: Path) -> None:
    data = codecs.BOM_UTF16_LE + '{"id": "a", "title": "x'.encode("utf-16-le") + \
        b"\x00\xd8" + '"}\n{"id": "b", "title": "y"}\n'.encode("utf-16-le") + b"\x00"
    path = tmp_path / "bad.jsonl"
    path.write_bytes(data)  # a lone surrogate, then a stray odd byte on a line of its own
    parsed = [parse_item(item, ReadConfig())  # type: ignore[arg-type]
              for _, item in items_of([InputFile(str(path))])]
    assert [(r.id, r.title) if isinstance(r, Record) else (r.origin, r.reason)
            for r in parsed] == [("a", "x\ufffd"), ("b", "y"), (f"{path}:3", "malformed_json")]


def test_truncated_gzip_keeps_the_lines_before_the_break(tmp_path: Path) -> None:
    data = gzip.compress(b"\n\n".join(b'{"id": "%d"}' % i for i in range(200_000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    found = origins_and_reasons([InputFile(str(path))])
    assert found[-1][1] == "unreadable_file" and len(found) > 50_000
    assert [number for number, _ in found[:-1]] == [str(2 * i + 1) for i in range(len(found) - 1)]
    assert int(found[-1][0]) in (2 * len(found) - 2, 2 * len(found) - 1)  # where it stopped


# -- documents and Parquet ---------------------------------------------------------------


def test_a_huge_sparse_text_file_is_rejected_after_a_bounded_read(tmp_path: Path) -> None:
    huge, small = tmp_path / "huge.txt", tmp_path / "small.txt"
    with huge.open("wb") as handle:
        handle.write(b"Title\nbody")
        handle.truncate(512 * MiB)  # sparse: nothing written to disk
    small.write_bytes(b"Title\n" + b"b" * (MiB - 6))
    cfg = ReadConfig(max_line_bytes=MiB)
    found, peak = peak_python_bytes(
        lambda: items_of([InputFile(str(huge)), InputFile(str(small))], cfg))
    assert peak < 4 * MiB
    (_, rejected), (_, kept) = found
    assert isinstance(rejected, Reject) and rejected.reason == "file_too_large"
    assert rejected.origin == str(huge) and str(MiB) in rejected.detail
    assert isinstance(kept, RawItem) and len(kept.payload) == MiB


def write_parquet(path: Path, columns: dict[str, Any]) -> InputFile:
    """A Parquet file of the columns (zstd: a big repetitive cell stays small on disk)."""
    pq.write_table(pa.table(columns), path, compression="zstd")
    return InputFile(str(path))


def test_a_parquet_cell_over_the_limit_is_rejected_before_python_sees_it(
        tmp_path: Path) -> None:
    big = "x" * (16 * MiB)
    parquet = write_parquet(tmp_path / "t.parquet", {
        "id": ["a", "big", "c", "listed", "d"],
        "title": ["A", "B", "C", "L", "D"],
        "text": ["one", big, "three", "four", "five"],
        "tags": [None, None, None, ["y" * (2 * MiB)], None],
        "unmapped": ["u", "u", "u", "u", big],
    })
    del big
    cfg = ReadConfig(max_line_bytes=MiB, fields={"id": "id", "title": "title",
                                                 "text": "text", "source": "tags"})
    found, peak = peak_python_bytes(lambda: items_of([parquet], cfg))
    assert peak < 4 * MiB  # no 16 MiB cell became a Python string
    assert [(item.origin.rsplit(":", 1)[1], getattr(item, "reason", "json"))
            for _, item in found] == [
        ("1", "json"), ("2", "line_too_long"), ("3", "json"), ("4", "line_too_long"),
        ("5", "json")]
    assert "row of at least 16777" in found[1][1].detail  # type: ignore[union-attr]
    last = parse_item(found[4][1], cfg)  # type: ignore[arg-type]
    assert isinstance(last, Record) and (last.id, last.text) == ("d", "five")


def test_a_parquet_row_that_escaping_makes_too_long_is_rejected(tmp_path: Path) -> None:
    quotes = '"' * (MiB // 2 + 10)  # fits as text, not as JSON (each quote escaped)
    parquet = write_parquet(tmp_path / "q.parquet", {"id": ["q", "r"], "text": [quotes, "x"]})
    found = items_of([parquet], ReadConfig(max_line_bytes=MiB))
    assert [getattr(item, "reason", "json") for _, item in found] == ["line_too_long", "json"]
    size = len(orjson.dumps({"id": "q", "text": quotes}))
    assert f"row of at least {size} bytes" in found[0][1].detail  # type: ignore[union-attr]


def test_binary_cells_are_the_text_their_bytes_spell(tmp_path: Path) -> None:
    # as in a JSON line: UTF-8, else Windows-1252 and flagged (they came out as "b'p1'")
    parquet = write_parquet(tmp_path / "b.parquet", {
        "id": pa.array([b"p1", b"p2", b"p3"], pa.binary()),
        "title": pa.array([b"Harbour strike", "Caf\xe9 closes".encode("cp1252"),
                           '"Quoted" \\ Zürich'.encode()], pa.binary()),
        "text": pa.array([b"Dockers walked out.", b"Closed.", b"Trams stop."], pa.binary())})
    records = [parse_item(item, ReadConfig()) for _, item in items_of([parquet], ReadConfig())]
    assert [(r.id, r.title, r.text, r.flags) for r in records if isinstance(r, Record)] == [
        ("p1", "Harbour strike", "Dockers walked out.", []),
        ("p2", "Café closes", "Closed.", ["invalid_utf8"]),
        ("p3", '"Quoted" \\ Zürich', "Trams stop.", [])]


def test_dictionary_and_struct_cells_are_measured_too(tmp_path: Path) -> None:
    big = "z" * (2 * MiB)
    parquet = write_parquet(tmp_path / "d.parquet", {
        "id": pa.array(["a", "b", "c"]).dictionary_encode(),
        "title": pa.array(["T", big, "T"]).dictionary_encode(),
        "text": pa.array([{"k": "v"}, {"k": "v"}, {"k": big}]),
    })
    assert pa.types.is_dictionary(pq.read_schema(tmp_path / "d.parquet").field("title").type)
    assert origins_and_reasons([parquet], ReadConfig(max_line_bytes=MiB)) == [
        ("1", "json"), ("2", "line_too_long"), ("3", "line_too_long")]


def test_arrow_size_floors_never_exceed_the_json_lines() -> None:
    """The Arrow-side size of every type is a lower bound (so no row under the limit is
    rejected on it), sliced batches included; a row JSON cannot hold is rejected."""
    cells = {
        "i": pa.array([1, None, -5]), "f": pa.array([1.5, float("nan"), None]),
        "b": pa.array([True, None, False]),
        "ts": pa.array([datetime(2025, 1, 1), None, datetime(1, 1, 1)]),
        "s": pa.array(["é", None, ""]), "bin": pa.array([b"\x00\xff", None, b""]),
        "ls": pa.array(["x" * 10, "", None], pa.large_string()),
        "l": pa.array([["a", None], None, []]),
        "fs": pa.array([[1, 2], None, [3, 4]], pa.list_(pa.int64(), 2)),
        "st": pa.array([{"a": "xx", "b": None}, None, {"a": None, "b": 3}]),
        "m": pa.MapArray.from_arrays(pa.array([0, 1, 1, 3], pa.int32()),
                                     pa.array(["k", "kk", "kkk"]), pa.array([1, 2, 3])),
        "dict": pa.array(["u", None, "vv"]).dictionary_encode(),
        "n": pa.array([None, None, None], pa.null()),
    }
    batch = pa.RecordBatch.from_pydict(cells)
    for part in (batch, batch.slice(1), batch.slice(2)):
        lines = [len(dedup.io.read.row_line(row)) for row in part.to_pylist()]
        assert all(dedup.io.read.json_size_floor(part) <= lines)
    deep_type, deep = pa.list_(pa.int64()), [1]
    for _ in range(300):
        deep_type, deep = pa.list_(deep_type), [deep]
    nested = pa.RecordBatch.from_pydict({"id": ["a", "b"], "text": pa.array([deep, None],
                                                                            deep_type)})
    entries = dedup.io.read.batch_entries(nested, "n.parquet", 1, MiB)
    assert [(e.reason, e.origin) if isinstance(e, Reject) else list(e.numbers)
            for e in entries] == [("malformed_json", "n.parquet:1"), [2]]


# -- JSON that orjson refuses ------------------------------------------------------------


def parse(payload: bytes) -> Record | Reject:
    """The reader on one JSONL line."""
    return parse_item(RawItem("f.jsonl:1", "json", payload), ReadConfig())


@pytest.mark.parametrize(("payload", "title", "flags"), [
    (rb'{"id": "s", "title": "a\ud800b"}', "a\ufffdb", ["invalid_surrogates"]),
    (rb'{"id": "s", "title": "a\udc00b\ud83d"}', "a\ufffdb\ufffd", ["invalid_surrogates"]),
    (rb'{"id": "s", "title": "\ud83d\ude00 ok"}', "😀 ok", []),
    (rb'{"id": "s", "title": "not one: \\ud800"}', "not one: \\ud800", []),
    (b'{"id": "s", "title": "caf\xe9 \\ud800"}', "café \ufffd",
     ["invalid_utf8", "invalid_surrogates"]),
])
def test_lone_surrogates_are_repaired_and_flagged(payload: bytes, title: str,
                                                  flags: list[str]) -> None:
    record = parse(payload)
    assert isinstance(record, Record) and (record.title, record.flags) == (title, flags)
    orjson.dumps(record.to_dict())  # writable


@pytest.mark.parametrize(("written", "kept"), [
    ("123456789012345678901234567890", "123456789012345678901234567890"),
    ("-98765432109876543210", "-98765432109876543210"),
    ("1.50", "1.50"), ("1e400", "1e400"), ("2.5E-3", "2.5E-3"), ("7", "7"), ("-0", "-0"),
    ("0", "0"),
    ("18446744073709551615", "18446744073709551615"),
])
def test_numbers_keep_the_text_they_were_written_with(written: str, kept: str) -> None:
    record = parse(b'{"id": %s, "title": "T", "extra": [1.0, 2]}' % written.encode())
    assert isinstance(record, Record) and record.id == kept and not record.flags


def test_what_json_does_not_allow_stays_rejected() -> None:
    for payload in (b'{"id": NaN, "title": "T"}', b'{"id": 1, "title": Infinity}',
                    b"[" * 100_000, b'{"id": 1.5, "title": "T"'):
        rejected = parse(payload)
        assert isinstance(rejected, Reject) and rejected.reason == "malformed_json", payload
    deep = parse(b'{"id": 1.5, "title": "T", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}")
    assert isinstance(deep, Record) and deep.id == "1.5"  # too deep to re-read: float text


# -- dates --------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["2025-03-20+02:00", "2025-03-20-05:00", "2025-03-20+0200",
                                   "20250320+05:30", "2025-03-20Z"])
def test_a_zone_after_a_date_alone_is_not_a_time_of_day(given: str) -> None:
    """Python read the offset of ``2025-03-20+02:00`` as 02:00; a date's zone without a
    time of day says nothing: the date alone."""
    flags: list[str] = []
    assert normalise_published(given, flags) == "2025-03-20" and not flags


@pytest.mark.parametrize(("given", "normalised"), [
    ("9999-12-31T23:59:59-14:00", None), ("0001-01-01T00:00:00+14:00", None),
    ("9999-12-31T09:59:59-14:00", "9999-12-31T23:59:59Z"),
    ("0001-01-01T14:00:00+14:00", "0001-01-01T00:00:00Z"),
    ("0999-05-06T07:08:09", "0999-05-06T07:08:09Z"), ("2025-03-20", "2025-03-20"),
])
def test_dates_at_the_ends_of_time(given: str, normalised: str | None) -> None:
    flags: list[str] = []
    assert normalise_published(given, flags) == normalised
    assert flags == ([] if normalised else ["bad_published"])
    record = parse(orjson.dumps({"id": "d", "title": "T", "published": given}))
    assert isinstance(record, Record) and record.published == normalised
    day = published_day(given)
    assert isinstance(day, float)


@pytest.mark.parametrize(("payload", "normalised"), [
    (b'"Mon, 09 Sep 2013 11:25:00 +0200"', "2013-09-09T09:25:00Z"),  # an RSS pubDate
    (b'"09 Sep 2013 11:25 GMT"', "2013-09-09T11:25:00Z"),
    (b'"Mon, 9 Sep 2013 11:25:00 -0000"', "2013-09-09T11:25:00Z"),  # no zone: UTC
    (b'"Mon, 09 Sep 2013 23:25:00 EST"', "2013-09-10T04:25:00Z"),  # a zone RFC 2822 names
    # what the e-mail parser would read hours off: a 12-hour clock, a zone it does not know
    (b'"September 9, 2013 11:25 PM"', None), (b'"Mon, 09 Sep 2013 23:25:00 CEST"', None),
    (b"1378718700", "2013-09-09T09:25:00Z"),  # Unix seconds, a JSON number
    (b'"1378718700"', "2013-09-09T09:25:00Z"),  # ... as a string (CSV has no numbers)
    (b"1378718700123", "2013-09-09T09:25:00Z"),  # milliseconds
    (b"1378718700000.0", "2013-09-09T09:25:00Z"),
    (b"1.3787187e12", "2013-09-09T09:25:00Z"),
    (b'"20250320"', "2025-03-20"),  # ISO's basic form is a date, not a Unix time
    (b"2025", None), (b'"Sep 2013"', None), (b"99999999", None), (b"-1378718700", None),
    (b"1e20", None), (b'"Tue, 31 Dec 9999 23:59:59 -1400"', None),  # year 10000 in UTC
])
def test_feed_dates_and_unix_times_are_read(payload: bytes, normalised: str | None) -> None:
    record = parse(b'{"id": "d", "title": "T", "published": ' + payload + b"}")
    assert isinstance(record, Record) and record.published == normalised
    assert record.flags == ([] if normalised else ["bad_published"])
    if normalised:
        # the window's day: the same from the value as given (less than a second apart)
        assert math.isclose(published_day(normalised), published_day(payload.decode().strip('"')),
                            abs_tol=1 / 86400)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40) | st.from_regex(
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?\Z"))
@example("2025-01-01\ud800")
def test_any_text_gives_a_utc_date_or_a_flag(value: str) -> None:
    flags: list[str] = []
    normalised = normalise_published(value, flags)
    if normalised is None:
        assert flags == ["bad_published"]
    else:
        assert not flags and datetime.fromisoformat(normalised).year >= 1
        assert normalise_published(normalised, []) == normalised  # stable
    assert isinstance(published_day(value), float)


OFFSETS = st.timedeltas(min_value=-timedelta(hours=23, minutes=59),
                        max_value=timedelta(hours=23, minutes=59)).map(
    lambda delta: timezone(timedelta(minutes=delta // timedelta(minutes=1))))
EDGE_TIMES = st.datetimes(max_value=datetime(1, 1, 3)) | st.datetimes(
    min_value=datetime(9999, 12, 29)) | st.datetimes()


@settings(max_examples=400, deadline=None)
@given(EDGE_TIMES, OFFSETS)
def test_any_instant_with_any_offset_is_normalised_or_flagged(moment: datetime,
                                                              offset: timezone) -> None:
    given_time = moment.replace(tzinfo=offset)
    flags: list[str] = []
    normalised = normalise_published(given_time.isoformat(), flags)
    try:
        expected = given_time.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    except OverflowError:
        assert normalised is None and flags == ["bad_published"]
    else:
        assert normalised == expected.isoformat() + "Z" and not flags
        assert math.isclose(published_day(normalised) * 86400, expected.replace(
            tzinfo=UTC).timestamp())
    assert isinstance(published_day(given_time.isoformat()), float)


# -- charsets -----------------------------------------------------------------------------

PYTHON_CODEC_NAMES = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
                            | {"hex", "rot13", "idna", "unicode_escape", "punycode", "uu",
                               "base64", "zlib", "bz2", "quopri", "raw_unicode_escape"})


@pytest.mark.parametrize("label", ["hex", "rot13", "idna", "unicode_escape", "punycode", "uu",
                                   "base64_codec", "zlib", "utf-7", "hz", "cp037"])
def test_codecs_that_are_not_browser_text_encodings_are_never_used(label: str) -> None:
    page = f'<html><head><meta charset="{label}"></head><body><p>caf'.encode() + b"\xe9</p>"
    record = parse_item(RawItem("p.html", "html", page), ReadConfig())
    assert isinstance(record, Record) and record.html and "caf" in record.html
    assert record.flags == ["charset_guessed"] and declared_charset(page) is None


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(PYTHON_CODEC_NAMES) | st.text(max_size=12), st.binary(max_size=200),
       st.sampled_from(["html", "txt"]))
def test_any_bytes_with_any_declared_charset_decode(label: str, body: bytes, kind: str) -> None:
    page = b'<html><head><meta charset="' + label.encode("utf-8", "replace") + b'">' + body
    text, flags = decode_document(page, kind)
    assert isinstance(text, str) and "\x00" not in text
    assert set(flags) <= {"charset_guessed", "undecodable_bytes", "invalid_utf8", "nul_bytes"}
    assert declared_charset(page) in WHITELIST | {None}
    assert text_codec(label) in WHITELIST | {None}
    assert guessed_charset(body) in WHITELIST | {None}


def test_browser_labels_resolve_to_what_browsers_decode_with() -> None:
    assert {label: text_codec(label) for label in (
        "latin1", "ISO-8859-1", "us-ascii", "gb2312", "GBK", "big5", "x-mac-cyrillic",
        "windows-874", "iso-8859-8-i", "koi8-ru", "Shift_JIS", "euc-kr", "utf8",
        "windows-1251", "x-user-defined", "a\x00b", "\ud800")} == {
        "latin1": "cp1252", "ISO-8859-1": "cp1252", "us-ascii": "cp1252", "gb2312": "gb18030",
        "GBK": "gb18030", "big5": "big5hkscs", "x-mac-cyrillic": "mac-cyrillic",
        "windows-874": "cp874", "iso-8859-8-i": "iso8859-8", "koi8-ru": "koi8-u",
        "Shift_JIS": "cp932", "euc-kr": "cp949", "utf8": "utf-8", "windows-1251": "cp1251",
        "x-user-defined": None, "a\x00b": None, "\ud800": None}
    assert declared_charset(b'<meta charset="utf-16le">') == "utf-8"  # as browsers do


# -- discovery ----------------------------------------------------------------------------


def tree(root: Path, files: list[str]) -> None:
    """Small JSONL files at the given paths under ``root``."""
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(line({"id": name}))


def names_of(found: list[InputFile], root: Path) -> list[str]:
    """Locations relative to ``root``."""
    return [os.path.relpath(f.location, root) for f in found]


def test_symlink_loops_end_and_each_file_is_read_once(tmp_path: Path) -> None:
    tree(tmp_path, ["in/a/x.jsonl", "in/b/y.jsonl", "in/z.jsonl"])
    (tmp_path / "in/a/loop").symlink_to("..")
    (tmp_path / "in/b/loop").symlink_to("../a")
    for name in (str(tmp_path / "in"), str(tmp_path / "in/**/*.jsonl")):
        found = discover_inputs([name])
        assert names_of(found.files, tmp_path) == ["in/a/x.jsonl", "in/b/y.jsonl",
                                                   "in/z.jsonl"], name
        assert len(found.notes) == 1 and found.notes[0].startswith(
            "walked once: 2 folders reached again through symbolic links (e.g. "), found.notes


def test_links_out_of_the_input_folder_are_followed_only_when_asked(tmp_path: Path) -> None:
    tree(tmp_path, ["in/x.jsonl", "outside/secret.txt", "outside/deep/more.jsonl"])
    (tmp_path / "in/passwd.txt").symlink_to(tmp_path / "outside/secret.txt")
    (tmp_path / "in/elsewhere").symlink_to(tmp_path / "outside/deep")
    (tmp_path / "in/inside.jsonl").symlink_to("x.jsonl")
    found = discover_inputs([str(tmp_path / "in")])
    assert names_of(found.files, tmp_path) == ["in/inside.jsonl"]  # same file as x.jsonl
    assert found.notes == [
        f"read once: 1 file named more than once, directly or through links "
        f"(e.g. {tmp_path}/in/x.jsonl is {tmp_path}/in/inside.jsonl)",
        f"not followed: 2 symbolic links leading out of the input folder (e.g. "
        f"{tmp_path}/in/elsewhere -> {tmp_path}/outside/deep); set read.follow_links = true "
        f"to follow them"]
    followed = discover_inputs([str(tmp_path / "in")], follow_links=True)
    assert names_of(followed.files, tmp_path) == [
        "in/elsewhere/more.jsonl", "in/inside.jsonl", "in/passwd.txt"]
    with pytest.raises(InputError, match="matches no readable file"):
        discover_inputs([str(tmp_path / "in/*.txt")])  # its match leads out
    explicit = discover_inputs([str(tmp_path / "in/passwd.txt")])
    assert names_of(explicit.files, tmp_path) == ["in/passwd.txt"] and not explicit.notes


def test_input_names_on_no_file_in_a_folder_are_said(tmp_path: Path) -> None:
    tree(tmp_path, ["in/x.jsonl", "in/notes.md"])
    (tmp_path / "in/moved.jsonl").symlink_to(tmp_path / "gone.jsonl")
    os.mkfifo(tmp_path / "in/feed.jsonl")
    (tmp_path / "in/readme").symlink_to(tmp_path / "gone")  # not named like an input
    found = discover_inputs([str(tmp_path / "in")])
    assert names_of(found.files, tmp_path) == ["in/x.jsonl"]
    assert found.notes == [
        f"not read: 2 paths named like an input but not a file (a broken symbolic link, a "
        f"pipe, a socket) (e.g. {tmp_path}/in/feed.jsonl)"]


def test_a_file_named_twice_is_read_once_and_said_once(tmp_path: Path) -> None:
    tree(tmp_path, ["a.jsonl", "b.jsonl"])
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "a.jsonl")
    names = [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), f"{tmp_path}/./a.jsonl",
             str(tmp_path / "link.jsonl"), str(tmp_path / "*.jsonl")]
    found = discover_inputs(names)
    assert names_of(found.files, tmp_path) == ["a.jsonl", "b.jsonl"]
    assert found.notes == [f"read once: 2 files named more than once, directly or through "
                           f"links (e.g. {tmp_path}/./a.jsonl is {tmp_path}/a.jsonl)"]


def test_the_output_folder_is_never_read_as_input(tmp_path: Path) -> None:
    tree(tmp_path, ["in/x.jsonl", "in/out/articles.jsonl", "in/out/.dedup-work/chunk.jsonl"])
    (tmp_path / "in/again").symlink_to("out")
    for name in (str(tmp_path / "in"), str(tmp_path / "in/**/*.jsonl")):
        found = discover_inputs([name], exclude=tmp_path / "in/out")
        assert names_of(found.files, tmp_path) == ["in/x.jsonl"], name
        assert len(found.notes) == 1 and found.notes[0].startswith(
            f"not read: 2 paths under the output folder {tmp_path}/in/out (e.g. "), name
    fresh = discover_inputs([str(tmp_path / "in")], exclude=tmp_path / "new")
    assert names_of(fresh.files, tmp_path) == [
        "in/again/.dedup-work/chunk.jsonl", "in/again/articles.jsonl", "in/x.jsonl"]
    assert [note.split(":")[0] for note in fresh.notes] == ["walked once"]


@pytest.mark.parametrize("pattern", [
    "**/*.jsonl", "*/*.jsonl", "**", "a/**", "a/**/*.txt", "[ab]/*.jsonl", "[!a]*/?.jsonl",
    "*", "a/b/**/*", "**/.h*/*", ".h*/**/*.jsonl", "a/*/c.jsonl", "a*/**/b/*",
])
def test_patterns_select_what_glob_selects(tmp_path: Path, pattern: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, ["x.jsonl", "a/x.jsonl", "a/b/c.jsonl", "a/b/d/e.txt", "b/y.jsonl",
                    "c/z.jsonl", "a/.hidden.jsonl", ".h/q.jsonl", "a/.h/r.jsonl",
                    "ab/b/s.jsonl", "a/b/c.csv"])
    monkeypatch.chdir(tmp_path)
    for name in (pattern, f"{tmp_path}/{pattern}", f"./{pattern}"):
        expected = sorted((p for p in glob.glob(name, recursive=True)
                           if os.path.isfile(p) and dedup.io.discover.is_readable_kind(p)),
                          key=dedup.io.discover.by_folder)
        assert expected, name
        assert [f.location for f in discover_inputs([name]).files] == expected


def test_a_setting_that_would_reject_everything_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_line_bytes"):
        load_config(overrides=["read.max_line_bytes=0"])
    assert load_config(overrides=["read.follow_links=true"]).read.follow_links
