"""``dedup show DIR [ID]``: a finished run's largest stories and events, or one story,
event or article with its members, in the terminal (or as JSON for scripts).

It reads only the outputs: stories.jsonl and clusters.jsonl are written largest first,
so the overview reads their first lines; an id is found by the start of its line
(``{"story_id":"s-…"``, ``{"cluster_id":"c-…"``, ``{"id":"…"``), so no line but the
one asked for is decoded.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from dedup.display import day_range, languages_text
from dedup.io.outdir import CLUSTERS_FILE, REPORT, STORIES_FILE, article_files
from dedup.io.spool import json_bytes


class ShowError(ValueError):
    """The folder holds no finished run, or the id is in none of its outputs."""


def show(out_dir: Path, wanted: str | None, limit: int, as_json: bool,
         article: bool = False) -> str:
    """What ``dedup show`` prints: the overview of the run in ``out_dir``, or the story,
    event or article ``wanted`` (only an article with ``article``: an input's id may be
    any string, ``c-…`` too), as aligned text or as JSON."""
    if not (out_dir / REPORT).is_file():
        raise ShowError(f"{out_dir}: no finished run here (no {REPORT})")
    if wanted is None:
        found = overview(out_dir, limit)
    else:
        found = lookup(out_dir, wanted, limit, ("article",) if article else KINDS)
    if as_json:
        return orjson.dumps(found, option=orjson.OPT_INDENT_2).decode()
    width = shutil.get_terminal_size((120, 24)).columns
    if wanted is None:
        return overview_text(found, width)
    return {"story": story_text, "event": event_text, "article": article_text}[
        found["kind"]](found, width)


def overview(out_dir: Path, limit: int) -> dict[str, Any]:
    """The run's counts and mode, its ``limit`` largest stories and events."""
    report = orjson.loads((out_dir / REPORT).read_bytes())
    return {"mode": report.get("mode"), "engine": report.get("engine"),
            "counts": report["counts"],
            "stories": [trimmed(story, "events", limit) for story in
                        islice(lines(out_dir / STORIES_FILE), limit)],
            "events": [trimmed(event, "members", limit) for event in
                       islice(lines(out_dir / CLUSTERS_FILE), limit)]}


KINDS = ("story", "event", "article")  # looked up in this order


def lookup(out_dir: Path, wanted: str, limit: int,
           kinds: Sequence[str] = KINDS) -> dict[str, Any]:
    """The story, event or article called ``wanted`` (of ``kinds``); an article comes
    with its event."""
    try:
        key = json_bytes(wanted)
    except TypeError:  # bytes of another encoding on the command line: surrogates
        raise ShowError(f"{wanted!r} is not UTF-8 text, so no id of a run") from None
    for kind, files, prefix in (
            ("story", [out_dir / STORIES_FILE], b'{"story_id":' + key + b","),
            ("event", [out_dir / CLUSTERS_FILE], b'{"cluster_id":' + key + b","),
            ("article", article_files(out_dir), b'{"id":' + key + b",")):
        if kind not in kinds:
            continue
        row = first_line_starting(files, prefix)
        if row is not None:
            listed = {"story": "events", "event": "members"}.get(kind)
            found: dict[str, Any] = {"kind": kind,
                                     kind: trimmed(row, listed, limit) if listed else row}
            if kind == "article":
                event_key = json_bytes(row["cluster_id"])
                event = first_line_starting([out_dir / CLUSTERS_FILE],
                                            b'{"cluster_id":' + event_key + b",")
                found["event"] = trimmed(event, "members", limit) if event else None
            return found
    named = " or ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds)
    raise ShowError(f"{wanted!r} is no {named} id of the run in {out_dir}")


def lines(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a JSONL file, decoded one at a time."""
    with path.open("rb") as handle:
        for line in handle:
            yield orjson.loads(line)


def first_line_starting(files: Sequence[Path], prefix: bytes) -> dict[str, Any] | None:
    """The first row of ``files`` whose line starts with ``prefix``, decoded."""
    for path in files:
        with path.open("rb") as handle:
            for line in handle:
                if line.startswith(prefix):
                    return dict(orjson.loads(line))
    return None


def trimmed(row: dict[str, Any], key: str, limit: int) -> dict[str, Any]:
    """``row`` with only the first ``limit`` entries of its list ``key``, and how many
    it had in ``key + "_total"``."""
    return {**row, key: row[key][:limit], f"{key}_total": len(row[key])}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], width: int) -> list[str]:
    """Rows as aligned columns; the last column (a title) is cut to fit ``width``."""
    cells = [[("" if value is None else str(value)) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    room = max(20, width - sum(widths[:-1]) - 2 * (len(headers) - 1))

    def line(values: Sequence[str]) -> str:
        head = "  ".join(v.ljust(w) for v, w in zip(values[:-1], widths, strict=False))
        last = values[-1] if len(values[-1]) <= room else values[-1][:room - 1] + "…"
        return f"{head}  {last}".rstrip() if head else last

    return [line(list(headers)), *(line(row) for row in cells)]


def dates(row: dict[str, Any]) -> str:
    """A row's date range, days only: ``2025-03-01..2025-03-04``, one day, or ``-``."""
    days = day_range(row)
    return "-" if days is None else days[0] if days[0] == days[1] else "..".join(days)


def languages(row: dict[str, Any]) -> str:
    """``en 5, de 2``."""
    return languages_text(row["languages"])


def more(row: dict[str, Any], key: str) -> list[str]:
    """A line saying how many entries of ``key`` are not shown, if any."""
    hidden = row[f"{key}_total"] - len(row[key])
    return [f"... and {hidden} more (--limit)"] if hidden else []


def overview_text(found: dict[str, Any], width: int) -> str:
    """The overview as text: counts, then the largest stories and events."""
    counts = found["counts"]
    out = [f"{counts['in']} records: {counts['out']} articles, {counts['rejected']} rejected, "
           f"{counts['duplicates']} copies; {counts['clusters']} events in "
           f"{counts['stories']} stories ({found['mode']})", "", "largest stories:"]
    out += table(["story", "size", "events", "languages", "dates", "title"],
                 [[s["story_id"], s["size"], s["events_total"], languages(s), dates(s),
                   s["representative"]["title"]] for s in found["stories"]], width)
    out += ["", "largest events:"]
    out += table(["event", "size", "unique", "languages", "dates", "title"],
                 [[e["cluster_id"], e["size"], e["unique"], languages(e), dates(e),
                   e["representative"]["title"]] for e in found["events"]], width)
    out += ["", "dedup show DIR ID for one story, event or article; --json for scripts"]
    return "\n".join(out)


def header(row: dict[str, Any], kind: str, key: str) -> list[str]:
    """The lines that open a story or an event."""
    return [f"{kind} {row[key]}: {row['size']} articles ({row['unique']} unique), "
            f"{languages(row)}, {dates(row)}",
            f"title: {row['representative']['title']}",
            f"terms: {', '.join(row['top_terms'][:10])}"]


def story_text(found: dict[str, Any], width: int) -> str:
    """A story and its events in time order."""
    story = found["story"]
    return "\n".join([*header(story, "story", "story_id"), "", "events:",
                      *table(["event", "size", "dates", "source", "title"],
                             [[e["cluster_id"], e["size"], dates(e), e.get("source"),
                               e["title"]] for e in story["events"]], width),
                      *more(story, "events")])


def event_text(found: dict[str, Any], width: int) -> str:
    """An event and its members, representative first."""
    event = found["event"]
    return "\n".join([*header(event, "event", "cluster_id"),
                      f"story: {event['story_id']}", "", "members:",
                      *member_table(event, width), *more(event, "members")])


def member_table(event: dict[str, Any], width: int) -> list[str]:
    """An event's members: similarity, the canonical of a copy, date, source, title."""
    return table(["id", "similarity", "copy of", "published", "source", "title"],
                 [[m["id"], f"{m['similarity']:.3f}", m["duplicate_of"] or "",
                   (m.get("published") or "")[:10], m.get("source"), m.get("title")]
                  for m in event["members"]], width)


def article_text(found: dict[str, Any], width: int) -> str:
    """An article's fields and the members of its event."""
    article, event = found["article"], found["event"]
    out = [f"article {article['id']}: {article['title']}",
           f"lang {article['lang']}, source {article.get('source') or '-'}, "
           f"published {article.get('published') or '-'}, url {article.get('url') or '-'}",
           f"event {article['cluster_id']}, story {article['story_id']}"
           + (f", copy of {article['duplicate_of']}" if article["duplicate_of"] else ""),
           f"text: {article['text'][:200]}"]
    if event is not None:
        out += ["", f"its event ({event['size']} articles):", *member_table(event, width),
                *more(event, "members")]
    return "\n".join(out)
