"""The Python API: ``dedup.run(source)`` runs the job on files or on records in memory and
returns a :class:`Result` that reads the outputs back.

Records in memory take the very path of files: an iterable of dicts is streamed to a
JSONL file, a pandas DataFrame or a pyarrow Table is written as a Parquet file, in a
scratch folder that is removed after the run, and the job reads that file as the CLI
would.  So the output bytes are the CLI's for the same records, every check (the field
mapping, bad records becoming rejects with a reason) is the same, and an iterable is
never held in memory whole.  A reject's origin ``records.jsonl:N`` names the N-th
record given (``records.parquet:N`` the N-th row of a table).
"""

from __future__ import annotations

import functools
import importlib
import itertools
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

import orjson

from dedup.config import (
    SETTINGS,
    Config,
    ConfigError,
    load_config,
    set_value,
    validate,
    with_checked_types,
)
from dedup.io.outdir import (
    CLUSTERS_FILE,
    KEPT_FILE,
    REJECTS_FILE,
    STORIES_FILE,
    article_files,
    check_output_dir,
    output_folder,
)
from dedup.io.read import CellText, raw_json_line
from dedup.job.run import outputs_written, run_job
from dedup.show import lines

if TYPE_CHECKING:
    import pandas
    import pyarrow

log = logging.getLogger("dedup")

# What ``source`` may be, for the message that refuses anything else.
SOURCES = ("a path, URL or glob pattern (str or os.PathLike) or a list of them, an "
           "iterable of dicts (records), a pandas DataFrame or a pyarrow Table")

# The outputs a Result reads, by the name of its iterator; articles are found by
# ``dedup.io.outdir.article_files`` (one file, or its parts with write.article_parts).
OUTPUT_FILES = {"events": CLUSTERS_FILE, "stories": STORIES_FILE,
                "rejects": REJECTS_FILE, "kept": KEPT_FILE}
KINDS = ("articles", *OUTPUT_FILES)

# The first item of an empty iterable.
NOTHING = object()

# Writes records given in memory into a scratch folder; returns the file it wrote.
RecordWriter = Callable[[Path], Path]


class Result:
    """A finished run: its report, and its outputs read back one line at a time.

    Without ``out`` the run worked in a temporary folder, removed when the Result is
    closed: by :meth:`close`, at the end of a ``with`` block, or when the Result is
    garbage-collected or the interpreter exits; the iterators then refuse to start.  A
    run into ``out`` keeps its files there, and closing only ends the Result.  An
    iterator started before the close reads on (the files it opened stay readable).
    """

    def __init__(self, report: dict[str, Any], out: Path, temporary: bool) -> None:
        self.report = report  # the run report, as written to report.json
        self.out = out  # the output folder
        self._removal = weakref.finalize(self, shutil.rmtree, out, ignore_errors=True) \
            if temporary else None
        self._closed = False

    def __enter__(self) -> Result:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        counts = self.report["counts"]
        return (f"<dedup.Result: {counts['out']} articles of {counts['in']} records, "
                f"{counts['clusters']} events in {counts['stories']} stories; out={self.out}"
                f"{' (closed)' if self._closed else ''}>")

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a temporary output folder is then gone)."""
        return self._closed

    def close(self) -> None:
        """End the Result; remove its output folder if it is a temporary one."""
        self._closed = True
        if self._removal is not None:
            self._removal()

    def articles(self) -> Iterator[dict[str, Any]]:
        """Every article (articles.jsonl), in input order."""
        return self.rows("articles")

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event with its members (clusters.jsonl), largest first."""
        return self.rows("events")

    def stories(self) -> Iterator[dict[str, Any]]:
        """Every story with its events (stories.jsonl), largest first."""
        return self.rows("stories")

    def rejects(self) -> Iterator[dict[str, Any]]:
        """Every rejected record with its origin and reason (rejects.jsonl), in input order."""
        return self.rows("rejects")

    def kept(self) -> Iterator[dict[str, Any]]:
        """One article per duplicate group (kept.jsonl; a run with write.kept_only)."""
        return self.rows("kept")

    def rows(self, kind: str) -> Iterator[dict[str, Any]]:
        """The rows of output ``kind`` (one of KINDS), decoded one line at a time."""
        if kind not in KINDS:
            raise ValueError(f"unknown output {kind!r}; outputs: {', '.join(KINDS)}")
        if self._closed:
            raise ValueError("this Result is closed" + (
                ": its temporary output folder is gone (pass out=DIR to keep the files)"
                if self._removal is not None else ""))
        files = article_files(self.out) if kind == "articles" else [self.out / OUTPUT_FILES[kind]]
        if kind == "kept" and not files[0].is_file():
            raise ValueError("this run wrote no kept.jsonl: run with write__kept_only=True")
        return self._lines(files)

    def _lines(self, files: list[Path]) -> Iterator[dict[str, Any]]:
        """The files' rows, read lazily by a generator that holds this Result: in
        ``for row in dedup.run(records).articles()`` nothing else holds it, and its
        temporary folder must not be removed before the rows are read."""
        for file in files:
            yield from lines(file)

    def to_pandas(self, kind: str = "articles") -> pandas.DataFrame:
        """Output ``kind`` (articles, events, stories, rejects or kept) as a DataFrame: one
        row per line, a column per field.  Needs pandas (``pip install 'dedup[pandas]'``)."""
        pd = imported("pandas", "Result.to_pandas", "pandas")
        return pd.DataFrame(list(self.rows(kind)))


def run(source: str | os.PathLike[str] | Iterable[Any],
        config: Config | str | os.PathLike[str] | None = None,
        out: str | os.PathLike[str] | None = None, *, force: bool = False,
        index: str | os.PathLike[str] | None = None, **overrides: Any) -> Result:
    """Run the job on ``source`` and return its :class:`Result`.

    ``source``: a path, URL or glob pattern, or a list of them, read as ``dedup run``
    reads its inputs; an iterable of dicts, records with the fields of a JSONL line
    (mapped by ``read.fields``); or a pandas DataFrame or pyarrow Table with those
    fields as columns.  ``config``: a ``Config`` (see ``load_config``), a TOML file, or
    None for the defaults.  ``overrides``: settings as ``--set`` sets them, with ``__``
    for the dot (``cluster__threshold=0.3``, or ``**{"cluster.threshold": 0.3}``) and
    Python values.  ``out``: the output folder, under the rules of ``--out`` (``force``
    as ``--force``); without it, a temporary folder that closing the Result removes.
    ``index``: an incremental run's index, a folder or URL (as ``--index``): today's
    articles are compared with everything appended to it before, then appended.

    Mistakes (an unknown setting, a value out of range, a source of another kind, an
    output folder that is not dedup's, a missing input) raise before any work: a
    ``TypeError`` for the source, otherwise a ``ValueError`` with the CLI's message.
    Warnings of a finished run (no article, most records rejected) are logged on the
    ``dedup`` logger and listed in ``report["warnings"]``.
    """
    cfg = configured(config, overrides)
    if out is not None:  # a refusal must not wait for a long iterable to be written
        check_output_dir(output_folder(out), [], outputs_written(cfg), force)
    given = as_input(source)
    out_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="dedup-"))
    try:
        with input_paths(given) as (inputs, labels):
            report = run_job(inputs, out_dir, cfg, force=force,
                             index=os.fspath(index) if index is not None else None,
                             labels=labels)
    except BaseException:
        if out is None:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    for warning in report["warnings"]:
        log.warning("%s", warning)
    return Result(report, out_dir, temporary=out is None)


def configured(config: Config | str | os.PathLike[str] | None,
               overrides: Mapping[str, Any]) -> Config:
    """The run's configuration: a Config, a TOML file's or the defaults, then each
    override set by the code that sets ``--set``'s (same checks, same messages), then
    validated."""
    if isinstance(config, Config):
        settings = with_checked_types(config)
    elif config is None or isinstance(config, str | os.PathLike):
        settings = load_config(config)
    else:
        raise TypeError(f"config must be a dedup.Config, a TOML file's path or None, "
                        f"not {type(config).__name__}")
    for keyword, value in overrides.items():
        settings = set_value(settings, dotted_setting(keyword), value)
    validate(settings)
    return settings


def dotted_setting(keyword: str) -> str:
    """``section.key`` of an override keyword ``section__key`` (or ``"section.key"``); a
    bare key (``workers=2``, as the CLI's ``--workers``) is refused with the sections
    that have it, rather than read as an unknown section."""
    dotted = keyword.replace("__", ".")
    if "." in dotted:
        return dotted
    owners = [entry.section for entry in SETTINGS if entry.key == keyword]
    if owners:
        raise ConfigError(f"{keyword!r} needs its section: "
                          f"{' or '.join(f'{section}__{keyword}' for section in owners)}")
    return dotted


def as_input(source: object) -> list[str] | RecordWriter:
    """What ``source`` is: inputs as the CLI takes them, or records in memory with what
    writes them to a file.  An iterable is told by its first item (paths, or dicts);
    anything else raises TypeError, before any work."""
    if isinstance(source, str | os.PathLike):
        return [os.fspath(source)]
    table = arrow_table(source)
    if table is not None:
        return functools.partial(write_parquet, table)
    if isinstance(source, Mapping):
        raise TypeError("source is one record (a dict): pass a list of records, [record]")
    if isinstance(source, bytes | bytearray) or not isinstance(source, Iterable):
        raise TypeError(f"source must be {SOURCES}, not {kind_of(source)}")
    items = iter(source)
    first = next(items, NOTHING)
    if first is NOTHING:  # no record, as an empty file
        return functools.partial(write_jsonl, ())
    if isinstance(first, str | os.PathLike):
        return input_list(itertools.chain([first], items))
    if not isinstance(first, Mapping):
        raise TypeError(f"source must be {SOURCES}, not an iterable of {kind_of(first)}")
    return functools.partial(write_jsonl, itertools.chain([first], items))


def input_list(paths: Iterable[Any]) -> list[str]:
    """Paths, URLs or patterns as strings; a list that mixes in anything else is refused."""
    inputs = list(paths)
    strange = next((item for item in inputs if not isinstance(item, str | os.PathLike)), None)
    if strange is not None:
        raise TypeError(f"source mixes paths with {kind_of(strange)}: give {SOURCES}")
    return [os.fspath(item) for item in inputs]


def kind_of(value: Any) -> str:
    """A value's type as a message names it: ``int``, ``polars.DataFrame``."""
    kind = type(value)
    package = kind.__module__.split(".")[0]
    return kind.__qualname__ if package == "builtins" else f"{package}.{kind.__qualname__}"


def arrow_table(source: object) -> pyarrow.Table | None:
    """``source`` as a pyarrow Table if it is a DataFrame or a Table, else None.

    Neither library is imported to find out: a DataFrame or Table exists only once its
    library is.  A DataFrame whose column Arrow cannot type (ids that are numbers and
    strings) is refused with what to do.
    """
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(source, pd.DataFrame):
        pa = imported("pyarrow", "a DataFrame source", "pandas")
        check_frame_columns(source)
        try:  # a named index (df.set_index("id")) is a column; a RangeIndex is not kept
            return pa.Table.from_pandas(source)
        except pa.ArrowException as err:
            raise TypeError(f"the DataFrame cannot be read as a table ({err}): give each "
                            "column one type, e.g. df['id'] = df['id'].astype(str), or pass "
                            "df.to_dict('records')") from err
    arrow = sys.modules.get("pyarrow")
    if arrow is not None and isinstance(source, arrow.Table):
        return source
    return None


def check_frame_columns(frame: pandas.DataFrame) -> None:
    """Columns a record's fields can be named by: one level of names, each once (with
    tuples for names every row would be rejected ``empty``; pyarrow refuses repeats)."""
    if frame.columns.nlevels > 1:
        raise TypeError("the DataFrame's columns have several levels: name each column "
                        "once, e.g. df.columns = ['_'.join(map(str, c)) for c in df.columns]")
    repeated = sorted({str(name) for name in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise TypeError(f"the DataFrame has columns named more than once ({', '.join(repeated)}"
                        "): give each column its own name")


def imported(name: str, needed_by: str, extra: str) -> ModuleType:
    """Module ``name``, or an ImportError that says which extra installs it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(f"{needed_by} needs {name}: pip install 'dedup[{extra}]'") from err


@contextmanager
def input_paths(given: list[str] | RecordWriter) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The run's inputs as paths: those given, or the file the records are written to in
    a scratch folder (under TMPDIR), removed after the run; and the names rejects and
    the report give them: the scratch file by its own name (``records.jsonl``), so that
    the same records give the same bytes in every run, not a random folder's."""
    if isinstance(given, list):
        yield given, {}
        return
    with tempfile.TemporaryDirectory(prefix="dedup-records-") as scratch:
        written = given(Path(scratch))
        yield [str(written)], {str(written): written.name}


def write_jsonl(records: Iterable[Any], folder: Path) -> Path:
    """Records as the lines of ``folder/records.jsonl``, one at a time."""
    path = folder / "records.jsonl"
    with path.open("wb") as handle:
        for record in records:
            handle.write(record_line(record) + b"\n")
    return path


def record_line(record: Any) -> bytes:
    """A record as one JSON line: dates in ISO 8601, numpy numbers as numbers, bytes as
    the text they spell, other values JSON lacks (sets, decimals) as their text
    (:class:`~dedup.io.read.CellText`).  What orjson refuses to write (an integer over
    64 bits, a lone surrogate, nesting over 254 levels) is written by the standard
    library, ASCII-only, so that it reaches the reader as it would in a file (a 30-digit
    id read as text, a lone surrogate repaired and flagged) instead of stopping the run.
    A record no JSON can hold (a tuple as a key, a record holding itself) becomes a
    line the reader rejects (``not_an_object``) saying why; the run goes on."""
    text = CellText()
    record = infinities_as_text(record)
    try:
        return orjson.dumps(record, default=text,
                            option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:
        pass
    try:
        return raw_json_line(record, text) if text.raw else \
            json.dumps(record, default=text, separators=(",", ":")).encode()
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as err:
        return orjson.dumps(f"a record JSON cannot hold ({type(err).__name__}: {err})")


def infinities_as_text(record: Any) -> Any:
    """A record whose fields hold an infinite float gets them as text ("inf"): JSON has no
    infinity and orjson writes null, which made ``published: inf`` a missing date instead
    of one flagged ``bad_published``.  NaN stays null: it is how pandas says missing."""
    if isinstance(record, dict) and any(isinstance(value, float) and math.isinf(value)
                                        for value in record.values()):
        return {key: str(value) if isinstance(value, float) and math.isinf(value) else value
                for key, value in record.items()}
    return record


def write_parquet(table: pyarrow.Table, folder: Path) -> Path:
    """A table as ``folder/records.parquet``."""
    import pyarrow.parquet as pq

    path = folder / "records.parquet"
    pq.write_table(table, path)
    return path
