"""The benchmark dump generator and the throughput harness (speed itself is not tested)."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import corpus  # noqa: E402
import incremental  # noqa: E402
import scale_model  # noqa: E402
import throughput  # noqa: E402

from dedup.config import load_config  # noqa: E402
from dedup.job.run import run_job  # noqa: E402


def test_a_smaller_dump_is_a_prefix_of_a_larger_one() -> None:
    shape = corpus.DumpShape()
    assert list(corpus.generate(40, shape))[:25] == list(corpus.generate(25, shape))


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return corpus.write_dump(tmp_path_factory.mktemp("bench") / "dump.jsonl", 600,
                             corpus.DumpShape())


def test_dump_looks_like_a_news_scrape(dump: Path) -> None:
    records = [json.loads(line) for line in dump.read_text().splitlines()]
    texts = [r["text"] for r in records if r.get("text")]
    assert 1200 < sum(map(len, texts)) / len(texts) < 1800
    assert any("html" in r for r in records) and any(r.get("text") == "" for r in records)
    assert any("published" not in r for r in records) and any("source" not in r for r in records)
    assert sum("Leave A Reply" in t or "Share." in t for t in texts) > len(texts) // 4


def test_the_job_finds_the_dumps_structure(dump: Path, tmp_path: Path) -> None:
    """Copies are found, site templates removed and languages told apart."""
    report = run_job([str(dump)], tmp_path / "out", load_config(overrides=["run.workers=1"]))
    assert report["counts"]["in"] == report["counts"]["out"] == 600
    assert report["counts"]["duplicates"] > 30
    assert len([n for n in report["counts"]["languages"].values() if n >= 10]) >= 8
    articles = [json.loads(line) for line in (tmp_path / "out" / "articles.jsonl").open()]
    assert not any("All rights reserved" in a["text"] for a in articles)
    expected = {int(a["id"][1:]): a["lang"] for a in articles}
    plan = corpus.make_plan(600, corpus.DumpShape())
    right = sum(corpus.event_language(int(plan.event[i]), corpus.DumpShape().seed) == lang
                for i, lang in expected.items())
    assert right / len(expected) > 0.9


def test_throughput_harness_reports_every_step(dump: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "dump-300-seed2024.jsonl").write_bytes(
        b"".join(dump.read_bytes().splitlines(keepends=True)[:300]))
    assert throughput.main(["--sizes", "300", "--workers", "1", "--baseline", "40",
                            "--data", str(data), "--json", str(tmp_path / "r.json")]) == 0
    printed = capsys.readouterr().out
    for step in [*throughput.STEPS, "total"]:  # the lexical job: no embed step
        assert (f"| 300 | {step} |" in printed) == (step != "embed")
    figures = json.loads((tmp_path / "r.json").read_text())
    assert figures["baseline_articles_per_second"] > 0
    assert figures["runs"]["300"]["peak_rss_mb"] > 10
    timeline = figures["runs"]["300"]["memory_timeline_mb"]  # MiB
    peak_mib = figures["runs"]["300"]["peak_rss_mb"] * 1e6 / 2**20
    assert timeline and all(main <= total <= peak_mib for _, main, _, total, _ in timeline)
    cpu = [sample[4] for sample in timeline]
    assert cpu == sorted(cpu) and cpu[-1] > 0  # the tree's CPU seconds so far
    steps = figures["runs"]["300"]["steps"]
    assert steps["total"]["cpu"] >= steps["analyse"]["cpu"] > 0
    assert 0 < steps["total"]["busy"] <= 1.05
    quality = figures["runs"]["300"]["quality"]
    assert quality["clusters"]["f1"] > 0.9 and quality["dup_groups"]["f1"] > 0.9
    assert "BCubed F1 clusters" in printed


def test_throughput_harness_runs_prefixes_of_a_realistic_dump(
        dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Any JSON-lines dump: its first N lines are run, with no quality figures (no truth)."""
    data = tmp_path / "data"
    assert throughput.main(["--corpus", "realistic", "--dump", str(dump), "--sizes", "120",
                            "--workers", "1", "--baseline", "40", "--data", str(data),
                            "--json", str(tmp_path / "r.json")]) == 0
    assert len((data / f"{dump.stem}-first-120.jsonl").read_bytes().splitlines()) == 120
    printed = capsys.readouterr().out
    assert "realistic corpus" in printed and "| 120 | total |" in printed
    run = json.loads((tmp_path / "r.json").read_text())["runs"]["120"]
    assert run["counts"]["in"] == 120 and run["quality"] is None
    with pytest.raises(SystemExit, match="fewer than"):
        throughput.main(["--corpus", "realistic", "--dump", str(dump), "--sizes", "10000000",
                         "--data", str(data)])


def test_incremental_harness_runs_days_of_a_dump_with_one_index(
        dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Days cut in date order and of equal size; each day's run finds the earlier ones."""
    days = incremental.split_by_date(dump, 3, tmp_path)
    parts = [[json.loads(line) for line in day.read_text().splitlines()] for day in days]
    assert [len(part) for part in parts] == [200, 200, 200]
    dates = [[r.get("published") or "~" for r in part] for part in parts]
    assert all(max(a) <= min(b) for a, b in itertools.pairwise(dates))
    assert incremental.main(["--dump", str(dump), "--days", "2", "--workers", "1",
                             "--pairs", "1", "--json", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert [day["articles"] for day in result["days"]] == [300, 300]
    assert result["days"][1]["index"]["earlier_articles"] > 0
    assert result["ratio_last_day"] > 0 and len(result["ratios_in_pairs"]) == 1
    printed = capsys.readouterr().out
    assert "alone" in printed and "pair 1: with the index" in printed
    assert "index" in result["days"][1]["wall_by_step"]  # today's generation, timed apart


def test_bcubed_scores_a_partition_against_the_truth() -> None:
    truth = np.array([0, 0, 0, 1, 1])
    perfect = throughput.bcubed(np.array([5, 5, 5, 2, 2]), truth)
    assert perfect == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    split = throughput.bcubed(np.array([0, 0, 1, 2, 2]), truth)
    # Items 0-1 see 2 of their 3 true mates, item 2 sees 1 of 3: recall (2/3*2 + 1/3 + 2)/5.
    assert split["precision"] == 1.0 and split["recall"] == round((4 / 3 + 1 / 3 + 2) / 5, 4)
    merged = throughput.bcubed(np.zeros(5, dtype=np.int64), truth)
    assert merged["recall"] == 1.0 and merged["precision"] == round((3 * 3 / 5 + 2 * 2 / 5) / 5, 4)


def test_scale_model_splits_every_step_between_main_process_and_tasks(
        dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    lines = dump.read_bytes().splitlines(keepends=True)[:300]
    (data / "dump-300-seed2024.jsonl").write_bytes(b"".join(lines))
    assert scale_model.main(["--size", "300", "--workers", "2,8", "--target", "3000",
                             "--data", str(data), "--json", str(tmp_path / "m.json")]) == 0
    figures = json.loads((tmp_path / "m.json").read_text())
    wall = figures["report"]["seconds"]["wall_by_step"]
    # the lexical job: every step but the encoder's
    assert set(figures["steps"]) == set(throughput.STEPS) - {"embed"} == set(wall)
    for step, cost in figures["steps"].items():
        assert cost["tasks"] >= 1 and 0 < cost["task_seconds"] <= wall[step]
    assert figures["passes"]["read"]["sent_bytes"] > sum(map(len, lines))  # the raw input
    assert all(size > 0 for size in figures["spool_bytes"].values())
    totals = {w: sum(e.values()) for w, e in figures["estimates"].items()}
    assert totals["8"] < totals["2"]
    assert "| 8 |" in capsys.readouterr().out
