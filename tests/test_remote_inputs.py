"""Inputs named by fsspec URLs: the main process reads them, the output is the local one's."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from synthetic import make_corpus

from dedup.cli import main
from dedup.config import load_config
from dedup.io.discover import InputError, InputFile, discover_inputs
from dedup.job.run import run_job

CFG = load_config(overrides=["run.workers=2", "run.chunk_size=7"])


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh folder of fsspec's in-memory filesystem (seen by this process only, which
    is enough: workers never open inputs)."""
    root = f"memory://dedup-{uuid.uuid4().hex}"
    yield root
    fs, path = fsspec.core.url_to_fs(root)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def dump_files() -> dict[str, bytes]:
    """A gzipped JSONL part, a Parquet part, a text article and a truncated gzip."""
    records, _ = make_corpus(seed=2, per_language=2)
    half = len(records) // 2
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(records[half:]), sink)
    jsonl = gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in records[:half]))
    return {"a/part-0.jsonl.gz": jsonl, "a/part-1.parquet": sink.getvalue().to_pybytes(),
            "b/note.txt": b"Harbour reopens\nThe harbour reopened on Monday after repairs.\n",
            "b/cut.jsonl.gz": jsonl[: len(jsonl) // 2], "b/skip.xml": b"<a/>\n"}


def put(root: str, files: dict[str, bytes]) -> None:
    """Write the files under a URL or a local folder."""
    for name, data in files.items():
        with fsspec.open(f"{root}/{name}", "wb", auto_mkdir=True) as handle:
            handle.write(data)


def test_a_url_folder_gives_the_local_folders_output(tmp_path: Path, memory_root: str) -> None:
    put(str(tmp_path / "in"), dump_files())
    put(memory_root, dump_files())
    local = run_job([str(tmp_path / "in")], tmp_path / "local", CFG)
    remote = run_job([memory_root], tmp_path / "remote", CFG)
    for name in ("articles.jsonl", "clusters.jsonl"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "remote" / name).read_bytes()
    assert remote["counts"] == local["counts"]
    fs, path = fsspec.core.url_to_fs(memory_root)
    folder = fs.unstrip_protocol(path)  # fsspec's spelling: memory:///dedup-...
    assert remote["inputs"] == [f"{folder}/{name}" for name in
                                ("a/part-0.jsonl.gz", "a/part-1.parquet", "b/cut.jsonl.gz",
                                 "b/note.txt")]
    [reject] = [orjson.loads(line) for line in
                (tmp_path / "remote" / "rejects.jsonl").read_bytes().splitlines()]
    assert reject["reason"] == "unreadable_file"
    assert reject["origin"].startswith(f"{folder}/b/cut.jsonl.gz:")


def test_url_patterns_and_file_urls_name_the_same_files(tmp_path: Path,
                                                        memory_root: str) -> None:
    put(memory_root, dump_files())
    put(str(tmp_path), dump_files())
    matched = discover_inputs([f"{memory_root}/*/*.jsonl.gz"]).files
    assert [f.name for f in matched] == [
        "part-0.jsonl.gz", "cut.jsonl.gz"]
    by_url = discover_inputs([f"file://{tmp_path}/a/"]).files
    assert [f.name for f in by_url] == ["part-0.jsonl.gz", "part-1.parquet"]
    run_job([f"file://{tmp_path}/a/*"], tmp_path / "by-url", CFG)
    run_job([str(tmp_path / "a")], tmp_path / "by-path", CFG)
    assert (tmp_path / "by-url" / "clusters.jsonl").read_bytes() == (
        tmp_path / "by-path" / "clusters.jsonl").read_bytes()


def test_a_folder_lists_in_one_order_by_path_pattern_or_url(tmp_path: Path,
                                                            memory_root: str) -> None:
    files = {"b-2/x.jsonl": b"{}\n", "b/x.jsonl": b"{}\n", "b/a/y.jsonl": b"{}\n"}
    put(f"{tmp_path}/in-dump", files)
    put(f"{memory_root}/in-dump", files)
    for names in ([f"{tmp_path}/in-dump"], [f"{tmp_path}/in-dump/**/*.jsonl"],
                  [f"file://{tmp_path}/in-dump"], [f"{memory_root}/in-dump"],
                  [f"{memory_root}/in-dump/**/*.jsonl"]):
        found = [f.location.split("/in-dump/", 1)[1]
                 for f in discover_inputs(names).files]
        assert found == ["b/a/y.jsonl", "b/x.jsonl", "b-2/x.jsonl"], names  # as Paths sort


def test_bad_urls_fail_before_any_work(tmp_path: Path, memory_root: str) -> None:
    put(memory_root, {"x/data.xml": b"<a/>\n"})
    for url, message in [(f"{memory_root}/missing.jsonl", "no such file"),
                         (f"{memory_root}/x/data.xml", "unsupported input"),
                         (f"{memory_root}/x/*.jsonl", "matches no readable file"),
                         ("nosuchprotocol://bucket/a.jsonl", "Protocol not known")]:
        with pytest.raises(InputError, match=message):
            discover_inputs([url])
    assert main(["run", f"{memory_root}/missing.jsonl", "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_a_rewritten_url_input_gets_a_new_version(memory_root: str) -> None:
    """Resume compares input versions: an edited remote file must not look unchanged."""
    put(memory_root, {"d.jsonl": b'{"id": "1", "text": "one"}\n'})
    before = InputFile(f"{memory_root}/d.jsonl").version()
    put(memory_root, {"d.jsonl": b'{"id": "1", "text": "one, edited"}\n'})
    after = InputFile(f"{memory_root}/d.jsonl").version()
    assert before[0] == after[0] and before != after
