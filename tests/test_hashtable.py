"""The array-at-a-time hash table agrees with a dict, through growth and collisions."""

from __future__ import annotations

import numpy as np

from dedup.algorithms.hashtable import MISSING, IntTable


def test_table_agrees_with_a_dict_through_growth() -> None:
    rng = np.random.default_rng(7)
    table, reference = IntTable(min_bits=4), dict[int, int]()
    for batch in range(6):
        keys = np.unique(rng.integers(0, 2**63, size=3000, dtype=np.uint64))
        keys = keys[[int(k) not in reference for k in keys.tolist()]]
        if batch == 2:  # key 0 cannot sit in a slot: it is kept aside
            keys = np.r_[np.uint64(0), keys]
        values = np.arange(len(reference), len(reference) + keys.size, dtype=np.int64)
        table.add(keys, values)
        reference.update(zip(keys.tolist(), values.tolist(), strict=True))
        asked = np.r_[keys, rng.integers(1, 2**63, size=500, dtype=np.uint64)]
        expected = [reference.get(k, MISSING) for k in asked.tolist()]
        assert table.get(asked).tolist() == expected
    assert len(table) == len(reference)


def test_crowded_small_table_finds_every_key() -> None:
    """Eight keys in sixteen slots: home slots collide and probe runs wrap around."""
    table = IntTable(min_bits=4)
    keys = np.arange(1, 9, dtype=np.uint64) * np.uint64(0x0123456789ABCDEF)
    table.add(keys[:5], np.arange(5, dtype=np.int64))
    table.add(keys[5:], np.arange(5, 8, dtype=np.int64))
    assert table.get(keys).tolist() == list(range(8))
    assert table.get(np.array([12345], dtype=np.uint64)).tolist() == [MISSING]
