"""Reading: the input files cut into batches of raw records for the workers.

The main process only streams bytes: a batch is a block of JSONL lines (or .json values,
CSV rows and Parquet rows as JSON lines) with their ``file:line`` numbers, or a few
whole documents; decoding and mapping fields to a Record happen in the workers
(``dedup.stages.parse``).  Nothing is dropped silently: anything unusable becomes a Reject
with a reason.

The main process never trusts an input's size or shape: files are streamed in fixed
blocks (decompressed on the way), so a line, a value, a row or a document over
``read.max_line_bytes`` is rejected without ever being held whole.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain, pairwise
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np
import orjson

from dedup.io.compression import READ_ERRORS, decompressed, without_compression
from dedup.io.discover import (
    CSV_SUFFIXES,
    JSON_SUFFIXES,
    PARQUET_SUFFIXES,
    TABLE_SUFFIXES,
    TSV_SUFFIXES,
    InputFile,
    streams_kept,
)
from dedup.records import Reject
from dedup.settings import Range, did_you_mean, first_problem, setting

if TYPE_CHECKING:
    import pyarrow

DEFAULT_FIELDS = {
    "id": "id",
    "title": "title",
    "text": "text",
    "html": "html",
    "url": "url",
    "published": "published",
    "source": "source",
    "lang": "lang",
}


DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024


# Bytes read from an input at a time: lines are cut out of these blocks, so however long a
# line is, no more than ``max_line_bytes`` of it (plus one block) is ever held.  1 MiB
# amortises the per-block Python work; Python-level splitting beats ``readline``.
READ_BLOCK_BYTES = 1024 * 1024


# A block of lines for a worker is cut at ``run.chunk_size`` records or once its data passes
# this many bytes, so a chunk of big records cannot blow up the memory of either side.
BLOCK_DATA_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReadConfig:
    """Reading input records."""

    fields: dict[str, str] = setting(DEFAULT_FIELDS, doc="""
        Input field name for each record field, e.g. {text = "body", published = "date"}. A
        dotted path reads a field nested in objects (published = "metadata.date"; a Parquet
        struct column alike) when no field has the whole name.""")
    max_text_chars: int = setting(200_000, Range(1, None), doc="""
        Longer texts are cut here and flagged "text_truncated": bounds time and memory per
        record at the cost of losing the tail of pathological articles.""")
    max_title_chars: int = setting(2_000, Range(1, None), doc="""
        Longer titles are cut here and flagged "title_truncated": a title is copied into
        clusters.jsonl and stories.jsonl beside articles.jsonl, and read once per separator
        for a site name; real headlines are under a few hundred characters.""")
    max_line_bytes: int = setting(DEFAULT_MAX_LINE_BYTES, Range(64, 1 << 31), doc="""
        Longer JSONL lines (and .json values, CSV rows, Parquet rows as JSON) are rejected
        "line_too_long", bigger .txt/.html files "file_too_large", found while streaming: bounds
        the memory one record can take (16 MiB). An article's JSON with its raw HTML is rarely
        above a few MB.""")
    strict: bool = setting(True, doc="""
        Refuse to start when a field mapped away from its default is in none of the first
        records, or when they have neither the text nor the html field but look like a known
        dump shape (--preset): a wrong mapping otherwise gives empty or headline-only articles
        with exit 0. Off reads on regardless (a dump whose first records lack it).""")
    follow_links: bool = setting(False, doc="""
        Follow symbolic links in input folders that lead outside them. Off, they are skipped
        (said once): a folder cannot pull in /etc or a whole disk by accident; on, what they
        point to is read too (loops are still detected).""")

    def __post_init__(self) -> None:
        """Fail at construction, not while reading, on a limit that rejects everything
        or a field mapping that names a record field that does not exist."""
        if (problem := first_problem(self)) is not None:
            raise ValueError(problem)
        for name, key in self.fields.items():
            if name not in DEFAULT_FIELDS:
                raise ValueError(unknown_field_message(name))
            if not isinstance(key, str) or not key:
                raise ValueError(f"{name!r} must be mapped to an input field name, got {key!r}")


def unknown_field_message(name: str) -> str:
    """Why ``read.fields.NAME`` is refused, with the record field it most likely meant:
    a typo such as ``txt`` would otherwise map nothing and read every text as empty."""
    return f"{name!r} is not a record field ({', '.join(DEFAULT_FIELDS)})" \
        f"{did_you_mean(name, DEFAULT_FIELDS)}"


def field_value(data: dict[str, Any], key: str) -> Any:
    """The value of field ``key`` of a JSON object: the field of that name, else, for a
    dotted path (``metadata.date``), the field nested along it; None if there is none.

    Dumps nest their metadata (datatrove's ``metadata``, a crawler's ``meta.published``);
    a field whose name holds a dot is still read by that name first."""
    if key in data or "." not in key:
        return data.get(key)
    value: Any = data
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def field_paths(data: dict[str, Any], depth: int = 4) -> list[str]:
    """The names of an object's fields, and the dotted paths of the fields nested in its
    objects (``depth`` levels deep): what a field mapping may name."""
    paths = []
    for key, value in data.items():
        paths.append(str(key))
        if depth > 1 and isinstance(value, dict):
            paths.extend(f"{key}.{inner}" for inner in field_paths(value, depth - 1))
    return paths


@dataclass(slots=True)
class RawItem:
    """One undecoded input record: a JSONL line or a whole document file."""

    origin: str
    kind: str  # "json", "txt" or "html"
    payload: bytes


@dataclass(frozen=True, slots=True)
class LineBlock:
    """Consecutive records of one JSONL or Parquet file, shipped to a worker as one bytes
    object with their line numbers.

    Pickling one block costs a copy; pickling a thousand line objects cost the main
    process more than the workers spent parsing them.  Blank lines are not carried (a
    file of blank lines makes no blocks); rejects found while reading (a line over the
    limit, the read error that ended the file) travel with the block in input order.
    """

    path: str
    first_seq: int  # input position of the block's first record
    numbers: array[int]  # line (or row) number of each line in ``data``
    ends: array[int]  # where each line ends in ``data``
    data: bytes  # the lines, concatenated without their line ends
    rejects: tuple[tuple[int, Reject], ...] = ()  # (input position, reject), in order

    @property
    def count(self) -> int:
        """Records in the block, rejects included."""
        return len(self.numbers) + len(self.rejects)

    def items(self) -> list[tuple[int, RawItem | Reject]]:
        """The block's records, numbered, exactly as reading the lines one by one gives."""
        records: list[RawItem | Reject] = [
            RawItem(origin=f"{self.path}:{number}", kind="json", payload=self.data[start:end])
            for number, (start, end) in zip(self.numbers, pairwise(chain([0], self.ends)),
                                            strict=True)]
        for seq, reject in self.rejects:  # in order, so each lands at its final place
            records.insert(seq - self.first_seq, reject)
        return list(enumerate(records, self.first_seq))


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive records of a table file, as read: their line (or row) numbers and
    bytes.  Records travel in runs so that a block is filled with a few list operations,
    not a Python step per line."""

    numbers: Sequence[int]
    lines: list[bytes]


Batch = list[tuple[int, RawItem | Reject]] | LineBlock


# What a table file yields, in input order: runs of records, and rejects between them.
Entry = Run | Reject


def numbered_items(batch: Batch) -> list[tuple[int, RawItem | Reject]]:
    """A batch's records with their input positions."""
    return batch.items() if isinstance(batch, LineBlock) else batch


def read_batches(files: Sequence[InputFile], size: int, cfg: ReadConfig) -> Iterator[Batch]:
    """The input cut into batches of about ``size`` records, numbered in input order.

    JSONL lines and Parquet rows travel as :class:`LineBlock`; documents (.txt/.html) and
    their rejects as numbered items.  A batch never spans two JSONL or Parquet files.
    """
    seq = 0
    pending: list[tuple[int, RawItem | Reject]] = []
    for path in files:
        if is_table(path):
            if pending:
                yield pending
                pending = []
            for block in line_blocks(path.shown, table_entries(path, size, cfg), size, seq):
                seq += block.count
                yield block
            continue
        pending.append((seq, document_item(path, cfg.max_line_bytes)))
        seq += 1
        if len(pending) == size:
            yield pending
            pending = []
    if pending:
        yield pending


def is_table(path: InputFile) -> bool:
    """Whether a file holds many records (JSON lines, Parquet rows...), not one document."""
    return path.read_as.endswith(TABLE_SUFFIXES)


def table_entries(path: InputFile, size: int, cfg: ReadConfig) -> Iterator[Entry]:
    """A table file's records as the reader streams them, whatever its format."""
    if path.read_as.endswith(PARQUET_SUFFIXES):
        return parquet_entries(path, size, cfg)
    if path.read_as.endswith(JSON_SUFFIXES):
        return json_entries(path, cfg.max_line_bytes)
    if path.read_as.endswith(CSV_SUFFIXES + TSV_SUFFIXES):
        delimiter = "\t" if path.read_as.endswith(TSV_SUFFIXES) else ","
        return csv_entries(path, cfg.max_line_bytes, delimiter, mapped_columns(cfg))
    return jsonl_entries(path, cfg.max_line_bytes)


def mapped_columns(cfg: ReadConfig) -> frozenset[str]:
    """The column names the field mapping reads (a dotted path's top one too)."""
    return frozenset(part for key in cfg.fields.values() for part in (key, key.split(".")[0]))


def repeated_columns(names: Sequence[str], mapped: frozenset[str]) -> str | None:
    """Why a table whose header names a mapped column twice cannot be read (one of the
    two columns would be dropped without a word), or None."""
    twice = sorted({name for name in names if name in mapped and names.count(name) > 1})
    return f"the header names the column {twice[0]!r} twice" if twice else None


def sample_fields(files: Sequence[InputFile], count: int,
                  cfg: ReadConfig) -> tuple[Counter[str], int, list[str]]:
    """The field names of the first ``count`` records that are JSON objects (a Parquet
    file's columns count as one record), how many records that was, and the files they
    came from: what the field mapping is checked against before any work.  Documents
    (.txt/.html) have no fields and are skipped."""
    with streams_kept():  # stdin and pipes: what the sample reads is read again by the run
        return sampled_fields(files, count, cfg)


def sampled_fields(files: Sequence[InputFile], count: int,
                   cfg: ReadConfig) -> tuple[Counter[str], int, list[str]]:
    """:func:`sample_fields`, stdin aside."""
    seen: Counter[str] = Counter()
    records = 0
    sampled: list[str] = []
    for path in files:
        if records >= count:
            break
        if not is_table(path):
            continue
        sampled.append(path.shown)
        for keys in record_keys(path, cfg):
            seen.update(keys)
            records += 1
            if records >= count:
                break
    return seen, records, sampled


def record_keys(path: InputFile, cfg: ReadConfig) -> Iterator[list[str]]:
    """The keys of each record of a table file that parses as a JSON object; a Parquet
    file's column names, once.  Unreadable files and bad lines give nothing here (the
    run rejects them with a reason)."""
    if path.read_as.endswith(PARQUET_SUFFIXES):
        yield from parquet_columns(path)
        return
    for entry in table_entries(path, SAMPLE_BLOCK_RECORDS, cfg):
        if isinstance(entry, Reject):
            continue
        for line in entry.lines:
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict):
                yield field_paths(data)


# Records read at a time while sampling a file's fields.
SAMPLE_BLOCK_RECORDS = 100


def parquet_columns(path: InputFile) -> Iterator[list[str]]:
    """A Parquet file's column names (none if pyarrow cannot read it)."""
    import pyarrow
    import pyarrow.parquet as pq

    try:
        with path.open() as handle:
            schema = pq.ParquetFile(handle).schema_arrow
    except (OSError, pyarrow.ArrowException):
        return
    yield [name for field in schema for name in struct_paths(field)]


def struct_paths(field: pyarrow.Field) -> list[str]:
    """A Parquet column's name, and the dotted paths of the fields of its structs."""
    import pyarrow

    if not pyarrow.types.is_struct(field.type):
        return [field.name]
    return [field.name, *(name for inner in field.flatten() for name in struct_paths(inner))]


def document_item(path: InputFile, limit: int) -> RawItem | Reject:
    """A whole .txt or .html file as one raw record; one over ``limit`` bytes is
    rejected after reading one byte past the limit (its size on disk is not trusted, and
    a URL may have none)."""
    kind = "html" if without_compression(path.read_as).endswith((".html", ".htm")) else "txt"
    try:
        with path.open() as raw, decompressed(raw, path.read_as, path.is_stream) as handle:
            payload = read_at_most(handle, limit + 1)
    except READ_ERRORS as err:
        return unreadable(path.shown, err)
    if len(payload) > limit:
        return Reject(origin=path.shown, reason="file_too_large",
                      detail=f"over {limit} bytes (read.max_line_bytes)")
    return RawItem(origin=path.shown, kind=kind, payload=payload)


def read_at_most(handle: IO[bytes], size: int) -> bytes:
    """The first ``size`` bytes of a stream (all of a shorter one): decompressors and
    pipes may give fewer bytes than asked before their end."""
    parts: list[bytes] = []
    while size > 0 and (piece := handle.read(size)):
        parts.append(piece)
        size -= len(piece)
    return b"".join(parts)


@dataclass(slots=True)
class BlockBuilder:
    """Collects one file's entries into LineBlocks of ``size`` records, or fewer once
    their data passes BLOCK_DATA_BYTES, numbering records in input order."""

    path: str
    size: int
    first_seq: int
    lines: list[bytes] = field(default_factory=list)
    numbers: array[int] = field(default_factory=lambda: array("q"))
    ends: array[int] = field(default_factory=lambda: array("q"))
    rejects: list[tuple[int, Reject]] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Records collected so far, rejects included."""
        return len(self.lines) + len(self.rejects)

    @property
    def data_bytes(self) -> int:
        """Bytes of the records collected so far."""
        return self.ends[-1] if self.ends else 0

    @property
    def full(self) -> bool:
        """Whether the block is due: ``size`` records, or its data over the budget."""
        return self.count >= self.size or self.data_bytes >= BLOCK_DATA_BYTES

    def add_reject(self, reject: Reject) -> None:
        """One more record, rejected while reading."""
        self.rejects.append((self.first_seq + self.count, reject))

    def add_run(self, run: Run, start: int) -> int:
        """As many of the run's records from ``start`` as the block takes; returns where
        the rest of the run starts."""
        taken = run.lines[start: start + self.size - self.count]
        ends = list(accumulate(map(len, taken), initial=self.data_bytes))[1:]
        crossing = bisect_left(ends, BLOCK_DATA_BYTES)  # the record that fills the budget
        if crossing < len(ends):
            taken, ends = taken[: crossing + 1], ends[: crossing + 1]
        self.lines.extend(taken)
        self.numbers.extend(run.numbers[start: start + len(taken)])
        self.ends.extend(ends)
        return start + len(taken)

    def take(self) -> LineBlock:
        """The block collected so far; the next one starts empty after it."""
        block = LineBlock(path=self.path, first_seq=self.first_seq, numbers=self.numbers,
                          ends=self.ends, data=b"".join(self.lines), rejects=tuple(self.rejects))
        self.first_seq += self.count
        self.lines, self.numbers, self.ends, self.rejects = [], array("q"), array("q"), []
        return block


def line_blocks(path: str, entries: Iterable[Entry], size: int,
                first_seq: int) -> Iterator[LineBlock]:
    """A table file's entries cut into blocks (where blocks are cut never shows in the
    output: records keep their input positions)."""
    builder = BlockBuilder(path, size, first_seq)
    for entry in entries:
        if isinstance(entry, Reject):
            builder.add_reject(entry)
            if builder.full:
                yield builder.take()
            continue
        start = 0
        while start < len(entry.lines):
            start = builder.add_run(entry, start)
            if builder.full:
                yield builder.take()
    if builder.count:
        yield builder.take()


# The reject of a file whose reading broke off (one per file, after its records so far).
UNREADABLE = "unreadable_file"


class RepeatedColumns(ValueError):
    """A table's header names a column the mapping reads twice: the file is not read."""


def unreadable(origin: str, err: BaseException) -> Reject:
    """The reject of a file whose reading failed at ``origin`` with ``err``."""
    return Reject(origin=origin, reason=UNREADABLE, detail=str(err))


def jsonl_entries(path: InputFile, limit: int) -> Iterator[Entry]:
    """The records of a (possibly compressed) JSONL file, streamed: runs of non-blank lines
    with their numbers, and a ``line_too_long`` Reject for each line over ``limit`` bytes.

    A truncated or corrupt compressed file (or any read error) ends in an ``unreadable_file`` Reject
    at the line it stopped in, after the lines read so far, not a crash.
    """
    cutter = LineCutter(path.shown, limit)
    try:
        with path.open() as raw, decompressed(raw, path.read_as, path.is_stream) as handle:
            for block in utf8_blocks(raw_blocks(handle)):
                yield from cutter.cut(block)
        yield from cutter.end()
    except READ_ERRORS as err:
        yield unreadable(f"{path.shown}:{cutter.number + 1}", err)


def json_entries(path: InputFile, limit: int) -> Iterator[Entry]:
    """The records of a .json file (or a stream), streamed: the file's one object, the
    elements of its array, or its JSON lines, each as a run of one line numbered where
    it starts; ``line_too_long`` for one over ``limit`` bytes.

    A file whose first line is a JSON value by itself is read as JSON lines (a broken
    line then costs only that line); otherwise its values are cut out by their
    brackets (:class:`ValueCutter`), never parsed whole.  Read errors end in an
    ``unreadable_file`` Reject after the records read so far, as for JSONL.
    """
    cutter: LineCutter | ValueCutter | None = None
    try:
        with path.open() as raw, decompressed(raw, path.read_as, path.is_stream) as handle:
            head, rest = leading_line(utf8_blocks(raw_blocks(handle)), limit)
            cutter = LineCutter(path.shown, limit) if is_json_line(head) else \
                ValueCutter(path.shown, limit)
            for block in chain(emptied(head), rest):
                yield from cutter.cut(block)
            yield from cutter.end()
    except READ_ERRORS as err:
        yield unreadable(f"{path.shown}:{(cutter.number if cutter else 0) + 1}", err)


def csv_entries(path: InputFile, limit: int, delimiter: str,
                mapped: frozenset[str] = frozenset()) -> Iterator[Entry]:
    """The rows of a CSV (or TSV) file with a header row, streamed, each as the JSON
    line of its non-empty cells by column name, so the field mapping, the type checks
    and the rejects are those of JSONL; numbered by the line each row starts on.

    Rows are cut at line ends outside quoted fields (articles hold newlines), each
    bounded by ``limit`` bytes like a JSONL line.  A row with more cells than the header
    or that the csv module refuses is rejected ``malformed_csv``; read errors end in an
    ``unreadable_file`` reject, as for JSONL, and so does a header naming a ``mapped``
    column twice.
    """
    csv.field_size_limit(max(csv.field_size_limit(), limit))  # a cell as big as a row
    cutter = CsvCutter(path.shown, limit, delimiter)
    rows = CsvRows(path.shown, delimiter, mapped)
    try:
        with path.open() as raw, decompressed(raw, path.read_as, path.is_stream) as handle:
            for block in utf8_blocks(raw_blocks(handle)):
                yield from rows.entries(cutter.cut(block))
        yield from rows.entries(cutter.end())
    except RepeatedColumns as err:
        yield unreadable(f"{path.shown}:1", err)
    except READ_ERRORS as err:
        yield unreadable(f"{path.shown}:{cutter.number + 1}", err)


# Outside quotes, what a CSV row's end depends on: a quote may open one, a line end ends it.
_CSV_STOP = re.compile(rb'["\n]')
_QUOTE = ord('"')


class CsvCutter:
    """Cuts CSV text into rows without holding one beyond ``limit`` bytes: a row ends
    at a line end outside quotes.  As in the csv module, a quote opens a quoted field
    only at the field's start (``6'2" tall`` in a plain cell is a character), and a
    doubled quote inside one is a quote.  Quoted text is skipped to its closing quote
    in one search, however many lines it holds."""

    def __init__(self, path: str, limit: int, delimiter: str) -> None:
        self.path = path
        self.limit = limit
        self.delimiter = ord(delimiter)
        self.first = 1  # the open row's first line
        self.inner = 0  # line ends inside the open row so far
        self.quoted = False
        self.closed = False  # the last byte read ended a quoted run: a closing quote, or
        # the first of a doubled one (told apart by the byte after it)
        self.last: int | None = None  # the open row's last byte before this block
        self.head = PartialLine(limit)

    @property
    def number(self) -> int:
        """Lines finished so far (where a read error stopped)."""
        return self.first - 1 + self.inner

    def cut(self, block: bytes) -> list[tuple[int, bytes | Reject]]:
        """The rows ``block`` finishes (blank lines are none); the rest waits."""
        found: list[tuple[int, bytes | Reject]] = []
        pos = start = 0
        while True:
            if self.quoted:
                pos = block.find(b'"', pos) + 1
                if not pos:
                    break
                self.quoted, self.closed = False, True
                continue
            if self.closed:
                if pos == len(block):
                    break
                self.closed = False
                if block[pos] == _QUOTE:  # a doubled quote: one quote, still quoted
                    self.quoted = True
                    pos += 1
                    continue
            stop = _CSV_STOP.search(block, pos)
            if stop is None:
                break
            pos = stop.end()
            if stop.group() == b'"':
                before = block[pos - 2] if pos - 1 > start else self.last
                self.quoted = before is None or before == self.delimiter
                continue
            found.extend(self.finish(block, start, stop.start()))
            start, self.last = pos, None
        self.inner += block.count(b"\n", start)
        self.head.add(block[start:])
        if start < len(block):
            self.last = block[-1]
        return found

    def finish(self, block: bytes, start: int, end: int) -> list[tuple[int, bytes | Reject]]:
        """The open row, ended by ``block[start:end]``: its bytes, a reject, or nothing
        if it is blank.  The next row starts on the line after it."""
        first = self.first
        self.first += self.inner + block.count(b"\n", start, end) + 1
        self.inner = 0
        row = self.head.take(block[start:end])
        if isinstance(row, int):
            return [(first, Reject(
                origin=f"{self.path}:{first}", reason="line_too_long",
                detail=f"row of {row} bytes, over read.max_line_bytes ({self.limit})"))]
        return [] if row is None else [(first, row.removesuffix(b"\r"))]

    def end(self) -> list[tuple[int, bytes | Reject]]:
        """The last row, when the file does not end with a line end; one still inside
        quotes is cut off."""
        if not self.head.size:
            return []
        if self.quoted:
            self.quoted = False
            self.head.take(b"")
            return [(self.first, Reject(origin=f"{self.path}:{self.first}",
                                        reason="malformed_csv",
                                        detail="the input ends inside a quoted field"))]
        return self.finish(b"", 0, 0)


@dataclass(slots=True)
class CsvRows:
    """A CSV file's rows as JSON lines of their cells by column name: the first row
    is the header."""

    path: str
    delimiter: str
    mapped: frozenset[str] = frozenset()  # columns the field mapping reads
    header: list[str] | None = None

    def entries(self, rows: list[tuple[int, bytes | Reject]]) -> list[Entry]:
        """Rows (or rejects) as runs of JSON lines between rejects."""
        numbered: list[tuple[int, bytes | Reject]] = []
        for number, row in rows:
            if isinstance(row, Reject) or self.header is not None:
                numbered.append((number, row if isinstance(row, Reject) else
                                 self.line(number, row)))
                continue
            cells = self.cells(row.decode("utf-8", errors="replace"))
            self.header = cells if isinstance(cells, list) else []
            if problem := repeated_columns(self.header, self.mapped):
                raise RepeatedColumns(problem)
        return runs(numbered)

    def cells(self, text: str) -> list[str] | str:
        """A row's cells, or why the csv module refuses it."""
        try:
            return next(csv.reader([text], delimiter=self.delimiter), [])
        except csv.Error as err:
            return str(err)

    def line(self, number: int, row: bytes) -> bytes | Reject:
        """One row as the JSON line of its non-empty cells (bytes that are not UTF-8
        left as they are, to be read as a JSON line's), or its reject."""
        text, raw = text_of(row)
        cells = self.cells(text)
        header = self.header or []
        problem = cells if isinstance(cells, str) else \
            f"{len(cells)} cells, the header has {len(header)}" \
            if len(cells) > len(header) else ""
        if problem or isinstance(cells, str):
            return Reject(origin=f"{self.path}:{number}", reason="malformed_csv",
                          detail=problem)
        found = {name: cell for name, cell in zip(header, cells, strict=False) if cell}
        return raw_json_line(found) if raw else orjson.dumps(found)


def text_of(data: bytes) -> tuple[str, bool]:
    """``data`` as text, and whether some of its bytes are not UTF-8: those are kept as
    surrogate escapes, which :func:`raw_json_line` writes back as the bytes they were."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", "surrogateescape"), True


def raw_json_line(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """A JSON line of ``value`` whose text holds bytes that are not UTF-8 (as surrogate
    escapes): they go into the line as they are, so that parsing reads them as it reads
    a JSON line's (as Windows-1252, flagged ``invalid_utf8``).  orjson writes valid
    UTF-8 only; the standard library writes the escapes, turned back into the bytes."""
    return json.dumps(value, default=default, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8", "surrogateescape")


def leading_line(blocks: Iterator[bytes], limit: int) -> tuple[list[bytes], Iterator[bytes]]:
    """The first blocks of a stream, up to its first line end (or ``limit`` bytes),
    and the rest of its blocks."""
    head: list[bytes] = []
    size = 0
    for block in blocks:
        head.append(block)
        size += len(block)
        if b"\n" in block or size > limit:
            break
    return head, blocks


def emptied(blocks: list[bytes]) -> Iterator[bytes]:
    """The blocks of a list, each let go as it is given."""
    while blocks:
        yield blocks.pop(0)


def is_json_line(head: list[bytes]) -> bool:
    """Whether a stream's first line is a JSON object or scalar by itself (JSON
    lines), not the start of a value spread over lines or of an array."""
    parts = []
    for block in head:
        if b"\n" in block:
            parts.append(block[: block.index(b"\n")])
            break
        parts.append(block)
    else:
        return False
    first = b"".join(parts).strip()
    if not first or first.startswith(b"["):
        return False
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return True


# Outside strings: the next byte that is not JSON whitespace.
_VALUE_START = re.compile(rb"[^ \t\r\n]")
# Inside a value, outside strings: the next byte that opens or closes something.
# A whole string is skipped in one match; one that goes on past the block leaves its
# opening quote alone.
_STRUCTURE = re.compile(rb'"(?:[^"\\]++|\\.)*+"|["\[\]{}]', re.S)
# Inside a string: the rest of it, up to its closing quote.
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+"', re.S)
# The end of a number or literal (true, null...): whitespace or structure.
_BARE_END = re.compile(rb'[ \t\r\n"\[\]{},]')


class ValueCutter:
    """Cuts a stream of JSON text into its records without parsing it or holding more
    than ``limit`` bytes of one: the elements of a top-level array, else each
    top-level value (one pretty-printed object; objects one after another).

    Only brackets and string boundaries are tracked, with a regular expression's jump
    to the next one, so it never fails: whatever is not JSON becomes a record the
    workers reject ``malformed_json``, and a value still open at the end of the stream
    is rejected with that reason here.
    """

    def __init__(self, path: str, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.line = 1  # line number at ``counted`` in the current block
        self.counted = 0
        self.depth = 0  # open brackets at the current position
        self.base = 0  # depth at which records start: 1 inside the top-level array
        self.seen_value = False  # a "[" only opens the top-level array as the first value
        self.in_string = False
        self.escaped = False  # a backslash ended the last block, inside a string
        self.bare = False  # inside a number or literal that is a record itself
        self.open = False  # inside a record
        self.start_line = 0  # the open record's first line
        self.head = PartialLine(limit)  # the open record's bytes from earlier blocks

    @property
    def number(self) -> int:
        """Lines finished so far (where a read error stopped)."""
        return self.line - 1

    def cut(self, block: bytes) -> list[Entry]:
        """The records ``block`` finishes; an open one waits for more."""
        found: list[Entry] = []
        self.counted = 0
        start = 0  # where the open record's bytes start in this block
        pos = 0
        while pos < len(block):
            pos, start = self.step(block, pos, start, found)
        self.line += block.count(b"\n", self.counted)
        if self.open:
            self.head.add(block[start:])
        return found

    def step(self, block: bytes, pos: int, start: int, found: list[Entry]) -> tuple[int, int]:
        """Moves past the next thing at ``pos``; returns the new position and where the
        open record starts in the block."""
        if self.escaped:
            self.escaped = False
            return pos + 1, start
        if self.in_string:
            return self.in_string_step(block, pos, start, found), start
        if self.bare:
            end = _BARE_END.search(block, pos)
            if end is None:
                return len(block), start
            self.bare = False
            found.append(self.finish(block[start: end.start()]))
            return end.start(), start
        if not self.open:
            return self.between_records(block, pos, found)
        structure = _STRUCTURE.search(block, pos)
        if structure is None:
            return len(block), start
        token = structure.group()
        if token == b'"':  # a string that goes on past the block
            self.in_string = True
        elif token in (b"[", b"{"):
            self.depth += 1
        elif token in (b"]", b"}"):
            self.depth -= 1
            if self.depth == self.base:
                found.append(self.finish(block[start: structure.end()]))
        return structure.end(), start  # (or past a whole string: nothing to track)

    def in_string_step(self, block: bytes, pos: int, start: int, found: list[Entry]) -> int:
        """Moves past the end of the string, or to the end of the block (noting a
        backslash there, which escapes the next block's first byte)."""
        rest = _STRING_REST.match(block, pos)
        if rest is None:
            body = block[pos:]
            self.escaped = (len(body) - len(body.rstrip(b"\\"))) % 2 == 1
            return len(block)
        self.in_string = False
        if self.depth == self.base:  # a string that is a record itself
            found.append(self.finish(block[start: rest.end()]))
        return rest.end()

    def between_records(self, block: bytes, pos: int,
                        found: list[Entry]) -> tuple[int, int]:
        """Moves to the start of the next record (opening it), past the top-level
        array's brackets and its commas."""
        first = _VALUE_START.search(block, pos)
        if first is None:
            return len(block), 0
        pos = first.start()
        char = block[pos: pos + 1]
        if char == b"[" and not self.seen_value:
            self.seen_value = True
            self.base = self.depth = 1
            return pos + 1, 0
        if char == b"]" and self.base == 1:  # the top-level array ends
            self.base = self.depth = 0
            return pos + 1, 0
        if char == b",":
            return pos + 1, 0
        self.seen_value = self.open = True
        self.line += block.count(b"\n", self.counted, pos)
        self.counted, self.start_line = pos, self.line
        if char == b'"':
            self.in_string = True
        elif char in b"[{":
            self.depth += 1
        elif char in b"]}":  # a stray closing bracket: a record of its own, not JSON
            found.append(self.finish(char))
        else:
            self.bare = True
        return pos + 1, pos

    def finish(self, last: bytes) -> Entry:
        """The open record, ended by its ``last`` piece (from this block)."""
        self.open = False
        value = self.head.take(last)
        if isinstance(value, int):
            return Reject(origin=f"{self.path}:{self.start_line}", reason="line_too_long",
                          detail=f"value of {value} bytes, over read.max_line_bytes "
                                 f"({self.limit})")
        return Run([self.start_line], [value or last])

    def end(self) -> list[Entry]:
        """The record still open at the end of the stream: a number or literal is
        whole, anything else is cut off."""
        if not self.open:
            return []
        if self.bare:
            self.bare = False
            return [self.finish(b"")]
        self.open = False
        self.head.take(b"")
        return [Reject(origin=f"{self.path}:{self.start_line}", reason="malformed_json",
                       detail="the input ends inside this value")]


def utf8_blocks(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """A file's blocks as UTF-8: a byte-order mark is dropped, and UTF-16/UTF-32 text is
    transcoded on the fly (bad sequences become U+FFFD, never an error), so one reader
    handles every encoding JSON may come in."""
    first = next(blocks, b"")
    encoding, bom_length = stream_encoding(first)
    rest = chain([first[bom_length:]], blocks)
    if encoding == "utf-8":
        yield from rest
        return
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    for block in rest:
        yield decoder.decode(block).encode("utf-8", errors="replace")
    yield decoder.decode(b"", final=True).encode("utf-8", errors="replace")


def raw_blocks(handle: IO[bytes]) -> Iterator[bytes]:
    """A file's bytes in blocks of about READ_BLOCK_BYTES.  A read error comes after the
    bytes read before it: a truncated gzip keeps the lines before the break."""
    read = getattr(handle, "read1", handle.read)  # what is there, not all or an error
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            piece = read(READ_BLOCK_BYTES - size)
        except Exception:
            if parts:
                yield b"".join(parts)
            raise
        if not piece:
            break
        parts.append(piece)
        size += len(piece)
        if size >= READ_BLOCK_BYTES:
            yield b"".join(parts)
            parts, size = [], 0
    if parts:
        yield b"".join(parts)


# Byte-order marks, longest first: UTF-32-LE's starts with UTF-16-LE's.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))


# Where the NUL bytes of two ASCII characters fall in each encoding (RFC 4627, section 3):
# JSON text starts with ASCII ("{", a quote, a blank), so its first four bytes tell.
_NUL_PATTERNS = (((True, True, True, False), "utf-32-be"),
                 ((False, True, True, True), "utf-32-le"),
                 ((True, False, True, False), "utf-16-be"),
                 ((False, True, False, True), "utf-16-le"))


def stream_encoding(head: bytes) -> tuple[str, int]:
    """The encoding of JSON text from its first bytes, and the length of its byte-order
    mark: the mark decides, else the pattern of NUL bytes; UTF-8 otherwise."""
    for bom, encoding in BYTE_ORDER_MARKS:
        if head.startswith(bom):
            return encoding, len(bom)
    nuls = tuple(byte == 0 for byte in head[:4])
    return next((encoding for pattern, encoding in _NUL_PATTERNS if nuls == pattern),
                "utf-8"), 0


class LineCutter:
    """Cuts a stream of byte blocks into lines without ever holding one beyond ``limit``
    bytes: a longer line is only measured while the rest of it streams past.

    Lines end at ``\\n`` (a ``\\r`` before it stays, as JSON whitespace), or at ``\\r`` in
    a file whose first line end is a bare ``\\r`` (classic Mac OS).  The lines a block
    holds whole are checked in bulk; only a block with blank or over-long lines among
    them takes a Python step per line.
    """

    def __init__(self, path: str, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.number = 0  # lines finished so far
        self.newline = b""  # the file's line end, once seen
        self.head = PartialLine(limit)

    def cut(self, block: bytes) -> list[Entry]:
        """The records ``block`` finishes; the start of the next line waits for more."""
        self.newline = self.newline or line_end(block)
        if not self.newline or self.newline not in block:
            self.head.add(block)
            return []
        if block.isspace():  # blank lines only (padding): counted, never split
            found = self.finish(block[:block.index(self.newline)])
            self.number += block.count(self.newline) - 1
            self.head.add(block[block.rindex(self.newline) + 1:])
            return found
        pieces = block.split(self.newline)
        found = self.finish(pieces[0])
        found.extend(self.whole_lines(pieces[1:-1]))
        self.head.add(pieces[-1])
        return found

    def finish(self, last: bytes) -> list[Entry]:
        """The pending line, ended by its ``last`` piece, unless it is blank."""
        self.number += 1
        line = self.head.take(last)
        if isinstance(line, int):
            return [self.too_long(self.number, line)]
        return [] if line is None else [Run([self.number], [line])]

    def end(self) -> list[Entry]:
        """The last line, when the file does not end with a line end."""
        return self.finish(b"") if self.head.size else []

    def whole_lines(self, lines: list[bytes]) -> list[Entry]:
        """Lines found whole in one block: one run, unless some are blank or too long."""
        first = self.number + 1
        self.number += len(lines)
        if not lines:
            return []
        lengths = list(map(len, lines))
        if min(lengths) and max(lengths) <= self.limit and not any(map(bytes.isspace, lines)):
            return [Run(range(first, first + len(lines)), lines)]
        return runs((number, self.too_long(number, len(line)) if len(line) > self.limit
                     else line) for number, line in enumerate(lines, first)
                    if len(line) > self.limit or (line and not line.isspace()))

    def too_long(self, number: int, size: int) -> Reject:
        """The reject of a line over the limit."""
        return Reject(origin=f"{self.path}:{number}", reason="line_too_long",
                      detail=f"line of {size} bytes, over read.max_line_bytes ({self.limit})")


def runs(records: Iterable[tuple[int, bytes | Reject]]) -> list[Entry]:
    """Numbered records (lines, or rejects) as runs of lines between the rejects."""
    entries: list[Entry] = []
    numbers: list[int] = []
    lines: list[bytes] = []
    for number, record in records:
        if isinstance(record, bytes):
            numbers.append(number)
            lines.append(record)
            continue
        if lines:
            entries.append(Run(numbers, lines))
            numbers, lines = [], []
        entries.append(record)
    return [*entries, Run(numbers, lines)] if lines else entries


def line_end(block: bytes) -> bytes:
    """The line end of a file, from its first block holding one ("" while none)."""
    if b"\n" in block:
        return b"\n"
    return b"\r" if b"\r" in block else b""


class PartialLine:
    """The start of a line whose end has not been read yet: its bytes while within the
    limit, then only its size."""

    __slots__ = ("limit", "parts", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, piece: bytes) -> None:
        """Append the next piece of the line (dropped, only counted, past the limit)."""
        self.size += len(piece)
        if self.size > self.limit:
            self.parts.clear()
        elif piece:
            self.parts.append(piece)

    def take(self, last: bytes) -> bytes | int | None:
        """The finished line with its ``last`` piece: its bytes, its size if it is over
        the limit, or None if it is blank.  Starts the next line empty."""
        self.add(last)
        size, line = self.size, b"".join(self.parts)
        self.parts, self.size = [], 0
        if size > self.limit:
            return size
        return None if not line or line.isspace() else line


def parquet_entries(path: InputFile, size: int, cfg: ReadConfig) -> Iterator[Entry]:
    """The rows of a Parquet file, each as the JSON line of its mapped columns.

    The rows then take exactly the JSONL path (field mapping, type checks, rejects), and
    an origin ``file:N`` names the N-th row.  Dates and other non-JSON values become
    their ISO/text form.  Only the columns the configuration maps are read (the others
    could not change a record), in batches of about BLOCK_DATA_BYTES, and a row whose
    line would exceed ``read.max_line_bytes`` is found from its cells' sizes in Arrow and
    rejected ``line_too_long`` before it becomes Python objects.  A file pyarrow cannot
    read ends in a Reject, not a crash.
    """
    import pyarrow
    import pyarrow.parquet as pq

    row = 1
    try:
        with path.open() as handle:
            table = pq.ParquetFile(handle)
            # a dotted path reads its top column (a struct) when no column has its name
            wanted = mapped_columns(cfg)
            if problem := repeated_columns(table.schema_arrow.names, wanted):
                raise RepeatedColumns(problem)
            columns = [name for name in table.schema_arrow.names if name in wanted]
            rows = parquet_batch_rows(table.metadata, columns, size)
            for batch in table.iter_batches(batch_size=rows, columns=columns):
                yield from batch_entries(batch, path.shown, row, cfg.max_line_bytes)
                row += batch.num_rows
    except (OSError, pyarrow.ArrowException, RepeatedColumns) as err:
        yield unreadable(f"{path.shown}:{row}", err)


def parquet_batch_rows(metadata: Any, columns: Sequence[str], size: int) -> int:
    """Rows per Arrow batch: ``size``, or fewer when the file's rows are big on average
    (from the column chunks' uncompressed sizes), so a batch stays near BLOCK_DATA_BYTES
    while it is turned into Python objects."""
    wanted = set(columns)
    total = sum(chunk.total_uncompressed_size
                for group in range(metadata.num_row_groups)
                for chunk in map(metadata.row_group(group).column,
                                 range(metadata.row_group(group).num_columns))
                if chunk.path_in_schema.split(".")[0] in wanted)
    per_row = total // max(metadata.num_rows, 1)
    return max(1, min(size, BLOCK_DATA_BYTES // max(per_row, 1)))


def batch_entries(batch: pyarrow.RecordBatch, path: str, first_row: int,
                  limit: int) -> list[Entry]:
    """One Arrow batch's rows as JSON lines, or ``line_too_long`` rejects.

    A row is over the limit if a lower bound of its line's size, computed in Arrow, is;
    only the others are converted (the check is repeated on the line, which escaping
    can make longer)."""
    import pyarrow

    least = json_size_floor(batch)
    over = least > limit
    kept = iter((batch.filter(pyarrow.array(~over)) if over.any() else batch).to_pylist())
    numbered: list[tuple[int, bytes | Reject]] = []
    for offset, too_long in enumerate(over.tolist()):
        number = first_row + offset
        line = b"" if too_long else row_line(next(kept))
        if isinstance(line, str):
            numbered.append((number, Reject(origin=f"{path}:{number}", reason="malformed_json",
                                            detail=f"row as JSON: {line}")))
        elif not 0 < len(line) <= limit:
            numbered.append((number, Reject(
                origin=f"{path}:{number}", reason="line_too_long",
                detail=f"row of at least {len(line) or int(least[offset])} bytes as JSON, "
                       f"over read.max_line_bytes ({limit})")))
        else:
            numbered.append((number, line))
    return runs(numbered)


def row_line(row: dict[str, Any]) -> bytes | str:
    """A Parquet row as a JSON line (dates and other values JSON lacks as their text,
    binary cells as the text their bytes spell: :class:`CellText`), or why JSON cannot
    hold it (nested too deep)."""
    text = CellText()
    try:
        return orjson.dumps(row, default=text, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as err:
        return raw_json_line(row, text) if text.raw else str(err)


class CellText:
    """orjson's ``default`` for values JSON lacks: their text.  Bytes are the text they
    spell, as in a JSON line: UTF-8, and bytes that are not stay as they are (``raw``
    says some did; orjson then refuses the row, which :func:`raw_json_line` writes)."""

    def __init__(self) -> None:
        self.raw = False

    def __call__(self, value: Any) -> str:
        if isinstance(value, bytes | bytearray | memoryview):
            found, not_utf8 = text_of(bytes(value))
            self.raw |= not_utf8
            return found
        return str(value)


def json_size_floor(batch: pyarrow.RecordBatch) -> np.ndarray:
    """A lower bound of each row's size as a JSON object, from its cells' sizes."""
    return object_size_floor(batch.num_rows, batch.schema.names, batch.columns)


def object_size_floor(rows: int, names: Sequence[str],
                      values: Sequence[pyarrow.Array]) -> np.ndarray:
    """A lower bound of the size of each of ``rows`` JSON objects with these keys and
    values, as orjson writes it: ``{"name":value,...}``."""
    sizes = np.full(rows, 2 + max(len(names) - 1, 0), dtype=np.int64)  # braces, commas
    for name, column in zip(names, values, strict=True):
        sizes += len(name.encode()) + 3 + cell_size_floor(column)  # "name":value
    return sizes


def cell_size_floor(array: pyarrow.Array) -> np.ndarray:
    """A lower bound of each cell's size as JSON, computed in Arrow without converting
    a cell to Python: strings and binaries by their byte length, lists, maps and structs
    from their children, anything else (numbers, dates) one byte; a null is ``null``."""
    import pyarrow
    import pyarrow.compute as pc

    kind = array.type
    if pyarrow.types.is_dictionary(kind):
        indices = array.indices.fill_null(0).to_numpy(zero_copy_only=False)
        sizes = cell_size_floor(array.dictionary)[indices]
    elif pyarrow.types.is_binary(kind) or pyarrow.types.is_large_binary(kind) or \
            pyarrow.types.is_string(kind) or pyarrow.types.is_large_string(kind):
        sizes = pc.binary_length(array).fill_null(0).to_numpy(zero_copy_only=False) + 2
    elif pyarrow.types.is_map(kind):
        entries = cell_size_floor(array.keys) + cell_size_floor(array.items)
        sizes = sums_by_offsets(entries, array.offsets) + 2
    elif pyarrow.types.is_list(kind) or pyarrow.types.is_large_list(kind):
        sizes = sums_by_offsets(cell_size_floor(array.values), array.offsets) + 2
    elif pyarrow.types.is_fixed_size_list(kind):  # .values has every slot, null or not
        start = array.offset * kind.list_size
        values = cell_size_floor(array.values)[start: start + len(array) * kind.list_size]
        sizes = values.reshape(len(array), kind.list_size).sum(axis=1) + 2
    elif pyarrow.types.is_struct(kind):
        sizes = object_size_floor(len(array), [field.name for field in kind], array.flatten())
    else:
        sizes = np.ones(len(array), dtype=np.int64)
    sizes = sizes.astype(np.int64)
    sizes[array.is_null().to_numpy(zero_copy_only=False)] = 4
    return sizes


def sums_by_offsets(values: np.ndarray, offsets: pyarrow.Array) -> np.ndarray:
    """Per list cell, the sum of its elements' ``values`` (``offsets`` into them)."""
    bounds = offsets.to_numpy(zero_copy_only=False)
    totals = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    return cast(np.ndarray, totals[bounds[1:]] - totals[bounds[:-1]])
