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
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

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


class Vocabulary:
    """Ids for the distinct words this process has seen, and facts computed once per word.

    News repeats its vocabulary: hashing, screening or stemming a word once per process
    and gathering the results by id afterwards (numpy) costs a fraction of doing it per
    token, and one id look-up per token serves both the dedup and cluster stages.  It
    only remembers, so results never depend on what it has seen.
    """

    def __init__(self, capacity: int = 1 << 20) -> None:
        self.capacity = capacity
        self._ids: dict[str, int] = {}
        self._words: list[str] = []
        self._facts: dict[Hashable, tuple[np.ndarray, np.ndarray]] = {}

    def make_room(self) -> None:
        """Forget everything once over capacity.  Ids change, so only between batches."""
        if len(self._words) > self.capacity:
            self._ids.clear()
            self._words.clear()
            self._facts.clear()

    def ids(self, words: list[str]) -> np.ndarray:
        """The id of every word, new words numbered as they come."""
        index = self._ids
        new = list(set(words).difference(index))
        if new:
            index.update(zip(new, range(len(self._words), len(self._words) + len(new)),
                             strict=True))
            self._words += new
        return np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words))

    def facts(self, kind: Hashable, ids: np.ndarray,
              compute: Callable[[list[str]], Sequence[int]], dtype: type) -> np.ndarray:
        """``compute``'s value for the word behind each id, computed once per word and kind."""
        values, known = self._facts.get(kind, (np.zeros(0, dtype), np.zeros(0, bool)))
        if values.size < len(self._words):
            grown = max(len(self._words), 2 * values.size)
            values = np.concatenate([values, np.zeros(grown - values.size, dtype)])
            known = np.concatenate([known, np.zeros(grown - known.size, bool)])
            self._facts[kind] = values, known
        unknown = ~known[ids]
        if unknown.any():
            missing = np.unique(ids[unknown])
            values[missing] = compute([self._words[i] for i in missing.tolist()])
            known[missing] = True
        return values[ids]


# The one vocabulary of this process (each worker process has its own).
VOCABULARY = Vocabulary()


class Field:
    """One text field of an article (title or body), tokenised at most once, when asked."""

    __slots__ = ("_ids", "_words", "raw")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self._words: list[str] | None = None
        self._ids: np.ndarray | None = None

    @property
    def words(self) -> list[str]:
        """:func:`words` of the field."""
        if self._words is None:
            self._words = words(self.raw)
        return self._words

    @property
    def ids(self) -> np.ndarray:
        """The words' ids in :data:`VOCABULARY`."""
        if self._ids is None:
            self._ids = VOCABULARY.ids(self.words)
        return self._ids


@dataclass(slots=True)
class Document:
    """An article's title and body as the dedup and cluster stages share them."""

    title: Field
    text: Field


def documents(titles: Sequence[str], texts: Sequence[str]) -> list[Document]:
    """A batch of documents; word ids stay valid until the next batch is made."""
    VOCABULARY.make_room()
    return [Document(Field(title), Field(text)) for title, text in zip(titles, texts, strict=True)]
