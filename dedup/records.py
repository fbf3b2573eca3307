"""The plain record every stage reads and returns.

A record is deliberately a small slotted dataclass (like datatrove's ``Document``):
stages are pure functions ``list[Record] -> list[Record]`` so the same code runs in a
joblib worker or a Dask partition.  Records cross process boundaries as orjson dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(slots=True)
class Record:
    """One article on its way through the pipeline.

    ``origin`` is ``file:line`` so any output or reject can be traced back to its input;
    ``seq`` is the position in the input, which fixes output order on any engine.
    ``flags`` collects notes a stage wants the user to see (e.g. ``title_from_text``).
    """

    id: str
    title: str = ""
    text: str = ""
    html: str | None = None
    url: str | None = None
    source: str | None = None
    published: str | None = None
    lang: str | None = None
    lang_confidence: float | None = None
    origin: str = ""
    seq: int = -1
    flags: list[str] = field(default_factory=list)

    def cut_to(self, max_text_chars: int, max_title_chars: int) -> None:
        """Cut a longer text or title, flagged ``text_truncated`` / ``title_truncated``:
        bounds the time and memory one record takes (a title is copied into three outputs,
        and a megabyte one held a worker for minutes)."""
        if len(self.text) > max_text_chars:
            self.text = self.text[:max_text_chars]
            self.flags.append("text_truncated")
        if len(self.title) > max_title_chars:
            self.title = self.title[:max_title_chars]
            self.flags.append("title_truncated")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for orjson serialisation between stages.

        Field by field rather than ``dataclasses.asdict``, whose deep copy cost more than
        the serialisation itself; ``flags`` is the only mutable field and is copied.
        """
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["flags"] = list(self.flags)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


_FIELD_NAMES = tuple(f.name for f in fields(Record))


@dataclass(slots=True)
class Reject:
    """An input record that could not be used, with the reason and where it came from."""

    origin: str
    reason: str
    detail: str = ""
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The rejects.jsonl row."""
        return {"id": self.id, "origin": self.origin, "reason": self.reason, "detail": self.detail}
