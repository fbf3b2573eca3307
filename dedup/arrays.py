"""Array helpers the stages share, where numpy's general form is slow on large arrays."""

from __future__ import annotations

import numpy as np


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending: what ``np.unique(values)`` returns.

    numpy 2.4 finds them through a hash table before sorting them, which on ten million
    int64 pair keys took 10.6 s against 0.8 s for a sort and a comparison of neighbours
    (the agglomeration of a large block makes such keys several times).
    """
    ordered = np.sort(values, kind="stable")
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered
