"""Array helpers the stages share, where numpy's general form is slow on large arrays."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from dedup.algorithms.threads import mapped


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending: what ``np.unique(values)`` returns.

    numpy 2.4 finds them through a hash table before sorting them, which on ten million
    int64 pair keys took 10.6 s against 0.8 s for a sort and a comparison of neighbours
    (the agglomeration of a large block makes such keys several times).
    """
    ordered = np.sort(values, kind="stable")
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


def unique_pairs(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Undirected pairs of rows below ``n`` without self-pairs or repeats, as (smaller,
    larger), sorted: candidate lists gathered from several searches name a pair many times."""
    low, high = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    between = low != high
    keys = sorted_unique(low[between] * n + high[between])
    return keys // n, keys % n


def components(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Connected-component label of each of ``n`` rows joined by the edges (a[i], b[i])
    (scipy's union-find; its labels follow the rows' order)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = sp.coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def top_k_per_row(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray,
                  k: int) -> np.ndarray:
    """Positions of the ``k`` largest non-negative ``weights`` of each row among the
    entries (rows[i], cols[i], weights[i]), in row order, heaviest first, ties to the
    smaller column.

    One stable sort on a single (row, -weight) key once entries are in (row, col) order;
    entries that come in that order (a canonical sparse matrix's) skip the sort into it,
    which for millions of entries would dominate the run time.
    """
    in_order = np.all((rows[1:] > rows[:-1]) | ((rows[1:] == rows[:-1]) & (cols[1:] > cols[:-1])))
    into_order = None if in_order else np.lexsort((cols, rows))
    ranked, weighed = (rows, weights) if into_order is None else (rows[into_order],
                                                                  weights[into_order])
    largest = float(weights.max()) if weights.size else 1.0
    if largest > 1.0:  # the key needs weights in [0, 1]
        weighed = weighed * (1.0 / largest)
    best_first = np.argsort(ranked * 4.0 + (1.0 - weighed), kind="stable")
    position = best_first if into_order is None else into_order[best_first]
    ordered = rows[position]
    row_starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    rank_in_row = np.arange(ordered.size) - np.repeat(row_starts,
                                                      np.diff(np.r_[row_starts, ordered.size]))
    return position[rank_in_row < k]


def heaviest_per_row(matrix: sp.csr_matrix, useful: np.ndarray, keep: int,
                     batch: int = 16384, threads: int = 1) -> sp.csr_matrix:
    """Each row's ``keep`` heaviest non-zero entries among the ``useful`` columns (ties to
    the smaller column).

    Rows are reduced a batch at a time (up to ``threads`` batches at once): the sort over
    every entry of a large block at once was the peak of its memory.
    """
    def reduced(start: int) -> sp.csr_matrix:
        rows = matrix[start : start + batch]
        entry_row = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        kept = useful[rows.indices] & (rows.data != 0)
        entry_row, columns, values = entry_row[kept], rows.indices[kept], rows.data[kept]
        top = top_k_per_row(entry_row, columns, values, keep)
        return sp.csr_matrix((values[top], (entry_row[top], columns[top])), shape=rows.shape)

    return sp.vstack(list(mapped(reduced, range(0, matrix.shape[0], batch), threads)),
                     format="csr")


def within_days(start: np.ndarray, end: np.ndarray, window_days: float) -> np.ndarray:
    """Where ``end`` comes at most ``window_days`` after ``start`` (or before it); an
    unknown (NaN) day never forbids.  The span of a merged cluster passes (first day,
    last day); the gap of two date ranges (earliest last day, latest first day)."""
    with np.errstate(invalid="ignore"):
        return ~(end - start > window_days)


def dates_within(day_a: np.ndarray, day_b: np.ndarray, window_days: float) -> np.ndarray:
    """Where two dates are at most ``window_days`` apart, either way; an unknown (NaN)
    day never forbids."""
    with np.errstate(invalid="ignore"):
        return ~(np.abs(day_a - day_b) > window_days)


def inverse_document_frequency(doc_freq: np.ndarray, documents: int) -> np.ndarray:
    """Smoothed IDF, ``log((1 + N) / (1 + df)) + 1`` (scikit-learn's formula)."""
    return np.log((1.0 + documents) / (1.0 + doc_freq)) + 1.0


def normalise_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each row of a canonical CSR matrix to unit L2 norm, in place (zero rows stay
    zero); returns it.  No temporary matrix: the largest block's task peaked on those."""
    squares = sp.csr_matrix((np.square(matrix.data), matrix.indices, matrix.indptr),
                            shape=matrix.shape)
    norms = np.sqrt(np.asarray(squares.sum(axis=1)).ravel())
    del squares
    norms[norms == 0] = 1.0
    matrix.data *= np.repeat(1.0 / norms, np.diff(matrix.indptr))
    return matrix


def membership(labels: np.ndarray, groups: int) -> sp.csr_matrix:
    """The groups x rows 0/1 matrix of ``labels`` (-1: in no group): its product with row
    vectors sums them per group."""
    rows = np.flatnonzero(labels >= 0)
    return sp.csr_matrix((np.ones(rows.size), (labels[rows], rows)),
                         shape=(groups, labels.size))


def largest_per_group(group_of: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per group (numbered 0..), its largest member (ties: the first)."""
    order = np.lexsort((np.arange(group_of.size), -sizes, group_of))
    return order[np.r_[True, group_of[order][1:] != group_of[order][:-1]]]
