"""dedup: clean, language-tag, deduplicate and cluster multilingual news dumps.

From Python: ``dedup.run(source, config=None, out=None, **overrides)`` runs the job on
files or on records in memory and returns a ``dedup.Result`` (see ``dedup.api``);
``dedup.load_config`` and ``dedup.Config`` build its configuration.

These names are imported on first use: the job's modules take about a second to import
(scipy, datasketch, trafilatura), which a plain ``import dedup`` need not pay.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Config", "Result", "load_config", "run"]

if TYPE_CHECKING:
    from dedup.api import Result, run
    from dedup.config import Config, load_config

# The module each public name lives in.
_HOMES = {"Config": "dedup.config", "load_config": "dedup.config",
          "Result": "dedup.api", "run": "dedup.api"}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module when first asked for."""
    if name not in _HOMES:
        raise AttributeError(f"module 'dedup' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    """The module's names, the lazily imported ones included (for completion)."""
    return sorted({*globals(), *__all__})
