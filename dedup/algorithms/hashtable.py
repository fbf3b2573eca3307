"""A hash table from 64-bit keys to integers, queried and filled a whole array at a time.

The per-chunk stages look up hundreds of thousands of keys at once (a chunk's word
hashes, its character n-grams).  A Python dict costs a call per key, and sorting the
keys to look up only the distinct ones cost more than the look-ups; this table answers
the whole array with a few numpy passes instead.
"""

from __future__ import annotations

import numpy as np

# Knuth's multiplicative hashing: the top bits of the key times the golden ratio.
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = np.uint64(0)
MISSING = -1


class IntTable:
    """Open addressing with linear probing; uint64 keys, non-negative int64 values, no
    deletion.

    Key 0 marks an empty slot, so it is kept aside.  The table doubles before it is half
    full, which keeps probe runs short.
    """

    def __init__(self, min_bits: int = 16) -> None:
        self._bits = min_bits
        self._keys = np.zeros(1 << min_bits, dtype=np.uint64)
        self._values = np.full(1 << min_bits, MISSING, dtype=np.int64)
        self._zero_value = MISSING  # the value of key 0, which cannot sit in a slot
        self._count = 0

    def __len__(self) -> int:
        return self._count + (self._zero_value != MISSING)

    def _home(self, keys: np.ndarray) -> np.ndarray:
        """Each key's first slot."""
        slots = np.multiply(keys, _MULTIPLIER)
        np.right_shift(slots, np.uint64(64 - self._bits), out=slots)
        return slots.view(np.int64)  # below 2**bits: the same numbers as int64

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The value of every key, ``MISSING`` for keys not in the table.

        The first probe settles most keys and runs over the whole array without index
        lists; each later round moves the keys neither found nor stopped by an empty
        slot one slot on.
        """
        slot = self._home(keys)
        stored = self._keys[slot]
        hit = stored == keys
        values = np.where(hit, self._values[slot], MISSING)
        pending = np.flatnonzero(~hit & (stored != _EMPTY))
        slot = slot[pending]
        mask = (1 << self._bits) - 1
        while pending.size:
            slot = (slot + 1) & mask
            stored = self._keys[slot]
            hit = stored == keys[pending]
            values[pending[hit]] = self._values[slot[hit]]
            unresolved = ~hit & (stored != _EMPTY)
            pending, slot = pending[unresolved], slot[unresolved]
        if self._zero_value != MISSING:
            values[keys == _EMPTY] = self._zero_value
        return values

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Insert keys that are distinct and not yet in the table, with their values."""
        zero = keys == _EMPTY
        if zero.any():
            self._zero_value = int(values[zero][0])
            keys, values = keys[~zero], values[~zero]
        if 2 * (self._count + keys.size) > self._keys.size:
            self._grow(self._count + keys.size)
        self._place(keys, values)

    def _grow(self, count: int) -> None:
        """Re-insert everything into a table at least twice ``count`` slots large."""
        filled = self._keys != _EMPTY
        keys, values = self._keys[filled], self._values[filled]
        while 2 * count > (1 << self._bits):
            self._bits += 1
        self._keys = np.zeros(1 << self._bits, dtype=np.uint64)
        self._values = np.full(1 << self._bits, MISSING, dtype=np.int64)
        self._count = 0
        self._place(keys, values)

    def _place(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Put new keys in their first free slot, all at once.

        Each round, every key whose slot is free competes for it and the first one (in
        array order) takes it; keys that lost or found the slot taken try the next
        slot in the next round.
        """
        slot = self._home(keys)
        pending = np.arange(keys.size)
        mask = (1 << self._bits) - 1
        while pending.size:
            free = np.flatnonzero(self._keys[slot[pending]] == _EMPTY)
            _, first = np.unique(slot[pending[free]], return_index=True)
            placed = pending[free[first]]
            self._keys[slot[placed]] = keys[placed]
            self._values[slot[placed]] = values[placed]
            waiting = np.ones(pending.size, dtype=bool)
            waiting[free[first]] = False
            pending = pending[waiting]
            slot[pending] = (slot[pending] + 1) & mask
        self._count += keys.size
