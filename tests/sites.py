"""Generated news sites whose furniture and articles are made of invented words, in several
scripts: what the boilerplate learner sees, without a string it could have memorised.

Each site has its own furniture, in the script of its pages: a fixed header line, fixed
calls, a copyright line with the year and the site's name, bylines with a person's name
and the site's, date stamps, and caption-like lines after a fixed label with a varying
text.  Some furniture lines are shared by several sites (a widget's label).  Articles are
invented sentences; a story's articles share some short quotes, and some articles are
syndicated verbatim to other sites, where they get that site's furniture.  Everything
comes from a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

ALPHABETS = {
    "latin": "abdefgiklmnoprstuvz",
    "cyrillic": "бвгдзиклмнопрстуфя",
    "greek": "αβγδεζηικλμνξοπρστυφ",
}


@dataclass(slots=True)
class Site:
    """One site's name and furniture (templates with {name}, {site}, {year}, {day}...)."""

    name: str
    script: str
    header: list[str]
    footer: list[str]
    inline: list[str]


@dataclass(slots=True)
class Corpus:
    """Records for the job and the truth: per record, its furniture and content lines."""

    records: list[dict[str, Any]] = field(default_factory=list)
    furniture: dict[str, list[str]] = field(default_factory=dict)
    content: dict[str, list[str]] = field(default_factory=dict)
    shared_content: set[str] = field(default_factory=set)  # lines several articles share


class Words:
    """Invented words of one script."""

    def __init__(self, rng: random.Random, script: str) -> None:
        self.rng = rng
        self.alphabet = ALPHABETS[script]

    def word(self) -> str:
        """A lower-case invented word."""
        return "".join(self.rng.choice(self.alphabet) for _ in range(self.rng.randint(3, 9)))

    def name(self) -> str:
        """A capitalised invented word."""
        return self.word().capitalize()

    def phrase(self, words: int) -> str:
        """Invented words, the first capitalised."""
        return " ".join([self.name(), *(self.word() for _ in range(words - 1))])

    def sentence(self, words: int) -> str:
        """An invented sentence with a name in it."""
        parts = [self.word() for _ in range(words)]
        parts[self.rng.randrange(1, words)] = self.name()
        return " ".join([parts[0].capitalize(), *parts[1:]]) + "."


def make_site(rng: random.Random, script: str, shared: list[str]) -> Site:
    """A site with its name and furniture in ``script``."""
    words = Words(rng, script)
    label = words.name()
    return Site(
        name=f"{words.name()} {words.name()}",
        script=script,
        header=[" | ".join(words.name() for _ in range(4)), rng.choice(shared)],
        footer=[words.phrase(4) + "!", f"© {{year}} {{site}}. {words.phrase(3)}",
                words.phrase(2), rng.choice(shared)],
        inline=["{person} | {site}",
                f"{words.name()} {{day}}.{{month}}.{{year}} {{hour}}:{{minute}}",
                f"{label}: {{text}}"],
    )


def fill(template: str, rng: random.Random, words: Words, site: Site) -> str:
    """One furniture line from its template."""
    return template.format(year=rng.choice([2024, 2025]), site=site.name,
                           person=f"{words.name()} {words.name()}", day=rng.randint(1, 28),
                           month=rng.randint(1, 12), hour=rng.randint(0, 23),
                           minute=f"{rng.randint(0, 59):02d}", text=words.phrase(6))


def make_sites_corpus(seed: int = 3, sites_per_script: int = 4, stories: int = 12,
                      articles_per_story: int = 3, copies: int = 2) -> Corpus:
    """Sites in every script, each publishing stories in its script, some syndicated."""
    rng = random.Random(seed)
    corpus = Corpus()
    for script in ALPHABETS:
        shared = [Words(rng, script).phrase(3) for _ in range(2)]
        sites = [make_site(rng, script, shared) for _ in range(sites_per_script)]
        words = Words(rng, script)
        for story in range(stories):
            quotes = [words.sentence(6) for _ in range(2)]  # short lines a story repeats
            for number in range(articles_per_story):
                paragraphs = [" ".join(words.sentence(rng.randint(10, 16)) for _ in range(3))
                              for _ in range(rng.randint(3, 5))]
                quote = quotes[number % 2]
                corpus.shared_content.add(quote)
                lines = [*paragraphs[:2], quote, *paragraphs[2:]]
                publishers = rng.sample(sites, 1 + (copies if number == 0 else 0))
                if number == 0:
                    corpus.shared_content.update(lines)
                for copy, site in enumerate(publishers):
                    add_article(corpus, rng, words, site, f"{script}-{story}-{number}-{copy}",
                                words.phrase(5), lines)
    rng.shuffle(corpus.records)
    return corpus


def add_article(corpus: Corpus, rng: random.Random, words: Words, site: Site, rid: str,
                title: str, lines: list[str]) -> None:
    """One page: the site's header, the lines with inline furniture among them, footer."""
    furniture: list[str] = []
    page: list[str] = []

    def add(line: str, is_furniture: bool) -> None:
        page.append(line)
        if is_furniture:
            furniture.append(line)

    for template in site.header:
        add(fill(template, rng, words, site), True)
    for index, line in enumerate(lines):
        add(line, False)
        if index == 0 or rng.random() < 0.3:
            add(fill(rng.choice(site.inline), rng, words, site), True)
    for template in site.footer:
        add(fill(template, rng, words, site), True)
    corpus.records.append({"id": rid, "title": title, "text": "\n".join(page),
                           "source": site.name})
    corpus.furniture[rid] = furniture
    corpus.content[rid] = list(lines)
