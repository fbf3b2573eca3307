"""Parse stage: one raw input record (a JSON line or a document's bytes) into a Record,
or a Reject that says why not.

A pure function of the raw bytes and the config, run in the workers: it decodes (byte
order marks, declared or guessed charsets, stray Windows-1252 bytes, lone surrogates),
maps the configured field names, checks types, and normalises ids, text and dates.  Any
input gives a Record (perhaps flagged) or a Reject; none raises.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import unicodedata
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import charset_normalizer
import orjson

from dedup.algorithms.hashing import hash64
from dedup.io.compression import without_compression
from dedup.io.read import BYTE_ORDER_MARKS, DEFAULT_FIELDS, RawItem, ReadConfig, field_value
from dedup.records import Record, Reject
from dedup.stages.markup import without_markup


def parse_item(item: RawItem, cfg: ReadConfig) -> Record | Reject:
    """Decode one raw item into a Record, or explain why it cannot be one."""
    if item.kind == "json":
        return record_from_json(item, cfg)
    text, flags = decode_document(item.payload, item.kind)
    stem = Path(without_compression(item.origin)).stem  # "a" of "a.html.gz"
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
    Only text encodings browsers know are ever used (see :func:`text_codec`), and bytes
    one cannot read become U+FFFD (flagged ``undecodable_bytes``): never an error.
    ISO-2022-JP writes Japanese in 7-bit bytes between escape sequences, which are
    valid UTF-8: a page declaring it and holding an escape is read in it.
    """
    encoding, bom_length = bom_encoding(payload)
    payload, flags = payload[bom_length:], list[str]()
    if encoding is None and kind == "html" and b"\x1b" in payload:
        encoding = _escape_charset(payload[:1024])
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
    except UnicodeError:
        return without_nuls(payload.decode(encoding, errors="replace"),
                            [*flags, "undecodable_bytes"])


# <meta charset="..."> and <meta http-equiv="Content-Type" content="...; charset=...">.
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)


# The encodings of the WHATWG Encoding Standard, as Python codecs: all a browser decodes
# text with, and so all a page or a guess may select.  Python knows many more codecs, but
# some are not text encodings at all ("hex", "rot13", "uu", "idna", "unicode_escape"...)
# and fail or mangle on ordinary bytes.
WHATWG_CODECS = (
    "utf_8", "cp866", "iso8859_2", "iso8859_3", "iso8859_4", "iso8859_5", "iso8859_6",
    "iso8859_7", "iso8859_8", "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_15",
    "iso8859_16", "koi8_r", "koi8_u", "mac_roman", "cp874", "cp1250", "cp1251", "cp1252",
    "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "mac_cyrillic", "gb18030",
    "big5hkscs", "euc_jp", "iso2022_jp", "cp932", "cp949", "utf_16_le", "utf_16_be",
)


_WHATWG_NAMES = frozenset(codecs.lookup(name).name for name in WHATWG_CODECS)


# Labels browsers read as a superset of what they name (WHATWG Encoding Standard): pages
# labelled Latin-1 are written in Windows-1252 (Python's Latin-1 would turn its curly
# quotes and dashes into control characters), GB2312 ones in GBK, and so on; and WHATWG
# labels Python does not know.  Keyed by label and by Python's name for what it names.
_BROWSER_CODECS = {
    **dict.fromkeys(("ascii", "us-ascii", "iso-8859-1", "iso8859-1", "latin1", "latin-1",
                     "l1", "cp819", "ibm819", "x-cp1252"), "cp1252"),
    **dict.fromkeys(("gb2312", "gbk", "x-gbk"), "gb18030"),
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j",
                     "csshiftjis"), "cp932"),
    **dict.fromkeys(("euc-kr", "euc_kr", "ks_c_5601-1987", "ks_c_5601-1989", "windows-949",
                     "cseuckr", "csksc56011987"), "cp949"),
    **dict.fromkeys(("iso-8859-9", "iso8859-9"), "cp1254"),
    **dict.fromkeys(("tis-620", "iso-8859-11", "iso8859-11", "windows-874", "dos-874"),
                    "cp874"),
    **dict.fromkeys(("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"), "big5hkscs"),
    **dict.fromkeys(("x-mac-cyrillic", "x-mac-ukrainian"), "mac_cyrillic"),
    **dict.fromkeys(("x-mac-roman", "csmacintosh"), "mac_roman"),
    **dict.fromkeys(("iso-8859-8-i", "csiso88598i", "logical"), "iso8859_8"),
    **dict.fromkeys(("x-euc-jp", "cseucpkdfmtjapanese"), "euc_jp"),
    **dict.fromkeys(("utf-16", "unicode", "unicodefeff", "ucs-2", "csunicode"), "utf_16_le"),
    "unicodefffe": "utf_16_be", "koi8-ru": "koi8_u", "koi": "koi8_r", "koi8": "koi8_r",
}


def bom_encoding(payload: bytes) -> tuple[str | None, int]:
    """The encoding a byte-order mark announces and the mark's length, if the payload
    starts with one."""
    return next(((encoding, len(bom)) for bom, encoding in BYTE_ORDER_MARKS
                 if payload.startswith(bom)), (None, 0))


def text_codec(label: str) -> str | None:
    """The Python codec a browser would decode text labelled ``label`` with, or None for
    a label that names no WHATWG encoding (including Python codecs that are not text
    encodings, and labels Python cannot even look up)."""
    label = label.strip().lower()
    try:
        name = codecs.lookup(_BROWSER_CODECS.get(label, label)).name
        name = codecs.lookup(_BROWSER_CODECS.get(name, name)).name
    except (LookupError, ValueError):  # ValueError: a NUL or a surrogate in the label
        return None
    return name if name in _WHATWG_NAMES else None


def guessed_charset(payload: bytes) -> str | None:
    """The Python codec of charset-normalizer's best guess, among the WHATWG encodings,
    for bytes that declare no encoding (it scores decodings by how much of them is
    readable text)."""
    best = charset_normalizer.from_bytes(payload, cp_isolation=list(WHATWG_CODECS)).best()
    return text_codec(best.encoding) if best is not None else None


def _escape_charset(head: bytes) -> str | None:
    """The charset an HTML head declares if it is one written with escape sequences
    (ISO-2022), else None."""
    declared = declared_charset(head)
    return declared if declared is not None and declared.startswith("iso2022") else None


def declared_charset(head: bytes) -> str | None:
    """The Python codec of the charset an HTML head declares, if it names a WHATWG
    encoding.  A page that declares UTF-16 in ASCII bytes is not UTF-16: browsers read
    it as UTF-8, and so does this."""
    found = _META_CHARSET.search(head)
    if not found:
        return None
    codec = text_codec(found.group(1).decode("ascii"))
    return "utf-8" if codec in ("utf-16-le", "utf-16-be") else codec


def record_from_json(item: RawItem, cfg: ReadConfig) -> Record | Reject:
    """Map one JSON object onto a Record using the configured field names."""
    loaded = loaded_json(item.payload)
    if isinstance(loaded, str):
        return Reject(origin=item.origin, reason="malformed_json", detail=loaded)
    data, source, flags = loaded
    if not isinstance(data, dict):
        return Reject(origin=item.origin, reason="not_an_object",
                      detail=f"line is a JSON {type(data).__name__}"
                      + (f": {data[:200]}" if isinstance(data, str) else ""))
    values = field_values(data, cfg)
    if isinstance(values, str):
        return Reject(origin=item.origin, reason="wrong_field_type", detail=values,
                      id=text_or_none(field_value(data, cfg.fields.get("id", "id"))))
    if any(_not_as_written(field_value(data, key)) for key in cfg.fields.values()):
        values = numbers_as_written(source, cfg) or values
    if unread_default_field(data, cfg):
        flags.append("default_field_unread")
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


def loaded_json(payload: bytes) -> tuple[Any, bytes | str, list[str]] | str:
    """The parsed line, the text it was parsed from, and the repairs made to it; or why
    it is not JSON.

    orjson first (fast and strict).  A UTF-8 byte-order mark before the line (a file
    joined to another with ``cat`` keeps its own) is dropped.  Failing that, the line is
    read as UTF-8 with the Windows-1252 fallback (``invalid_utf8``), escapes of lone
    UTF-16 surrogates, which orjson refuses and no text can hold, become U+FFFD
    (``invalid_surrogates``), and the standard library parses what orjson still cannot,
    such as a number beyond a double (``1e400``), keeping numbers as written.
    """
    try:
        return orjson.loads(payload), payload, []
    except orjson.JSONDecodeError:
        pass
    if payload.startswith(codecs.BOM_UTF8):  # files joined with cat: each one's own BOM
        return loaded_json(payload[len(codecs.BOM_UTF8):])
    text, flags = decode_bytes(payload)
    repaired = _SURROGATE_ESCAPE.sub(repaired_escape, text)
    if repaired != text:
        text, flags = repaired, [*flags, "invalid_surrogates"]
    try:
        return orjson.loads(text), text, flags
    except orjson.JSONDecodeError as err:
        data = literal_json(text)
        return (data, text, flags) if data is not None else str(err)[:200]


# A JSON backslash escape; surrogate escapes are captured (a high one with the low one
# that may follow it), so an escaped backslash before "ud800" is not taken for one.
_SURROGATE_ESCAPE = re.compile(
    r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    r"|u([dD][c-fC-F][0-9a-fA-F]{2})|.)", re.S)


def repaired_escape(found: re.Match[str]) -> str:
    """A surrogate escape without its partner as ``\\ufffd``; any other escape as is."""
    high, low, lone_low = found.groups()
    return "\\ufffd" if (high and not low) or lone_low else found.group(0)


def literal_json(text: bytes | str) -> Any:
    """The line parsed by the standard library with numbers kept as their text
    (``1.50``, a 30-digit id), or None if it is not JSON (NaN and Infinity are not)."""
    try:
        return json.loads(text, parse_int=str, parse_float=str, parse_constant=not_json)
    except (ValueError, RecursionError):
        return None


def not_json(constant: str) -> Any:
    """Refuse ``NaN``/``Infinity``, which the standard library accepts and JSON has not."""
    raise ValueError(f"{constant} is not JSON")


def field_values(data: dict[str, Any], cfg: ReadConfig) -> dict[str, str | None] | str:
    """The record fields of a JSON object as text, or what is wrong with one."""
    values: dict[str, str | None] = {}
    for name, key in cfg.fields.items():
        value = field_value(data, key)
        if value is not None and not is_scalar(value):
            return f"{key} is a {type(value).__name__}"
        values[name] = None if value is None else str(value)
    return values


def unread_default_field(data: dict[str, Any], cfg: ReadConfig) -> bool:
    """Whether the record lacks a field the mapping moved away from its default name
    (``read.fields.text = "body"``) and holds one under that default name (``text``):
    the mapping is most likely wrong for it (checked on the first records only, before
    the run), and the field the user meant is not read."""
    for name, key in cfg.fields.items():
        default = DEFAULT_FIELDS.get(name, key)
        if key != default and field_value(data, key) is None and \
                data.get(default) is not None:
            return True
    return False


def _not_as_written(value: Any) -> bool:
    """Whether a number orjson read may not print as the line writes it: a float
    (``1.50``, ``1e3``), or the integer 0 (written ``-0`` too)."""
    return isinstance(value, float) or (type(value) is int and value == 0)


def numbers_as_written(source: bytes | str, cfg: ReadConfig) -> dict[str, str | None] | None:
    """The record fields with numbers as the line writes them, for a line where orjson
    read one as a float: a 30-digit id or ``1.50`` must not become ``1.2345678901234568e+29``
    or ``1.5``.  None if the standard library cannot parse the line (too deep)."""
    data = literal_json(source)
    values = field_values(data, cfg) if isinstance(data, dict) else None
    return values if isinstance(values, dict) else None


def is_scalar(value: Any) -> bool:
    """Strings and numbers can be record fields; lists, objects and booleans cannot."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def text_or_none(value: Any) -> str | None:
    """A scalar id as a string, anything else as None (for rejects)."""
    return str(value) if is_scalar(value) else None


# Unicode's categories of what a reader does not see: controls, format characters
# (zero-width spaces and joiners, direction marks, BOM, soft hyphen) and separators.
_UNSEEN = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def has_visible(text: str) -> bool:
    """Whether ``text`` holds a character a reader sees (stops at the first: a real
    text's first character)."""
    return any(unicodedata.category(ch) not in _UNSEEN for ch in text)


def finish_record(record: Record, cfg: ReadConfig) -> Record | Reject:
    """Shared checks: strip NULs and HTML markup in the title and text (see
    :mod:`dedup.stages.markup`), give a stable id, bound text and title, normalise the
    date."""
    for name in ("id", "title", "text", "html", "url", "source", "published", "lang"):
        value = getattr(record, name)
        if value and "\x00" in value:
            setattr(record, name, value.replace("\x00", ""))
            if "nul_bytes" not in record.flags:
                record.flags.append("nul_bytes")
    if not record.id.strip():  # a blank id is none; any other is kept as given
        record.id = ""
    for name, line_break in (("title", " "), ("text", "\n")):
        value = getattr(record, name)
        if value != (plain := without_markup(value, line_break)):
            setattr(record, name, plain)
            if "markup_removed" not in record.flags:
                record.flags.append("markup_removed")
    if not any(has_visible(value) for value in (record.title, record.text,
                                                 record.html or "")):
        return Reject(origin=record.origin, reason="empty", detail="no title, text or html",
                      id=record.id or None)
    if not record.id:
        record.id = content_id(record)
    record.cut_to(cfg.max_text_chars, cfg.max_title_chars)
    if record.published is not None:
        record.published = normalise_published(record.published, record.flags)
    return record


def content_id(record: Record) -> str:
    """A stable id for a record that has none: a hash of its content, not of its position."""
    parts = (record.title, record.text, record.html or "", record.url or "")
    encoded = (piece for part in parts for piece in (part.encode("utf-8", errors="replace"),
                                                     b"\x00"))
    return f"h{hash64(*encoded, byteorder='big'):016x}"


# An ISO date with a zone but no time (``2025-03-20+02:00``): Python reads the offset
# as a time of day, 02:00.
_ZONED_DATE = re.compile(r"\s*(\d{4}-?\d{2}-?\d{2})(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$")


def normalise_published(value: str, flags: list[str]) -> str | None:
    """ISO 8601 in UTC (``YYYY-MM-DD`` for a date alone, else ``...THH:MM:SSZ``);
    unparseable, or outside the years 1 to 9999 once in UTC -> None, flagged
    ``bad_published``."""
    if (zoned_date := _ZONED_DATE.match(value)) is not None:
        value = zoned_date[1]  # a date's zone says nothing without a time of day
    parsed = parse_datetime(value)
    normalised = None if parsed is None else \
        parsed.date().isoformat() if is_iso_date_only(value) else utc_iso(parsed)
    if normalised is None:
        flags.append("bad_published")
    return normalised


def utc_iso(parsed: datetime) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` (four-digit year, unlike ``strftime``), or None when the
    instant has no UTC date: ``9999-12-31T23:59:59-14:00`` is in the year 10000."""
    try:
        utc = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return utc.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def parse_datetime(value: str) -> datetime | None:
    """A date in one of the forms news dumps carry, naive times taken as UTC: ISO 8601
    (with ``Z``, offsets or date only), else RFC 2822 as RSS feeds' ``pubDate`` has it
    (``Mon, 09 Sep 2013 11:25:00 +0200``), else Unix time in seconds or milliseconds
    (``1378718700``, ``1378718700000``, as a JSON number or a string).  Dumps built from
    feeds and APIs store these; taking only ISO flagged all their dates as bad and left
    their articles without a time window."""
    text = value.strip()
    if not text:
        return None
    parsed = _iso(text) or _rfc2822(text) or _unix_time(text)
    return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_iso_date_only(value: str) -> bool:
    """Whether ``value`` is an ISO date without a time (``2025-03-20``, ``20250320``)."""
    text = value.strip()
    return len(text) <= 10 and _iso(text) is not None


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:  # also a lone surrogate (UnicodeEncodeError)
        return None


def _rfc2822(text: str) -> datetime | None:
    if not _RFC2822.fullmatch(text):  # the parser guesses at anything else
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# RFC 2822's date-time, with the zones it names: the e-mail parser also reads "11:25 PM"
# as 11:25 and an unknown zone ("CEST") as UTC, hours off without a word.
_RFC2822 = re.compile(
    r"(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?"
    r"(?:\s*(?:[+-]\d{4}|UT|UTC|GMT|Z|[ECMP][SD]T))?", re.IGNORECASE)
# A non-negative number, as JSON or a CSV cell writes it.
_NUMBER = re.compile(r"\+?\d+(\.\d*)?([eE][+-]?\d+)?")
# Unix time: seconds from 1e8 (1973) up to 1e11, milliseconds from there up to 1e14 (the
# same years).  A smaller number is more likely a year or a count than a time since 1970.
_UNIX_SECONDS = (1e8, 1e11)
_UNIX_MILLISECONDS = (1e11, 1e14)


def _unix_time(text: str) -> datetime | None:
    if not _NUMBER.fullmatch(text):
        return None
    seconds = float(text)
    if _UNIX_MILLISECONDS[0] <= seconds < _UNIX_MILLISECONDS[1]:
        seconds /= 1000.0
    elif not _UNIX_SECONDS[0] <= seconds < _UNIX_SECONDS[1]:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def published_day(published: str | None) -> float:
    """Days since the Unix epoch (NaN when unknown or not a date in years 1 to 9999):
    the unit of the clustering time window.  Takes unnormalised dates too (those HTML
    extraction finds), so it must never raise."""
    parsed = parse_datetime(published) if published else None
    try:
        return parsed.timestamp() / 86400.0 if parsed else math.nan
    except (OverflowError, OSError, ValueError):
        return math.nan
