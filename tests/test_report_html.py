"""report.html: what it holds, that it is the same bytes for any workers and chunks, and
that a real browser (headless Chromium, installed by .ci/run) shows it without a request
or a console error, with its stories opening to their events and members."""

from __future__ import annotations

import html
import re
import shutil
import socket
import subprocess
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from synthetic import make_corpus

from dedup.cli import main
from dedup.io.outdir import LEDGER
from dedup.job.htmlreport import RUN_SECTION

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
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
    assert "Mode: <b>lexical</b>" in page
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


class Proxy:
    """A local HTTP proxy that answers nothing and keeps what each connection asked:
    every request of the browser goes through it, to any host."""

    def __init__(self) -> None:
        self.asked: list[bytes] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)  # a loaded machine may be slow to ask
                try:
                    self.asked.append(connection.recv(4096))
                except TimeoutError:
                    self.asked.append(b"")

    def page_requests(self) -> set[bytes]:
        """The request lines asked so far (``CONNECT host:443 HTTP/1.1``...) but those
        Chromium sends by itself whatever the page, now and then, despite its flags
        (signing in, the time, a search page: all to hosts of google.com; Chromium 156's
        component updater, despite ``--disable-component-update``, to
        update.googleapis.com only, so a page's fonts.googleapis.com still counts), and
        its preconnections to the proxy that never ask for anything."""
        lines = {asked.split(b"\r\n")[0] for asked in self.asked} - {b""}
        return {line for line in lines if not re.match(
            rb"[A-Z]+ (https?://)?([a-z0-9.]+\.google\.com|update\.googleapis\.com)[:/]", line)}

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    found = Proxy()
    try:
        yield found
    finally:
        found.close()


def chromium(*args: str, port: int) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with every request sent to the proxy on ``port``, console
    messages logged to stderr."""
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-default-apps", "--disable-domain-reliability",
         "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate",
         "--enable-logging=stderr", "--v=0",
         f"--proxy-server=http://127.0.0.1:{port}", "--proxy-bypass-list=<-loopback>",
         "--window-size=1200,1600", "--hide-scrollbars", *args],
        capture_output=True, text=True, timeout=120, check=False)


# Opens the largest story and its first event by clicking, as a reader would, and notes
# what is visible then; the page is checked with its Content-Security-Policy removed, so
# that any request it would make reaches the proxy.
PROBE = """<script>
const seen = {}, story = document.querySelector("details.story");
const event = story.querySelector("details.event");
seen.storyTitle = story.querySelector("summary").innerText;
seen.storyVisible = story.querySelector("summary").checkVisibility();
seen.eventBeforeClick = event.checkVisibility();
story.querySelector("summary").click();
seen.eventTitle = event.querySelector("summary").innerText;
seen.eventVisible = event.querySelector("summary").checkVisibility();
const member = event.querySelector("tr:nth-child(2)");
seen.memberBeforeClick = member.checkVisibility();
event.querySelector("summary").click();
seen.memberVisible = member.checkVisibility();
seen.memberText = member.innerText;
seen.resources = performance.getEntriesByType("resource").length;
document.body.setAttribute("data-seen", JSON.stringify(seen));
</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (.ci/run installs it)")
def test_report_in_a_browser(generated: Path, tmp_path: Path, proxy: Proxy) -> None:
    report = generated / "report.html"
    page = report.read_text()
    policy = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', page)
    assert policy and "default-src 'none'" in policy.group(0)
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace(policy.group(0), "").replace("</body>", PROBE))
    port = proxy.port
    dumped = chromium("--dump-dom", probed.as_uri(), port=port)
    assert "CONSOLE" not in dumped.stderr, dumped.stderr
    attribute = re.search(r'data-seen="([^"]*)"', dumped.stdout)
    assert attribute, dumped.stdout[-2000:]
    seen = orjson.loads(html.unescape(attribute.group(1)))
    story = rows(generated / "stories.jsonl")[0]
    event = story["events"][0]
    largest = rows(generated / "clusters.jsonl")
    members = next(e for e in largest if e["cluster_id"] == event["cluster_id"])["members"]
    assert seen["storyVisible"] and seen["storyTitle"].startswith(
        story["representative"]["title"][:80])
    assert not seen["eventBeforeClick"] and seen["eventVisible"]
    assert seen["eventTitle"].startswith(event["title"][:80])
    assert not seen["memberBeforeClick"] and seen["memberVisible"]
    assert members[0]["title"][:60] in seen["memberText"]
    assert seen["resources"] == 0

    shot = tmp_path / "shot.png"
    shown = chromium(f"--screenshot={shot}", report.as_uri(), port=port)
    assert "CONSOLE" not in shown.stderr, shown.stderr
    assert distinct_pixel_bytes(shot) > 16  # not a blank page
    assert proxy.page_requests() == set()


def distinct_pixel_bytes(png: Path) -> int:
    """How many distinct byte values a PNG's pixel data holds (a blank page: 2 or 3)."""
    data, chunks, position = png.read_bytes(), [], 8
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        if kind == b"IDAT":
            chunks.append(data[position + 8:position + 8 + length])
        position += 12 + length
    return len(set(zlib.decompress(b"".join(chunks))))
