"""Runs killed with SIGKILL and resumed give the same bytes as an uninterrupted run."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from processes import run_folder, saved, start_run, wait_until
from synthetic import make_corpus

from dedup.cli import main
from dedup.config import load_config
from dedup.io.index import LOCK
from dedup.io.outdir import WORK_DIR
from dedup.io.spool import atomic_file
from dedup.job import checkpoint
from dedup.job.checkpoint import PACKAGE, code_digest, run_fingerprint

FINAL = ("articles.jsonl", "clusters.jsonl", "rejects.jsonl", "stories.jsonl")
ARGS = ["--workers", "2", "--set", "run.chunk_size=10"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated corpus of about two hundred records in four languages, plus bad lines:
    twenty chunks, enough for a run to be killed mid-step at every point waited for.
    Kept small because every test runs the job twice or three times from it."""
    records, _ = make_corpus(seed=11, per_language=10)
    path = tmp_path_factory.mktemp("corpus") / "in.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records)
                     + b'{"id": "broken", "title": \n[1, 2]\n')
    return path


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The outputs of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference") / "out"
    assert main(["run", str(corpus), "--out", str(out), *ARGS]) == 0
    return {name: (out / name).read_bytes() for name in FINAL}


def grouping(work: Path) -> bool:
    """True between the last chunk's analysis and the write pass: the global steps
    (duplicate groups, clusters, links) are running."""
    return (any(work.glob("*.prepared")) and not any(work.glob("chunk-*.jsonl"))
            and not (work / "descriptions.bin").exists())


def writing(work: Path) -> bool:
    """True once the write pass has started (it collects cluster descriptions)."""
    return (work / "descriptions.bin").exists()


def kill_when(corpus: Path, out: Path, ready: Callable[[Path], bool],
              extra: tuple[str, ...] = ()) -> None:
    """Start ``dedup run`` in its own process group and SIGKILL the group (workers too)
    as soon as ``ready(work folder)`` holds."""
    process = start_run([corpus], out, *ARGS, *extra)
    wait_until(process, out, ready)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize(("ready", "reused"), [
    (saved(".prepared"), "read"), (saved(".analysed"), "analyse"), (grouping, "analyse"),
    (saved(".embedded"), "embed"), (writing, "embed"),
], ids=["read", "analyse", "global", "embed", "write"])
def test_killed_run_resumes_to_the_same_bytes(corpus: Path, reference: dict[str, bytes],
                                              ready: Callable[[Path], bool], reused: str,
                                              tmp_path: Path) -> None:
    out = tmp_path / "out"
    kill_when(corpus, out, ready)
    assert not (out / "report.json").exists()
    for name in FINAL:  # whatever a killed run left is whole (written atomically)
        if (out / name).exists():
            assert (out / name).read_bytes().endswith(b"\n")
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--resume"]) == 0
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["resumed"] is True and report["chunks_reused"][reused] > 0
    assert {name: (out / name).read_bytes() for name in FINAL} == reference
    assert not (out / WORK_DIR).exists() and not run_folder(out).exists()


def test_a_killed_dask_run_resumes_to_the_local_bytes(corpus: Path,
                                                      reference: dict[str, bytes],
                                                      tmp_path: Path) -> None:
    """Main process, scheduler and workers all killed mid-analysis; resumed on Dask."""
    out = tmp_path / "out"
    kill_when(corpus, out, saved(".analysed"), ("--engine", "dask"))
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--engine", "dask",
                 "--resume"]) == 0
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["resumed"] is True and report["chunks_reused"]["analyse"] > 0
    assert {name: (out / name).read_bytes() for name in FINAL} == reference


def test_resume_with_other_config_starts_over(corpus: Path, reference: dict[str, bytes],
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    kill_when(corpus, out, saved(".analysed"))
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--resume",
                 "--set", "cluster.threshold=0.5"]) == 0
    assert "ran from the start" in capsys.readouterr().err
    assert orjson.loads((out / "report.json").read_bytes())["resumed"] is False


def test_earlier_outputs_stay_whole_until_the_new_run_replaces_them(
        corpus: Path, reference: dict[str, bytes], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", str(corpus), "--out", str(out), *ARGS]) == 0
    earlier = outputs_of(out)
    kill_when(corpus, out, saved(".analysed"), ("--set", "cluster.threshold=0.5"))
    assert outputs_of(out) == earlier
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--set", "write.parquet=true",
                 "--set", "write.article_parts=true"]) == 0
    assert not (out / "articles.jsonl").exists()  # the earlier run's, replaced by parts
    assert b"".join(p.read_bytes() for p in sorted((out / "articles").iterdir())) \
        == reference["articles.jsonl"]
    assert (out / "articles.parquet").exists()
    assert not list(out.rglob("*.tmp")) and not (out / WORK_DIR).exists()


def outputs_of(out: Path) -> dict[str, bytes]:
    """The bytes of every output file in ``out`` (not dedup's hidden bookkeeping)."""
    return {path.name: path.read_bytes() for path in out.iterdir()
            if path.is_file() and not path.name.startswith(".")}


def test_two_writers_of_one_file_never_mix(tmp_path: Path) -> None:
    """On a cluster one task can run twice at once: each writer has its own temporary."""
    target = tmp_path / "chunk-000001-signatures.npy"
    with atomic_file(target, sync=False) as first, atomic_file(target, sync=False) as second:
        first.write(b"first " * 1000)
        second.write(b"second " * 1000)
        assert len(list(tmp_path.glob(".*.tmp"))) == 2
    assert target.read_bytes() in (b"first " * 1000, b"second " * 1000)
    with pytest.raises(RuntimeError), atomic_file(target, sync=False) as third:
        third.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() in (b"first " * 1000, b"second " * 1000)
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_code_digest_covers_every_module_of_every_folder(tmp_path: Path) -> None:
    """A killed run is resumed only by the same code: a change to a module in a
    sub-folder (the stages, the algorithms...) changes the digest as one at the top does,
    and so does a module moved; where the package is installed does not."""
    copy = tmp_path / "dedup"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert code_digest(copy) == code_digest()
    digests = {code_digest(copy)}
    for module in ("algorithms/cluster.py", "stages/clean.py", "cli.py"):
        (copy / module).write_text((copy / module).read_text() + "# changed\n")
        code_digest.cache_clear()
        digests.add(code_digest(copy))
    (copy / "algorithms" / "arrays.py").rename(copy / "arrays.py")
    code_digest.cache_clear()
    digests.add(code_digest(copy))
    assert len(digests) == 5


def test_a_killed_run_with_an_index_resumes_and_appends_once(
        corpus: Path, tmp_path: Path) -> None:
    """Killed in its global steps: the index is as before (here: not made yet), the flock
    went with the process, and the resumed run appends exactly what an uninterrupted one
    does."""
    def index_files(index: Path) -> dict[str, bytes]:
        return {str(p.relative_to(index)): p.read_bytes() for p in sorted(index.rglob("*"))
                if p.is_file() and p.name != LOCK}

    whole = tmp_path / "whole"
    assert main(["run", str(corpus), "--out", str(whole), *ARGS,
                 "--index", str(tmp_path / "index-whole")]) == 0
    out, index = tmp_path / "out", tmp_path / "index"
    kill_when(corpus, out, grouping, ("--index", str(index)))
    assert not (index / "index.json").exists()
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--resume",
                 "--index", str(index)]) == 0
    assert {name: (out / name).read_bytes() for name in FINAL} == {
        name: (whole / name).read_bytes() for name in FINAL}
    assert index_files(index) == index_files(tmp_path / "index-whole")


def test_other_library_versions_start_the_run_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks embedded by one encoder release and by another must not mix."""
    cfg = load_config()
    before = run_fingerprint([], cfg)
    assert run_fingerprint([], cfg) == before
    monkeypatch.setattr(checkpoint.importlib.metadata, "version", lambda name: "0.0-other")
    assert run_fingerprint([], cfg) != before
