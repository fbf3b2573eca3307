"""Word tokens shared by the dedup and cluster stages.

Regex tokenising a 1.5 KB body costs about as much as everything else either stage does
with it, so each article is tokenised once (:class:`Document`) and both stages read the
same words.  Words are runs of letters, digits and combining marks (so Hindi or Bengali
words are not cut at every vowel sign); scripts written without spaces (CJK, kana, Thai,
Lao, Khmer, Myanmar, Tibetan) give one token per character, since their words cannot be
found without a dictionary.
"""

from __future__ import annotations

import re
import sys
import unicodedata

# Scripts written without spaces between words.
NO_SPACE_CHARS = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u0f00-\u0fff"  # Tibetan
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
)
_NO_SPACE = re.compile(f"[{NO_SPACE_CHARS}]")


def combining_mark_ranges() -> str:
    r"""Character-class ranges of the BMP's combining marks outside no-space scripts.

    ``\w`` excludes combining marks (categories Mn/Mc), which would cut Hindi or Bengali
    words apart at every vowel sign; adding them keeps such words whole.
    """
    marks = [c for c in range(0x300, 0x10000)
             if unicodedata.category(chr(c)) in ("Mn", "Mc") and not _NO_SPACE.match(chr(c))]
    ranges: list[str] = []
    start = prev = marks[0]
    for c in [*marks[1:], sys.maxunicode + 2]:
        if c != prev + 1:
            ranges.append(f"{chr(start)}-{chr(prev)}" if prev > start else chr(start))
            start = c
        prev = c
    return "".join(ranges)


MARKS = combining_mark_ranges()
# One no-space-script character, or a run of other word characters and combining marks.
WORD = re.compile(rf"[{NO_SPACE_CHARS}]|(?:[^\W{NO_SPACE_CHARS}]|[{MARKS}])+")
# The same tokens in texts without no-space scripts, found in half the time.
_WORD_RUN = re.compile(rf"[\w{MARKS}]+")


def words(text: str) -> list[str]:
    """Case-folded word tokens of a text (no-space scripts: one per character)."""
    folded = text.casefold()
    if _NO_SPACE.search(folded) is None:
        return _WORD_RUN.findall(folded)
    return WORD.findall(folded)


class Document:
    """An article's title and body, each tokenised at most once, when first asked for."""

    __slots__ = ("_text_words", "_title_words", "text", "title")

    def __init__(self, title: str, text: str) -> None:
        self.title = title
        self.text = text
        self._title_words: list[str] | None = None
        self._text_words: list[str] | None = None

    @property
    def title_words(self) -> list[str]:
        """:func:`words` of the title."""
        if self._title_words is None:
            self._title_words = words(self.title)
        return self._title_words

    @property
    def text_words(self) -> list[str]:
        """:func:`words` of the body."""
        if self._text_words is None:
            self._text_words = words(self.text)
        return self._text_words


def documents(titles: list[str], texts: list[str]) -> list[Document]:
    """Documents from parallel lists of titles and bodies."""
    return [Document(title, text) for title, text in zip(titles, texts, strict=True)]
