"""The code stays ruff- and mypy-clean: checked with the test run so CI enforces it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a tool module from this interpreter's environment in the repo root."""
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True, check=False)


def test_ruff_is_clean() -> None:
    pytest.importorskip("ruff")
    result = run_tool("ruff", "check", "dedup", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    pytest.importorskip("mypy")
    result = run_tool("mypy", "dedup")
    assert result.returncode == 0, result.stdout + result.stderr
