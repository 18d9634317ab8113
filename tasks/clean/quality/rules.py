"""Quality rules: Gopher quality and repetition, C4 and FineWeb, as datatrove 0.10.1 has them.

Same rules, same defaults and same reason names as datatrove's GopherRepetitionFilter,
GopherQualityFilter, C4QualityFilter and FineWebQualityFilter, applied in the order of its
FineWeb pipeline. The difference is the cost: datatrove runs spaCy over a document twice and
once more per line C4 keeps, and joins every n-gram into a string; here words, lines and
n-grams (as integer ids) are measured once, in a `Features` object the rules share
(features.py), with the words spaCy would split (words.py).
bench/clean_rules.py runs both on the same documents and counts where they disagree. The
thresholds are `QualityConfig` in tasks/config/clean.py.

`check(text, config)` is the entry point: the text after C4's line removal and the reason the
document is dropped, or None. Every threshold set to None turns its check off, and a whole
filter set to None skips it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

from lmkiln.tasks.clean.quality.features import (
    Features,
    duplicates,
    repeated_ngrams_exceed,
    top_ngram_exceeds,
)
from lmkiln.tasks.clean.quality.words import TERMINAL_PUNCTUATION, sentence_count
from lmkiln.tasks.config.clean import (
    C4Config,
    FineWebConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
    QualityConfig,
)

# Reasons, named as datatrove names them.
EMPTY = "empty"
GOPHER_SHORT_DOC = "gopher_short_doc"
GOPHER_LONG_DOC = "gopher_long_doc"
GOPHER_BELOW_AVG_WORD_LENGTH = "gopher_below_avg_threshold"
GOPHER_ABOVE_AVG_WORD_LENGTH = "gopher_above_avg_threshold"
GOPHER_TOO_MANY_HASHES = "gopher_too_many_hashes"
GOPHER_TOO_MANY_ELLIPSIS = "gopher_too_many_ellipsis"
GOPHER_TOO_MANY_BULLETS = "gopher_too_many_bullets"
GOPHER_TOO_MANY_END_ELLIPSIS = "gopher_too_many_end_ellipsis"
GOPHER_BELOW_ALPHA = "gopher_below_alpha_threshold"
GOPHER_STOP_WORDS = "gopher_enough_stop_words"  # datatrove's name: too few stop words
DUP_PARA_FRAC = "dup_para_frac"
DUP_PARA_CHAR_FRAC = "dup_para_char_frac"
DUP_LINE_FRAC = "dup_line_frac"
DUP_LINE_CHAR_FRAC = "dup_line_char_frac"
LOREM_IPSUM = "lorem_ipsum"
CURLY_BRACKET = "curly_bracket"
TOO_FEW_SENTENCES = "too_few_sentences"
LINE_PUNCT_RATIO = "line_punct_ratio"
SHORT_LINE_RATIO = "short_line_ratio"
CHAR_DUP_RATIO = "char_dup_ratio"
LIST_RATIO = "list_ratio"


def top_ngram_reason(n: int) -> str:
    return f"top_{n}_gram"


def dup_ngram_reason(n: int) -> str:
    return f"duplicated_{n}_n_grams"


def gopher_repetition(features: Features, config: GopherRepetitionConfig) -> str | None:
    text = features.text
    if not text:
        return EMPTY
    paragraphs = features.paragraphs
    count, chars = duplicates(paragraphs)
    if config.dup_para_frac is not None and count / len(paragraphs) > config.dup_para_frac:
        return DUP_PARA_FRAC
    if config.dup_para_char_frac is not None and chars / len(text) > config.dup_para_char_frac:
        return DUP_PARA_CHAR_FRAC
    lines = features.newline_lines
    count, chars = duplicates(lines)
    if config.dup_line_frac is not None and count / len(lines) > config.dup_line_frac:
        return DUP_LINE_FRAC
    if config.dup_line_char_frac is not None and chars / len(text) > config.dup_line_char_frac:
        return DUP_LINE_CHAR_FRAC
    for n, frac in config.top_n_grams.items():
        if frac is not None and top_ngram_exceeds(features.ngrams, n, frac * len(text)):
            return top_ngram_reason(n)
    for n, frac in config.dup_n_grams.items():
        if frac is not None and repeated_ngrams_exceed(features.ngrams, n, frac * len(text)):
            return dup_ngram_reason(n)
    return None


def gopher_quality(features: Features, config: GopherQualityConfig) -> str | None:
    text, n_words = features.text, len(features.word_ids)
    kept, kept_chars, letters = features.word_kinds
    if config.min_doc_words is not None and kept < config.min_doc_words:
        return GOPHER_SHORT_DOC
    if config.max_doc_words is not None and kept > config.max_doc_words:
        return GOPHER_LONG_DOC
    if n_words == 0:  # datatrove divides by zero here
        return EMPTY
    if kept:  # the mean of nothing is NaN for datatrove, and NaN passes both checks
        mean = kept_chars / kept
        if config.min_avg_word_length is not None and mean < config.min_avg_word_length:
            return GOPHER_BELOW_AVG_WORD_LENGTH
        if config.max_avg_word_length is not None and mean > config.max_avg_word_length:
            return GOPHER_ABOVE_AVG_WORD_LENGTH
    if (ratio := config.max_symbol_word_ratio) is not None:
        if text.count("#") / n_words > ratio:
            return GOPHER_TOO_MANY_HASHES
        if (text.count("...") + text.count("…")) / n_words > ratio:
            return GOPHER_TOO_MANY_ELLIPSIS
    lines = features.lines
    if (ratio := config.max_bullet_lines_ratio) is not None:
        bullets = sum(line.lstrip().startswith(("•", "-")) for line in lines)
        if bullets / len(lines) > ratio:
            return GOPHER_TOO_MANY_BULLETS
    if (ratio := config.max_ellipsis_lines_ratio) is not None:
        ellipses = sum(line.rstrip().endswith(("...", "…")) for line in lines)
        if ellipses / len(lines) > ratio:
            return GOPHER_TOO_MANY_END_ELLIPSIS
    if (ratio := config.max_non_alpha_words_ratio) is not None:
        if letters / n_words < ratio:
            return GOPHER_BELOW_ALPHA
    if config.min_stop_words is not None:
        if features.distinct(tuple(set(config.stop_words))) < config.min_stop_words:
            return GOPHER_STOP_WORDS
    return None


_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_END_PUNCTUATION = (".", "?", "!", '"', "'")
_POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


class C4Result(NamedTuple):
    text: str  # the kept lines, stripped, one per line
    reason: str | None
    removed: Counter[str]  # lines removed, by rule, named as datatrove's stats


def c4_quality(features: Features, config: C4Config) -> C4Result:
    sentences, kept = 0, []
    removed: Counter[str] = Counter()
    for line in features.lines:
        line = line.strip()
        chunks = line.split()
        if (
            config.max_word_length is not None
            and max(map(len, chunks), default=0) > config.max_word_length
        ):
            removed["too_long_word"] += 1
            continue
        if config.remove_citations and "[" in line:
            line = _CITATION.sub("", line)
        if config.filter_no_terminal_punct and (
            not line.endswith(_END_PUNCTUATION) or line.endswith("...")
        ):
            removed["no_terminal_punc"] += 1
            continue
        if config.min_words_per_line is not None and len(chunks) < config.min_words_per_line:
            removed["too_few_words"] += 1
            continue
        lower = line.lower()
        if config.filter_lorem_ipsum and "lorem ipsum" in lower:
            return C4Result(features.text, LOREM_IPSUM, removed)
        if config.filter_javascript and "javascript" in lower:
            removed["javascript"] += 1
            continue
        if config.filter_curly_bracket and "{" in line:
            return C4Result(features.text, CURLY_BRACKET, removed)
        if config.filter_policy and any(phrase in lower for phrase in _POLICY):
            removed["policy"] += 1
            continue
        if config.min_num_sentences is not None:
            sentences += sentence_count(line)
        kept.append(line)
    if config.min_num_sentences is not None and sentences < config.min_num_sentences:
        return C4Result(features.text, TOO_FEW_SENTENCES, removed)
    return C4Result("\n".join(kept).strip(), None, removed)


def fineweb_quality(features: Features, config: FineWebConfig) -> str | None:
    lines = features.nonblank_lines
    if not lines:
        return EMPTY
    if config.line_punct_thr is not None:
        stops = TERMINAL_PUNCTUATION if config.stop_chars is None else set(config.stop_chars)
        if all(len(stop) == 1 for stop in stops):  # a set lookup instead of 159 endswith
            ends = sum(line[-1] in stops for line in lines)
        else:
            ends = sum(line.endswith(tuple(stops)) for line in lines)
        ratio = ends / len(lines)
        if ratio < config.line_punct_thr and not (ratio == 0 and config.line_punct_exclude_zero):
            return LINE_PUNCT_RATIO
    if config.short_line_thr is not None:
        short = sum(len(line) <= config.short_line_length for line in lines)
        if short / len(lines) > config.short_line_thr:
            return SHORT_LINE_RATIO
    if config.char_duplicates_ratio is not None:
        chars = duplicates(lines)[1]
        if chars / len(features.text.replace("\n", "")) > config.char_duplicates_ratio:
            return CHAR_DUP_RATIO
    if config.new_line_ratio is not None:
        if features.text.count("\n") / len(features.word_ids) > config.new_line_ratio:
            return LIST_RATIO
    return None


class Verdict(NamedTuple):
    text: str  # after C4's line removal; as it was when dropped
    reason: str | None  # None: kept


def check(text: str, config: QualityConfig) -> Verdict:
    """Run the filters in datatrove's FineWeb order on one document."""
    features = Features(text)
    if config.gopher_repetition and (
        reason := gopher_repetition(features, config.gopher_repetition)
    ):
        return Verdict(text, reason)
    if config.gopher_quality and (reason := gopher_quality(features, config.gopher_quality)):
        return Verdict(text, reason)
    if config.c4:
        text, reason, _ = c4_quality(features, config.c4)
        if reason:
            return Verdict(text, reason)
        if text != features.text:
            features = Features(text)
    if config.fineweb and (reason := fineweb_quality(features, config.fineweb)):
        return Verdict(text, reason)
    return Verdict(text, None)
