"""A setting is declared once, on its stage's config dataclass: its default, what it
trades and the values it may take, side by side.

Each stage owns a frozen dataclass of its settings (``cluster.ClusterConfig`` and so on)
and declares every field with :func:`setting`.  :mod:`dedup.config` reads the
declarations back to check values against their range, and to write the commented TOML
(``dedup config``, the shipped ``configs/default.toml``) and the README's settings table.
A default, its comment and its range are thus edited in one place and cannot drift apart
the way three hand-kept copies did.

This module imports nothing of dedup, so that every stage can use it.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import typing
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# The key of a field's metadata that holds its :class:`About`.
ABOUT = "dedup.setting"


# The largest integer a setting may hold: what a 64-bit signed number can.
_LARGEST_INTEGER = 2**63 - 1


class Range(typing.NamedTuple):
    """Allowed values of a numeric setting: ``low`` to ``high`` (None: unbounded), both
    included unless ``above`` (then values must be greater than ``low``)."""

    low: float | None
    high: float | None
    above: bool = False

    def problem(self, name: str, value: float) -> str | None:
        """Why ``value`` is not allowed for ``name``, or None.  NaN and infinities are never
        allowed (the report, in JSON, could not record them), nor integers beyond 64 bits
        (nor could the JSON writer)."""
        if isinstance(value, int) and abs(value) > _LARGEST_INTEGER:
            return f"{name} must be {self.describe()} and fit in 64 bits, got {value!r}"
        low_ok = self.low is None or (value > self.low if self.above else value >= self.low)
        if low_ok and (self.high is None or value <= self.high) and math.isfinite(value):
            return None
        finite = "" if math.isnan(value) or math.isfinite(value) else "a finite number, "
        return f"{name} must be {finite}{self.describe()}, got {value!r}"

    def describe(self) -> str:
        """The range in words: ">= 1", "0 to 1,024", "> 0 to 1"."""
        low, high = (None if v is None else f"{v:,.0f}" if float(v).is_integer() else f"{v:g}"
                     for v in (self.low, self.high))
        if low is not None and high is not None:
            return f"{'> ' if self.above else ''}{low} to {high}"
        if low is not None:
            return f"{'>' if self.above else '>='} {low}"
        return f"<= {high}"


@dataclasses.dataclass(frozen=True, slots=True)
class About:
    """What a field's declaration says besides its default."""

    doc: str  # what the setting trades, one paragraph
    limits: Range | None  # numeric settings: the values allowed
    choices: tuple[str, ...]  # settings that take one of a few words: those words

    def problem(self, name: str, value: Any) -> str | None:
        """Why ``value`` is outside the range or choices declared for ``name``, or None."""
        if self.limits is not None:
            return self.limits.problem(name, value)
        if self.choices and value not in self.choices:
            return f"{name} must be one of {', '.join(self.choices)}, got {value!r}"
        return None


def setting(default: T, limits: Range | None = None, *, choices: Sequence[str] = (),
            doc: str) -> T:
    """A config dataclass field: its default, its ``limits`` (numbers) or ``choices``
    (words), and ``doc``, what raising or lowering it trades.

    ``doc`` is written as a comment would be, a triple-quoted paragraph; its line breaks
    and indentation are dropped here, as the TOML and the README wrap it their own way.
    A mutable default (the ``read.fields`` table) is copied for every config, as
    ``field(default_factory=...)`` would.
    """
    about = {ABOUT: About(" ".join(doc.split()), limits, tuple(choices))}
    if type(default).__hash__ is None:  # what dataclasses refuse as a shared default
        return dataclasses.field(default_factory=lambda: copy.copy(default), metadata=about)
    return dataclasses.field(default=default, metadata=about)


def about(field: dataclasses.Field[Any]) -> About:
    """The declaration of a config field; a TypeError names a field declared without
    :func:`setting`, which the TOML and the README could not describe."""
    if ABOUT not in field.metadata:
        raise TypeError(f"config field {field.name!r} is not declared with "
                        "dedup.settings.setting(), so it has no comment and no range")
    return field.metadata[ABOUT]


def first_problem(section: Any) -> str | None:
    """The first field of a stage's config outside its declared range or choices, named
    by the field alone: what a config built in Python can fail on at construction (the
    job's checks, :func:`dedup.config.validate`, name it with its section)."""
    for field in dataclasses.fields(section):
        problem = about(field).problem(field.name, getattr(section, field.name))
        if problem is not None:
            return problem
    return None


def did_you_mean(name: str, options: Iterable[str], prefix: str = "") -> str:
    """``; did you mean 'PREFIXoption'?`` for the option closest to a mistyped ``name``,
    or nothing when none is close: the message alone then fixes a typo."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f"; did you mean {prefix + close[0]!r}?" if close else ""
