"""``report.html``: a finished run on one page a person can read from a USB stick.

One self-contained file: no script, no font, no image or style from elsewhere (a
Content-Security-Policy forbids the browser to fetch anything), so it opens anywhere and
tells nobody that it was opened.  Stories and events expand with ``<details>``, which
needs no script.  The charts are a few SVG bars and dots made here: a plotting library
would bring hundreds of KB of script per page (or a browser to render it) for what is
a handful of ``<rect>`` elements.

It summarises and samples, so its size is bounded whatever the run's (``HTML_LIMITS``:
the largest stories, their first events and each event's best members).  Everything
but the run section (mode, engine, workers and the time of each step, as in
report.json) is the same bytes for the same input and config.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from pathlib import Path
from typing import Any

import orjson

from dedup.display import day_range, languages_text, mode_name, most_first
from dedup.io.spool import atomic_file

HTML_REPORT = "report.html"
# The run section: what differs from run to run of the same input (times, workers).
RUN_SECTION = ('<section id="run">', "</section><!-- /run -->")


@dataclass(frozen=True, slots=True)
class Limits:
    """How much the report shows: a few MB however large the run."""

    stories: int = 40  # the largest stories
    events: int = 25  # a story's first events (in time order)
    members: int = 12  # an event's best members
    copy_groups: int = 15  # the duplicate groups with most copies
    copies: int = 500  # copies of a group whose sources are counted
    sources: int = 25  # the sources with most articles
    examples: int = 3  # rejects shown per reason
    patterns: int = 5  # cleaner patterns shown per source
    title_chars: int = 160  # a title is cut after this many characters


HTML_LIMITS = Limits()


def reject_examples(rejects: Path, reasons: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """The first few rejects of every reason, reading rejects.jsonl only until each
    reason has its examples."""
    wanted = {reason: min(count, HTML_LIMITS.examples) for reason, count in reasons.items()}
    found: dict[str, list[dict[str, Any]]] = {reason: [] for reason in reasons}
    missing = sum(wanted.values())
    if not missing:
        return found
    with rejects.open("rb") as lines:
        for line in lines:
            if not missing:
                break
            row = orjson.loads(line)
            if len(found[row["reason"]]) < wanted[row["reason"]]:
                found[row["reason"]].append(row)
                missing -= 1
    return found


def write_html(path: Path, report: dict[str, Any], samples: dict[str, Any]) -> None:
    """Write the page for ``report`` (report.json's content) and the ``samples`` of the
    outputs (see ``dedup.job.report.report_samples``)."""
    with atomic_file(path) as handle:
        handle.write(page(report, samples).encode("utf-8"))


def page(report: dict[str, Any], samples: dict[str, Any]) -> str:
    """The whole page."""
    counts = report["counts"]
    sections = [overview(counts), stories_section(samples), rejects_section(counts, samples),
                languages_section(counts), duplicates_section(counts, samples),
                sizes_section(samples), cleaning_section(report["cleaning"]),
                run_section(report), settings_section(report)]
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>dedup report: {counts['out']:,} articles, {counts['stories']:,} stories"
        "</title><style>", STYLE, "</style></head><body><h1>dedup report</h1>",
        "<nav>", " · ".join(f'<a href="#{anchor}">{name}</a>' for anchor, name in (
            ("counts", "counts"), ("stories", "stories"), ("rejects", "rejects"),
            ("languages", "languages"), ("duplicates", "duplicates"), ("sizes", "sizes"),
            ("cleaning", "cleaning"), ("run", "run"), ("settings", "settings"))), "</nav>",
        *sections, "</body></html>\n"])


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;
color:#1d2329;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .5em;
border-bottom:1px solid #d5dbe1}nav{color:#68737d}a{color:#0b62a4}
table{border-collapse:collapse;margin:.4em 0}td,th{padding:2px 8px;text-align:left;
vertical-align:top;border-bottom:1px solid #eef1f4}th{color:#4c5661;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #d5dbe1;
border-radius:6px;padding:8px 14px;min-width:120px}.card b{display:block;font-size:1.5em}
details{margin:.25em 0}summary{cursor:pointer}details.story{border:1px solid #d5dbe1;
border-radius:6px;padding:6px 10px;margin:.5em 0}details.story>summary{font-weight:600}
details.event{margin-left:1.2em}.meta{color:#68737d;font-weight:normal}
.terms{color:#68737d;font-size:.92em}svg{display:block;margin:.3em 0}
.muted{color:#68737d}code,pre{font:12px/1.4 ui-monospace,monospace;background:#f5f7f9}
pre{padding:8px;overflow:auto;max-height:30em}.members td:not(:last-child){white-space:nowrap}
"""


def cut(text: str | None, limit: int = HTML_LIMITS.title_chars) -> str:
    """Text escaped for HTML, cut to ``limit`` characters."""
    text = text or ""
    return escape(text if len(text) <= limit else text[:limit - 1] + "…")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
          numeric: Sequence[int] = ()) -> str:
    """An HTML table; cells are escaped unless already markup (``Markup``); columns in
    ``numeric`` align right."""
    def cell(tag: str, index: int, value: Any) -> str:
        kind = ' class="n"' if index in numeric else ""
        shown = value.html if isinstance(value, Markup) else escape(
            f"{value:,}" if isinstance(value, int) else str(value if value is not None else ""))
        return f"<{tag}{kind}>{shown}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


@dataclass(frozen=True, slots=True)
class Markup:
    """A table cell that is already HTML."""

    html: str


def bars(items: Sequence[tuple[str, float]], log: bool = False, width: int = 420) -> str:
    """A horizontal bar chart (SVG): one labelled bar per item, its value at its end;
    ``log`` scales the bars by log(1 + value), for counts that span decades."""
    if not items:
        return '<p class="muted">none</p>'
    scale = (lambda v: math.log1p(v)) if log else (lambda v: v)
    top = max(scale(value) for _, value in items) or 1.0
    label_width, row = 190, 18
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + width + 90}" '
             f'height="{row * len(items) + 4}" role="img">']
    for index, (label, value) in enumerate(items):
        y = index * row + 2
        length = max(1.0, scale(value) / top * width) if value else 0.0
        shown = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 12}" text-anchor="end" font-size="12">'
            f"{cut(label, 28)}</text>"
            f'<rect x="{label_width}" y="{y + 2}" width="{length:.1f}" height="{row - 5}" '
            f'fill="#3b82c4"><title>{cut(label)}: {shown}</title></rect>'
            f'<text x="{label_width + length + 4:.1f}" y="{y + 12}" font-size="11" '
            f'fill="#4c5661">{shown}</text>')
    return "".join(parts) + "</svg>"


def overview(counts: dict[str, Any]) -> str:
    """The counts, and the accounting: in = out + rejected."""
    cards = [("records in", counts["in"]), ("articles out", counts["out"]),
             ("rejected", counts["rejected"]), ("copies", counts["duplicates"]),
             ("events", counts["clusters"]), ("stories", counts["stories"]),
             ("languages", len(counts["languages"]))]
    return ('<section id="counts"><h2>Counts</h2><div class="cards">'
            + "".join(f'<div class="card"><b>{value:,}</b>{name}</div>' for name, value in cards)
            + f"</div><p>{counts['in']:,} records in = {counts['out']:,} articles out + "
            f"{counts['rejected']:,} rejected. {counts['duplicates']:,} articles are copies "
            f"in {counts['dup_groups_with_copies']:,} duplicate groups "
            f"({counts['exact_duplicate_pairs']:,} exact and "
            f"{counts['near_duplicate_pairs']:,} near pairs); "
            f"{counts['clusters_with_several_articles']:,} events have several articles, "
            f"{counts['stories_with_several_events']:,} stories several events.</p></section>")


def run_section(report: dict[str, Any]) -> str:
    """Mode, engine and times: the only part that differs between runs of one input."""
    mode = mode_name(report["config"]["embed"]["model"])
    engine = report["engine"]
    wall = report["seconds"]["wall_by_step"]
    return (f"{RUN_SECTION[0]}<h2>Run</h2><p>Mode: <b>{escape(mode)}</b>; engine "
            f"{escape(str(engine['name']))}, {engine['workers']} workers; "
            f"{report['seconds']['total']:,.1f} s in all "
            f"({report['articles_per_second'] or 0:,.1f} records/s)"
            + ("; resumed" if report["resumed"] else "") + ". Settings: "
            + escape(", ".join(f"run.{key} = {orjson.dumps(value).decode()}"
                               for key, value in report["config"]["run"].items()))
            + ". Time per step (s):</p>"
            + bars([(step, seconds) for step, seconds in wall.items()]) + RUN_SECTION[1])


def rejects_section(counts: dict[str, Any], samples: dict[str, Any]) -> str:
    """Rejects per reason, with the first few of each (where in the input, and why)."""
    reasons = counts["rejected_by_reason"]
    rows = [(reason, count, Markup("<br>".join(
                f"<code>{cut(example.get('origin'), 80)}</code> {cut(example.get('detail'), 120)}"
                for example in samples["rejects"].get(reason, []))))
            for reason, count in most_first(reasons)]
    body = table(["reason", "records", "first examples (file:line, detail)"], rows, [1]) \
        if rows else '<p class="muted">No record was rejected.</p>'
    return f'<section id="rejects"><h2>Rejected records</h2>{body}</section>'


def languages_section(counts: dict[str, Any]) -> str:
    """Articles per language, the 25 largest."""
    ranked = most_first(counts["languages"])
    shown = ranked[:25]
    if len(ranked) > len(shown):
        shown.append((f"{len(ranked) - 25} others", sum(v for _, v in ranked[25:])))
    return f'<section id="languages"><h2>Languages</h2>{bars(shown)}</section>'


def stories_section(samples: dict[str, Any]) -> str:
    """The largest stories, each a timeline of its events; a click opens a story's
    events, another an event's members."""
    stories = samples["stories"]
    if not stories:
        return '<section id="stories"><h2>Largest stories</h2><p>none</p></section>'
    return ('<section id="stories"><h2>Largest stories</h2><p class="muted">The '
            f"{len(stories)} largest stories; open one for its events in time order, an "
            "event for its members (similarity to the event's representative).</p>"
            + stories_timeline(stories[:20])
            + "".join(story_block(story) for story in stories) + "</section>")


def stories_timeline(stories: Sequence[dict[str, Any]]) -> str:
    """The dated ones of the largest stories on one time axis (SVG): a row per story,
    its title, a line from its first to its last day and a dot per event."""
    dated = [story for story in stories if story.get("first")]
    if not dated:
        return ""
    start = min(day_number(story["first"]) for story in dated)
    end = max(day_number(story["last"]) for story in dated)
    label, width, row, margin = 330, 440, 20, 8
    scale = (width - 2 * margin) / max(1, end - start)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label + width}" '
             f'height="{row * len(dated) + 24}" role="img">'
             f'<text x="{label + margin}" y="{row * len(dated) + 18}" font-size="11" '
             f'fill="#68737d">{date.fromordinal(start).isoformat()}</text>'
             f'<text x="{label + width - margin}" y="{row * len(dated) + 18}" font-size="11" '
             f'fill="#68737d" text-anchor="end">{date.fromordinal(end).isoformat()}</text>']
    for index, story in enumerate(dated):
        y = index * row + 12
        x1 = label + margin + (day_number(story["first"]) - start) * scale
        x2 = label + margin + (day_number(story["last"]) - start) * scale
        parts.append(f'<text x="{label - 6}" y="{y + 4}" font-size="12" text-anchor="end">'
                     f'{cut(story["representative"]["title"], 48)}<title>'
                     f'{cut(story["representative"]["title"])}</title></text>'
                     f'<line x1="{x1:.1f}" y1="{y}" x2="{max(x2, x1 + 1):.1f}" y2="{y}" '
                     'stroke="#9cbfe0" stroke-width="6" stroke-linecap="round"/>')
        for event in story["events"]:
            if event.get("first"):
                x = label + margin + (day_number(event["first"]) - start) * scale
                parts.append(f'<circle cx="{x:.1f}" cy="{y}" r="4" fill="#1f5f99">'
                             f"<title>{span(event)}: {cut(event['title'])} "
                             f"({event['size']:,})</title></circle>")
    return "".join(parts) + "</svg>"


def span(row: dict[str, Any]) -> str:
    """A date range, days only."""
    days = day_range(row)
    return "undated" if days is None else days[0] if days[0] == days[1] else " – ".join(days)


def story_block(story: dict[str, Any]) -> str:
    """One story: summary line, timeline, events (each expanding to its members)."""
    hidden = story["events_total"] - len(story["events"])
    return (f'<details class="story" id="{escape(story["story_id"])}"><summary>'
            f'{cut(story["representative"]["title"])} <span class="meta">'
            f'{story["size"]:,} articles, {story["events_total"]:,} events, {span(story)}, '
            f"{escape(languages_text(story['languages']))}</span></summary>"
            f'<div class="terms">{escape(", ".join(story["top_terms"][:12]))} · '
            f'<code>{escape(story["story_id"])}</code></div>'
            + timeline(story["events"])
            + "".join(event_block(event) for event in story["events"])
            + (f'<p class="muted">… and {hidden:,} more events (stories.jsonl)</p>'
               if hidden else "") + "</details>")


def event_block(event: dict[str, Any]) -> str:
    """One event of a story, its members one click away."""
    members = table(
        ["similarity", "published", "source", "copy of", "title"],
        [(f"{m['similarity']:.3f}", (m.get("published") or "")[:10], m.get("source") or "",
          m.get("duplicate_of") or "", Markup(cut(m.get("title"))))
         for m in event["members"]], [0])
    hidden = event["size"] - len(event["members"])
    return (f'<details class="event"><summary>{cut(event["title"])} <span class="meta">'
            f'{event["size"]:,} articles, {span(event)}, {cut(event.get("source"), 40)}'
            f'</span></summary><div class="members">{members}</div>'
            + (f'<p class="muted">… and {hidden:,} more (dedup show DIR '
               f'{escape(event["cluster_id"])})</p>' if hidden else "") + "</details>")


def timeline(events: Sequence[dict[str, Any]]) -> str:
    """The dated events of a story on a time axis (SVG): a dot per event at its first
    day, its size as the dot's area, a line to its last day."""
    dated = [(day_number(e["first"]), day_number(e["last"] or e["first"]), e)
             for e in events if e.get("first")]
    if not dated:
        return ""
    start = min(first for first, _, _ in dated)
    end = max(last for _, last, _ in dated)
    width, height, margin = 760, 54, 14
    scale = (width - 2 * margin) / max(1, end - start)
    biggest = max(e["size"] for _, _, e in dated)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img"><line x1="{margin}" y1="30" x2="{width - margin}" y2="30" '
             'stroke="#c9d1d9"/>',
             f'<text x="{margin}" y="50" font-size="11" fill="#68737d">'
             f"{date.fromordinal(start).isoformat()}</text>"]
    parts.append(f'<text x="{width - margin}" y="50" font-size="11" fill="#68737d" '
                 f'text-anchor="end">{date.fromordinal(end).isoformat()}</text>')
    for first, last, event in dated:
        x1, x2 = margin + (first - start) * scale, margin + (last - start) * scale
        radius = 3 + 9 * math.sqrt(event["size"] / biggest)
        parts.append(f'<line x1="{x1:.1f}" y1="30" x2="{x2:.1f}" y2="30" stroke="#3b82c4" '
                     f'stroke-width="3"/><circle cx="{x1:.1f}" cy="30" r="{radius:.1f}" '
                     f'fill="#3b82c4" fill-opacity="0.55"><title>{span(event)}: '
                     f'{cut(event["title"])} ({event["size"]:,})</title></circle>')
    return "".join(parts) + "</svg>"


def day_number(published: str) -> int:
    """The proleptic Gregorian day of an ISO date or time."""
    return date.fromisoformat(published[:10]).toordinal()


def duplicates_section(counts: dict[str, Any], samples: dict[str, Any]) -> str:
    """Copies per source (the sources with most articles) and the largest copy groups."""
    sources = samples["sources"]
    rows = [(source or "(no source)", articles, copies,
             f"{copies / articles:.0%}" if articles else "")
            for source, articles, copies in sources]
    groups = [(group["size"], Markup(cut(group["title"])), group.get("source") or "",
               (group.get("published") or "")[:10],
               ", ".join(f"{source or '(no source)'} {n}" for source, n in
                         list(group["copy_sources"].items())[:6]))
              for group in samples["copy_groups"]]
    return ('<section id="duplicates"><h2>Duplicates</h2>'
            f"<p>{counts['duplicates']:,} of {counts['out']:,} articles are copies of another "
            f"({counts['duplicates'] / max(1, counts['out']):.1%}). Share of copies in the "
            f"{len(sources)} sources with most articles (of {samples['sources_total']:,}):</p>"
            + bars([(row[0], round(copies / articles, 4) if articles else 0.0)
                    for row, (_, articles, copies) in zip(rows, sources, strict=True)])
            + table(["source", "articles", "copies", "share"], rows, [1, 2, 3])
            + "<h3>Largest copy groups</h3>"
            + (table(["articles", "canonical title", "source", "published",
                      "sources of the copies"], groups, [0]) if groups else
               '<p class="muted">No article has a copy.</p>') + "</section>")


def sizes_section(samples: dict[str, Any]) -> str:
    """How many events have 1, 2, 3-4... articles, and stories 1, 2... events."""
    return ('<section id="sizes"><h2>Sizes</h2><p>Events by their number of articles '
            "(bars on a log scale):</p>"
            + bars([(label, count) for label, count in samples["event_sizes"]], log=True)
            + "<p>Stories by their number of events (log scale):</p>"
            + bars([(label, count) for label, count in samples["story_events"]], log=True)
            + "</section>")


def cleaning_section(cleaning: dict[str, Any]) -> str:
    """Lines the cleaner removed: by rules and learned patterns, the top patterns, and
    per source (the sources with most lines removed) its own top patterns."""
    def patterns(found: Sequence[dict[str, Any]]) -> Markup:
        return Markup("<br>".join(
            f"<code>{cut(p['pattern'], 90)}</code> <span class=\"muted\">{escape(p['kind'])}, "
            f"{p['lines_removed']:,}</span>" for p in found[:HTML_LIMITS.patterns]))

    sources = sorted(cleaning["sources"],
                     key=lambda s: (-(s["by_rules"] + s["by_learned"]), s["source"]))
    rows = [(s["source"] or "(no source)", s["articles"], s["by_rules"], s["by_learned"],
             patterns(s["top_patterns"])) for s in sources[:HTML_LIMITS.sources]]
    top = cleaning["top_patterns"]
    return ('<section id="cleaning"><h2>What the cleaner removed</h2>'
            f"<p>{cleaning['lines_removed']:,} lines: {cleaning['by_rules']:,} by the rules, "
            f"{cleaning['by_learned']:,} by {cleaning['learned_patterns']:,} patterns learned "
            "from the dump.</p>"
            + bars([(p["pattern"], p["lines_removed"]) for p in top[:15]])
            + table(["source", "articles", "lines by rules", "lines learned",
                     "its top patterns (kind, lines)"], rows, [1, 2, 3]) + "</section>")


def settings_section(report: dict[str, Any]) -> str:
    """The inputs, the full configuration and the library versions, folded."""
    inputs = report["inputs"]
    shown = "".join(f"<li><code>{cut(location, 200)}</code></li>" for location in inputs[:20])
    more = f"<li>… and {len(inputs) - 20:,} more</li>" if len(inputs) > 20 else ""
    config = orjson.dumps({k: v for k, v in report["config"].items() if k != "run"},
                          option=orjson.OPT_INDENT_2).decode()
    versions = ", ".join(f"{name} {version}" for name, version in report["versions"].items())
    return ('<section id="settings"><h2>Settings</h2>'
            f"<p>dedup {escape(report['dedup_version'])}; {escape(versions)}.</p>"
            f"<details><summary>{len(inputs):,} inputs</summary><ul>{shown}{more}</ul>"
            f"</details><details><summary>configuration (the [run] settings, which do not "
            f"change the output, are under Run)</summary><pre>{escape(config)}</pre>"
            "</details></section>")
