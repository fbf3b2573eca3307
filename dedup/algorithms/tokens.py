"""Word tokens shared by the dedup and cluster stages.

Regex tokenising a 1.5 KB body costs about as much as everything else either stage does
with it, so each article is tokenised once (:class:`Documents`) and both stages read the
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
from functools import cache

import numpy as np

from dedup.algorithms.hashtable import MISSING, IntTable

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


def combining_marks() -> list[str]:
    r"""The BMP's combining marks outside no-space scripts.

    ``\w`` excludes combining marks (categories Mn/Mc), which would cut Hindi or Bengali
    words apart at every vowel sign; adding them keeps such words whole.
    """
    return [chr(c) for c in range(0x300, 0x10000)
            if unicodedata.category(chr(c)) in ("Mn", "Mc") and not _NO_SPACE.match(chr(c))]


def character_ranges(chars: list[str]) -> str:
    """A regex character class body (without brackets) matching exactly ``chars`` (sorted)."""
    codes = [ord(char) for char in chars]
    ranges: list[str] = []
    start = prev = codes[0]
    for c in [*codes[1:], sys.maxunicode + 2]:
        if c != prev + 1:
            ranges.append(f"{chr(start)}-{chr(prev)}" if prev > start else chr(start))
            start = c
        prev = c
    return "".join(ranges)


_MARK_CHARS = combining_marks()
MARKS = character_ranges(_MARK_CHARS)
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


# Token hashes: a polynomial over code points modulo 2**64 with this odd base, so a
# token's hash comes from prefix sums in numpy without a string per token.
_BASE = np.uint64(0x100000001B3)
_BASE_INVERSE = np.uint64(pow(0x100000001B3, -1, 2**64))
_MIX = np.uint64(0x9E3779B97F4A7C15)


@cache
def char_classes() -> np.ndarray:
    """Per code point: 1 word character or combining mark, 2 no-space-script character
    (a token by itself), 0 anything else: :data:`WORD`'s two alternatives, as a table.

    ``\\w`` is ``str.isalnum()`` plus the underscore (the ``re`` documentation's
    definition), which is far quicker to tabulate than matching every code point.
    """
    classes = np.fromiter((chr(c).isalnum() for c in range(sys.maxunicode + 1)),
                          dtype=np.uint8, count=sys.maxunicode + 1)
    classes[ord("_")] = 1
    classes[np.array([ord(mark) for mark in _MARK_CHARS])] = 1
    bmp = "".join(map(chr, range(0x10000)))
    classes[[match.start() for match in _NO_SPACE.finditer(bmp)]] = 2
    return classes


class _Powers:
    """``_BASE`` and its inverse to the powers 0..n, grown as longer texts come."""

    def __init__(self) -> None:
        self.up = np.ones(1, dtype=np.uint64)
        self.down = np.ones(1, dtype=np.uint64)

    def upto(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Both power tables, at least ``n + 1`` long (integer overflow wraps: mod 2**64).

        They are as long as the longest batch text so far (16 bytes per character, 50 MB
        for a chunk of 2,000 news articles), with a little room so similar chunks reuse them.
        """
        if self.up.size <= n:
            size = n + 1 + n // 8
            self.up = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _BASE)], dtype=np.uint64)
            self.down = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _BASE_INVERSE)],
                                   dtype=np.uint64)
        return self.up, self.down


_POWERS = _Powers()


def token_hashes(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each token ``codes[starts[i]:ends[i]]``, whatever its position.

    Prefix sums of ``code * BASE**position`` give every token's polynomial at once; the
    inverse powers shift it to position 0, and the length is mixed in.  A collision
    between two of a process's (at most about a million) distinct words has a chance
    near 1e-8.
    """
    up, down = _POWERS.upto(codes.size)
    with np.errstate(over="ignore"):
        prefix = np.zeros(codes.size + 1, dtype=np.uint64)
        np.cumsum(codes.astype(np.uint64) * up[: codes.size], out=prefix[1:])
        shifted = (prefix[ends] - prefix[starts]) * down[starts]
        return (shifted ^ (ends - starts).astype(np.uint64)) * _MIX


def token_spans(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of every token in ``codes``: :func:`words`' tokens, found in numpy."""
    classes = char_classes()[codes]
    word = classes == 1
    starts = np.flatnonzero(word & np.r_[True, ~word[:-1]])
    ends = np.flatnonzero(word & np.r_[~word[1:], True]) + 1
    single = np.flatnonzero(classes == 2)
    if single.size:
        order = np.argsort(np.r_[starts, single], kind="stable")
        starts, ends = np.r_[starts, single][order], np.r_[ends, single + 1][order]
    return starts, ends


def code_points(text: str) -> np.ndarray:
    """The code points of a text (lone surrogates included) as uint32."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class Vocabulary:
    """Ids for the distinct words this process has seen, and facts computed once per word.

    News repeats its vocabulary: hashing, screening or stemming a word once per process
    and gathering the results by id afterwards (numpy) costs a fraction of doing it per
    token, and one id look-up per token serves both the dedup and cluster stages.  Words
    are known by their :func:`token_hashes`, so a batch of tokens needs no string per
    token; a word's string is made once, when it is new.  It only remembers, so results
    never depend on what it has seen.
    """

    def __init__(self, capacity: int = 1 << 20) -> None:
        self.capacity = capacity
        self._ids = IntTable()
        self._words: list[str] = []
        self._facts: dict[Hashable, tuple[np.ndarray, np.ndarray]] = {}

    def make_room(self) -> None:
        """Forget everything once over capacity.  Ids change, so only between batches."""
        if len(self._words) > self.capacity:
            self._ids = IntTable()
            self._words.clear()
            self._facts.clear()

    def ids_of_hashes(self, hashes: np.ndarray,
                      spell: Callable[[np.ndarray], list[str]]) -> np.ndarray:
        """The id of every token given by its hash; ``spell`` gives the strings of tokens
        (by index into ``hashes``) and is asked only for words new to this process."""
        found = self._ids.get(hashes)
        missing = np.flatnonzero(found == MISSING)
        if missing.size:
            distinct, first, inverse = np.unique(hashes[missing], return_index=True,
                                                 return_inverse=True)
            new = np.arange(len(self._words), len(self._words) + distinct.size)
            self._ids.add(distinct, new)
            self._words += spell(missing[first])
            found[missing] = new[inverse.ravel()]
        return found

    def ids(self, words: Sequence[str]) -> np.ndarray:
        """The id of every word in a list (for tokens made as strings, like n-grams)."""
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        ends = np.cumsum(lengths + 1) - 1
        hashes = token_hashes(code_points("\n".join(words)), ends - lengths, ends)
        return self.ids_of_hashes(hashes, lambda picked: [words[i] for i in picked.tolist()])

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

    Field ``2 * i`` is article i's title and ``2 * i + 1`` its body.  Tokens are spans of
    one case-folded text holding every field, with one hash and one vocabulary id each:
    no string per token (making them was half the cost of tokenising), and vocabulary
    look-ups, word hashing and column gathers run once per batch.  The dedup and cluster
    stages read the same tokens.
    """

    raw: list[str]  # per field, as given
    text: str  # every field case-folded, joined by newlines
    starts: np.ndarray  # int64 per token: where it starts in ``text``
    ends: np.ndarray  # int64 per token: where it ends
    hashes: np.ndarray  # uint64 per token: :func:`token_hashes`
    ids: np.ndarray  # int64 per token: its id in VOCABULARY, valid until the next batch
    bounds: np.ndarray  # int64 (fields + 1): field f's tokens are bounds[f]:bounds[f + 1]
    line_breaks: np.ndarray  # int64: where each newline of ``text`` is

    def __len__(self) -> int:
        return len(self.raw) // 2

    def token(self, index: int) -> str:
        """One token as a string."""
        return self.text[self.starts[index] : self.ends[index]]

    def positions(self, fields: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of these fields' tokens, in this order, and the field of each."""
        starts, lengths = self.bounds[fields], np.diff(self.bounds)[fields]
        offsets = np.cumsum(lengths) - lengths
        index = np.arange(int(lengths.sum())) + np.repeat(starts - offsets, lengths)
        return index, np.repeat(fields, lengths)


def documents(titles: Sequence[str], texts: Sequence[str]) -> Documents:
    """Tokenise a batch of articles; word ids stay valid until the next batch is made."""
    VOCABULARY.make_room()
    raw = [field for pair in zip(titles, texts, strict=True) for field in pair]
    folded = [field.casefold() for field in raw]
    text = "\n".join(folded)
    codes = code_points(text)
    starts, ends = token_spans(codes)
    field_starts = np.cumsum([0, *(len(field) + 1 for field in folded)])
    bounds = np.searchsorted(starts, field_starts).astype(np.int64)
    hashes = token_hashes(codes, starts, ends)
    ids = VOCABULARY.ids_of_hashes(hashes, lambda picked: [
        text[start:end] for start, end in zip(starts[picked].tolist(), ends[picked].tolist(),
                                              strict=True)])
    return Documents(raw=raw, text=text, starts=starts, ends=ends, hashes=hashes, ids=ids,
                     bounds=bounds, line_breaks=np.flatnonzero(codes == 10))
