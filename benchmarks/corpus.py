"""Synthetic news dumps of any size for throughput benchmarks, from what the project ships.

Real dumps cannot be shipped, but what costs time in them can be imitated:

* **Text**: ~1,500-character articles in 11 languages.  Function words come from
  ``dedup.algorithms.lexicon`` at the rate of real prose (about 40% of tokens), content words from
  a made-up Zipf vocabulary per language spelled in that language's letters, so language
  detection, shingling and TF-IDF see realistic token counts and frequency curves.
* **Events**: each event has its own topic words and named entities, a language and a
  day; its articles share those words, so clustering meets real neighbourhoods.  Event
  sizes are heavy-tailed (most have a few articles, some many).
* **Syndication**: a share of articles are near copies of an earlier article (another
  outlet, a changed headline, an edited sentence), so the LSH step has work.
* **Scraper cruft**: each outlet has template lines (a language switcher, share and
  reply widgets, a copyright line) that the cleaner must learn and remove.
* **Mess**: some records are headlines only, some raw HTML, some have no date or source.

Everything follows from the seed and the article index: article ``j`` is the same text
whatever N is, so a 10k dump is the first 10k articles of the 1M dump.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from joblib import Parallel, delayed

from dedup.algorithms.lexicon import STOPWORDS

# Share of articles per language: Ukrainian, Russian and English first, as in the dumps
# this tool is for, then the rest of Europe.
LANGUAGE_SHARES = {
    "en": 0.26, "uk": 0.16, "ru": 0.14, "de": 0.09, "fr": 0.07, "es": 0.07,
    "pl": 0.06, "it": 0.05, "pt": 0.04, "tr": 0.03, "nl": 0.03,
}
# Consonants and vowels that make each language's made-up words look like it to a
# character n-gram detector.
LETTERS = {
    "en": ("bcdfghklmnprstvwy", "aeiou"),
    "de": ("bcdfghklmnprstwzß", "aeiouäöü"),
    "fr": ("bcdfglmnprstvç", "aeiouéèàê"),
    "es": ("bcdfglmnprstvñ", "aeiouáéíó"),
    "pl": ("bcdfgjklmnprstwzłśżćń", "aeiouyąęó"),
    "it": ("bcdfglmnprstvz", "aeiouàè"),
    "pt": ("bcdfglmnprstvç", "aeiouãõáé"),
    "tr": ("bcdfghklmnprstvyzşğç", "aeıioöuü"),
    "nl": ("bdfghjklmnprstvwz", "aeiouij"),
    "ru": ("бвгджзклмнпрстфхцчшщ", "аеиоуыэюяё"),
    "uk": ("бвгґджзклмнпрстфхцчшщ", "аеиіїоуюяє"),
}
SWITCHERS = {"uk": "ua en ru", "ru": "ru ua en", "en": "en ua ru"}
WIDGETS = ["Share.", "Leave A Reply", "Exit mobile version", "Share this article"]

VOCABULARY_SIZE = 20_000
STOPWORD_SHARE = 0.4
EVENT_WORD_SHARE = 0.2
TARGET_CHARS = 1_500
FIRST_DAY = date(2024, 1, 1)
DAYS = 730
PLAN_BLOCK = 4096
PART_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class DumpShape:
    """What kind of dump to make; the defaults imitate a day-to-day multilingual scrape."""

    seed: int = 2024
    mean_event_size: float = 4.0  # articles per event, geometric
    copy_share: float = 0.12  # syndicated near copies of an earlier article
    headline_only_share: float = 0.02
    html_share: float = 0.01
    undated_share: float = 0.05
    sourceless_share: float = 0.03
    sources_per_language: int = 300


@dataclass(frozen=True, slots=True)
class Plan:
    """Global structure of the first n articles: numpy arrays, no text."""

    event: np.ndarray  # event index per article
    copy_of: np.ndarray  # index of the article copied, or -1
    source: np.ndarray  # outlet index within the language, or -1


def _word(rng: np.random.Generator, lang: str, syllables: int) -> str:
    consonants, vowels = LETTERS[lang]
    return "".join(
        consonants[rng.integers(len(consonants))] + vowels[rng.integers(len(vowels))]
        for _ in range(syllables)
    )


@cache
def vocabulary(lang: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Made-up content words of a language and their cumulative Zipf probabilities."""
    rng = np.random.default_rng([seed, sorted(LETTERS).index(lang)])
    consonants, vowels = LETTERS[lang]
    syllables = np.array([c + v for c in consonants for v in vowels], dtype=object)
    drawn = syllables[rng.integers(syllables.size, size=(VOCABULARY_SIZE * 2, 4))]
    lengths = rng.integers(1, 5, size=VOCABULARY_SIZE * 2)
    words = {"".join(row[:length]) for row, length in zip(drawn, lengths, strict=True)}
    ordered = np.array(sorted(words)[:VOCABULARY_SIZE], dtype=object)
    rng.shuffle(ordered)
    weights = 1.0 / np.arange(1, ordered.size + 1) ** 1.05
    return ordered, np.cumsum(weights) / weights.sum()


@cache
def function_words(lang: str) -> np.ndarray:
    """The language's stopwords in a fixed order."""
    return np.array(sorted(STOPWORDS[lang]), dtype=object)


@cache
def _languages() -> tuple[list[str], np.ndarray]:
    langs = list(LANGUAGE_SHARES)
    shares = np.array([LANGUAGE_SHARES[lang] for lang in langs])
    return langs, np.cumsum(shares) / shares.sum()


@lru_cache(maxsize=4096)
def event_language(event: int, seed: int) -> str:
    """Language of an event (all its original articles share it)."""
    langs, cumulative = _languages()
    u = np.random.default_rng([seed, 1, event]).random()
    return langs[int(np.searchsorted(cumulative, u))]


@lru_cache(maxsize=4096)
def event_day(event: int, seed: int) -> int:
    """Day offset of an event: events are spread evenly over two years."""
    rng = np.random.default_rng([seed, 2, event])
    return int(rng.integers(DAYS))


def make_plan(n: int, shape: DumpShape) -> Plan:
    """Which event each article covers, which are copies and of what, which outlet.

    Drawn in fixed blocks of ``PLAN_BLOCK`` articles, each from its own seed, so the plan
    of a smaller dump is a prefix of the plan of a larger one.
    """
    blocks = [_plan_block(block, shape) for block in range(-(-n // PLAN_BLOCK))]
    event = np.concatenate([b[0] for b in blocks])[:n]
    copy_of = np.concatenate([b[1] for b in blocks])[:n]
    source = np.concatenate([b[2] for b in blocks])[:n]
    for index in np.flatnonzero(copy_of >= 0):  # in order: a copy of a copy copies the first
        original = copy_of[index] if copy_of[copy_of[index]] < 0 else copy_of[copy_of[index]]
        copy_of[index] = original
        event[index] = event[original]
    return Plan(event=event, copy_of=copy_of, source=source)


def _plan_block(block: int, shape: DumpShape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([shape.seed, 0, block])
    start = block * PLAN_BLOCK
    sizes = rng.geometric(1.0 / shape.mean_event_size, size=PLAN_BLOCK)
    event = start + np.repeat(np.arange(PLAN_BLOCK), sizes)[:PLAN_BLOCK]
    copy_of = np.full(PLAN_BLOCK, -1, dtype=np.int64)
    copied = np.flatnonzero(rng.random(PLAN_BLOCK) < shape.copy_share)
    # A copy follows its original closely, as syndication does.
    copy_of[copied] = start + copied - rng.integers(1, 50, size=copied.size)
    copy_of[copy_of < 0] = -1
    copy_of[copy_of == start + np.arange(PLAN_BLOCK)] = -1
    source = rng.integers(shape.sources_per_language, size=PLAN_BLOCK)
    source[rng.random(PLAN_BLOCK) < shape.sourceless_share] = -1
    return event, copy_of, source


def _sample(rng: np.random.Generator, lang: str, seed: int, count: int,
            topic: np.ndarray) -> list[str]:
    words, cumulative = vocabulary(lang, seed)
    tokens = words[np.searchsorted(cumulative, rng.random(count))]
    stops = function_words(lang)
    u = rng.random(count)
    is_stop = u < STOPWORD_SHARE
    is_topic = (u >= STOPWORD_SHARE) & (u < STOPWORD_SHARE + EVENT_WORD_SHARE)
    tokens[is_stop] = stops[rng.integers(stops.size, size=int(is_stop.sum()))]
    tokens[is_topic] = topic[rng.integers(topic.size, size=int(is_topic.sum()))]
    return list(tokens)


def _sentence(tokens: list[str]) -> str:
    return tokens[0].capitalize() + " " + " ".join(tokens[1:]) + "."


@lru_cache(maxsize=4096)
def event_topic(event: int, lang: str, seed: int) -> np.ndarray:
    """An event's own words: topic words from the mid vocabulary and named entities."""
    rng = np.random.default_rng([seed, 3, event])
    words, _ = vocabulary(lang, seed)
    topic = words[rng.integers(300, words.size, size=12)]
    names = [_word(rng, lang, int(rng.integers(2, 4))).capitalize() for _ in range(4)]
    return np.array([*topic, *names], dtype=object)


def original_text(index: int, event: int, lang: str, seed: int) -> tuple[str, list[str]]:
    """Headline and paragraphs of an original article, sampled in one draw of tokens."""
    rng = np.random.default_rng([seed, 4, index])
    topic = event_topic(event, lang, seed)
    n_tokens = int(TARGET_CHARS * rng.uniform(0.7, 1.3) / 6.2)
    tokens = _sample(rng, lang, seed, n_tokens + 10, topic)
    cuts = 10 + np.cumsum(rng.integers(8, 22, size=n_tokens // 8 + 1))
    cuts = cuts[cuts < n_tokens + 6]
    bounds = [10, *cuts.tolist(), n_tokens + 10]
    sentences = [_sentence(tokens[a:b]) for a, b in itertools.pairwise(bounds)]
    paragraphs = [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]
    return _sentence(tokens[:int(rng.integers(6, 11))])[:-1], paragraphs


def _copy_edit(rng: np.random.Generator, title: str,
               paragraphs: list[str]) -> tuple[str, list[str]]:
    """A syndicated copy: the outlet's own headline prefix and one edited paragraph."""
    edited = list(paragraphs)
    which = int(rng.integers(len(edited)))
    words = edited[which].split()
    words[int(rng.integers(len(words)))] = words[int(rng.integers(len(words)))]
    edited[which] = " ".join(words)
    if len(edited) > 3 and rng.random() < 0.5:
        edited.pop()
    return f"{title} ({int(rng.integers(1, 99))})", edited


def outlet_name(lang: str, source: int) -> str:
    return f"{lang}-news-{source:03d}.example"


def _with_cruft(rng: np.random.Generator, lang: str, source: int,
                paragraphs: list[str]) -> list[str]:
    """The outlet's template lines around the article, as scrapers leave them."""
    site = outlet_name(lang, source)
    head = [SWITCHERS[lang]] if lang in SWITCHERS else []
    tail = [WIDGETS[source % len(WIDGETS)], f"© {2024 + source % 2} {site}. All rights reserved."]
    if rng.random() < 0.5:
        tail.insert(0, WIDGETS[(source + 1) % len(WIDGETS)])
    return [*head, *paragraphs, *tail]


def _as_html(title: str, paragraphs: list[str], site: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>{title} | {site}</title></head><body>"
            f"<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
            f"<article><h1>{title}</h1>{body}</article>"
            f"<footer>© {site}</footer></body></html>")


def article(index: int, plan: Plan, shape: DumpShape) -> dict[str, Any]:
    """Record ``index`` of the dump, as a JSONL object."""
    seed = shape.seed
    original = int(plan.copy_of[index]) if plan.copy_of[index] >= 0 else index
    event = int(plan.event[index])
    lang = event_language(event, seed)
    title, paragraphs = original_text(original, event, lang, seed)
    rng = np.random.default_rng([seed, 5, index])
    if original != index:
        title, paragraphs = _copy_edit(rng, title, paragraphs)
    record: dict[str, Any] = {"id": f"b{index:09d}", "title": title}
    source = int(plan.source[index])
    if source >= 0:
        record["source"] = outlet_name(lang, source)
        record["url"] = f"https://{record['source']}/news/{index}"
        paragraphs = _with_cruft(rng, lang, source, paragraphs)
    u = rng.random()
    if u < shape.headline_only_share:
        record["text"] = ""
    elif u < shape.headline_only_share + shape.html_share:
        record["html"] = _as_html(title, paragraphs, record.get("source", "site.example"))
        del record["title"]
    else:
        record["text"] = "\n\n".join(paragraphs)
    if rng.random() >= shape.undated_share:
        day = event_day(event, seed) + int(rng.integers(0, 3))
        record["published"] = (FIRST_DAY + timedelta(days=day)).isoformat() + "T08:00:00Z"
    return record


def generate(n: int, shape: DumpShape, start: int = 0,
             plan: Plan | None = None) -> Iterator[dict[str, Any]]:
    """Records ``start`` to ``n - 1`` of the dump."""
    plan = plan or make_plan(n, shape)
    for index in range(start, n):
        yield article(index, plan, shape)


def _write_part(path: Path, start: int, stop: int, plan: Plan, shape: DumpShape) -> None:
    with path.open("wb") as out:
        for record in generate(stop, shape, start, plan):
            out.write(orjson.dumps(record) + b"\n")


def write_dump(path: Path, n: int, shape: DumpShape, workers: int = 2) -> Path:
    """Write the dump as JSONL, parts generated in parallel; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    plan = make_plan(n, shape)
    bounds = [*range(0, n, PART_SIZE), n]
    parts = [path.with_name(f"{path.name}.part{i}") for i in range(len(bounds) - 1)]
    Parallel(n_jobs=workers)(delayed(_write_part)(part, a, b, plan, shape)
                             for part, (a, b) in zip(parts, itertools.pairwise(bounds),
                                                     strict=True))
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, out)
            part.unlink()
    partial.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int, help="number of records")
    parser.add_argument("out", type=Path, help="output .jsonl")
    parser.add_argument("--seed", type=int, default=DumpShape().seed)
    args = parser.parse_args(argv)
    # Workers must find the functions by module name, not as __main__'s.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import corpus

    corpus.write_dump(args.out, args.n, corpus.DumpShape(seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
