"""report.html: what it holds, and that it is the same bytes for any workers and chunks."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from synthetic import make_corpus

from dedup.cli import main
from dedup.htmlreport import RUN_SECTION
from dedup.outdir import LEDGER

BAD_LINES = b'{"id": "cut", "text": "no end\n[1, 2]\n{}\n'


def run(folder: Path, *args: str) -> Path:
    """A lexical run over a generated corpus with three bad lines; its output folder."""
    source = folder / "in.jsonl"
    if not source.exists():
        records, _ = make_corpus(seed=5, per_language=3)
        source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + BAD_LINES)
    out = folder / f"out{len(list(folder.glob('out*')))}"
    assert main(["run", str(source), "--out", str(out), "-q", "--set", 'embed.model="off"',
                 *args]) == 0
    return out


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("report"), "--workers", "1")


def rows(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def without_run_section(page: bytes) -> bytes:
    start, end = (page.index(mark.encode()) for mark in RUN_SECTION)
    return page[:start] + page[end:]


def test_report_holds_counts_rejects_stories_and_copies(generated: Path) -> None:
    page = (generated / "report.html").read_text()
    report = orjson.loads((generated / "report.json").read_bytes())
    counts = report["counts"]
    assert (f"{counts['in']:,} records in = {counts['out']:,} articles out + "
            f"{counts['rejected']:,} rejected") in page
    for reason in ("malformed_json", "not_an_object", "empty"):
        assert re.search(rf"<td>{reason}</td><td class=\"n\">1</td><td><code>[^<]*in\.jsonl:",
                         page)
    stories = rows(generated / "stories.jsonl")
    assert html.escape(stories[0]["representative"]["title"][:100]) in page
    assert page.count('<details class="story"') == min(40, len(stories))
    events = {e["cluster_id"]: e for e in rows(generated / "clusters.jsonl")}
    first = events[stories[0]["events"][0]["cluster_id"]]
    for member in first["members"][:12]:  # the event's best members, one click away
        assert f"<td>{html.escape(member['title'][:100])}" in page
    copied = {m["duplicate_of"] for e in events.values() for m in e["members"]} - {None}
    assert copied and "Largest copy groups" in page
    assert "lexical (embed.model = off)" in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_report_is_the_same_bytes_for_any_workers_and_chunks(generated: Path) -> None:
    other = run(generated.parent, "--workers", "2", "--set", "run.chunk_size=7")
    first, second = ((out / "report.html").read_bytes() for out in (generated, other))
    assert first != second  # the run section differs (workers, times)...
    assert without_run_section(first) == without_run_section(second)  # ...nothing else


def test_html_false_writes_no_report(generated: Path) -> None:
    out = run(generated.parent, "--workers", "1", "--set", "write.html=false")
    assert not (out / "report.html").exists()
    assert "report.html" not in orjson.loads((out / LEDGER).read_bytes())["outputs"]
