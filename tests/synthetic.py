"""A generated multilingual news corpus with known duplicates and events, for tests.

Each event has its own made-up entities (a person, a city, an organisation, a figure)
written into sentence frames of its language; articles about one event use different
frames and order, so they are similar but not copies.  Syndicated copies add scraper cruft,
a prefixed headline and a small edit.  Everything is derived from a seed: no downloads.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

FRAMES = {
    "en": [
        "{person} arrived in {city} on Tuesday for talks with the {org}.",
        "Officials in {city} said the {org} would publish its plan within {n} days.",
        "According to {person}, the agreement covers {n} projects across the region.",
        "The {org} confirmed that {person} will chair the next round of negotiations.",
        "Residents of {city} gathered outside the building while the meeting went on.",
        "Critics of the {org} argue the deal leaves too many questions unanswered.",
        "{person} told reporters that progress had been made but details remain open.",
        "The talks in {city} are expected to continue next week with {n} delegations.",
    ],
    "de": [
        "{person} ist am Dienstag zu Gesprächen mit der {org} in {city} eingetroffen.",
        "Beamte in {city} erklärten, die {org} werde ihren Plan binnen {n} Tagen vorlegen.",
        "Nach Angaben von {person} umfasst die Vereinbarung {n} Projekte in der Region.",
        "Die {org} bestätigte, dass {person} die nächste Verhandlungsrunde leiten wird.",
        "Anwohner aus {city} versammelten sich vor dem Gebäude, während das Treffen lief.",
        "Kritiker der {org} meinen, die Vereinbarung lasse zu viele Fragen offen.",
        "{person} sagte Journalisten, es gebe Fortschritte, doch Einzelheiten seien offen.",
        "Die Gespräche in {city} sollen nächste Woche mit {n} Delegationen weitergehen.",
    ],
    "uk": [
        "{person} прибув до міста {city} у вівторок на переговори з {org}.",
        "Посадовці міста {city} заявили, що {org} оприлюднить свій план протягом {n} днів.",
        "За словами {person}, угода охоплює {n} проєктів у регіоні.",
        "{org} підтвердила, що {person} очолить наступний раунд переговорів.",
        "Мешканці міста {city} зібралися біля будівлі, поки тривала зустріч.",
        "Критики {org} вважають, що угода залишає забагато питань без відповіді.",
        "{person} сказав журналістам, що є прогрес, але подробиці ще не узгоджені.",
        "Переговори в місті {city} продовжаться наступного тижня за участі {n} делегацій.",
    ],
    "ru": [
        "{person} прибыл в город {city} во вторник на переговоры с {org}.",
        "Чиновники города {city} заявили, что {org} опубликует свой план в течение {n} дней.",
        "По словам {person}, соглашение охватывает {n} проектов в регионе.",
        "{org} подтвердила, что {person} возглавит следующий раунд переговоров.",
        "Жители города {city} собрались у здания, пока продолжалась встреча.",
        "Критики {org} считают, что соглашение оставляет слишком много вопросов.",
        "{person} сказал журналистам, что прогресс есть, но детали еще не согласованы.",
        "Переговоры в городе {city} продолжатся на следующей неделе с участием {n} делегаций.",
    ],
}
TITLES = {
    "en": "{person} holds talks with the {org} in {city}",
    "de": "{person} verhandelt mit der {org} in {city}",
    "uk": "{person} провів переговори з {org} у місті {city}",
    "ru": "{person} провел переговоры с {org} в городе {city}",
}
# The frames each article of an event uses: rewrites share at most half their sentences,
# so they are about the same event without being copies of each other.
FRAME_SETS = [(0, 1, 2, 3), (4, 5, 6, 7), (0, 2, 5, 7)]
CRUFT = ["Share.", "Leave A Reply", "ua en ru", "Exit mobile version", "Comments", "Advertisement"]
SYLLABLES = ["ka", "lo", "vi", "ren", "tor", "mi", "sa", "del", "bru", "ne", "zo", "fa", "gri"]


@dataclass(frozen=True, slots=True)
class Event:
    """One real-world event: its language, entities and date."""

    key: str
    lang: str
    entities: dict[str, str]
    day: date


def made_up_name(rng: random.Random, parts: int) -> str:
    """A capitalised nonsense word, unique enough to identify an event."""
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def make_events(rng: random.Random, per_language: int) -> list[Event]:
    """Events with distinct entities, spread over two years."""
    events = []
    for lang in FRAMES:
        for k in range(per_language):
            entities = {"person": f"{made_up_name(rng, 2)} {made_up_name(rng, 3)}",
                        "city": made_up_name(rng, 3), "org": f"{made_up_name(rng, 2)}-Union",
                        "n": str(rng.randint(3, 90))}
            day = date(2024, 1, 1) + timedelta(days=rng.randint(0, 700))
            events.append(Event(f"{lang}-{k}", lang, entities, day))
    return events


def article(rng: random.Random, event: Event, frame_set: tuple[int, ...]) -> tuple[str, str]:
    """A title and a body about ``event``: its frames of ``frame_set`` in random order."""
    frames = [FRAMES[event.lang][i] for i in rng.sample(frame_set, len(frame_set))]
    body = "\n".join(f.format(**event.entities) for f in frames)
    return TITLES[event.lang].format(**event.entities), body


def syndicated_copy(rng: random.Random, title: str, text: str) -> tuple[str, str]:
    """A copy of an article as another site publishes it: cruft, new headline, one edit."""
    lines = text.split("\n")
    words = lines[0].split(" ")
    words.insert(len(words) // 2, "reportedly")
    lines[0] = " ".join(words)
    lines = [rng.choice(CRUFT[2:3]), *lines, *rng.sample(CRUFT[:2] + CRUFT[3:], 2)]
    return f"UPDATE: {title}", "\n".join(lines)


def make_corpus(seed: int = 7, per_language: int = 4, articles_per_event: int = 3,
                dated: bool = True) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """Records for ``dedup run`` and the truth: id -> {event, copy_of, lang}.

    Every event gets ``articles_per_event`` (at most 3) independent articles, the first of which is
    also syndicated once (a near copy) and published once more verbatim (an exact copy).
    """
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    truth: dict[str, dict[str, str]] = {}
    for event in make_events(rng, per_language):
        for a in range(articles_per_event):
            title, text = article(rng, event, FRAME_SETS[a])
            rid = f"{event.key}-a{a}"
            add(records, truth, rid, title, text, event, rid, dated)
            if a == 0:
                near_title, near_text = syndicated_copy(rng, title, text)
                add(records, truth, f"{rid}-near", near_title, near_text, event, rid, dated)
                add(records, truth, f"{rid}-exact", title, text, event, rid, dated)
    rng.shuffle(records)
    return records, truth


def add(records: list[dict[str, Any]], truth: dict[str, dict[str, str]], rid: str, title: str,
        text: str, event: Event, copy_of: str, dated: bool) -> None:
    """Append one record and its truth row."""
    record: dict[str, Any] = {"id": rid, "title": title, "text": text,
                              "source": f"site-{len(records) % 5}"}
    if dated:
        record["published"] = event.day.isoformat()
    records.append(record)
    truth[rid] = {"event": event.key, "copy_of": copy_of, "lang": event.lang}
