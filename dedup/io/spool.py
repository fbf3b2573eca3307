"""Files on disk: how every file is written (atomically), and the scratch formats tasks
and steps leave for each other in a run's work folder.

Scratch files are read back by later tasks, perhaps in other processes or on other
machines of a cluster: numpy arrays (readers memory-map them and take only the rows they
want), sparse rows as three such arrays, a chunk's records, its articles.jsonl rows less
their placement, and its rejects as lines.  Per-chunk files are read back by the rows a
task wants, in any order, with one reader (:func:`rows_by_file`, :func:`in_given_order`).
The files of one method (a chunk's boilerplate line keys, its LSH band keys, a cluster
block's weights and hits) are named in its module and written with these.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import orjson
import scipy.sparse as sp

from dedup.records import Record, Reject

# What a gather of rows gives: an array's rows or sparse rows.
Gathered = TypeVar("Gathered", np.ndarray, sp.csr_matrix)


@contextmanager
def atomic_file(path: Path, sync: bool = True) -> Iterator[IO[bytes]]:
    """Write ``path`` via a temporary file in the same directory and an atomic rename.

    The temporary name is unique to this writer: on a cluster the same task can run twice
    at once (a worker wrongly presumed dead), and two writers of one temporary file
    could rename a torn mix of both.  ``sync`` makes the bytes durable before the rename
    (outputs); scratch files skip it, as they are remade by rerunning and a sync per
    chunk stalls a worker on the disk.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")
    try:
        with tmp.open("wb") as handle:
            yield handle
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if err.filename is None and err.errno in WRITE_ERRORS:  # write() names no file
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)


# Errors of writing a file (a full disk, a quota) that come without its name.
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)


# Characters JSON allows unescaped that some readers of JSON lines take for line ends
# (Python's str.splitlines, JavaScript before ES2019): an id holding one split its row.
_LINE_ENDS = ((b"\xc2\x85", b"\\u0085"), (b"\xe2\x80\xa8", b"\\u2028"),
              (b"\xe2\x80\xa9", b"\\u2029"))


def json_bytes(value: Any) -> bytes:
    """Compact JSON of ``value``, with U+0085, U+2028 and U+2029 escaped, so that every
    output row is one line to every reader."""
    data = orjson.dumps(value)
    for raw, escaped in _LINE_ENDS:
        if raw in data:
            data = data.replace(raw, escaped)
    return data


def write_lines(path: Path, lines: Iterable[bytes]) -> None:
    """Replace a scratch file atomically, so a killed worker never leaves half a chunk."""
    with atomic_file(path, sync=False) as handle:
        handle.writelines(lines)


def save_array(path: Path, array: np.ndarray) -> None:
    """``np.save`` to a scratch file, atomically: readers memory-map these files, so a
    rerun of the task must never expose a half-written one."""
    with atomic_file(path, sync=False) as handle:
        np.save(handle, array)


def saved_rows(files: Sequence[Path], starts: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Sorted global ``rows`` of arrays saved per chunk (chunk ``i`` holds the rows from
    ``starts[i]``), memory-mapping each file that holds some and reading only those."""
    parts = [np.load(files[chunk], mmap_mode="r")[local]
             for chunk, local in rows_by_file(starts, rows)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.uint32)


def rows_by_file(starts: np.ndarray, rows: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Sorted global ``rows`` of rows saved per chunk (file ``i`` holds the rows from
    ``starts[i]``) split by the file that holds them: each file holding some, with its
    rows numbered within it."""
    file_of_row = np.searchsorted(starts, rows, side="right") - 1
    files, firsts = np.unique(file_of_row, return_index=True)
    for file, first, stop in zip(files.tolist(), firsts.tolist(),
                                 [*firsts[1:].tolist(), len(rows)], strict=True):
        yield file, rows[first:stop] - starts[file]


def in_given_order(rows: np.ndarray, gather: Callable[[np.ndarray], Gathered]) -> Gathered:
    """What ``gather`` gives for ``rows`` sorted, put back in the order of ``rows``.

    Per-chunk files are read file after file, so a reader gathers sorted rows; a cluster
    block wants its rows in its own (id) order.
    """
    order = np.argsort(rows, kind="stable")
    position = np.empty_like(order)  # where each row went in the sorted gather
    position[order] = np.arange(order.size)
    return gather(rows[order])[position]


def save_rows(base: Path, matrix: sp.csr_matrix) -> Path:
    """Save CSR rows as three ``.npy`` files named from ``base`` (row pointers, columns,
    values); returns ``base``.  Unlike ``.npz`` they can be memory-mapped, so a reader
    takes only the rows it wants (see :func:`read_rows`)."""
    for name in ("indptr", "indices", "data"):
        save_array(row_part(base, name), getattr(matrix, name))
    return base


def row_part(base: Path, name: str) -> Path:
    """One of the three files of :func:`save_rows`."""
    return base.with_name(f"{base.name}-{name}.npy")


def row_files(base: Path) -> list[Path]:
    """The files :func:`save_rows` writes for ``base``."""
    return [row_part(base, name) for name in ("indptr", "indices", "data")]


def read_rows(base: Path, indptr: np.ndarray, wanted: np.ndarray,
              n_features: int) -> sp.csr_matrix:
    """The ``wanted`` rows (sorted) of rows saved by :func:`save_rows` whose (memory-mapped)
    row pointers are ``indptr``: only their entries are read from the files."""
    starts, stops = indptr[wanted], indptr[wanted + 1]
    lengths = stops - starts
    ends = np.cumsum(lengths)
    positions = np.repeat(starts - (ends - lengths), lengths) + np.arange(int(ends[-1]) if
                                                                         ends.size else 0)
    indices = np.load(row_part(base, "indices"), mmap_mode="r")[positions]
    data = np.load(row_part(base, "data"), mmap_mode="r")[positions]
    return sp.csr_matrix((data, indices, np.r_[0, ends]), shape=(wanted.size, n_features))


def load_rows(base: Path, n_features: int) -> sp.csr_matrix:
    """All rows saved by :func:`save_rows`."""
    indptr, indices, data = (np.load(path) for path in row_files(base))
    return sp.csr_matrix((data, indices, indptr), shape=(indptr.size - 1, n_features))


def rows_in_place(base: Path, wanted: np.ndarray, n: int, n_features: int) -> sp.csr_matrix:
    """The n rows saved by :func:`save_rows` with only the ``wanted`` ones (sorted) read
    and the others left empty, so row numbers keep their meaning."""
    indptr = np.load(row_files(base)[0], mmap_mode="r")
    compact = read_rows(base, indptr, wanted, n_features)
    lengths = np.zeros(n, dtype=np.int64)
    lengths[wanted] = np.diff(compact.indptr)
    return sp.csr_matrix((compact.data, compact.indices, np.r_[0, np.cumsum(lengths)]),
                         shape=(n, n_features))


@dataclass(frozen=True, slots=True)
class SpooledRows:
    """Rows spread over vector files saved per chunk with :func:`save_rows`, and the
    embeddings saved per chunk, if the run has them: a cluster block's rows as the
    clustering reads them (a ``RowSource`` of :mod:`dedup.algorithms.cluster`), paths and
    row numbers only, so it travels to the block's tasks in a few bytes."""

    files: tuple[Path, ...]
    picks: np.ndarray  # rows of the files stacked in order, listed in the block's order
    n_features: int
    # Per chunk, its embeddings (rows from ``chunk_starts[i]``); the block's global rows.
    embedding_files: Sequence[Path] | None = None
    chunk_starts: np.ndarray | None = None
    rows: np.ndarray | None = None

    def load(self) -> sp.csr_matrix:
        """The block's rows, reading from each file only its share.

        Whole files would hold the rows of other blocks too (other periods, duplicates
        left out), and with period blocks every file would be read once per period.
        """
        indptrs = [np.load(row_part(file, "indptr"), mmap_mode="r") for file in self.files]
        starts = np.cumsum([0, *(indptr.size - 1 for indptr in indptrs[:-1])])

        def gather(wanted: np.ndarray) -> sp.csr_matrix:
            return sp.vstack([read_rows(self.files[file], indptrs[file], local, self.n_features)
                              for file, local in rows_by_file(starts, wanted)], format="csr")

        return sp.csr_matrix(in_given_order(self.picks, gather))

    def embeddings(self) -> np.ndarray | None:
        """The block's embeddings, each chunk file read for its rows only."""
        if self.embedding_files is None or self.chunk_starts is None or self.rows is None:
            return None
        files, starts = self.embedding_files, self.chunk_starts
        return in_given_order(self.rows, lambda wanted: saved_rows(files, starts, wanted))


def write_records(path: Path, records: Sequence[Record]) -> None:
    """Spool records for the next pass."""
    write_lines(path, (orjson.dumps(record.to_dict()) + b"\n" for record in records))


def read_records(path: Path) -> list[Record]:
    """Load a chunk file written by :func:`write_records`."""
    with path.open("rb") as handle:
        return [Record.from_dict(orjson.loads(line)) for line in handle]


def write_row_parts(path: Path, rows: Iterable[tuple[bytes, bytes]]) -> None:
    """Spool articles.jsonl rows less their placement, two lines each: the JSON before
    and after the placement fields (see ``dedup.io.write.article_row_parts``)."""
    write_lines(path, (b"".join([head, b"\n", tail, b"\n"]) for head, tail in rows))


def read_row_parts(path: Path) -> list[tuple[bytes, bytes]]:
    """Load a chunk file written by :func:`write_row_parts`: (head, tail) per record."""
    lines = path.read_bytes().split(b"\n")
    return list(zip(lines[0:-1:2], lines[1:-1:2], strict=True))


def spool_rejects(path: Path, rejects: Sequence[tuple[int, Reject]]) -> dict[str, int]:
    """Spool a pass's rejects as their rejects.jsonl lines, each after its input position;
    returns how many there are per reason."""
    write_lines(path, (b"%d %s\n" % (seq, json_bytes(reject.to_dict()))
                       for seq, reject in rejects))
    return dict(sorted(Counter(reject.reason for _, reject in rejects).items()))


def merged_rejects(paths: Sequence[Path]) -> bytes:
    """The rejects.jsonl lines of a chunk's passes, in input order."""
    lines = [line for path in paths for line in path.read_bytes().splitlines()]
    numbered = sorted((int(seq), row) for seq, _, row in (line.partition(b" ")
                                                             for line in lines))
    return b"".join(row + b"\n" for _, row in numbered)
