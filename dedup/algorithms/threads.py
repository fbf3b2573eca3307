"""Work of one task spread over threads: scipy's sparse kernels and most numpy loops
release the GIL, so a task alone on a machine can use its idle cores.

The largest language block's clustering task (the whole block, or the summaries and
stories of one split over the workers) is the last one running, once the other workers
have finished the small blocks; at 1M articles its stories were a minute on one core of
two.  Every helper here returns what the serial loop returns, bit for bit: each
item is computed on its own, and results come back in item order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def usable_threads(threads: int) -> int:
    """``threads``, or for 0 the cores this process may run on."""
    if threads > 0:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def mapped(func: Callable[[Item], Result], items: Sequence[Item],
           threads: int) -> Iterator[Result]:
    """``map(func, items)`` with up to ``threads`` items at once, in item order."""
    if threads <= 1 or len(items) <= 1:
        yield from map(func, items)
        return
    with ThreadPoolExecutor(min(threads, len(items))) as pool:
        yield from pool.map(func, items)
