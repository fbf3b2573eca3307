"""Stable 64-bit hashes: equal in every process and run, unlike ``hash()``."""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import Literal

import numpy as np


def hash64(*parts: bytes, byteorder: Literal["little", "big"] = "little") -> int:
    """The 8-byte blake2b digest of the ``parts`` one after the other as an unsigned
    integer; given in parts, a large record is never copied whole (the byte order only
    picks which integer: keys made before this helper keep their values)."""
    digest = blake2b(digest_size=8)
    for part in parts:
        digest.update(part)
    return int.from_bytes(digest.digest(), byteorder)


def text_bytes(text: str) -> bytes:
    """UTF-8 of any Python string, lone surrogates included (they occur in scraped text)."""
    return text.encode("utf-8", "surrogatepass")


# ------------------------------------------------------- many byte strings at once

# Polynomial hashes of byte spans: the base is odd, so it has an inverse modulo 2**64
# (found by Newton's iteration) and a span's hash does not depend on where it lies.
_BASE = np.uint64(0x100000001B3)


def span_hashes(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The polynomial hash of each span ``values[starts[i]:ends[i]]`` (uint64 bytes), the
    same wherever the span lies: every span of a buffer in a few array operations, from
    prefix sums, with no Python step per span (story tokens' byte windows, ids)."""
    with np.errstate(over="ignore"):
        prefix = np.concatenate([[np.uint64(0)], np.cumsum((values + np.uint64(1))
                                                           * _powers(_BASE, values.size),
                                                           dtype=np.uint64)])
        return np.asarray((prefix[ends] - prefix[starts])
                          * _powers(_BASE_INVERSE, values.size + 1)[starts])


def string_hashes(strings: Sequence[str]) -> np.ndarray:
    """A 64-bit hash of each string, all at once (fast enough for every id an index
    holds): the polynomial of its UTF-8 bytes with powers counted from its own first
    byte (so only up to the longest string's length), its length mixed in."""
    data = [text_bytes(text) for text in strings]
    lengths = np.array([len(piece) for piece in data], dtype=np.int64)
    values = np.frombuffer(b"".join(data), dtype=np.uint8).astype(np.uint64)
    starts = np.cumsum(lengths) - lengths
    within = np.arange(values.size, dtype=np.int64) - np.repeat(starts, lengths)
    with np.errstate(over="ignore"):
        terms = (values + np.uint64(1)) * _powers(_BASE, int(lengths.max(initial=0)))[within]
        sums = np.zeros(len(data), dtype=np.uint64)
        filled = lengths > 0
        if values.size:
            sums[filled] = np.add.reduceat(terms, starts[filled])
        mixed = (sums ^ (lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))) \
            * np.uint64(0xBF58476D1CE4E5B9)
        return np.asarray(mixed ^ (mixed >> np.uint64(31)))


def _powers(base: np.uint64, count: int) -> np.ndarray:
    """``base`` to the powers 0 .. count-1, modulo 2**64 (kept per process and grown as
    needed: the same few megabytes every chunk would compute again)."""
    known = _POWERS.get(int(base))
    if known is None or known.size < count:
        known = np.ones(max(count, 1, 2 * (0 if known is None else known.size)),
                        dtype=np.uint64)
        with np.errstate(over="ignore"):
            known[1:] = np.cumprod(np.full(known.size - 1, base, dtype=np.uint64))
        _POWERS[int(base)] = known
    return known[:count]


_POWERS: dict[int, np.ndarray] = {}


def _inverse_mod_2_64(odd: int) -> int:
    """The inverse of an odd number modulo 2**64."""
    inverse = odd
    for _ in range(6):
        inverse = inverse * (2 - odd * inverse) % (1 << 64)
    return inverse


_BASE_INVERSE = np.uint64(_inverse_mod_2_64(int(_BASE)))
