"""Faults around a run: its output folder, other runs, signals, killed parents, damaged or
planted work files, a full disk, settings out of range.  Real processes, real files."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from processes import descendants, run_folder, saved, start_run, still_alive, wait_until
from synthetic import make_corpus

from dedup import cli
from dedup.cli import main
from dedup.config import DEFAULT_CONFIG_FILE, SETTINGS, Config, load_config
from dedup.engines.base import WorkerLost
from dedup.engines.local import LocalEngine
from dedup.io.outdir import LEDGER, WORK_DIR
from dedup.io.spool import atomic_file
from dedup.job import run as run_module
from dedup.job import tasks
from dedup.job.checkpoint import load_result, save_result
from dedup.job.run import run_job

ARGS = ["--workers", "2", "--set", "run.chunk_size=10"]
FINAL = ("articles.jsonl", "clusters.jsonl", "rejects.jsonl", "stories.jsonl")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated corpus of a few hundred records in four languages, plus a bad line."""
    records, _ = make_corpus(seed=5, per_language=10)
    path = tmp_path_factory.mktemp("corpus") / "in.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + b"[1]\n")
    return path


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The outputs of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference") / "out"
    assert main(["run", str(corpus), "--out", str(out), *ARGS]) == 0
    return outputs(out)


def outputs(out: Path) -> dict[str, bytes]:
    """The output files whose bytes a run must reproduce."""
    return {name: (out / name).read_bytes() for name in FINAL}


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to show nothing was touched)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------
# The output folder: only what dedup wrote is ever replaced or removed
# ---------------------------------------------------------------------------------------


def test_an_input_named_like_an_output_is_refused_and_kept(
        corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``dedup run articles.jsonl --out .``: today's job deleted the input."""
    shutil.copy(corpus, tmp_path / "articles.jsonl")
    before = tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "articles.jsonl", "--out", ".", "--force"]) == 2
    assert "like an output" in capsys.readouterr().err
    assert tree(tmp_path) == before


def test_a_folder_of_other_files_is_refused_unless_forced_and_never_touched(
        corpus: Path, reference: dict[str, bytes], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out / "articles").mkdir(parents=True)  # a user's folder named like the parts folder
    (out / "articles" / "mine.jsonl").write_text("not dedup's\n")
    (out / "notes.txt").write_text("keep me\n")
    before = tree(out)
    assert main(["run", str(corpus), "--out", str(out), *ARGS]) == 2
    assert "did not write" in capsys.readouterr().err and tree(out) == before
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--force", "--set",
                 "write.article_parts=true"]) == 2  # its parts would go into the user's folder
    assert "would replace" in capsys.readouterr().err and tree(out) == before

    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--force"]) == 0
    assert outputs(out) == reference
    assert {name: data for name, data in tree(out).items() if name in before} == before


def test_a_user_file_dropped_among_the_outputs_survives_the_next_run(
        corpus: Path, reference: dict[str, bytes], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", str(corpus), "--out", str(out), *ARGS,
                 "--set", "write.article_parts=true"]) == 0
    parts = sorted((out / "articles").iterdir())
    (out / "articles" / "my-notes.txt").write_text("mine\n")
    killed_writer = out / f".{LEDGER}.12345-0123456789ab.tmp"  # a ledger write cut short
    killed_writer.write_text("{")
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--force"]) == 0
    assert not killed_writer.exists()
    assert outputs(out) == reference
    assert [p.name for p in (out / "articles").iterdir()] == ["my-notes.txt"]
    assert not any(p.exists() for p in parts)
    assert orjson.loads((out / LEDGER).read_bytes())["outputs"] == sorted(
        [*FINAL, "report.html", "report.json"])


def test_a_planted_ledger_cannot_make_a_run_remove_other_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "outside.txt").write_text("keep\n")
    (out / "notes.txt").write_text("keep\n")
    (out / LEDGER).write_text(orjson.dumps({"outputs": [
        "notes.txt", "../outside.txt", "/etc/hostname", "articles.jsonl"]}).decode())
    seeds = Path(__file__).parent.parent / "seeds"
    assert main(["run", str(seeds), "--out", str(out), "--workers", "1", "--force"]) == 0
    assert (out / "notes.txt").exists() and (tmp_path / "outside.txt").exists()


def test_an_output_folder_inside_the_input_folder_is_never_read(
        corpus: Path, tmp_path: Path) -> None:
    """Killed, then resumed: today's job read its own spool back (2,251 became 3,002)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(corpus, data / "in.jsonl")
    out = data / "out"
    process = start_run([data], out, *ARGS)
    wait_until(process, out, saved(".analysed"))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert main(["run", str(data), "--out", str(out), *ARGS, "--resume"]) == 0
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["counts"]["in"] == len(corpus.read_bytes().splitlines())
    assert report["resumed"] is True
    assert main(["run", str(data), "--out", str(out), *ARGS]) == 0  # outputs there now
    assert orjson.loads((out / "report.json").read_bytes())["counts"] == report["counts"]


def test_a_file_named_twice_is_read_once_and_said_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeds = Path(__file__).parent.parent / "seeds"
    first = sorted(seeds.glob("*.txt"))[0]
    (tmp_path / "link.txt").symlink_to(first)
    out = tmp_path / "out"
    assert main(["run", str(seeds), str(first), str(tmp_path / "link.txt"), "--out", str(out),
                 "--workers", "1"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "note:" in line]
    assert len(notes) == 1 and "read once: 1 file named more than once" in notes[0]
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["counts"]["in"] == 5 and report["notes"] == [notes[0].split("note: ", 1)[1]]


# ---------------------------------------------------------------------------------------
# One run at a time, and killed runs leave nothing running
# ---------------------------------------------------------------------------------------


def test_a_second_run_into_one_folder_is_refused_and_the_lock_dies_with_its_holder(
        corpus: Path, reference: dict[str, bytes], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    first = start_run([corpus], out, *ARGS)
    wait_until(first, out, saved(".prepared"))
    for extra in ([], ["--resume"]):
        assert main(["run", str(corpus), "--out", str(out), *ARGS, *extra]) == 2
        assert f"another dedup run (pid {first.pid}" in capsys.readouterr().err
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--resume"]) == 0
    assert outputs(out) == reference


def test_workers_exit_with_a_killed_parent_and_a_rerun_is_not_disturbed(
        corpus: Path, reference: dict[str, bytes], tmp_path: Path) -> None:
    """SIGKILL of the main process alone (the OOM killer): its workers used to live on for
    minutes and write into the next run's work folder."""
    out = tmp_path / "out"
    process = start_run([corpus], out, *ARGS)
    wait_until(process, out, saved(".prepared"))
    workers = descendants(process.pid)
    assert workers
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert still_alive(workers, within=5) == []
    assert main(["run", str(corpus), "--out", str(out), *ARGS]) == 0
    assert outputs(out) == reference


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_run_cleanly_and_resume_finishes_it(
        corpus: Path, reference: dict[str, bytes], tmp_path: Path, signum: int,
        status: int) -> None:
    out, stderr = tmp_path / "out", tmp_path / "stderr"
    process = start_run([corpus], out, *ARGS, stderr=stderr)
    wait_until(process, out, saved(".analysed"))
    workers = descendants(process.pid)
    process.send_signal(signum)
    assert process.wait(timeout=60) == status
    message = stderr.read_text()
    assert f"stopped by {signal.Signals(signum).name}" in message and "--resume" in message
    assert "Traceback" not in message
    assert still_alive(workers, within=5) == []
    assert not list(out.rglob("*.tmp")) and not (run_folder(out) / "out").exists()
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--resume"]) == 0
    assert orjson.loads((out / "report.json").read_bytes())["chunks_reused"]["analyse"] > 0
    assert outputs(out) == reference


class SignalledWhenCollected:
    """Sends this process SIGINT from its finalizer, where Python prints an exception and
    drops it: the stop a signal raises there never reaches the CLI."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_signal_whose_stop_was_dropped_still_fails_the_run(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    real_run_job = cli.run_job

    def run_job_interrupted_in_a_finalizer(*args: Any, **kwargs: Any) -> dict[str, Any]:
        SignalledWhenCollected()  # collected at once: the signal arrives in __del__
        return real_run_job(*args, **kwargs)

    monkeypatch.setattr(cli, "run_job", run_job_interrupted_in_a_finalizer)
    assert main(["run", str(corpus), "--out", str(tmp_path / "out"), *ARGS]) == 130
    assert "stopped by SIGINT" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# What a resumed run finds in its work folder is checked, never trusted
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def killed(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of a run killed after every chunk was analysed (copied by tests)."""
    out = tmp_path_factory.mktemp("killed") / "out"
    process = start_run([corpus], out, *ARGS)
    wait_until(process, out, lambda work: (any(work.glob("*.analysed"))
                                           and not any(work.glob("chunk-*.jsonl"))))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return out


def resumed_copy(killed: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the killed run's folder, and its work folder."""
    out = tmp_path / "out"
    shutil.copytree(killed, out)
    return out, run_folder(out)


def test_damaged_chunk_results_and_files_are_redone(
        corpus: Path, reference: dict[str, bytes], killed: Path, tmp_path: Path) -> None:
    """Power loss without fsync leaves empty or short files: resume used to die on
    EOFError every time."""
    out, work = resumed_copy(killed, tmp_path)
    results = sorted(work.glob("*.analysed"))
    results[0].write_bytes(b"")  # an empty result
    results[1].write_bytes(results[1].read_bytes()[:-100])  # a torn one
    signatures = sorted(work.glob("*-signatures.npy"))[2]
    signatures.write_bytes(signatures.read_bytes()[:64])  # a short data file
    sorted(work.glob("*.prepared"))[3].write_bytes(b"")
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--resume"]) == 0
    reused = orjson.loads((out / "report.json").read_bytes())["chunks_reused"]
    # chunk 3 is read again, and its analysis, intact, is used
    # (the embed pass may have begun before the kill: its chunks are whole or redone)
    assert (reused["read"], reused["analyse"]) == (len(results) - 4, len(results) - 3)
    assert outputs(out) == reference


class Planted:
    """Unpickling this creates a file: proof that a planted pickle ran."""

    def __init__(self, proof: Path) -> None:
        self.proof = proof

    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (os.system, (f"touch {self.proof}",))


def test_a_planted_pickle_in_the_work_folder_never_runs(
        corpus: Path, reference: dict[str, bytes], killed: Path, tmp_path: Path) -> None:
    out, work = resumed_copy(killed, tmp_path)
    proof = tmp_path / "pwned"
    for result in [*work.glob("*.analysed"), *work.glob("*.prepared")]:
        result.write_bytes(pickle.dumps(Planted(proof)))
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--resume"]) == 0
    assert not proof.exists()
    assert outputs(out) == reference


def test_a_result_naming_files_outside_the_work_folder_is_redone(
        corpus: Path, reference: dict[str, bytes], killed: Path, tmp_path: Path) -> None:
    out, work = resumed_copy(killed, tmp_path)
    result = sorted(work.glob("*.analysed"))[0]
    saved = load_result(result)
    assert saved is not None and tasks.load_analysed(result.with_suffix(".jsonl"))
    for planted in ("../../../etc/passwd", "/etc/passwd"):
        saved["vector_parts"] = dict.fromkeys(saved["vector_parts"], planted)
        save_result(result, saved)
        assert tasks.load_analysed(result.with_suffix(".jsonl")) is None
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--resume"]) == 0
    assert outputs(out) == reference


# ---------------------------------------------------------------------------------------
# A full disk
# ---------------------------------------------------------------------------------------


@contextmanager
def small_file_system(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` (skips where mounting is not allowed)."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_is_one_message_and_resume_then_works(
        corpus: Path, reference: dict[str, bytes], tmp_path: Path) -> None:
    with small_file_system(tmp_path / "small", "600k") as small:
        out = small / "out"
        failed = subprocess.run([sys.executable, "-m", "dedup.cli", "run", str(corpus),
                                 "--out", str(out), *ARGS], capture_output=True, text=True,
                                check=False)
        assert failed.returncode == 1, failed.stderr
        assert failed.stderr.startswith("dedup: error: No space left on device: ")
        assert str(out) in failed.stderr and "Traceback" not in failed.stderr
        assert not list(out.rglob("*.tmp"))
        moved = tmp_path / "roomy"
        shutil.copytree(out, moved)
    assert main(["run", str(corpus), "--out", str(moved), *ARGS, "--resume"]) == 0
    assert outputs(moved) == reference


def test_a_write_error_without_a_file_name_is_said_with_the_file(
        corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC from ``write()`` carries no file name: the message still names one."""
    def full(path: Path, _records: object) -> None:
        with atomic_file(path, sync=False):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tasks, "write_records", full)
    out = tmp_path / "out"
    assert main(["run", str(corpus), "--out", str(out), "--workers", "1"]) == 1
    message = capsys.readouterr().err
    assert message.startswith("dedup: error: No space left on device: ")
    assert f"{out}/{WORK_DIR}/run-" in message and "chunk-000000.jsonl" in message
    assert not list(out.rglob("*.tmp"))


def test_a_folder_made_read_only_during_the_run_is_one_message(
        corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """EACCES where the run writes (an index's folder chmod-ed meanwhile, say): the
    file and what to do, not a traceback."""
    def denied(path: Path, _records: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(tasks, "write_records", denied)
    assert main(["run", str(corpus), "--out", str(tmp_path / "out"), "--workers", "1"]) == 1
    message = capsys.readouterr().err
    assert message.startswith("dedup: error: Permission denied: ")
    assert "make it writable and run the same command with --resume" in message


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------


def test_every_numeric_setting_has_a_range_and_its_default_is_in_it() -> None:
    numeric = [entry for entry in SETTINGS if entry.kind in (int, float)]
    assert {entry.name for entry in numeric} >= {"cluster.threshold", "run.workers"}
    for entry in numeric:
        assert entry.about.limits is not None, entry.name
        assert entry.problem(entry.default) is None, entry.name
    shown, section = {}, ""
    for line in DEFAULT_CONFIG_FILE.read_text().splitlines():
        section = line[1:-1] if line.startswith("[") else section
        if found := re.match(r"(\w+) = .*  # range: (.*)$", line):
            shown[f"{section}.{found[1]}"] = found[2]
    assert shown == {entry.name: entry.about.limits.describe() for entry in numeric
                     if entry.about.limits is not None}


@pytest.mark.parametrize("setting", [
    "cluster.batch_rows=0", "cluster.n_features=0", "cluster.top_terms=-1", "cluster.knn=0",
    "cluster.threshold=nan", "cluster.window_days=-1", "language.sample_chars=0",
    "language.sample_chars=-5", "read.max_text_chars=-1", "dedup.num_perm=100000",
    "dedup.threshold=inf", "link.batch_rows=0", "run.chunk_size=0",
])
def test_a_setting_out_of_range_stops_before_anything_is_touched(
        setting: str, reference: dict[str, bytes], corpus: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for name, data in reference.items():
        (out / name).write_bytes(data)
    before = tree(out)
    assert main(["run", str(corpus), "--out", str(out), "--set", setting]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and setting.split("=")[0] in error
    assert tree(out) == before
    with pytest.raises(ValueError, match=re.escape(setting.split("=")[0])):
        load_config(overrides=[setting])


def test_run_job_checks_a_config_built_in_python(corpus: Path, tmp_path: Path) -> None:
    cfg = Config()
    bad = replace(cfg, cluster=replace(cfg.cluster, batch_rows=0))
    with pytest.raises(ValueError, match=r"cluster\.batch_rows"):
        run_job([str(corpus)], tmp_path / "out", bad)
    assert not (tmp_path / "out").exists()


def test_an_input_cut_short_while_it_is_read_publishes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # a dump truncated by its writer mid-read gave exit 0 and a partial result
    records, _ = make_corpus(seed=6, per_language=2)
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    real_fold = run_module.fold_prepared

    def cut_while_read(*args: Any) -> Any:
        folded = real_fold(*args)
        with dump.open("r+b") as handle:  # what the chunks did not get: gone
            handle.truncate(1000)
        return folded

    monkeypatch.setattr(run_module, "fold_prepared", cut_while_read)
    out = tmp_path / "out"
    assert main(["run", str(dump), "--out", str(out), "--workers", "1",
                 "--set", 'embed.model="off"']) == 2
    assert f"{dump} changed while it was read" in capsys.readouterr().err
    assert not (out / "articles.jsonl").exists() and not (out / "report.json").exists()
    dump.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))

    def removed_when_read(*args: Any) -> Any:
        folded = real_fold(*args)
        dump.unlink()  # it was read whole through its open handle: nothing is missing
        return folded

    monkeypatch.setattr(run_module, "fold_prepared", removed_when_read)
    assert main(["run", str(dump), "--out", str(out), "--workers", "1",
                 "--set", 'embed.model="off"']) == 0
    assert len((out / "articles.jsonl").read_bytes().splitlines()) == len(records)


def killed_on(task: int, doomed: int) -> int:
    """A task that kills its own worker process on task ``doomed``, as the OOM killer does."""
    if task == doomed:
        os.kill(os.getpid(), signal.SIGKILL)
    return task


def test_a_killed_local_worker_is_one_message_saying_resume(
        corpus: Path, reference: dict[str, bytes], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WorkerLost, match=r"SIGKILL.*--resume"):
        list(LocalEngine(2).map(killed_on, [(task, 3) for task in range(8)], "tasks"))
    real_analyse = run_module.analyse_chunk

    def analyse_or_die(path: Path, *args: Any) -> Any:
        if path.name.startswith("chunk-000002"):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_analyse(path, *args)

    monkeypatch.setattr(run_module, "analyse_chunk", analyse_or_die)
    out, err = tmp_path / "out", io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["run", str(corpus), "--out", str(out), *ARGS]) == 1
    assert err.getvalue().startswith("dedup: error: a worker process died")
    assert "--resume" in err.getvalue() and "Traceback" not in err.getvalue()
    monkeypatch.setattr(run_module, "analyse_chunk", real_analyse)
    assert main(["run", str(corpus), "--out", str(out), *ARGS, "--resume"]) == 0
    assert outputs(out) == reference
