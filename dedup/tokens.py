"""Word tokens shared by the dedup and cluster stages.

Regex tokenising a 1.5 KB body costs about as much as everything else either stage does
with it, so each article is tokenised once (:class:`Documents`) and both stages read the
same words.  Words are runs of letters, digits and combining marks (so Hindi or Bengali
words are not cut at every vowel sign); scripts written without spaces (CJK, kana, Thai,
Lao, Khmer, Myanmar, Tibetan) give one token per character, since their words cannot be
found without a dictionary.
"""

from __future__ import annotations

import itertools
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


@dataclass(slots=True)
class Documents:
    """A batch of articles' titles and bodies, tokenised once, as flat arrays.

    Field ``2 * i`` is article i's title and ``2 * i + 1`` its body.  The words of all
    fields sit in one list with one id array, so vocabulary look-ups, word hashing and
    column gathers run once per batch: done per field, numpy's per-call overhead cost as
    much as the work itself.  The dedup and cluster stages read the same words.
    """

    raw: list[str]  # per field
    words: list[str]  # every field's words, field after field
    ids: np.ndarray  # int64: each word's id in VOCABULARY, valid until the next batch
    bounds: np.ndarray  # int64 (fields + 1): field f's words are words[bounds[f]:bounds[f + 1]]

    def __len__(self) -> int:
        return len(self.raw) // 2

    def field_words(self, field: int) -> list[str]:
        """The words of one field."""
        return self.words[self.bounds[field] : self.bounds[field + 1]]

    def positions(self, fields: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices into ``words`` of these fields' words, in this order, and the field of each."""
        starts, lengths = self.bounds[fields], np.diff(self.bounds)[fields]
        offsets = np.cumsum(lengths) - lengths
        index = np.arange(int(lengths.sum())) + np.repeat(starts - offsets, lengths)
        return index, np.repeat(fields, lengths)


def documents(titles: Sequence[str], texts: Sequence[str]) -> Documents:
    """Tokenise a batch of articles; word ids stay valid until the next batch is made."""
    VOCABULARY.make_room()
    raw = [field for pair in zip(titles, texts, strict=True) for field in pair]
    per_field = [words(field) for field in raw]
    flat = list(itertools.chain.from_iterable(per_field))
    bounds = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum([len(field) for field in per_field], out=bounds[1:])
    return Documents(raw=raw, words=flat, ids=VOCABULARY.ids(flat), bounds=bounds)
