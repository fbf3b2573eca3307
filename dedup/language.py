"""Language stage: an ISO 639-1 code and a confidence for every cleaned article.

langdetect is random unless seeded; every call here builds its detector with the fixed
seed from the config, so the same text always gets the same answer in any process.  It
runs on a bounded, evenly sampled slice of the text: cost stays flat for long articles,
and sampling across the whole text (not just the lead) resists a foreign-language quote
or a leftover English footer deciding the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from langdetect import DetectorFactory
from langdetect.detector_factory import PROFILES_DIRECTORY
from langdetect.lang_detect_exception import LangDetectException

UNDETERMINED = "und"
# langdetect's region variants and legacy codes mapped onto ISO 639-1.
CODE_MAP = {"zh-cn": "zh", "zh-tw": "zh", "iw": "he", "in": "id", "jw": "jv"}
LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class LanguageConfig:
    """Language detection settings."""

    # Seed for langdetect's sampling: fixed so that detection is reproducible.
    seed: int = 0
    # Characters of text given to the detector, sampled evenly from the article. More is
    # slightly more accurate on mixed texts and proportionally slower.
    sample_chars: int = 1200
    # Below this many letters the text is too short to call: the result is "und".
    min_letters: int = 12
    # A language given in the input (`lang`) is used instead of detection when true.
    trust_input: bool = False


@dataclass(slots=True)
class Detected:
    """The outcome of detection for one article."""

    lang: str
    confidence: float


def detect_language(title: str, text: str, cfg: LanguageConfig) -> Detected:
    """Detect the language of an article from its title and an even sample of its text."""
    sample = sample_text(title, text, cfg.sample_chars)
    if len(LETTER.findall(sample)) < cfg.min_letters:
        return Detected(UNDETERMINED, 0.0)
    detector = factory(cfg.seed).create()
    detector.append(sample)
    try:
        best = detector.get_probabilities()[0]
    except (LangDetectException, IndexError):
        return Detected(UNDETERMINED, 0.0)
    return Detected(iso_code(best.lang), round(float(best.prob), 4))


def iso_code(code: str) -> str:
    """langdetect's code as ISO 639-1 (``zh-cn`` -> ``zh``)."""
    return CODE_MAP.get(code, code.split("-")[0])


def sample_text(title: str, text: str, budget: int) -> str:
    """Title plus lines taken at even steps through the text until ``budget`` characters."""
    lines = [line for line in text.split("\n") if line.strip()]
    total = sum(len(line) for line in lines)
    if len(title) + total <= budget:
        return "\n".join([title, *lines])
    picked = [title[:budget]]
    used = len(picked[0])
    fitting = max(1, round(len(lines) * max(1, budget - used) / max(1, total)))
    for index in evenly_spaced(len(lines), fitting):
        if used >= budget:
            break
        piece = lines[index][: budget - used]
        picked.append(piece)
        used += len(piece)
    return "\n".join(picked)


def evenly_spaced(count: int, wanted: int) -> list[int]:
    """``wanted`` indices spread evenly over ``range(count)``, then the rest in order."""
    if count == 0:
        return []
    stride = max(1, count // max(1, wanted))
    first = list(range(0, count, stride))
    chosen = set(first)
    return first + [i for i in range(count) if i not in chosen]


@cache
def factory(seed: int) -> DetectorFactory:
    """langdetect's profiles, loaded once per process (about a second), seeded.

    The seed is set on the factory, which copies it into every detector it creates; a
    detector re-seeds its generator from it on each call, so results never depend on what
    was detected before in the same process.
    """
    loaded = DetectorFactory()
    loaded.load_profile(PROFILES_DIRECTORY)
    loaded.set_seed(seed)
    return loaded
