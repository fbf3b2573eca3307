"""HTML markup inside text fields: tags dropped, references decoded, anything else kept."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from dedup.config import load_config
from dedup.io.read import RawItem, ReadConfig
from dedup.job.run import run_job
from dedup.records import Record
from dedup.stages.markup import without_markup
from dedup.stages.parse import parse_item


@pytest.mark.parametrize(("given", "plain"), [
    ("<p>Leaders met.</p><p>They left.</p>", "\nLeaders met.\n\nThey left.\n"),
    ("Line one<br>line two<BR/>line three", "Line one\nline two\nline three"),
    ("5 Ways Life Is Like <i>Mean Girls</i>", "5 Ways Life Is Like Mean Girls"),
    ("Beyonc&#233; and Beyonc<b>&eacute;</b>", "Beyoncé and Beyoncé"),
    ("the firm&#8217;s &ldquo;plan&rdquo; &#x2014; &amp; more", "the firm’s “plan” — & more"),
    ('<a href="https://x.example/?a=1&amp;b=2" class="link">read</a> on', "read on"),
    ("before<script type='text/javascript'>var a = '<p>';</script>after", "beforeafter"),
    ("kept<!-- a comment <p> -->text<style>p {color: red}</style>", "kepttext"),
    ("a text about &lt;p&gt; tags", "a text about <p> tags"),  # decoded after tags go
    ('Said so.<iframe src="https://v.example/e">Watch</iframe> Then left.',
     "Said so. Then left."),  # what a page shows in a player's place is not text
    ('<video controls><source src="a.mp4">No video</video>Caption <fb:like href="x"/>here',
     "Caption here"),
    ("<center>Notice</center><details><summary>More</summary>Body</details>",
     "\nNotice\n\n\nMore\nBody\n"),
    ('<label>Name <input type="text"></label><button>Send</button> done', "Name  done"),
])
def test_markup_is_removed(given: str, plain: str) -> None:
    assert without_markup(given) == plain


@pytest.mark.parametrize("text", [
    "if a < b and c > d", "I <3 NY", "Dear <Name>,", "AT&T and R&D", "fish & chips",
    "x&y;z", "<pr> is not pre", "&notanentity", "a <p class", "2 << 3",
    "put a <script> tag in the page", "<!-- never closed " * 2000,  # a start with no end
    "&amplifier; &notes; &copyright;",  # no HTML name, though each starts with a legacy one
    "ratio 3:2 and time 10:30", "see <https://a.example/x:y>",
])
def test_what_is_not_markup_stays(text: str) -> None:
    assert without_markup(text) == text


def test_a_headline_keeps_one_line_and_the_record_says_what_changed() -> None:
    payload = orjson.dumps({"id": "m", "title": "Summit<br>in Paris &amp; Kyiv",
                            "text": "<p>One.</p><p>Two.</p>"})
    record = parse_item(RawItem("f.jsonl:1", "json", payload), ReadConfig())
    assert isinstance(record, Record)
    assert (record.title, record.text) == ("Summit in Paris & Kyiv", "\nOne.\n\nTwo.\n")
    assert record.flags == ["markup_removed"]
    plain = parse_item(RawItem("f.jsonl:2", "json", orjson.dumps(
        {"id": "p", "title": "AT&T <3", "text": "a < b"})), ReadConfig())
    assert isinstance(plain, Record) and plain.flags == []
    only_tags = parse_item(RawItem("f.jsonl:3", "json", orjson.dumps(
        {"id": "e", "text": "<p></p><br>"})), ReadConfig())
    assert not isinstance(only_tags, Record) and only_tags.reason == "empty"


def test_a_copy_stored_as_html_is_found_as_a_copy(tmp_path: Path) -> None:
    paragraphs = [
        "Zorvan ministers of the Telbrook council agreed on Tuesday to fund the new "
        "harbour bridge over the Quellin estuary, after three years of talks.",
        "The bridge will carry trains and cars and is due to open in the spring of the "
        "year after next, said the council's chair, Mirela Vostran.",
        "Opponents said the money should have gone to the ferries that now cross the "
        "estuary, and promised to take the decision to the regional court.",
    ]
    records = [
        {"id": "plain", "title": "Telbrook funds the Quellin bridge",
         "text": "\n".join(paragraphs).replace("'", "’")},
        {"id": "html", "title": "Telbrook funds the <i>Quellin</i> bridge",
         "text": "".join(f"<p>{p.replace(chr(39), '&#8217;')}</p>" for p in paragraphs)},
        {"id": "other", "title": "Ferries of the Quellin estuary",
         "text": "Ferry crews on the Quellin estuary voted to strike over pay."},
    ]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    run_job([str(source)], tmp_path / "out", load_config(overrides=['embed.model="off"']))
    articles = {a["id"]: a for a in map(orjson.loads,
                                        (tmp_path / "out" / "articles.jsonl").read_bytes()
                                        .splitlines())}
    assert articles["html"]["text"] == articles["plain"]["text"]
    assert articles["html"]["dup_group"] == articles["plain"]["dup_group"] != \
        articles["other"]["dup_group"]
    assert articles["html"]["flags"] == ["markup_removed"]
