"""How the summary, ``dedup show`` and report.html word what a run found: one copy of
each wording, so the three never disagree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def most_first(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Counts largest first, ties by name: the order every table and list uses."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def languages_text(languages: Mapping[str, int], limit: int | None = None) -> str:
    """``en 5, de 2``: a run's, an event's or a story's languages, most articles first
    (the ``limit`` largest)."""
    return ", ".join(f"{lang} {count}" for lang, count in most_first(languages)[:limit])


def day_range(row: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first and last day (``YYYY-MM-DD``) of a row with ``first``/``last``
    timestamps, or None when it is undated."""
    first, last = ((row.get(key) or "")[:10] for key in ("first", "last"))
    return (first, last or first) if first else None


def mode_kind(model: str) -> str:
    """The mode a run's ``embed.model`` makes: "lexical" ("off") or "semantic"."""
    return "lexical" if model == "off" else "semantic"


def mode_name(model: str) -> str:
    """The mode with its encoder: "lexical", or "semantic (MODEL)"."""
    return mode_kind(model) if model == "off" else f"{mode_kind(model)} ({model})"


def mode_line(model: str, engine: dict[str, Any]) -> str:
    """Which mode ran: semantic (with its encoder) or lexical (``embed.model`` "off"),
    on which engine (:func:`dedup.job.report.engine_facts`) with how many workers."""
    workers = engine["workers"] or 1
    name = engine["name"].removesuffix("Engine").lower()
    return f"mode: {mode_name(model)}, {name} engine, {workers} worker{'s' if workers != 1 else ''}"
