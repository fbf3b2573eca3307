"""Read stage: find input records and turn each raw line or file into a Record or a Reject.

Reading is split in two so the expensive half runs in workers: the main process only
enumerates raw items (a JSONL line's bytes, or a path) with their ``file:line`` origin;
``parse_item`` (a pure function, run per chunk in a worker) decodes, maps field names and
validates.  Nothing is dropped silently: anything unusable becomes a Reject with a reason.
"""

from __future__ import annotations

import codecs
import glob
import gzip
import hashlib
import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import charset_normalizer
import orjson

from dedup.records import Record

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
PARQUET_SUFFIXES = (".parquet",)
# Files read as blocks of records (one batch never spans two of them).
TABLE_SUFFIXES = JSONL_SUFFIXES + PARQUET_SUFFIXES
DOCUMENT_SUFFIXES = (".txt", ".html", ".htm")
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


@dataclass(frozen=True, slots=True)
class ReadConfig:
    """How input records are mapped and bounded."""

    # Input field name for each record field, e.g. {text = "body", published = "date"}.
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    # Longer texts are cut here and flagged "text_truncated": bounds time and memory per
    # record at the cost of losing the tail of pathological articles.
    max_text_chars: int = 200_000


class InputError(ValueError):
    """A user error in the input paths: reported before any work starts."""


@dataclass(slots=True)
class RawItem:
    """One undecoded input record: a JSONL line or a whole document file."""

    origin: str
    kind: str  # "json", "txt" or "html"
    payload: bytes


@dataclass(slots=True)
class Reject:
    """An input record that could not be used, with the reason and where it came from."""

    origin: str
    reason: str
    detail: str = ""
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The rejects.jsonl row."""
        return {"id": self.id, "origin": self.origin, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input file: a local path, or an fsspec URL (``s3://bucket/2026-11.jsonl.gz``).

    Only the main process opens inputs (it cuts them into blocks for the workers), so
    workers need neither a URL's filesystem package nor its credentials.
    """

    location: str  # the path or URL, as origins and the report show it

    @property
    def name(self) -> str:
        """The file's name (a URL's last path segment, without its query)."""
        return self.location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] \
            if is_url(self.location) else Path(self.location).name

    def open(self) -> AbstractContextManager[IO[bytes]]:
        """The file's bytes, from the local disk or through fsspec."""
        if is_url(self.location):
            import fsspec

            return cast(AbstractContextManager[IO[bytes]], fsspec.open(self.location, "rb"))
        return open(self.location, "rb")

    def version(self) -> list[str | int]:
        """What tells this file's content apart from an edited one's, without reading it:
        the resolved path, size and modification time, or a URL's size and the first
        version stamp its store gives (ETag, modification time...)."""
        if not is_url(self.location):
            stat = Path(self.location).stat()
            return [str(Path(self.location).resolve()), stat.st_size, stat.st_mtime_ns]
        fs, path = url_filesystem(self.location)
        info = fs.info(path)
        stamp = next((str(info[key]) for key in VERSION_STAMPS if info.get(key)), "")
        return [self.location, int(info.get("size") or 0), stamp]


# Keys of fsspec's file info that change when a stored file changes, most telling first.
VERSION_STAMPS = ("ETag", "etag", "md5Hash", "generation", "mtime", "LastModified",
                  "last_modified", "updated", "created")


def is_url(name: str) -> bool:
    """True for ``protocol://...`` (fsspec URLs, ``file://`` included), not local paths."""
    return bool(URL_SCHEME.match(name))


URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def url_filesystem(url: str) -> tuple[Any, str]:
    """fsspec's filesystem and path for a URL; a missing package is a user error."""
    try:
        from fsspec.core import url_to_fs

        return url_to_fs(url)
    except ImportError as err:
        hint = "pip install 'dedup[remote]'" if "fsspec" in str(err) else str(err)
        raise InputError(f"{url}: cannot read this URL ({hint})") from err
    except ValueError as err:
        raise InputError(f"{url}: {err}") from err


def discover_inputs(names: Sequence[str]) -> list[InputFile]:
    """Expand input paths and URLs into the sorted list of files to read, failing early.

    Directories contribute their ``.txt``/``.html``/``.jsonl(.gz)``/``.parquet`` files
    (recursively, sorted by path), and a glob pattern (``dumps/*.parquet``) its matches
    sorted by path, so that the record order, and hence the output, is reproducible.
    URLs (``s3://bucket/dumps/``, ``gs://bucket/*.parquet``) work the same through fsspec.
    """
    files: list[InputFile] = []
    for name in names:
        found = remote_inputs(name) if is_url(name) else local_inputs(name)
        files.extend(InputFile(location) for location in found)
    if any(f.name.lower().endswith(PARQUET_SUFFIXES) for f in files):
        require_pyarrow()
    return files


def local_inputs(name: str) -> list[str]:
    """The readable files a local path, directory or glob pattern names."""
    path = Path(name)
    if path.is_dir():
        return [str(p) for p in sorted(path.rglob("*"))
                if p.is_file() and is_readable_kind(p.name)]
    if path.is_file():
        return [require_readable_kind(name, path.name)]
    if is_pattern(name):
        return [p for p in sorted(glob.glob(name, recursive=True), key=by_folder)
                if Path(p).is_file() and is_readable_kind(p)] or no_match(name)
    raise InputError(f"{name}: no such file or directory")


def remote_inputs(url: str) -> list[str]:
    """The readable files a URL, a URL of a directory (prefix) or a URL pattern names."""
    fs, path = url_filesystem(url)
    try:
        if fs.isfile(path):
            return [require_readable_kind(url, url)]
        if fs.isdir(path):
            return [fs.unstrip_protocol(p) for p in sorted(fs.find(path), key=by_folder)
                    if is_readable_kind(p)]
        if is_pattern(path):
            return [fs.unstrip_protocol(p) for p in sorted(fs.glob(path), key=by_folder)
                    if fs.isfile(p) and is_readable_kind(p)] or no_match(url)
    except OSError as err:
        raise InputError(f"{url}: {err}") from err
    raise InputError(f"{url}: no such file or directory")


def by_folder(name: str) -> list[str]:
    """Sort key of a path or URL path: folder by folder, as ``Path`` objects sort, so a
    folder read by URL, by pattern or by path gives its files in one order ("b/x" before
    "b-2/x", which a plain string sort reverses)."""
    return name.split("/")


def require_readable_kind(name: str, file_name: str) -> str:
    """``name``, if the reader understands its kind of file."""
    if not is_readable_kind(file_name):
        raise InputError(f"{name}: unsupported input (expected .jsonl, .jsonl.gz, "
                         ".parquet, .txt, .html or a directory of them)")
    return name


def no_match(pattern: str) -> list[str]:
    """A pattern that matches nothing readable is a user error, not an empty run."""
    raise InputError(f"{pattern}: the pattern matches no readable file")


def is_pattern(name: str) -> bool:
    """True for a glob pattern rather than a plain path."""
    return any(c in name for c in "*?[")


def require_pyarrow() -> None:
    """Parquet input needs pyarrow (the optional extra 'parquet'): say so before any work."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as err:
        raise InputError("reading .parquet needs pyarrow: pip install 'dedup[parquet]'") from err


def is_readable_kind(name: str) -> bool:
    """True for the file kinds the reader understands (by the file's name)."""
    name = name.lower()
    return name.endswith(TABLE_SUFFIXES) or name.endswith(DOCUMENT_SUFFIXES)


@dataclass(frozen=True, slots=True)
class LineBlock:
    """Consecutive lines of one JSONL file, shipped to a worker as one bytes object.

    Pickling one block costs a copy; pickling a thousand line objects cost the main
    process more than the workers spent parsing them.
    """

    path: str
    first_line: int  # line number of the block's first line
    first_seq: int  # input position of the block's first record
    count: int  # records in the block (non-blank lines)
    data: bytes  # the lines, newlines included

    def items(self) -> list[tuple[int, RawItem | Reject]]:
        """The block's records, numbered, exactly as reading the lines one by one gives."""
        parts = self.data.split(b"\n")
        lines = [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
        items: list[tuple[int, RawItem | Reject]] = []
        for offset, line in enumerate(lines):
            if line.strip():
                items.append((self.first_seq + len(items), RawItem(
                    origin=f"{self.path}:{self.first_line + offset}", kind="json",
                    payload=line)))
        return items


Batch = list[tuple[int, RawItem | Reject]] | LineBlock


def numbered_items(batch: Batch) -> list[tuple[int, RawItem | Reject]]:
    """A batch's records with their input positions."""
    return batch.items() if isinstance(batch, LineBlock) else batch


def read_batches(files: Sequence[InputFile], size: int) -> Iterator[Batch]:
    """The input cut into batches of about ``size`` records, numbered in input order.

    JSONL lines and Parquet rows travel as :class:`LineBlock`; documents (.txt/.html) and
    rejects as numbered items.  A batch never spans two JSONL or Parquet files.
    """
    seq = 0
    pending: list[tuple[int, RawItem | Reject]] = []
    for path in files:
        if path.name.lower().endswith(TABLE_SUFFIXES):
            if pending:
                yield pending
                pending = []
            blocks = parquet_blocks if path.name.lower().endswith(PARQUET_SUFFIXES) else \
                jsonl_blocks
            for block in blocks(path, size, seq):
                seq += block.count if isinstance(block, LineBlock) else len(block)
                yield block
            continue
        pending.append((seq, document_item(path)))
        seq += 1
        if len(pending) == size:
            yield pending
            pending = []
    if pending:
        yield pending


def document_item(path: InputFile) -> RawItem | Reject:
    """A whole .txt or .html file as one raw record."""
    kind = "html" if path.name.lower().endswith((".html", ".htm")) else "txt"
    try:
        with path.open() as handle:
            return RawItem(origin=path.location, kind=kind, payload=handle.read())
    except OSError as err:
        return Reject(origin=path.location, reason="unreadable_file", detail=str(err))


def jsonl_blocks(path: InputFile, size: int, first_seq: int) -> Iterator[Batch]:
    """Blocks of ``size`` lines of a (possibly gzipped) JSONL file.

    A truncated or corrupt gzip ends in a Reject after the lines read so far, not a crash.
    """
    gzipped = path.name.lower().endswith(".gz")
    lines: list[bytes] = []
    first_line, line_no, seq = 1, 0, first_seq

    def block() -> LineBlock:
        return LineBlock(path=path.location, first_line=first_line, first_seq=seq,
                         count=sum(1 for kept in lines if kept.strip()), data=b"".join(lines))

    try:
        with path.open() as raw, (gzip.open(raw) if gzipped else raw) as handle:
            for line_no, line in enumerate(handle, start=1):
                lines.append(line)
                if len(lines) == size:
                    full = block()
                    yield full
                    seq += full.count
                    first_line, lines = line_no + 1, []
    except (OSError, EOFError, zlib.error) as err:
        if lines:
            partial = block()
            yield partial
            seq += partial.count
        yield [(seq, Reject(origin=f"{path.location}:{line_no + 1}", reason="unreadable_file",
                            detail=str(err)))]
        return
    if lines:
        yield block()


def parquet_blocks(path: InputFile, size: int, first_seq: int) -> Iterator[Batch]:
    """Blocks of ``size`` rows of a Parquet file, each row turned into one JSON line.

    The rows then take exactly the JSONL path (field mapping, type checks, rejects), and
    an origin ``file:N`` names the N-th row.  Dates and other non-JSON values become
    their ISO/text form.  A file pyarrow cannot read ends in a Reject, not a crash.
    """
    import pyarrow
    import pyarrow.parquet as pq

    row, seq = 1, first_seq
    try:
        with path.open() as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=size):
                lines = [orjson.dumps(r, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n"
                         for r in batch.to_pylist()]
                yield LineBlock(path=path.location, first_line=row, first_seq=seq,
                                count=len(lines), data=b"".join(lines))
                row, seq = row + len(lines), seq + len(lines)
    except (OSError, pyarrow.ArrowException) as err:
        yield [(seq, Reject(origin=f"{path.location}:{row}", reason="unreadable_file",
                            detail=str(err)))]


def parse_item(item: RawItem, cfg: ReadConfig) -> Record | Reject:
    """Decode one raw item into a Record, or explain why it cannot be one."""
    if item.kind == "json":
        return record_from_json(item, cfg)
    text, flags = decode_document(item.payload, item.kind)
    stem = Path(item.origin).stem
    if item.kind == "html":
        return finish_record(Record(id=stem, html=text, origin=item.origin, flags=flags), cfg)
    title, _, body = text.strip().partition("\n")
    return finish_record(Record(id=stem, title=title, text=body, origin=item.origin, flags=flags),
                         cfg)


# Bytes Windows-1252 leaves undefined; they are read as Latin-1 (control characters).
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


def _as_windows_1252(err: UnicodeError) -> tuple[str, int]:
    """Decoding error handler: read the bytes UTF-8 rejects as Windows-1252.

    Dumps that mix encodings mostly hold stray Latin-1/Windows-1252 text in otherwise
    UTF-8 files (a "café" from an old CMS): this keeps it "café" instead of "caf\ufffd".
    """
    if not isinstance(err, UnicodeDecodeError):
        raise err
    bad = err.object[err.start : err.end]
    return "".join(chr(b) if b in _CP1252_UNDEFINED else bytes([b]).decode("cp1252")
                   for b in bad), err.end


codecs.register_error("dedup-windows-1252", _as_windows_1252)


def decode_bytes(payload: bytes) -> tuple[str, list[str]]:
    """UTF-8 text with NULs removed; bytes that are not UTF-8 are read as Windows-1252
    and flagged, never fatal."""
    flags: list[str] = []
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = payload.decode("utf-8", errors="dedup-windows-1252")
        flags.append("invalid_utf8")
    return without_nuls(text, flags)


def without_nuls(text: str, flags: list[str]) -> tuple[str, list[str]]:
    """The text without NUL characters (flagged when there were some)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
        flags.append("nul_bytes")
    return text, flags


def decode_document(payload: bytes, kind: str) -> tuple[str, list[str]]:
    """A whole .txt or .html file's text, in the encoding it was written in.

    A byte-order mark decides first.  Then valid UTF-8 is read as UTF-8, even where a
    page declares another charset: scrapers often save pages as UTF-8 and keep the
    stale ``<meta charset>``, and text in another encoding is rarely valid UTF-8.
    Otherwise a page is read in the charset its first 1,024 bytes declare (Cyrillic
    sites still serve windows-1251, Chinese ones GBK), and a file that declares nothing
    in the encoding charset-normalizer finds most likely (flagged ``charset_guessed``);
    when it finds none, as UTF-8 with the Windows-1252 fallback of :func:`decode_bytes`.
    """
    encoding, flags = bom_encoding(payload), list[str]()
    if encoding is None:
        try:
            return without_nuls(payload.decode("utf-8"), flags)
        except UnicodeDecodeError:
            encoding = declared_charset(payload[:1024]) if kind == "html" else None
            if encoding is None and (encoding := guessed_charset(payload)):
                flags.append("charset_guessed")
    if encoding is None:
        return decode_bytes(payload)
    try:
        return without_nuls(payload.decode(encoding), flags)
    except UnicodeDecodeError:
        return without_nuls(payload.decode(encoding, errors="replace"),
                            [*flags, "undecodable_bytes"])


_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
# <meta charset="..."> and <meta http-equiv="Content-Type" content="...; charset=...">.
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
# Labels browsers read as a superset of what they name (WHATWG Encoding Standard): pages
# labelled Latin-1 are written in Windows-1252 (Python's Latin-1 would turn its curly
# quotes and dashes into control characters), GB2312 ones in GBK, and so on.
_BROWSER_CODECS = {
    **dict.fromkeys(("ascii", "us-ascii", "iso-8859-1", "iso8859-1", "latin1", "latin-1",
                     "l1", "cp819", "ibm819", "x-cp1252"), "cp1252"),
    **dict.fromkeys(("gb2312", "gbk", "x-gbk"), "gb18030"),
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis"), "cp932"),
    "euc-kr": "cp949", "iso-8859-9": "cp1254", "tis-620": "cp874", "iso-8859-11": "cp874",
}


def bom_encoding(payload: bytes) -> str | None:
    """The encoding a byte-order mark announces, if the payload starts with one."""
    return next((encoding for bom, encoding in _BOMS if payload.startswith(bom)), None)


def guessed_charset(payload: bytes) -> str | None:
    """The Python codec of charset-normalizer's best guess for bytes that declare no
    encoding (it scores decodings by how much of them is readable text)."""
    best = charset_normalizer.from_bytes(payload).best()
    return codecs.lookup(best.encoding).name if best is not None else None


def declared_charset(head: bytes) -> str | None:
    """The Python codec of the charset an HTML head declares, if it names a known one."""
    found = _META_CHARSET.search(head)
    if not found:
        return None
    label = found.group(1).decode("ascii").lower()
    try:
        return codecs.lookup(_BROWSER_CODECS.get(label, label)).name
    except LookupError:
        return None


def record_from_json(item: RawItem, cfg: ReadConfig) -> Record | Reject:
    """Map one JSON object onto a Record using the configured field names."""
    flags: list[str] = []
    try:
        data = orjson.loads(item.payload)
    except orjson.JSONDecodeError:
        text, flags = decode_bytes(item.payload)
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            return Reject(origin=item.origin, reason="malformed_json", detail=str(err)[:200])
    if not isinstance(data, dict):
        return Reject(origin=item.origin, reason="not_an_object",
                      detail=f"line is a JSON {type(data).__name__}")
    values: dict[str, str | None] = {}
    for name, key in cfg.fields.items():
        value = data.get(key)
        if value is not None and not is_scalar(value):
            return Reject(origin=item.origin, reason="wrong_field_type",
                          detail=f"{key} is a {type(value).__name__}",
                          id=text_or_none(data.get(cfg.fields.get("id", "id"))))
        values[name] = None if value is None else str(value)
    record = Record(
        id=values.get("id") or "",
        title=values.get("title") or "",
        text=values.get("text") or "",
        html=values.get("html"),
        url=values.get("url"),
        source=values.get("source"),
        published=values.get("published"),
        lang=values.get("lang"),
        origin=item.origin,
        flags=flags,
    )
    return finish_record(record, cfg)


def is_scalar(value: Any) -> bool:
    """Strings and numbers can be record fields; lists, objects and booleans cannot."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def text_or_none(value: Any) -> str | None:
    """A scalar id as a string, anything else as None (for rejects)."""
    return str(value) if is_scalar(value) else None


def finish_record(record: Record, cfg: ReadConfig) -> Record | Reject:
    """Shared checks: strip NULs, give a stable id, bound text, normalise the date."""
    for name in ("id", "title", "text", "html", "url", "source", "published", "lang"):
        value = getattr(record, name)
        if value and "\x00" in value:
            setattr(record, name, value.replace("\x00", ""))
            if "nul_bytes" not in record.flags:
                record.flags.append("nul_bytes")
    record.id = record.id.strip()
    if not (record.title.strip() or record.text.strip() or (record.html or "").strip()):
        return Reject(origin=record.origin, reason="empty", detail="no title, text or html",
                      id=record.id or None)
    if not record.id:
        record.id = content_id(record)
    if len(record.text) > cfg.max_text_chars:
        record.text = record.text[: cfg.max_text_chars]
        record.flags.append("text_truncated")
    if record.published is not None:
        record.published = normalise_published(record.published, record.flags)
    return record


def content_id(record: Record) -> str:
    """A stable id for a record that has none: a hash of its content, not of its position."""
    digest = hashlib.blake2b(digest_size=8)
    for part in (record.title, record.text, record.html or "", record.url or ""):
        digest.update(part.encode("utf-8", errors="replace") + b"\x00")
    return "h" + digest.hexdigest()


def normalise_published(value: str, flags: list[str]) -> str | None:
    """ISO 8601 in UTC (``YYYY-MM-DD`` or ``...THH:MM:SSZ``); unparseable -> None, flagged."""
    parsed = parse_datetime(value)
    if parsed is None:
        flags.append("bad_published")
        return None
    if len(value.strip()) <= 10:
        return parsed.date().isoformat()
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: str) -> datetime | None:
    """Parse ISO 8601 (with ``Z``, offsets or date only); naive times are taken as UTC."""
    text = value.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def published_day(published: str | None) -> float:
    """Days since the Unix epoch (NaN when unknown): the unit of the clustering time window."""
    parsed = parse_datetime(published) if published else None
    return parsed.timestamp() / 86400.0 if parsed else float("nan")
