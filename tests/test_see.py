"""What a person sees of a run: the mode, progress and step lines on stderr, ``dedup
show``, and the HTML report."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from synthetic import make_corpus

from dedup.cli import main

SEEDS = Path(__file__).parent.parent / "seeds"
STEPS = ("read", "learn", "analyse", "dedup", "cluster", "write", "html")


def test_verbose_says_the_mode_and_each_step_with_its_time(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(SEEDS), "--out", str(tmp_path / "out"), "-v", "--workers", "1",
                 "--set", 'embed.model="off"', "--set", 'run.progress="always"']) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "mode: lexical, local engine, 1 worker"
    err = captured.err.replace("\r", "\n")  # a bar is redrawn and cleared in its line
    lines = re.findall(r"^dedup: (\w+) +(\d+\.\d)s  (.*)$", err, re.M)
    assert [name for name, _, _ in lines] == list(STEPS)
    assert dict((name, detail) for name, _, detail in lines)["read"] == "5 records, 1 chunks"
    assert "dedup: mode: lexical, local engine, 1 worker" in captured.err
    # every pass's bar has its total: the read pass in input bytes, the others in tasks
    total = sum(path.stat().st_size for path in SEEDS.iterdir())
    assert re.search(rf"read: +\d+%.*/{total / 1024:.1f}k \[", err)
    assert re.search(r"analyse: +\d+%.*\| [01]/1 \[", err)
    assert re.search(r"cluster: +\d+%.*\| \d/5 \[", err)


def test_quiet_says_nothing_but_the_summary(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    seed = next(SEEDS.iterdir())
    assert main(["run", str(SEEDS), str(seed), "--out", str(tmp_path / "out"), "-q",
                 "--workers", "1", "--set", 'embed.model="off"']) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # not even the note on the seed named twice
    assert captured.out.startswith("mode: lexical, local engine, 1 worker\nread 5 records")


@pytest.fixture(scope="module")
def seeds_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seeds") / "out"
    assert main(["run", str(SEEDS), "--out", str(out), "-q", "--workers", "1",
                 "--set", 'embed.model="off"']) == 0
    return out


@pytest.fixture(scope="module")
def generated_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    records, _ = make_corpus(seed=3, per_language=2)
    source = folder / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    assert main(["run", str(source), "--out", str(folder / "out"), "-q", "--workers", "1",
                 "--set", 'embed.model="off"', "--set", "write.article_parts=true"]) == 0
    return folder / "out"


def shown(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["show", *args]) == 0
    return capsys.readouterr().out


def rows(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_show_lists_the_seed_story_and_its_events(
        seeds_out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (story,) = rows(seeds_out / "stories.jsonl")
    overview = shown(capsys, str(seeds_out))
    assert "5 records: 5 articles, 0 rejected, 0 copies; 5 events in 1 stories" in overview
    assert re.search(rf"^{story['story_id']}  5 +5 +en 5 ", overview, re.M)
    assert len(re.findall(r"^c-[0-9a-f]{16}  1 ", overview, re.M)) == 5
    text = shown(capsys, str(seeds_out), story["story_id"])
    assert text.startswith(f"story {story['story_id']}: 5 articles (5 unique), en 5")
    for event in story["events"]:
        assert re.search(rf"^{event['cluster_id']}  1 +- +{re.escape(event['title'][:30])}",
                         text, re.M)
    as_json = orjson.loads(shown(capsys, str(seeds_out), "--json"))
    assert as_json["stories"] == [{**story, "events_total": 5}]
    assert as_json["counts"]["in"] == 5 and as_json["mode"] == "lexical"


def test_show_an_event_and_an_article_of_a_generated_corpus(
        generated_out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = rows(generated_out / "clusters.jsonl")
    largest = events[0]
    copies = [m for m in largest["members"] if m["duplicate_of"]]
    assert copies  # the generated events hold syndicated copies
    text = shown(capsys, str(generated_out), largest["cluster_id"], "--limit", "100")
    assert f"story: {largest['story_id']}" in text
    member_lines = text.split("members:\n")[1].splitlines()[1:]
    assert [line.split()[0] for line in member_lines] == [m["id"] for m in largest["members"]]
    for line, member in zip(member_lines, largest["members"], strict=True):
        assert line.split()[1] == f"{member['similarity']:.3f}"
        assert member["source"] in line and member["published"][:10] in line
    copy = copies[0]
    text = shown(capsys, str(generated_out), copy["id"])  # found in the article parts
    assert text.startswith(f"article {copy['id']}: {copy['title']}")
    assert f"copy of {copy['duplicate_of']}" in text
    found = orjson.loads(shown(capsys, str(generated_out), copy["id"], "--json"))
    assert found["kind"] == "article" and found["event"]["cluster_id"] == largest["cluster_id"]
    limited = orjson.loads(shown(capsys, str(generated_out), "--json", "--limit", "2"))
    assert [e["cluster_id"] for e in limited["events"]] == [e["cluster_id"] for e in events[:2]]
    assert all(len(e["members"]) <= 2 for e in limited["events"])


@pytest.mark.parametrize("command", ["config", "show"])
def test_a_reader_that_stops_early_is_not_an_error(command: str, seeds_out: Path) -> None:
    # as `dedup show DIR | head -1` does, the reader closes the pipe before dedup writes
    args = [command, str(seeds_out)] if command == "show" else [command]
    process = subprocess.Popen([sys.executable, "-m", "dedup", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    assert process.wait(timeout=120) == 0
    assert process.stderr.read() == b""


def test_show_says_what_it_cannot_find(seeds_out: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(seeds_out), "c-0000000000000000"]) == 2
    assert "is no story, event or article id" in capsys.readouterr().err
    assert main(["show", str(tmp_path)]) == 2
    assert "no finished run here" in capsys.readouterr().err
    for limit in ("0", "-1", "ten", "99999999999999999999"):
        with pytest.raises(SystemExit):  # argparse's usage error, exit 2
            main(["show", str(seeds_out), "--limit", limit])
        assert "expected a whole number from 1 to" in capsys.readouterr().err
    assert main(["show", str(seeds_out), "c\udc85d"]) == 2  # argv bytes not UTF-8
    assert "is not UTF-8 text" in capsys.readouterr().err


def test_an_article_whose_id_is_an_events_is_found_with_article(
        seeds_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    shutil.copytree(seeds_out, out)
    event = rows(out / "clusters.jsonl")[0]["cluster_id"]
    article = rows(out / "articles.jsonl")[0]
    with (out / "articles.jsonl").open("ab") as handle:  # an input id may be any string
        handle.write(orjson.dumps({**article, "id": event, "title": "Named like an event"})
                     + b"\n")
    assert orjson.loads(shown(capsys, str(out), event, "--json"))["kind"] == "event"
    found = orjson.loads(shown(capsys, str(out), event, "--json", "--article"))
    assert found["kind"] == "article" and found["article"]["title"] == "Named like an event"
    assert main(["show", str(out), "s-0000000000000000", "--article"]) == 2
    assert "is no article id" in capsys.readouterr().err


def test_ids_with_line_separators_stay_one_row_and_are_found(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """U+2028, U+2029 and U+0085 are valid raw in JSON, but Python's str.splitlines and
    older JavaScript end a line there: the outputs escape them."""
    ids = ["a\u2028b", "c\u2029d", "e\u0085f"]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps({"id": record_id, "title": f"Story {n}",
                                              "text": f"Paragraph {n} of its own words."})
                                + b"\n" for n, record_id in enumerate(ids)))
    assert main(["run", str(source), "--out", str(tmp_path / "out"), "-q",
                 "--set", 'embed.model="off"']) == 0
    capsys.readouterr()
    for name in ("articles.jsonl", "clusters.jsonl", "stories.jsonl"):
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert len(text.splitlines()) == len(text.split("\n")) - 1  # a row is a line
        assert not any(separator in text for separator in "\u2028\u2029\u0085")
    assert {row["id"] for row in rows(tmp_path / "out" / "articles.jsonl")} == set(ids)
    found = orjson.loads(shown(capsys, str(tmp_path / "out"), ids[0], "--json"))
    assert found["kind"] == "article" and found["article"]["id"] == ids[0]
