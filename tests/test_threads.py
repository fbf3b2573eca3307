"""Work spread over threads gives what the serial loop gives."""

from __future__ import annotations

import time

from dedup.algorithms.threads import mapped, usable_threads


def test_mapped_keeps_the_item_order_whatever_finishes_first() -> None:
    def late_when_early(x: int) -> int:
        time.sleep((12 - x) / 1000)  # the first items finish last
        return x * x

    items = list(range(12))
    assert list(mapped(late_when_early, items, 4)) == [x * x for x in items]
    assert list(mapped(late_when_early, [], 4)) == []


def test_zero_threads_means_the_cores_of_the_process() -> None:
    assert usable_threads(3) == 3
    assert usable_threads(0) >= 1
