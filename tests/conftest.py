"""Test order: the modules that take longest come first.

With ``--dist loadfile`` (pyproject.toml) each module runs whole on one xdist worker, so
its module fixtures (whole runs of the job: references, a killed run) are made once, not
once per worker.  xdist hands the modules out in collection order
(``--no-loadscope-reorder``): by default it hands out the modules with the most tests
first, and so the Dask and benchmark modules, few tests of minutes in all, near the end,
where one worker may run them long after the other has finished.  A module not named
here keeps its place after these.
"""

from __future__ import annotations

import pytest

# Longest first (seconds on two loaded cores, in the suite): faults 190-320, resume
# 150-290, dask 100-150, benchmarks 60-110, incremental 60-100, input formats 50-80,
# pipeline 65-75, api 40-45; every other module takes less than 35.
LONGEST_FIRST = ("test_faults.py", "test_resume.py", "test_dask.py", "test_benchmarks.py",
                 "test_incremental.py", "test_input_formats.py", "test_pipeline.py",
                 "test_api.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the modules of ``LONGEST_FIRST`` to the front, in its order; within a module,
    and among the other modules, the order stays as collected."""
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
