"""Scratch files read back by the rows a task wants, in the order it wants them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from dedup.io.spool import SpooledRows, save_array, save_rows


def test_spooled_rows_load_the_picked_rows_in_the_given_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    parts = [sp.random(rows, 50, density=0.2, format="csr", dtype=np.float32, random_state=rng)
             for rows in (4, 0, 7, 5)]
    files = [save_rows(tmp_path / f"part-{number}", part) for number, part in enumerate(parts)]
    picks = rng.permutation(16)[:11]
    loaded = SpooledRows(files=tuple(files), picks=picks, n_features=50).load()
    expected = sp.vstack(parts, format="csr")[picks]
    assert loaded.shape == expected.shape and (loaded != expected).nnz == 0


def test_spooled_embeddings_are_the_given_rows_in_the_given_order(tmp_path: Path) -> None:
    """Each chunk's file is read for its rows only, an empty chunk's not at all."""
    rng = np.random.default_rng(4)
    chunks = [rng.random((rows, 3), dtype=np.float32) for rows in (5, 0, 2, 6)]
    files = [tmp_path / f"chunk-{number}.npy" for number in range(len(chunks))]
    for file, chunk in zip(files, chunks, strict=True):
        save_array(file, chunk)
    starts = np.cumsum([0, *(len(chunk) for chunk in chunks[:-1])])
    rows = np.array([12, 0, 5, 6, 3, 11])
    found = SpooledRows(files=(), picks=rows, n_features=1, embedding_files=files,
                        chunk_starts=starts, rows=rows).embeddings()
    assert found is not None and np.array_equal(found, np.concatenate(chunks)[rows])
