"""Boilerplate learned from the corpus: the lines a site shows on many of its pages.

A line is boilerplate when it -- or its *shape*, the line with numbers, dates, capitalised
names and the outlet's own name masked, its *label*, the few words before a colon, or its
*frame*, the fixed part around a headline, a caption or names (``_MARKERS``) --
recurs across several unrelated articles and on a good share of the pages of the site
(and language) that shows it.  Nothing here names a string: what is learned is what the
dump repeats, so it works on sites, languages and scripts never seen before.

Syndicated copies and quotes repeat lines too, but within one story.  The articles that
hold a line are therefore grouped into *stories*: articles that share a *story token*
(one of four min-hashes of the byte windows of their longest lines, which copies share)
are one story, and a line needs ``boilerplate_min_stories`` of them.  A generic sentence
("He was 75.") recurs across stories too, but on a tiny share of each site's pages, where
a site's furniture is on most of them: a (line, site) pair needs
``boilerplate_min_share`` of the site's articles in that language (or writing system),
and as many of them as it needs stories, unless ``boilerplate_min_sites`` sites show it.

Learning is a shuffle, like the LSH step.  The map side (:func:`map_lines`, in the
workers' first pass) saves each chunk's line keys sorted, with the rows holding them,
and a table of its articles (site groups, story tokens).  A task per key range
(:func:`learn_key_range`) gathers its slice of every chunk's keys and decides which
(key, group) pairs are boilerplate.  Memory is bounded by a task's key range, never by
the number of distinct lines in the dump, and nothing depends on how the input was cut
into chunks: every count is a sum over articles.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import mmh3
import numpy as np

from dedup.algorithms.arrays import components
from dedup.algorithms.hashing import span_hashes, text_bytes
from dedup.algorithms.lexicon import DATE_WORDS, STAMP_WORDS
from dedup.io.spool import save_array

# Kinds of key a line has (saved as their index in KINDS).
LINE, SHAPE, LABEL, FRAME = "line", "shape", "label", "frame"
KINDS = (LINE, SHAPE, LABEL, FRAME)
_KIND_INDEX = {kind: index for index, kind in enumerate(KINDS)}
# Story tokens per article: min-hashes of its text's byte windows under this many
# permutations.  Copies share most windows, so they share a token with high probability
# (one minus the chance that all four miss: 0.2^4 for copies sharing 80% of windows).
STORY_TOKENS = 4
_TOKEN_MULTIPLIERS = np.array([0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9,
                               0x94D049BB133111EB, 0xD6E8FEB86659FD93], dtype=np.uint64)
# Placeholders of a shape (control characters: no real line holds them).
_SITE, _NUMBER, _DATE, _NAME, _LINK = "\x01", "\x02", "\x03", "\x04", "\x05"
_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
# An e-mail or web address: one variable part, like a name ("Contact: ann@site.example").
_ADDRESS = re.compile(r"\S+@\S+\.\w+|(?:https?://|www\.)\S+", re.IGNORECASE)
# "Label: rest": a label of at most this many words and characters (the site's name
# counting as one word).  Only a colon: bars and arrows also set off a table's cells,
# bullets and routes ("Labour | 412,330", "→ Turnout rose").
_LABEL = re.compile(r"^([^:：]{1,40}?)\s*[:：]\s*\S")
_MAX_LABEL_WORDS = 3
# A label's rest that is a sentence of its own -- it ends like one and has words of its
# own -- is content in a fixed format ("Q: ...?", "Why it matters: ... .", an interview's
# "Antwort: ..."), however many pages show the label; furniture after a label is names,
# dates, tags or a headline ("Photo: NAME / AGENCY", "Read more: TITLE") -- or a
# headline written as a sentence, which names what its page does not (a teaser's frame).
_SENTENCE_ENDS = frozenset(".!?…。！？؟")
_CLOSING = "\"'”’»)]"  # what may follow a sentence's last mark
_SENTENCE_LOWER_WORDS = 3  # words written lower-case (a cased script)
_SENTENCE_LETTERS = 10  # or letters of a script without case
_CASELESS_FROM = "\u0590"  # where the scripts without case begin (Hebrew, then Arabic...)
# The bit of a line key that marks a sentence: a sentence on five small sites' few pages
# is more likely a quote that different reports of one event share (their story tokens
# differ: they are not copies) than furniture, which is names, calls and dates.
SENTENCE_BIT = 1
# The bit that marks a line naming its own site that is not a sentence: the site speaking
# of itself (a call to follow it, "Also on SITE: <Headline>", a byline with its name) is
# furniture on fewer of its pages than other lines need (``boilerplate_site_min_share``);
# a sentence naming it ("X did not respond to a SITE request for comment.") is content.
SITE_BIT = 2
# The bit that marks a *loose* key, one that joins lines of different words: a teaser's
# frame (a label before a sentence naming what its page does not, see
# :func:`_sentence_label`) and a loose shape (see :func:`shapes_of`).  A format of a
# site's own text ("Background: <...>.") names something new on some of its pages too,
# and title-case headings of one form ("What the <Ruling Means>") look alike once their
# words are one name, so that a loose key needs more of a site's pages
# (``boilerplate_loose_min_share``).
LOOSE_BIT = 4
_FLAG_BITS = SENTENCE_BIT | SITE_BIT | LOOSE_BIT
# A shape says something only if it keeps a word of two letters or more, or names the
# site or a date: "\x04 \x04" (two capitalised words) would match every short heading,
# "\x05" every line of a bare link (a list of sources).
_TELLING_SHAPE = re.compile(rf"[^\W\d_]{{2}}|[{_SITE}{_DATE}]")
# Furniture is a few fixed words around the variable parts ("Updated <date>", "© <year>
# <site>. All rights reserved."); a line keeping more words than this is a sentence with
# names in it, and templated sentences (results, market reports) are content.
_MAX_SHAPE_WORDS = 4
_KEPT_WORD = re.compile(r"[^\W\d_]+")
# ... and is short: a longer line (a list of tags, of names) is left to its label.
_MAX_SHAPE_CHARS = 80
# A line naming its site and ending with its name or an address, too long for a shape,
# is known by this many words at its start and its last (:func:`site_ending`).
_ENDS_WORDS = 4
# A date or time in any of its forms ("28 Dec 2025 06:54", "12/26/2024 11:00", "3. März
# 2024, 14.05"), once masked: numbers and calendar words in a row, with the marks between.
_WHEN = re.compile(f"[{_NUMBER}{_DATE}](?:[ \u00a0.,/:\\-]*[{_NUMBER}{_DATE}])+")
# What a stamp keeps besides its dates: a word (of two letters or more) or the site.
_TELLING_STAMP = re.compile(rf"[^\W\d_]{{2}}|{_SITE}")
# Names in a row, with at most two particles of one or two letters between them ("Ana
# de la Cruz", "Agencia Ibérica de Noticias"): one name in a shape, however many words
# each page's has.  Not the longer particles ``_NAME_RUN`` allows in a line of names: in
# a sentence a short word between capitalised ones is as often a verb ("ist", "est").
_NAMES_IN_A_ROW = re.compile(
    f"{_NAME}(?:[ \u00a0]+(?:[^\\W\\d_]{{1,2}}[ \u00a0]+){{0,2}}{_NAME})+")


# *Frames*: the fixed part of a line whose rest is a headline, a caption or names -- a
# lead-in before a marker ("→ <headline>", "RELATED | <headline>") or a label naming the
# site before a colon ("Also on <SITE>: <headline>."), a credit after the caption
# ("<caption>. Photo by <Name>", "<caption> (Credit: <Name>)"), or a line of names and
# separators ("<Name> / <Name>", "#<Name> #<Name>"), or a label before a headline
# written as a sentence ("MORE: <A headline.>", a teaser).  Content has such lines too, but
# in runs: a table's rows, a list's bullets, a post's hashtags, a fixture list.  So a
# line's frame counts only where neither neighbouring line has a frame of its family
# (:func:`map_lines`); furniture stands alone between paragraphs.  A frame's family is its
# form and its marker or separator ("lead|", "names#", "credit", "teaser").
_MARKERS = "|→►▶▲▼•"
_LEAD, _CREDIT, _NAMES = "lead", "credit", "names"  # the forms of a frame
_TEASER = "teaser"  # a label before a sentence that names what its page does not
# Dashes and guillemets are left out: they open quotes and dialogue lines ("— Yes, he
# said.", "»Wir ...«") and datelines ("KYIV — ...").
_LEAD_IN = re.compile(rf"^([^{_MARKERS}]{{0,30}}?)\s*([{_MARKERS}])\s*(?=\S)")
_MAX_LEAD_IN_WORDS = 3
# A credit ending a line: a parenthesis, or a part after the last sentence without an
# end of its own.
_MIN_CREDIT_CHARS = 2
_MAX_PARENTHESIS_CHARS = 40
_MAX_PART_CHARS = 50
_MAX_CREDIT_WORDS = 6
# A line of names (or tags) and separators: its shape keeps no word, so the lines need a
# separator and two names to make a frame.
_SEPARATORS = "/#•·"
# Between names only, a bar, comma or dash separates them too: a byline's form ("Ann
# Lee | Wire Service", "Ann Lee, Wire Service") and a match report's header's ("Crystal
# Palace | Aston Villa").  The header names what its page is about, the byline a person
# and an outlet the page does not name again: such a frame counts only on a page that
# does not (:func:`_about`).  Tags name what the page is about and are furniture still.
_NAME_SEPARATORS = "|,—–"
_SEPARATOR = re.compile(f"[{_SEPARATORS}{_NAME_SEPARATORS}]")
_TAGS = "#"
# What a line needs for any frame but a credit: a marker or a separator.
_MARK_OR_SEPARATOR = re.compile(f"[{_MARKERS}{_SEPARATORS}]")
_NAME_SEPARATOR = re.compile(f"[{_NAME_SEPARATORS}]")
_HASHTAG = re.compile(r"#\w+")
# A name of several words, with particles ("Ana de la Cruz", "Agencia Ibérica de
# Noticias"): one name in a names line, however many words each page's has.
_NAME_RUN = re.compile(f"{_NAME}(?:[ \u00a0]+(?:[^\\W\\d_]{{1,3}}[ \u00a0]+)*{_NAME})+")
_PLACEHOLDERS = frozenset((_SITE, _NUMBER, _DATE, _NAME, _LINK))
_CREDITED = frozenset((_SITE, _NAME, _LINK))  # a credit names a site, a person or an address
# A credit's names, in a row or around slashes ("<Name>/<Name>", a photographer and an
# agency), are one name: each page's credit has other names, in other numbers.
_CREDITED_NAMES = re.compile(f"{_NAME}(?:[ \u00a0]*/[ \u00a0]*{_NAME})+")
# A sentence after a lead-in is about its page when this share of its words (of four
# letters or more) are on the page's other lines.
_ABOUT_SHARE = 0.5
_LONG_WORD = re.compile(r"[^\W\d_]{4,}")
# Frames are looked for on short lines only: a lead paragraph is longer.
_MAX_FRAME_CHARS = 160


def stable_hash(text: str) -> int:
    """A 64-bit MurmurHash3 of the text: equal in every process and run, unlike
    ``hash()``, and a quarter of blake2b's cost (every short line of the dump has
    keys)."""
    return int(mmh3.hash64(text_bytes(text), signed=False)[0])


@cache
def _date_words() -> frozenset[str]:
    """Month and weekday names (and the like) of the languages the cleaner knows, less
    the short words and the articles among them ("de", "las", "del")."""
    return frozenset(word for word in DATE_WORDS if len(word) >= 3) - _FUNCTION_WORDS


# Words of the date vocabulary that are common words too: masking them would turn
# ordinary lines into shapes.
_FUNCTION_WORDS = frozenset({"del", "las", "last", "mis", "stand", "jour", "los"})


def shape_of(line: str, site: str) -> str | None:
    """The line with its variable parts masked, or None when nothing was masked or what
    is left says nothing.

    Digits become one placeholder, month and day names another, the site's own name a
    third, e-mail and web addresses a fourth, and capitalised words (names, outlets,
    places) a fifth -- as do words of a script without case in a line that starts in a
    cased one (an outlet's name in Chinese in an English byline) -- except the first
    word, which is capitalised in any line, unless the line names the site (then it is a
    byline or a credit, and its first word a name) or the next word is capitalised too
    (a name).  Names in a row are one name where they are names (see :func:`shapes_of`).
    """
    masked = _masked(line, site)
    return None if masked is None else _shape_and_loose(line, masked)[0]


def shapes_of(line: str, site: str) -> tuple[str | None, str | None, str | None]:
    """The line's shape (:func:`shape_of`), its *loose* shape and its stamp
    (:func:`stamp_of`), or None for each; the line is masked once.

    A shape makes names in a row one name, however many words each page's has, where
    the line's capitalised words are names: where they make two groups (a person and
    an outlet, "Written by <Name> for <Name>") or the line says something in lower
    case around them ("with reporting by <Name>").  In a line of one group after a few
    short words they may be a title-case heading's words ("What the Ruling Means") as
    well as a name ("Written by Ann Lee"): its shape keeps how many there are, and its
    loose shape makes them one, which a site's pages need more often (``LOOSE_BIT``).
    """
    masked = _masked(line, site)
    if masked is None:
        return None, None, None
    dated = (_DATE in masked or masked.count(_NUMBER) > 1) and \
        any(_date_run(run) == _DATE for run in _WHEN.finditer(masked))
    return (*_shape_and_loose(line, masked), stamp_of(line, site) if dated else None)


def _shape_and_loose(line: str, shape: str) -> tuple[str | None, str | None]:
    """The shape and the loose shape of a line, from the line masked (see
    :func:`shapes_of`)."""
    if shape.count(_NAME) < 2:
        return _telling(shape), None
    collapsed = _NAMES_IN_A_ROW.sub(_NAME, shape)
    if collapsed == shape:
        return _telling(shape), None
    if collapsed.count(_NAME) >= 2 or \
            any(word[:1].islower() and _LONG_WORD.match(word) for word in line.split()):
        return _telling(collapsed), None
    return _telling(shape), _telling(collapsed)


def _telling(shape: str) -> str | None:
    """The shape, if it says something and is short enough for a template."""
    if not _TELLING_SHAPE.search(shape) or len(_KEPT_WORD.findall(shape)) > _MAX_SHAPE_WORDS:
        return None
    return shape


def _masked(line: str, site: str) -> str | None:
    """The line with its variable parts masked (see :func:`shape_of`), or None when it is
    long, a sentence, or nothing was masked."""
    if len(line) > _MAX_SHAPE_CHARS:
        return None
    words = line.split()
    if sum(1 for word in words if word[0].islower()) > _MAX_SHAPE_WORDS:
        return None  # a sentence: found before the costlier masking below
    shape = _mask_words(line, site)
    return None if shape == line.casefold() else shape


def _mask_words(line: str, site: str, dates: frozenset[str] | None = None) -> str:
    """The line, case folded, with its variable parts masked (see :func:`shape_of`);
    ``dates``: the words masked as dates (all of the date words if None)."""
    text = line.casefold()
    if "@" in line or "://" in line or "www." in text:
        line = _ADDRESS.sub(_LINK, line)
    line = site_masked(line, site)
    names_site = _SITE in line
    first_letter = next((ch for ch in line if ch.isalpha()), "")
    cased = first_letter.islower() or first_letter.isupper()
    stamps = dates is not None  # stamp words are not among the dates: they are kept
    if dates is None:
        dates = _date_words()

    def masked(word: re.Match[str]) -> str:
        token = word.group()
        if not token.isalpha() and _DIGIT.search(token) is not None:
            return _NUMBER
        folded = token.casefold()
        if folded in dates:
            return _DATE
        if stamps and folded in STAMP_WORDS:  # a word of a stamp's template
            return folded
        initial = token[0]
        if (initial.isupper() or (cased and not initial.islower())) and \
                (word.start() > first_word or names_site or _starts_name(line, word.end())):
            return _NAME
        return folded

    first_word = len(line) - len(line.lstrip())
    return _WORD.sub(masked, line)


def stamp_of(line: str, site: str) -> str | None:
    """A date stamp's template, whatever form its dates take: the line's shape with its
    stamp words kept ("updated", "veröffentlicht") and each date or time, in any form,
    one placeholder: "Updated 28 Dec 2025 06:54" and "Updated 12/26/2024 11:00" are both
    "updated <date>".  A site writes its stamps' dates in several forms, each form then
    on too few of its pages to be learned.  None where no date was merged, and where
    nothing but dates is left: a line that is only a date is a report's own dateline as
    often as furniture, and keeps its shape, one per form.  (A line's keys ask for its
    stamp only where its shape has a date: :func:`shapes_of`.)"""
    if len(line) > _MAX_SHAPE_CHARS or _DIGIT.search(line) is None:
        return None
    masked = _mask_words(line, site, _calendar_words())
    stamp = _WHEN.sub(_date_run, masked)
    if stamp == masked or _TELLING_STAMP.search(stamp) is None or \
            sum(1 for word in _KEPT_WORD.findall(stamp)
                if word not in STAMP_WORDS) > _MAX_SHAPE_WORDS:
        return None
    return stamp


def _date_run(found: re.Match[str]) -> str:
    """A run of masked numbers and calendar words as one date, if it is a date or a
    time: a calendar word, three numbers (day, month, year) or a time; a score ("3-1")
    or a figure ("4,312") is left as it is."""
    run = found.group()
    if _DATE in run or run.count(_NUMBER) >= 3 or f"{_NUMBER}:{_NUMBER}" in run:
        return _DATE
    return run


@cache
def _calendar_words() -> frozenset[str]:
    """The date words that are part of a date (months, days, times), not the words
    that say what the date is (``STAMP_WORDS``)."""
    return _date_words() - STAMP_WORDS


def site_ending(line: str, site: str) -> str | None:
    """A line naming its site (``site`` is empty if it does not) that ends with the
    site's name or an address, known by its first words and its last, its variable parts
    masked and names in a row one name: the template of a site's notes on its authors
    ("<Name> is a reporter covering <beat> for <SITE>.", "<Name> has written for <SITE>
    since <year>. Contact: <address>"), whatever fills its middle.  None for a short
    line: its shape is its template.

    The end matters: formulas of reports that open with the site's name and end alike
    ("According to <SITE> sources, ... on <day>.", "<SITE> has asked ... for
    comment.") are the page's news, and a site may write them on a quarter of its pages.
    Such a line is furniture on ``clean.boilerplate_min_share`` of its site's pages, as
    any sentence (not the share of lines naming the site)."""
    if not site:
        return None
    words = _NAMES_IN_A_ROW.sub(_NAME, _mask_words(line, site)).split()
    if len(words) <= _ENDS_WORDS + 1 or (_SITE not in words[-1] and _LINK not in words[-1]):
        return None
    return f"{' '.join(words[:_ENDS_WORDS])} \u2026 {words[-1]}"


def _starts_name(line: str, end: int) -> bool:
    """Whether the word ending at ``end`` is followed by a capitalised one: a line's
    first word is then the start of a name ("Ann Lee | Outlet"), not of a sentence."""
    rest = line[end:end + 1]
    return rest in (" ", "\u00a0") and line[end:].lstrip(" \u00a0")[:1].isupper()


def site_masked(line: str, site: str) -> str:
    """The line with its site's name (any case, as a word of its own) as one
    placeholder."""
    if not site or site.casefold() not in line.casefold():
        return line
    return _site_name(site).sub(_SITE, line)


def names(line: str, site: str) -> bool:
    """Whether the line names the site: its name in any case, as a word of its own ("AP"
    is not in "happened", "stern" not in "gestern")."""
    return site_masked(line, site) != line


@cache
def _site_name(site: str) -> re.Pattern[str]:
    """The site's name as a word of its own, any case."""
    return re.compile(rf"(?<!\w){re.escape(site)}(?!\w)", re.IGNORECASE)


def frames_of(line: str, site: str) -> list[tuple[str, str]]:
    """The line's frames (see ``_MARKERS``): (family, frame text) pairs.  A line can have
    a lead-in and a credit."""
    masked = site_masked(line, site)
    return _frames(line, site, masked, _colon_label(masked))


def _frames(line: str, site: str, masked: str,
            colon: tuple[str, bool] | None) -> list[tuple[str, str]]:
    """:func:`frames_of`, given the line with its site's name masked and that line's
    :func:`_colon_label`, which the line's other keys need too."""
    if len(line) > _MAX_FRAME_CHARS:
        return []
    if not _may_have_frame(line, site):  # a teaser's label at most
        label = _sentence_label(colon)
        return [] if label is None else [(_TEASER, f"{_TEASER}\0{label}")]
    found = []
    if (lead := _lead_in(masked)) is not None:
        found.append((f"{_LEAD}{lead[-1]}", f"{_LEAD}\0{lead}"))
    elif site and (lead := _site_lead_in(colon)) is not None:
        found.append((f"{_LEAD}:", f"{_LEAD}\0{lead}"))
    elif (label := _sentence_label(colon)) is not None:
        found.append((_TEASER, f"{_TEASER}\0{label}"))
    if (credit := _credit(masked)) is not None:
        found.append((_CREDIT, f"{_CREDIT}\0{credit}"))
    if (names := _names_line(line, site)) is not None:
        found.append((f"{_NAMES}{names[1]}", f"{_NAMES}\0{names[0]}"))
    return found


def _may_have_frame(line: str, site: str) -> bool:
    """Whether the line has what any frame needs: a marker or separator, names and a
    comma or dash, a closing parenthesis at its end, a colon where it names the site
    (``site`` is empty when it does not), or a part after a sentence (most lines have
    none: this is asked of every short line of the dump)."""
    return _MARK_OR_SEPARATOR.search(line) is not None or line.endswith(")") or \
        (_NAME_SEPARATOR.search(line) is not None and _only_names(line)) or \
        (site != "" and ":" in line) or (
        line[-1:] not in _SENTENCE_ENDS and (". " in line or "? " in line or "! " in line))


def _speaks_of_page(family: str) -> bool:
    """Whether a frame family's lines are content where they speak of their page (see
    :func:`_about` and :func:`_names_foreign`): lead-ins, teasers and names."""
    return _is_lead(family) or family == _TEASER or _may_be_about(family)


def _is_lead(family: str) -> bool:
    """Whether a frame family is a lead-in's."""
    return family.startswith(_LEAD)


def _may_be_about(family: str) -> bool:
    """Whether a frame family's lines may name what their page is about, and then are
    content: names around a separator (see ``_NAME_SEPARATORS``)."""
    return family.startswith(_NAMES) and not family.endswith(_TAGS)


def _words_of(lines: Sequence[str]) -> Counter[str]:
    """How many of the lines hold each word (of four letters or more, case folded)."""
    return Counter(word for line in lines for word in set(_LONG_WORD.findall(line.casefold())))


def _about(line: str, others: Sequence[str]) -> bool:
    """Whether a line's words are mostly on its page's other lines too (``others``, the
    page's text): a sentence after a lead-in that speaks of the page's story ("UPDATE |
    The suspect was charged.") is content, a teaser's headline is of another story;
    names the report names again are its subject ("Crystal Palace | Aston Villa"), a
    byline's are not."""
    words = set(_LONG_WORD.findall(line.casefold()))
    if not words:
        return False
    page_words = _words_of(others)
    return sum(1 for word in words if page_words[word]) >= _ABOUT_SHARE * len(words)


def _names_foreign(line: str, page: str) -> bool:
    """Whether the sentence after a line's label names someone or something (a
    capitalised word but its first) and the rest of its page (``page``, its lines
    joined) names none of them: a teaser's headline is of another story ("MORE: Pompeo
    returning from North Korea, Trump says."), a format's sentence speaks of its page or
    names no one ("Why it matters: Commuters have waited a decade.").  A name inside a
    longer word counts as named ("Trump" in "Trumpet"): such a line stays."""
    found = {word for word in _WORD.findall(line.partition(":")[2])[1:] if word[:1].isupper()}
    return bool(found) and all(page.count(name) == line.count(name) for name in found)


def _lead_in(line: str) -> str | None:
    """The words before a marker that opens the line, with the marker, if they are a
    label of a few words written in lower case or capitals ("RELATED |", "Read more →",
    "→"): a capitalised word is a name ("Labour | 412,330"), unless it starts a lead-in of
    more words, and a number a time ("14:05 |")."""
    found = _LEAD_IN.match(line)
    if found is None:
        return None
    words = found[1].split()
    if len(words) > _MAX_LEAD_IN_WORDS or _DIGIT.search(found[1]) or \
            any(word[:1].isupper() and not word.isupper() for word in words[len(words) > 1:]):
        return None
    return f"{found[1].strip().casefold()} {found[2]}".lstrip()


def _site_lead_in(found: tuple[str, bool] | None) -> str | None:
    """A label naming the site and more, before a colon and a sentence ("Also on <SITE>:
    <A headline.>"): a lead-in of the site's teasers.  The site's name alone is an
    interviewer's ("DW: ...?"), and a label without it the site's format for its
    content ("Why it matters: ...", "Editor's note: ...").  ``found``: the line's
    :func:`_colon_label`."""
    if found is None or not found[1] or _SITE not in found[0] or found[0] == _SITE:
        return None
    return f"{found[0].casefold()}:"


def _sentence_label(found: tuple[str, bool] | None) -> str | None:
    """The label before a colon and a sentence ("MORE: <A headline.>", "Why it matters:
    <...>."), written as a label (in lower case or capitals after its first word, no
    number), if it is not the site's name alone (an interviewer's, "DW: ...?").  Such a
    line is furniture only where its sentence names what its page does not
    (:func:`_names_foreign`): a format of the page's own text ("Why it matters:",
    "Editor's note:", "Q:") speaks of the page.  ``found``: the line's
    :func:`_colon_label`."""
    if found is None or not found[1] or found[0] == _SITE or _DIGIT.search(found[0]):
        return None
    words = found[0].split()
    if any(word[:1].isupper() and not word.isupper() for word in words[1:]):
        return None
    return f"{found[0].casefold()}:"


def _credit(line: str) -> str | None:
    """The credit ending a line after its caption, its names masked and one name:
    "(credit: <Name>)", "photo by <Name>".  It must keep a word and mask a name (a
    person, an agency, an address): a parenthesis of fixed words or numbers ("(AP)",
    "(video)", "(Serves 4)") also ends a line of content, and a part after a sentence
    without names is the next sentence, unfinished."""
    parenthesis = _trailing_parenthesis(line)
    part = parenthesis if parenthesis is not None else _part_after_sentence(line)
    if part is None or len(part.split()) > _MAX_CREDIT_WORDS or part == part.lower():
        return None  # no capital, no name
    shape = shape_of(part, "")
    if shape is None or _CREDITED.isdisjoint(shape):
        return None
    shape = _CREDITED_NAMES.sub(_NAME, _NAMES_IN_A_ROW.sub(_NAME, shape))
    return f"({shape})" if parenthesis is not None else shape


def _trailing_parenthesis(line: str) -> str | None:
    """What the parenthesis ending the line holds, if text comes before it."""
    if not line.endswith(")"):
        return None
    opening = line.rfind("(")
    inside = line[opening + 1:-1]
    if opening < 1 or not line[:opening].strip() or ")" in inside or \
            not _MIN_CREDIT_CHARS <= len(inside) <= _MAX_PARENTHESIS_CHARS:
        return None
    return inside


def _part_after_sentence(line: str) -> str | None:
    """The part after the line's last sentence, if it has no end of its own."""
    if line[-1:] in _SENTENCE_ENDS:
        return None
    end = max(line.rfind(". "), line.rfind("! "), line.rfind("? "))
    part = line[end + 2:].strip() if end >= 0 else ""
    if not _MIN_CREDIT_CHARS < len(part) <= _MAX_PART_CHARS or \
            any(mark in part for mark in ".!?"):
        return None
    return part


def _only_names(line: str) -> bool:
    """Whether no word of the line is a lower-case word but a short particle ("de",
    "van"): a cheap test before a line of a comma or dash is masked."""
    return not any(word[:1].islower() and len(word) > 3 for word in line.split())


def _names_line(line: str, site: str) -> tuple[str, str] | None:
    """The shape of a line made of names (or hashtags) and a separator, each name of
    several words one name, and the separator: "<Name> / <Name>", "#<Name> #<Name>".  Not
    with numbers or dates: "Arsenal 2 / Chelsea 1" is a result."""
    separator = _SEPARATOR.search(line)
    if separator is None:
        return None
    tagged = _HASHTAG.sub("#" + _NAME, line)
    shape = _masked(tagged, site)
    if shape is None:  # nothing masked but the tags, or a sentence or long line: no frame
        if tagged == line or len(line) > _MAX_SHAPE_CHARS:
            return None
        shape = tagged.casefold()
    shape = _NAME_RUN.sub(_NAME, shape)
    if _KEPT_WORD.search(shape) or _NUMBER in shape or _DATE in shape or \
            sum(1 for ch in shape if ch in _PLACEHOLDERS) < 2:
        return None
    return shape, separator[0]


def label_of(line: str, site: str = "") -> str | None:
    """The words before a colon that start a line ("Photo: ...", "Fuente: ...", "Also on
    SITE: ..."; the site's name counts as one word), if short and if what follows is not
    a sentence: "Q: ...?", "DW: ...?" (an interviewer named by the outlet), "Why it
    matters: ... ." are a site's format for its content."""
    return _label(_colon_label(site_masked(line, site)))


def _label(found: tuple[str, bool] | None) -> str | None:
    """A line's label from its :func:`_colon_label`: none before a sentence."""
    return None if found is None or found[1] else found[0].casefold()


def _colon_label(line: str) -> tuple[str, bool] | None:
    """The words before a colon that start a line (its site's name masked), if few
    enough for a label, and whether what follows the colon is a sentence."""
    found = _LABEL.match(line)
    if found is None or len(found[1].split()) > _MAX_LABEL_WORDS:
        return None
    return found[1], is_sentence(line[found.end() - 1:])


def is_sentence(text: str) -> bool:
    """Whether ``text`` reads as a sentence: it ends like one and has words of its own
    (lower-case words of a cased script, or letters of a script without case: the two
    mix in one line, "问：... Affinity Health Partners ...？").  Asked of every short
    line of the dump, so the cheap tests come first and stop early."""
    if text.rstrip().rstrip(_CLOSING)[-1:] not in _SENTENCE_ENDS:
        return False
    lower = 0
    for word in text.split():
        if word[0].islower():
            lower += 1
            if lower >= _SENTENCE_LOWER_WORDS:
                return True
    if max(text) < _CASELESS_FROM:  # no letter of a script without case: a quick no
        return False
    return sum(1 for ch in text if ch.isalpha() and not ch.islower()
               and not ch.isupper()) >= _SENTENCE_LETTERS


# The keys a (short, normalised) line is learned and recognised by, and what the map
# side needs of them: (keys, kinds, frames, asks_about) -- its keys, the index in
# KINDS of each, its frames' (family, key) pairs (see ``_MARKERS``), and whether it is a
# lead-in before a sentence or names (see :func:`_about`).
#
# A key's lowest bits say whether the line is a sentence (:data:`SENTENCE_BIT`) and
# whether it names its site (:data:`SITE_BIT`), which the reduce side needs and no
# longer has the line to tell.  Its frames' keys are apart: whether they count depends
# on the lines around it (:func:`_line_frames_alone`).
#
# A plain tuple of tuples of numbers and strings: the garbage collector stops visiting
# such a tuple once it has seen it.  As objects with lists, a worker's known lines
# (:class:`KnownLines`) were visited by every full collection, in every stage: the
# map side went from 0.12 to 0.16 ms an article over one worker's 500k articles.
LineKeys = tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[str, int], ...], bool]


def line_keys(line: str, site: str) -> LineKeys:
    """Every key of one line, each computed once."""
    folded = line.casefold()
    if site and site.casefold() not in folded:
        site = ""  # spares each key's look for the site's name in the line
    sentence = SENTENCE_BIT if is_sentence(line) else 0
    masked = site_masked(line, site)  # the line itself where it does not name the site
    names_site = SITE_BIT if not sentence and masked != line else 0
    keys = [_key(LINE, folded, names_site | sentence)]
    kinds = [_KIND_INDEX[LINE]]
    shape, loose, stamp = shapes_of(line, site)
    if shape is not None:
        keys.append(_key(SHAPE, shape, names_site | sentence))
        kinds.append(_KIND_INDEX[SHAPE])
    if loose is not None:
        keys.append(_key(SHAPE, loose, names_site | sentence | LOOSE_BIT))
        kinds.append(_KIND_INDEX[SHAPE])
    elif (ends := site_ending(line, site)) is not None:
        keys.append(_key(SHAPE, ends, sentence))  # not names_site: any line's share
        kinds.append(_KIND_INDEX[SHAPE])
    if stamp is not None and stamp != shape:
        keys.append(_key(SHAPE, stamp, names_site | sentence))
        kinds.append(_KIND_INDEX[SHAPE])
    colon = _colon_label(masked)
    if (label := _label(colon)) is not None:
        keys.append(_key(LABEL, label, names_site))
        kinds.append(_KIND_INDEX[LABEL])
    found = _frames(line, site, masked, colon)
    if not found:
        return tuple(keys), tuple(kinds), (), False
    frames = tuple((family, _key(FRAME, frame,
                                 sentence | (LOOSE_BIT if family == _TEASER else 0)))
                   for family, frame in found)
    return (tuple(keys), tuple(kinds), frames,
            any((sentence and _is_lead(family)) or family == _TEASER or _may_be_about(family)
                for family, _ in frames))


def _line_frames_alone(line: LineKeys, before: LineKeys | None, after: LineKeys | None,
                       about_page: bool) -> list[int]:
    """The keys of a line's frames that count: not of a family the line before or after
    has too (a table's rows, a list's bullets, a run of hashtags are content), and no
    lead-in before a sentence, nor names, that are ``about_page``."""
    _, _, frames, _ = line
    taken = _families(before) + _families(after)
    return [key for family, key in frames if family not in taken
            and not (about_page and _speaks_of_page(family))]


def _families(keys: LineKeys | None) -> tuple[str, ...]:
    """The families of a line's frames (none where there is no line)."""
    if keys is None:
        return ()
    _, _, frames, _ = keys
    return tuple(family for family, _ in frames)


def _key(kind: str, text: str, flags: int) -> int:
    """The key of a line, shape, label or frame, with its flag bits."""
    return stable_hash(f"{kind}\0{text}") & ~_FLAG_BITS | flags


def site_of(source: str | None, url: str | None) -> str:
    """What a page's site is known by: its source, else its URL's host ("" if neither)."""
    if source:
        return source
    if url:
        try:
            return urlsplit(url).hostname or ""
        except ValueError:
            return ""
    return ""


def groups_of(site: str, lang: str) -> tuple[int, int]:
    """The two groups an article's lines are counted in: its site's pages in its
    language, and in its writing system.

    The language is guessed from a short sample of raw text, and close languages (ru,
    uk, bg; da, nb) or one the detector does not know split a site's pages among
    guesses; the writing system stays one, so furniture is learned there anyway.
    """
    site = site.casefold()
    return (stable_hash(f"language\0{site}\0{lang}"),
            stable_hash(f"script\0{site}\0{_SCRIPTS.get(lang, 'latin')}"))


# The writing system of each language the detector reports that is not written in Latin
# letters.
_SCRIPTS = {
    **dict.fromkeys(("ru", "uk", "bg", "mk", "be", "kk", "sr", "ky", "tg", "mn"), "cyrillic"),
    **dict.fromkeys(("ar", "fa", "ur", "ps"), "arabic"),
    **dict.fromkeys(("hi", "mr", "ne"), "devanagari"),
    **dict.fromkeys(("zh", "zh-cn", "zh-tw", "ja"), "han"),
    "el": "greek", "he": "hebrew", "bn": "bengali", "pa": "gurmukhi", "gu": "gujarati",
    "ta": "tamil", "te": "telugu", "kn": "kannada", "ml": "malayalam", "th": "thai",
    "ko": "hangul", "ka": "georgian", "hy": "armenian", "und": "und",
}


def pair_key(key: int | np.ndarray, group: int | np.ndarray) -> np.ndarray:
    """One 64-bit key for a (line key, group) pair: what is learned, and looked up."""
    mixed = np.asarray(group, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return np.asarray(key, dtype=np.uint64) ^ (mixed ^ (mixed >> np.uint64(31)))


def story_tokens(texts: Sequence[str]) -> np.ndarray:
    """Story tokens of many articles' texts: per article and permutation, the minimum
    hash of its ``_WINDOW``-byte windows that start a word (zeros for a text without
    one).

    Byte windows, not lines: a copy with a word changed here and there, or other
    furniture around it, still shares most of its windows, and all of it is a few array
    operations over the whole chunk's bytes (:func:`~dedup.algorithms.hashing.span_hashes`).
    """
    data = [text.encode("utf-8", "surrogatepass") for text in texts]
    tokens = np.zeros((len(data), STORY_TOKENS), dtype=np.uint64)
    ends = np.cumsum([len(piece) for piece in data], dtype=np.int64)
    values = np.frombuffer(b"".join(data), dtype=np.uint8).astype(np.uint64)
    after_space = np.r_[True, values[:-1] <= ord(" ")]
    # each text's first byte starts a word, whatever the text before it in the chunk ends
    # with: an article's tokens must not depend on its neighbours in the chunk
    text_starts = ends[:-1]
    after_space[text_starts[text_starts < values.size]] = True
    word_start = after_space & (values > ord(" "))
    starts = np.flatnonzero(word_start)
    article = np.searchsorted(ends, starts, side="right")
    whole = starts + _WINDOW <= ends[np.minimum(article, len(ends) - 1)] if len(ends) else \
        np.zeros(0, dtype=bool)
    starts, article = starts[whole], article[whole]
    if not starts.size:
        return tokens
    hashes = span_hashes(values, starts, starts + _WINDOW)
    with np.errstate(over="ignore"):
        mixed = hashes[:, None] * _TOKEN_MULTIPLIERS
        mixed ^= mixed >> np.uint64(29)
    first = np.flatnonzero(np.r_[True, article[1:] != article[:-1]])
    tokens[article[first]] = np.minimum.reduceat(mixed, first, axis=0)
    return tokens


# Characters of an article's text its story tokens are taken from, longest lines first:
# its paragraphs, which copies share and other stories do not.
_TOKEN_TEXT_CHARS = 250
# Window width (bytes) of the story tokens.
_WINDOW = 24


# ---------------------------------------------------------------------------------
# Map side: one chunk's lines, saved sorted by key
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Article:
    """What the map side needs of one article."""

    site: str
    lang: str  # guessed from the raw text, only to group the site's pages
    lines: list[str]  # normalised lines of the text


@dataclass(slots=True)
class ChunkLines:
    """The map side's output for one chunk: per article its group and story tokens, and
    every key of every short line, sorted by key, with where it is."""

    groups: np.ndarray  # uint64 (articles, 2): its site-language and site-script groups
    tokens: np.ndarray  # uint64 (articles, STORY_TOKENS)
    keys: np.ndarray  # uint64, sorted
    rows: np.ndarray  # uint32: the article (row) of each key
    lines: np.ndarray  # uint32: the line of the article's normalised lines
    kinds: np.ndarray  # uint8: the key's kind (index in KINDS)


def map_lines(articles: Sequence[Article], max_line_chars: int) -> ChunkLines:
    """Keys of every article's short lines, its group and story tokens (from its longest
    lines: furniture is short, and copies share their paragraphs).

    The line of each key is kept so that the analyse pass drops learned lines by their
    place, without computing any key again.
    """
    groups = np.array([groups_of(a.site, a.lang) for a in articles],
                      dtype=np.uint64).reshape(-1, 2)
    keys: list[int] = []
    kinds: list[int] = []
    numbers: list[int] = []  # the line of each key
    per_article = np.zeros(len(articles), dtype=np.int64)  # keys of each
    contents: list[str] = []
    known = _KNOWN_LINES.get(max_line_chars)
    for row, article in enumerate(articles):
        contents.append(_token_text(article.lines))
        site, seen, earlier = article.site, *known.of_site(article.site)
        before = len(keys)
        framed: list[int] = []  # the lines with frames, decided once their neighbours are known
        for number, line in enumerate(article.lines):
            if len(line) > max_line_chars:
                continue
            found = seen.get(line)
            if found is None:
                found = earlier.get(line)
                if found is None:
                    found = line_keys(line, site)
                seen[line] = found
            its_keys, its_kinds, its_frames, _ = found
            keys += its_keys
            kinds += its_kinds
            numbers += [number] * len(its_keys)
            if its_frames:
                framed.append(number)
        if framed:
            frame_keys = _frames_alone(article.lines, seen, framed, site)
            keys += [key for _, key in frame_keys]
            kinds += [_KIND_INDEX[FRAME]] * len(frame_keys)
            numbers += [number for number, _ in frame_keys]
        per_article[row] = len(keys) - before
    key_array = np.array(keys, dtype=np.uint64)
    order = np.argsort(key_array, kind="stable")
    rows = np.repeat(np.arange(len(articles), dtype=np.uint32), per_article)
    return ChunkLines(groups=groups, tokens=story_tokens(contents), keys=key_array[order],
                      rows=rows[order], lines=np.array(numbers, dtype=np.uint32)[order],
                      kinds=np.array(kinds, dtype=np.uint8)[order])


def _token_text(lines: Sequence[str]) -> str:
    """What an article's story tokens are made of: the start of its longest lines,
    joined (most often of the longest alone: it is spared joining the whole text)."""
    longest = max(lines, key=len, default="")
    if len(longest) >= _TOKEN_TEXT_CHARS:
        return longest[:_TOKEN_TEXT_CHARS].casefold()
    return "\n".join(sorted(lines, key=len, reverse=True))[:_TOKEN_TEXT_CHARS].casefold()


class KnownLines:
    """The keys of the short lines a worker has met lately, per site: a site's furniture
    is on its pages in every chunk, where most other short lines are met once.

    Two generations: a line is looked up in the current one, then in the one before,
    and kept in the current one; when the current one holds ``limit`` lines it becomes
    the one before, and the lines not met since are dropped.  A line's keys depend on
    the line and its site only, so what is kept changes the time, never the keys --
    also where threads of one process share it (a Dask worker with threads): a chunk's
    lines are right in whichever generation they land, and the generation's size is
    summed without running Python code between items, so no thread adds a site to it
    meanwhile.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.max_line_chars = -1  # of the lines held
        self.current: dict[str, dict[str, LineKeys]] = {}
        self.before: dict[str, dict[str, LineKeys]] = {}

    def get(self, max_line_chars: int) -> KnownLines:
        """These lines, for a chunk whose short lines have at most ``max_line_chars``
        (another limit than the last chunk's starts afresh); a new generation if the
        current one is full."""
        if max_line_chars != self.max_line_chars:
            self.current, self.before, self.max_line_chars = {}, {}, max_line_chars
        elif sum(map(len, self.current.values())) >= self.limit:
            self.current, self.before = {}, self.current
        return self

    def of_site(self, site: str) -> tuple[dict[str, LineKeys], dict[str, LineKeys]]:
        """The site's lines of the current generation (to add to) and of the one
        before."""
        return self.current.setdefault(site, {}), self.before.get(site, _NO_LINES)


_NO_LINES: dict[str, LineKeys] = {}
# Lines a generation holds: about 0.5 KB each (their keys and the line), so the two
# hold at most ~50 MB in a worker.
_KNOWN_LINES = KnownLines(50_000)


def _frames_alone(lines: Sequence[str], known: Mapping[str, LineKeys],
                  framed: Sequence[int], site: str) -> list[tuple[int, int]]:
    """(line, key) of the frames of the ``framed`` lines that count (see
    :func:`_line_frames_alone`); ``known`` holds the keys of the page's short lines.
    Whether a teaser's names are on its page is asked of the whole page, and whether a
    lead-in's or names' words are, of the page's text (see :func:`_text_of_page`), its
    site's name left out."""
    found: list[tuple[int, int]] = []
    text: list[int] | None = None  # the numbers of the page's text lines
    page: str | None = None  # its lines joined
    last = len(lines) - 1
    for number in framed:
        keys = known[lines[number]]
        *_, asks_about = keys
        about_page = False
        if asks_about and _TEASER in _families(keys):
            if page is None:
                page = "\n".join(lines)
            about_page = not _names_foreign(lines[number], page)
        elif asks_about:
            if text is None:
                text = [at for at, line in enumerate(lines)
                        if _text_of_page(line, site, known.get(line))]
            about_page = _about(site_masked(lines[number], site),
                                [lines[at] for at in text if at != number])
        found += [(number, key) for key in _line_frames_alone(
            keys, known.get(lines[number - 1]) if number else None,
            known.get(lines[number + 1]) if number < last else None, about_page)]
    return found


def _text_of_page(line: str, site: str, keys: LineKeys | None) -> bool:
    """Whether a line is of the page's own text, where a name named again is what the
    page is about: a sentence or a paragraph, not naming the site.  The page's other
    furniture names the author again too ("Written by <Name> for <Outlet>", "<Name> has
    written for <SITE> since 2021.").  ``keys``: the line's, if known (they say whether
    it is a sentence)."""
    if len(line) > _MAX_FRAME_CHARS:
        sentence = True
    elif keys is not None:
        sentence = bool(keys[0][0] & SENTENCE_BIT)
    else:
        sentence = is_sentence(line)
    return sentence and not names(line, site)


def lines_path(chunk: Path, part: str) -> Path:
    """Where the map side saves one of a chunk's arrays (one of ``LINE_PARTS``)."""
    return chunk.with_name(f"{chunk.stem}-lines-{part}.npy")


LINE_PARTS = ("keys", "rows", "lines", "kinds", "groups", "tokens")


def save_chunk_lines(chunk: Path, lines: ChunkLines) -> None:
    """Save the map side's arrays next to the chunk."""
    for part in LINE_PARTS:
        save_array(lines_path(chunk, part), getattr(lines, part))


def line_files(chunk: Path) -> list[Path]:
    """The files :func:`save_chunk_lines` writes for a chunk."""
    return [lines_path(chunk, part) for part in LINE_PARTS]


def learned_lines(chunk: Path, learned: Boilerplate) -> dict[int, dict[int, tuple[str, int]]]:
    """Per article (row) of a chunk, its lines that are learned boilerplate in one of its
    groups: line number -> (kind, key).  From the map side's table, in one pass of array
    look-ups: no line is hashed again."""
    keys = np.load(lines_path(chunk, "keys"))
    rows = np.load(lines_path(chunk, "rows"))
    groups = np.load(lines_path(chunk, "groups"))[rows]
    found = np.flatnonzero(learned.holds(pair_key(keys, groups[:, 0]))
                           | learned.holds(pair_key(keys, groups[:, 1])))
    kinds = np.load(lines_path(chunk, "kinds"))[found]
    found = found[np.argsort(kinds, kind="stable")[::-1]]  # written last: line, shape, label
    result: dict[int, dict[int, tuple[str, int]]] = {}
    for row, line, kind, key in zip(rows[found].tolist(),
                                    np.load(lines_path(chunk, "lines"))[found].tolist(),
                                    np.load(lines_path(chunk, "kinds"))[found].tolist(),
                                    keys[found].tolist(), strict=True):
        within = result.get(row)
        if within is None:
            within = result[row] = {}
        within[line] = (KINDS[kind], key)
    return result


# ---------------------------------------------------------------------------------
# Reduce side: one key range, gathered from every chunk
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What a line needs to be learned (from the clean settings)."""

    min_stories: int
    min_share: float
    min_sites: int
    site_min_share: float  # for a line naming its own site, not a sentence
    loose_min_share: float  # for a loose key (``LOOSE_BIT``)

    def share_of(self, key: int) -> float:
        """The share of a group's articles a key must be in."""
        if key & LOOSE_BIT:
            return self.loose_min_share
        return self.site_min_share if key & SITE_BIT else self.min_share


@dataclass(slots=True)
class Learned:
    """Boilerplate (key, group) pairs of one key range, and what each learned key is."""

    pairs: np.ndarray  # uint64 pair keys (pair_key)
    keys: np.ndarray  # uint64: the learned line keys
    articles: np.ndarray  # int64 per learned key: articles holding it
    stories: np.ndarray  # int64 per learned key: stories among them
    groups: np.ndarray  # int64 per learned key: groups it was learned for


def learn_key_range(chunks: Sequence[Path], key_range: tuple[int, int],
                    group_keys: np.ndarray, group_docs: np.ndarray,
                    thresholds: Thresholds) -> Learned:
    """The boilerplate among the line keys in ``key_range`` (both ends included).

    ``group_keys`` (sorted) and ``group_docs`` give every group's number of articles.
    """
    keys, groups, tokens = gather_range(chunks, key_range)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else \
        np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.r_[starts, keys.size])
    found: list[tuple[int, list[int], int, int]] = []
    for start, size in zip(starts.tolist(), sizes.tolist(), strict=True):
        key = int(keys[start])
        if size < thresholds.min_stories:
            continue
        run = slice(start, start + size)
        stories = count_stories(tokens[run])
        if stories < thresholds.min_stories:
            continue
        many_sites = not key & SENTENCE_BIT and \
            np.unique(groups[run, 1]).size >= thresholds.min_sites
        learned_groups = [group for column in (0, 1) for group in
                          groups_learned(groups[run, column], group_keys, group_docs,
                                         thresholds, many_sites, thresholds.share_of(key))]
        if learned_groups:
            found.append((key, learned_groups, size, stories))
    pair_groups = np.array([group for _, learned, _, _ in found for group in learned],
                           dtype=np.uint64)
    pair_keys = np.array([key for key, learned, _, _ in found for _ in learned],
                         dtype=np.uint64)
    return Learned(
        pairs=pair_key(pair_keys, pair_groups),
        keys=np.array([key for key, _, _, _ in found], dtype=np.uint64),
        articles=np.array([size for _, _, size, _ in found], dtype=np.int64),
        stories=np.array([stories for _, _, _, stories in found], dtype=np.int64),
        groups=np.array([len(learned) for _, learned, _, _ in found], dtype=np.int64))


def gather_range(chunks: Sequence[Path],
                 key_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every article holding a key in ``key_range``, once per key, sorted by key: the
    key, and the article's groups and story tokens."""
    first, last = np.array(key_range, dtype=np.uint64)
    keys, articles, groups, tokens = [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)], \
        [np.zeros((0, 2), np.uint64)], [np.zeros((0, STORY_TOKENS), np.uint64)]
    for index, chunk in enumerate(chunks):
        sorted_keys = np.load(lines_path(chunk, "keys"), mmap_mode="r")
        lo = int(np.searchsorted(sorted_keys, first, "left"))
        hi = int(np.searchsorted(sorted_keys, last, "right"))
        if hi == lo:
            continue
        rows = np.asarray(np.load(lines_path(chunk, "rows"), mmap_mode="r")[lo:hi])
        keys.append(np.asarray(sorted_keys[lo:hi]))
        articles.append((np.int64(index) << np.int64(32)) + rows.astype(np.int64))
        groups.append(np.load(lines_path(chunk, "groups"), mmap_mode="r")[rows])
        tokens.append(np.load(lines_path(chunk, "tokens"), mmap_mode="r")[rows])
    all_keys, all_articles = np.concatenate(keys), np.concatenate(articles)
    order = np.lexsort((all_articles, all_keys))
    all_keys, all_articles = all_keys[order], all_articles[order]
    once = np.r_[True, (all_keys[1:] != all_keys[:-1]) | (all_articles[1:] != all_articles[:-1])
                 ][:all_keys.size]
    chosen = order[once]
    return all_keys[once], np.concatenate(groups)[chosen], np.concatenate(tokens)[chosen]


def groups_learned(groups: np.ndarray, group_keys: np.ndarray, group_docs: np.ndarray,
                   thresholds: Thresholds, many_sites: bool, min_share: float) -> list[int]:
    """The groups in which one key, held by the articles of ``groups`` (in enough
    stories), is boilerplate.

    The key must be in ``min_share`` of a group's articles, and in ``min_stories`` of
    them -- unless it is on ``min_sites`` sites (``many_sites``) that, together, show
    it that often, or most of which show it that often: many small sites showing a line
    on their few pages are a pattern, one site's two pages are not (nor two pages whose
    language was guessed wrong and that make a group of their own).  "Most of which":
    one page whose language was guessed wrong puts the line in a big group of its
    site, whose pages would outweigh the small groups' in the sum; a line that big
    groups show on a few pages each (a common subheading) fails both ways.
    """
    users, counts = np.unique(groups, return_counts=True)
    docs = group_docs[np.searchsorted(group_keys, users)]
    enough = counts / docs >= min_share
    pooled = many_sites and (counts.sum() >= min_share * docs.sum()
                             or 2 * np.count_nonzero(enough) > enough.size)
    chosen = enough & ((counts >= thresholds.min_stories) | pooled)
    return [int(group) for group in users[chosen]]


def count_stories(tokens: np.ndarray) -> int:
    """How many stories the articles with these story tokens make: articles sharing a
    token are one story (connected components over shared tokens)."""
    articles = len(tokens)
    if articles < 2 or all(np.unique(tokens[:, slot]).size == articles
                           for slot in range(STORY_TOKENS)):
        return articles  # no two share a token: as many stories as articles
    values, node = np.unique(tokens, return_inverse=True)  # a token value is a node
    slots = np.repeat(np.arange(articles), STORY_TOKENS)
    labels = components(slots, articles + node.reshape(-1), articles + len(values))
    return int(np.unique(labels[:articles]).size)


# ---------------------------------------------------------------------------------
# Recognising learned lines
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Boilerplate:
    """The learned (key, group) pairs, as the analyse pass looks them up."""

    pairs: np.ndarray  # uint64, sorted

    @classmethod
    def load(cls, path: Path) -> Boilerplate:
        """The pairs saved by the learning step."""
        return cls(np.load(path))

    def holds(self, pairs: np.ndarray) -> np.ndarray:
        """Which of ``pairs`` (pair keys) are learned boilerplate."""
        at = np.searchsorted(self.pairs, pairs)
        return self.pairs[np.minimum(at, max(self.pairs.size - 1, 0))] == pairs \
            if self.pairs.size else np.zeros(len(pairs), dtype=bool)


def save_boilerplate(path: Path, parts: Sequence[Learned]) -> None:
    """Save the learned pairs of every key range, sorted, for the analyse pass."""
    pairs = np.concatenate([np.zeros(0, np.uint64), *(part.pairs for part in parts)])
    save_array(path, np.sort(pairs))


# ---------------------------------------------------------------------------------
# What the cleaner removed, for the report
# ---------------------------------------------------------------------------------

_PLACEHOLDER_NAMES = {_SITE: "<site>", _NUMBER: "<number>", _DATE: "<date>", _NAME: "<Name>",
                      _LINK: "<address>"}


def pattern_text(kind: str, line: str, site: str, key: int = 0) -> str:
    """A learned pattern as the report shows it: the line, its shape with its masked
    parts named, its label, or its frame (the one of ``key``)."""
    if kind == SHAPE:
        shapes = [shape for shape in (*shapes_of(line, site), site_ending(line, site))
                  if shape is not None]
        for shape in shapes:
            if _key(SHAPE, shape, 0) == key & ~_FLAG_BITS:
                return _named(shape)
        if shapes:
            return _named(shapes[0])
    if kind == LABEL and (label := label_of(line, site)) is not None:
        return f"{_named(label)}: …"
    if kind == FRAME:
        for _, frame in frames_of(line, site):
            if _key(FRAME, frame, 0) == key & ~_FLAG_BITS:
                form, text = frame.split("\0")
                return {_LEAD: f"{_named(text)} …", _TEASER: f"{_named(text)} …",
                        _CREDIT: f"… {_named(text)}"}.get(form, _named(text))
    return line


def _named(masked: str) -> str:
    """A shape or label with its placeholders named."""
    return "".join(_PLACEHOLDER_NAMES.get(ch, ch) for ch in masked)


@dataclass(slots=True)
class Removals:
    """What the cleaner removed, per source and per learned pattern: mergeable, and
    plain JSON when saved with a chunk's result."""

    # source -> [articles, lines removed by the rules, lines removed as learned]
    sources: dict[str, list[int]]
    # source -> pattern key (decimal) -> lines it removed there
    by_pattern: dict[str, dict[str, int]]
    # pattern key (decimal) -> [kind, text] (the first line it removed, as shown)
    patterns: dict[str, list[str]]

    @classmethod
    def empty(cls) -> Removals:
        """Nothing removed yet."""
        return cls({}, {}, {})

    def add(self, source: str, removed: int, learned: Sequence[tuple[str, int, str]],
            site: str) -> None:
        """One article's removals: ``removed`` lines in all, ``learned`` of them by
        learned patterns (kind, key, line)."""
        counts = self.sources.setdefault(source, [0, 0, 0])
        counts[0] += 1
        counts[1] += removed - len(learned)
        counts[2] += len(learned)
        patterns = self.by_pattern.setdefault(source, {})
        for kind, key, line in learned:
            name = str(key)
            patterns[name] = patterns.get(name, 0) + 1
            if name not in self.patterns:
                self.patterns[name] = [kind, pattern_text(kind, line, site, key)]

    def merge(self, other: Removals) -> Removals:
        """Add ``other`` (a later chunk's) into this one; first examples are kept."""
        for source, counts in other.sources.items():
            mine = self.sources.setdefault(source, [0, 0, 0])
            for i, value in enumerate(counts):
                mine[i] += value
        for source, patterns in other.by_pattern.items():
            mine_by = self.by_pattern.setdefault(source, {})
            for name, value in patterns.items():
                mine_by[name] = mine_by.get(name, 0) + value
        for name, example in other.patterns.items():
            self.patterns.setdefault(name, example)
        return self

    def summary(self, learned: int, top: int, max_sources: int) -> dict[str, object]:
        """The report's view: totals, the ``top`` patterns that removed most, and per
        source (the ``max_sources`` with most lines removed) its counts and top
        patterns."""
        totals: dict[str, int] = {}
        for patterns in self.by_pattern.values():
            for name, value in patterns.items():
                totals[name] = totals.get(name, 0) + value
        ranked = sorted(self.sources.items(), key=lambda item: (-item[1][1] - item[1][2],
                                                                item[0]))
        return {
            "lines_removed": sum(c[1] + c[2] for c in self.sources.values()),
            "by_rules": sum(c[1] for c in self.sources.values()),
            "by_learned": sum(c[2] for c in self.sources.values()),
            "learned_patterns": learned,
            "top_patterns": [self._pattern_row(name, count)
                             for name, count in _most(totals, top)],
            "sources_shown": min(len(ranked), max_sources),
            "sources": [{"source": source, "articles": counts[0], "by_rules": counts[1],
                         "by_learned": counts[2],
                         "top_patterns": [self._pattern_row(name, count) for name, count
                                          in _most(self.by_pattern.get(source, {}), top)]}
                        for source, counts in ranked[:max_sources]],
        }

    def _pattern_row(self, name: str, count: int) -> dict[str, object]:
        kind, text = self.patterns[name]
        return {"pattern": text, "kind": kind, "lines_removed": count}


def _most(counts: dict[str, int], top: int) -> list[tuple[str, int]]:
    """The ``top`` entries with the highest counts (ties by name)."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
