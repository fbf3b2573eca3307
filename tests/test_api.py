"""The Python API (``dedup.run``, ``dedup.Result``): the CLI's output bytes for the same
input, given as files, dicts, a generator, a DataFrame or a pyarrow Table; settings and
mistakes as the CLI has them; the temporary output folder's life; the README's examples."""

from __future__ import annotations

import gc
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from synthetic import make_corpus

import dedup
from dedup.algorithms.cluster import ClusterConfig
from dedup.api import Result
from dedup.cli import main
from dedup.config import Config, ConfigError
from dedup.io.discover import InputError
from dedup.io.outdir import OutputError

REPO = Path(__file__).parent.parent
SEEDS = REPO / "seeds"
COMPARED = ("articles.jsonl", "clusters.jsonl", "stories.jsonl", "rejects.jsonl")


def outputs(folder: Path, names: tuple[str, ...] = COMPARED) -> dict[str, bytes]:
    """The bytes of a run's outputs ``names``."""
    return {name: (folder / name).read_bytes() for name in names}


def without_origins(rejects: bytes) -> list[dict[str, Any]]:
    """rejects.jsonl's rows less their origins (which name the file read)."""
    return [{k: v for k, v in orjson.loads(line).items() if k != "origin"}
            for line in rejects.splitlines()]


@pytest.fixture(autouse=True)
def own_temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Python's temporary folder, for each test its own: what a run leaves there shows."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    """A generated corpus with copies and multi-article events in five languages, and
    two records the job rejects."""
    corpus, _ = make_corpus(seed=3, per_language=2)
    return [*corpus, {"id": "empty", "title": " ", "text": ""},
            {"id": "cruft", "title": "", "text": "Share.\nLeave A Reply"}]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]]) -> Path:
    """``dedup run`` on the records as a JSONL file, with a threshold not the default."""
    folder = tmp_path_factory.mktemp("cli")
    source = folder / "records.jsonl"
    source.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    assert main(["run", str(source), "--out", str(folder / "out"), "--workers", "1",
                 "--set", "cluster.threshold=0.3"]) == 0
    return folder / "out"


@pytest.fixture(scope="module")
def seeds_cli_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dedup run seeds/``."""
    out = tmp_path_factory.mktemp("seeds") / "out"
    assert main(["run", str(SEEDS), "--out", str(out), "--workers", "1"]) == 0
    return out


def as_dataframe(records: list[dict[str, Any]]) -> Any:
    """The records as a pandas DataFrame, one column per field."""
    pd = pytest.importorskip("pandas")
    return pd.DataFrame(records)


SOURCES: dict[str, Callable[[list[dict[str, Any]], Path], Any]] = {
    "JSONL file": lambda records, cli_out: cli_out.parent / "records.jsonl",
    "dicts": lambda records, cli_out: records,
    "generator": lambda records, cli_out: (dict(record) for record in records),
    "DataFrame": lambda records, cli_out: as_dataframe(records),
    "pyarrow Table": lambda records, cli_out: pa.Table.from_pylist(records),
}


@pytest.mark.parametrize("given", SOURCES)
def test_same_bytes_as_the_cli(given: str, records: list[dict[str, Any]],
                               cli_run: Path) -> None:
    assert Config().cluster.threshold != 0.3
    source = SOURCES[given](records, cli_run)
    dotted: dict[str, Any] = {"cluster.threshold": 0.3}  # as --set spells it
    with dedup.run(source, run__workers=1, **dotted) as result:
        assert result.report["config"]["cluster"]["threshold"] == 0.3
        got, expected = outputs(result.out), outputs(cli_run)
        rejects = got.pop("rejects.jsonl"), expected.pop("rejects.jsonl")
        assert got == expected
        assert without_origins(rejects[0]) == without_origins(rejects[1])
        assert [r["origin"].rsplit(":", 1)[1] for r in result.rejects()] == ["41", "42"]
        assert result.report["counts"] == orjson.loads((cli_run / "report.json").read_bytes())[
            "counts"]
        assert len(expected["clusters.jsonl"].splitlines()) < result.report["counts"]["out"]


def test_relative_out_after_changing_directory(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs in one process, the second into a relative folder after a chdir (as in a
    notebook): the worker processes joblib keeps from the first run still write where the
    caller means."""
    records = [{"id": f"r{i}", "title": f"Title {i}", "text": f"Body number {i}. " * 20}
               for i in range(40)]
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    monkeypatch.chdir(tmp_path / "first")
    dedup.run(records, out="out", run__workers=2, run__chunk_size=10).close()
    monkeypatch.chdir(tmp_path / "second")
    with dedup.run(records, out="out", run__workers=2, run__chunk_size=10) as result:
        assert result.report["counts"]["out"] == 40
    assert (tmp_path / "second" / "out" / "articles.jsonl").is_file()


def test_paths_and_out_as_the_cli(seeds_cli_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = dedup.run(sorted(SEEDS.glob("*.txt")), out=out, run__workers=1)
    assert outputs(out) == outputs(seeds_cli_run)
    assert [article["id"] for article in result.articles()] == \
        sorted(path.stem for path in SEEDS.glob("*.txt"))
    frame = result.to_pandas("stories")
    assert list(frame["story_id"]) == [story["story_id"] for story in result.stories()]
    assert [len(event["members"]) for event in result.events()] == [1] * 5
    with pytest.raises(ValueError, match=r"wrote no kept\.jsonl: run with write__kept_only"):
        result.kept()
    with pytest.raises(ValueError, match="unknown output 'clusters'; outputs: articles, "):
        result.rows("clusters")
    result.close()
    assert (out / "articles.jsonl").is_file()  # a folder given is kept
    with pytest.raises(ValueError, match="closed"):
        result.events()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds files dedup did not write"):
        dedup.run(str(SEEDS), out=out)
    again = dedup.run(str(SEEDS), out=out, force=True, run__workers=1)
    assert outputs(out) == outputs(seeds_cli_run) and (out / "notes.txt").read_text() == "mine"
    assert again.report["inputs"] == [str(path) for path in sorted(SEEDS.glob("*.txt"))]


def test_records_json_cannot_hold_reach_the_job_as_from_a_file(own_temp_folder: Path) -> None:
    """orjson refuses integers over 64 bits and lone surrogates: such a record still
    arrives as its JSON line would from a file (a long number id read as written, a lone
    surrogate repaired and flagged); values JSON lacks are written as their text."""
    given = [{"id": 123456789012345678901234567890, "title": "Grid plan agreed",
              "text": "Ministers agreed the grid plan on Monday after long talks \ud800 here."},
             {"id": "dated", "title": "Budget vote delayed",
              "text": "The parliament delayed its budget vote by a week.",
              "published": datetime(2025, 3, 20, 10, 0, tzinfo=UTC)},
             # JSON has no infinity (orjson writes null): a date, not a missing one
             {"id": "infinite", "title": "Harbour festival opens",
              "text": "The harbour festival opened with boats and music.",
              "published": np.float64("inf")},
             "not a record"]
    with dedup.run(iter(given), run__workers=1) as result:
        out = result.out
        long_id, dated, infinite = result.articles()
        [reject] = result.rejects()
    assert long_id["id"] == "123456789012345678901234567890"
    assert "invalid_surrogates" in long_id["flags"] and "\ufffd" in long_id["text"]
    assert dated["published"].startswith("2025-03-20T10:00:00")
    assert "published" not in infinite and infinite["flags"] == ["bad_published"]
    # the scratch file by its name: the same records give the same rejects every run
    assert reject["reason"] == "not_an_object" and reject["origin"] == "records.jsonl:4"
    assert result.report["inputs"] == ["records.jsonl"]
    assert not out.exists() and result.closed
    with pytest.raises(ValueError, match=r"temporary output folder is gone .*pass out=DIR"):
        result.articles()
    assert list(own_temp_folder.iterdir()) == []  # the records' scratch folder too


def test_bytes_and_records_no_json_holds_are_read_or_rejected_not_fatal(
        own_temp_folder: Path) -> None:
    # bytes came out as "b'...'"; a tuple key or a cycle stopped the whole run
    body = "Ministers agreed the grid plan on Monday after long talks in the capital."
    cycle: dict[str, Any] = {"id": "cycle", "title": "Loop", "text": body}
    cycle["self"] = cycle
    given = [{"id": b"b1", "title": "Привет".encode(), "text": body},
             {"id": "b2", "title": "Caf\xe9 closes".encode("cp1252"), "text": body + " Two."},
             {"id": "tuple", "title": "Key", "text": body, (1, 2): "y"}, cycle]
    result = dedup.run(given, run__workers=1, embed__model="off")
    assert [(row["id"], row["title"], row.get("flags")) for row in result.articles()] == [
        ("b1", "Привет", None), ("b2", "Café closes", ["invalid_utf8"])]
    tuple_key, cyclic = result.rejects()
    assert tuple_key["reason"] == cyclic["reason"] == "not_an_object"
    assert "a record JSON cannot hold (TypeError: keys must be str" in tuple_key["detail"]
    assert "a record JSON cannot hold (ValueError: Circular reference" in cyclic["detail"]


def test_the_rows_of_a_result_nobody_holds_are_read(own_temp_folder: Path) -> None:
    # the Result was collected, its temporary folder removed, before the rows were read
    given = [{"id": f"r{i}", "title": f"Grid plan {i}", "text": f"Ministers met {i} times."}
             for i in range(3)]
    assert [row["id"] for row in dedup.run(given, run__workers=1).articles()] == [
        "r0", "r1", "r2"]
    events = dedup.run(given, run__workers=1).events()
    gc.collect()
    assert sum(len(event["members"]) for event in events) == 3
    del events
    gc.collect()
    assert not [path for path in own_temp_folder.iterdir() if path.name.startswith("dedup-")]


def test_empty_iterable_is_an_empty_file(tmp_path: Path, own_temp_folder: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert main(["run", str(empty), "--out", str(tmp_path / "cli"), "--workers", "1"]) == 1
    cli_report = orjson.loads((tmp_path / "cli" / "report.json").read_bytes())
    with caplog.at_level(logging.WARNING, logger="dedup"):
        result = dedup.run([], run__workers=1)
    assert outputs(result.out) == outputs(tmp_path / "cli") == dict.fromkeys(COMPARED, b"")
    assert result.report["counts"] == cli_report["counts"]
    assert result.report["warnings"] == cli_report["warnings"] == \
        ["no article: the inputs hold no record"]
    assert caplog.messages == cli_report["warnings"]
    out = result.out
    del result
    gc.collect()
    assert not out.exists() and list(own_temp_folder.iterdir()) == []


def untouched_records(consumed: list[int]) -> Iterator[dict[str, Any]]:
    """Records that note in ``consumed`` when they are first read."""
    consumed.append(1)
    yield {"id": "a", "title": "Talks", "text": "Leaders met."}


@pytest.mark.parametrize("settings, error, message", [
    ({"cluster__treshold": 0.3}, ConfigError,
     r"unknown config key 'cluster.treshold'; known: .*; did you mean 'cluster.threshold'\?"),
    ({"cluster__threshold": 2.0}, ConfigError, "cluster.threshold must be > 0 to 1, got 2.0"),
    ({"workers": 2}, ConfigError, "'workers' needs its section: run__workers$"),
    ({"threshold": 0.3}, ConfigError,
     "needs its section: dedup__threshold or cluster__threshold or link__threshold"),
    ({"dedup__num_perm": "many"}, ConfigError, "dedup.num_perm: expected an integer"),
    ({"read__fields": {"txt": "body"}}, ConfigError, "did you mean 'text'"),
    ({"out": "foreign"}, OutputError, "holds files dedup did not write"),
    # a Config built in Python is checked as --set is
    ({"config": Config(cluster=ClusterConfig(threshold="0.3"))}, ConfigError,  # type: ignore[arg-type]
     "cluster.threshold: expected float, got '0.3'"),
    ({"config": Config(cluster={"threshold": 0.3})}, ConfigError,  # type: ignore[arg-type]
     "cluster: expected a ClusterConfig, got {'threshold': 0.3}"),
    ({"cluster__window_days": float("inf")}, ConfigError,
     "cluster.window_days must be a finite number, >= 0, got inf"),
])
def test_mistakes_raise_before_any_work(settings: dict[str, Any], error: type[Exception],
                                        message: str, tmp_path: Path,
                                        own_temp_folder: Path) -> None:
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    if "out" in settings:
        settings = {"out": tmp_path / settings["out"]}
    consumed: list[int] = []
    with pytest.raises(error, match=message):
        dedup.run(untouched_records(consumed), **settings)
    assert consumed == [] and list(own_temp_folder.iterdir()) == []
    assert [p.name for p in (tmp_path / "foreign").iterdir()] == ["notes.txt"]


def test_numpy_numbers_are_settings_as_plain_ones(tmp_path: Path) -> None:
    """A sweep over np.linspace gives numpy numbers: the run takes them as --set would."""
    records = [{"id": "a", "title": "Talks", "text": "Leaders met in the capital today."}]
    with dedup.run(records, out=tmp_path / "np", cluster__threshold=np.float64(0.4),
                   dedup__num_perm=np.int64(64), embed__model="off") as numpy_run, \
            dedup.run(records, out=tmp_path / "plain", cluster__threshold=0.4,
                      dedup__num_perm=64, embed__model="off") as plain_run:
        assert numpy_run.report["config"] == plain_run.report["config"]
        assert type(numpy_run.report["config"]["cluster"]["threshold"]) is float


def test_missing_input_is_the_cli_error(tmp_path: Path, own_temp_folder: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        dedup.run([tmp_path / "missing.jsonl"])
    assert list(own_temp_folder.iterdir()) == []


@pytest.mark.parametrize("source, message", [
    (3, "source must be a path, URL or glob pattern .*, not int$"),
    (b"dump.jsonl", "not bytes$"),
    ({"id": "a", "text": "one record"}, r"one record \(a dict\): pass a list of records"),
    ([1, 2], "not an iterable of int$"),
    ([["a", "Talks", "Leaders met."]], "not an iterable of list$"),
    (["dump.jsonl", {"id": "a"}], "source mixes paths with dict"),
])
def test_a_source_of_another_kind_is_a_type_error(source: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        dedup.run(source)


def test_a_dataframe_arrow_cannot_type_says_what_to_do() -> None:
    frame = as_dataframe([{"id": "a", "text": "x"}, {"id": 2, "text": "y"}])
    with pytest.raises(TypeError, match=r"give each column one type.*to_dict\('records'\)"):
        dedup.run(frame)


def test_dataframe_columns_and_index_are_read_as_named(own_temp_folder: Path) -> None:
    pd = pytest.importorskip("pandas")
    body = "Ministers agreed the grid plan on Monday after long talks in the capital."
    frame = pd.DataFrame({"id": ["a", "b"], "title": ["Grid", "Vote"],
                          "text": [body, body + " Then a vote."]})
    result = dedup.run(frame.set_index("id"), run__workers=1)  # the ids were dropped
    assert [row["id"] for row in result.articles()] == ["a", "b"]
    levels = frame.copy()
    levels.columns = pd.MultiIndex.from_tuples([("m", name) for name in frame.columns])
    with pytest.raises(TypeError, match="columns have several levels"):
        dedup.run(levels)  # every row was rejected "empty"
    with pytest.raises(TypeError, match=r"columns named more than once \(title\)"):
        dedup.run(pd.concat([frame, frame[["title"]]], axis=1))  # pyarrow's own error


def test_to_pandas_without_pandas_says_what_to_install(seeds_cli_run: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    result = Result(orjson.loads((seeds_cli_run / "report.json").read_bytes()),
                              seeds_cli_run, temporary=False)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"to_pandas needs pandas: pip install 'dedup\[pandas\]'"):
        result.to_pandas()


def test_import_is_cheap_and_python_m_dedup_is_the_command(seeds_cli_run: Path) -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, dedup; print(sorted(name for name in sys.modules "
         "if name.startswith(('dedup.', 'sklearn', 'scipy'))), dedup.Config.__name__)"],
        capture_output=True, text=True, check=True)
    assert loaded.stdout.split("\n")[0] == "[] Config"
    shown = subprocess.run([sys.executable, "-m", "dedup", "show", str(seeds_cli_run), "--json"],
                           capture_output=True, check=True)
    assert orjson.loads(shown.stdout)["counts"]["out"] == 5
    assert set(dedup.__all__) == {"Config", "Result", "load_config", "run"} <= set(dir(dedup))
    assert (dedup.run, dedup.Result, dedup.Config, dedup.load_config) == \
        (dedup.api.run, Result, Config, dedup.config.load_config)


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    own_temp_folder: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The README's Python API section, its code blocks run in order in one namespace
    (as in a notebook), in a folder holding a copy of seeds/."""
    pytest.importorskip("pandas")
    section = (REPO / "README.md").read_text().split("\n## Python API\n")[1].split("\n## ")[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 3
    shutil.copytree(SEEDS, tmp_path / "seeds")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"README.md Python API block {number}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert printed.startswith("1 copy\n") and "wire-7" in printed
    assert {"report.json", "kept.jsonl"} <= {path.name for path in (tmp_path / "out").iterdir()}
    assert list(own_temp_folder.iterdir()) == []  # the with blocks' folders are gone
