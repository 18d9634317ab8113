"""Scores of an extracted text against its gold text, the two kinds issue 16 quotes.

Tokens: runs of word characters (`\\w+`), except in scripts written without spaces between
words, Chinese, Japanese (kanji and kana), Korean (Hangul) and Thai, where every character is
a token of its own: `\\w+` would make one token of a whole sentence there, and one stray
character of furniture would cost the whole sentence.

Word level (`overlap`): the multisets of lowercased tokens of the output and of the gold; a
token counts as often as it is in both. Precision is matched / output tokens, recall matched /
gold tokens. An empty output has precision 1 only when the gold is empty too (0 otherwise), an
empty gold recall 1. Sets average precision, recall and F1 over pages (macro; F1 is the mean
of the pages' F1, not F1 of the means) and also add token counts over pages (micro).

Shingles (`shingles`, `shingle_scores`): the Zyte article benchmark's own metric, as its
evaluate.py computes it (in ../shared/devdata/article-extraction-benchmark/), with the
tokens above. Tokens keep their case, as there. A page's text is the multiset of its 4-token
shingles (a text of 1 to 3 tokens is one shorter shingle, an empty text none); true positives,
false positives and false negatives are counted over shingles, then divided by their sum, so
that a long page weighs no more than a short one. Per page, precision is 1 when there are no
false positives and no false negatives (both texts empty), 0 when the output matched nothing;
recall likewise. A set's precision is the mean over the pages that have any output, so an
empty output costs recall only; its recall the mean over pages with a gold text; its F1 comes
from those two means. A set where no page has output has precision 0 (evaluate.py fails).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

# Thai; Hangul jamo; CJK marks (々〆〇); kana; Hangul compatibility jamo; katakana extension;
# CJK ideographs (extension A, unified, compatibility); Hangul jamo extended A, syllables,
# extended B; halfwidth katakana; the supplementary ideograph planes.
UNSPACED = (
    "\u0e01-\u0e3a\u0e40-\u0e4e\u0e50-\u0e59\u1100-\u11ff\u3005-\u3007\u3041-\u30ff"
    "\u3131-\u318e\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff"
    "\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)
TOKEN = re.compile(f"[{UNSPACED}]|[^\\W{UNSPACED}]+")
SHINGLE_TOKENS = 4  # evaluate.py's ngram_n


def tokens(text: str, lower: bool = True) -> list[str]:
    """Word tokens, one per character in unspaced scripts; punctuation is not one."""
    return TOKEN.findall(text.lower() if lower else text)


@dataclass(frozen=True)
class Overlap:
    """Word-level overlap of one output with its gold text (or of several, added up)."""

    matched: int  # tokens in both, counted with multiplicity
    predicted: int
    gold: int

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else float(not self.gold)

    @property
    def recall(self) -> float:
        return self.matched / self.gold if self.gold else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def __add__(self, other: Overlap) -> Overlap:
        return Overlap(
            self.matched + other.matched, self.predicted + other.predicted, self.gold + other.gold
        )


def overlap(predicted: str, gold: str) -> Overlap:
    predicted_bag, gold_bag = Counter(tokens(predicted)), Counter(tokens(gold))
    matched = sum((predicted_bag & gold_bag).values())
    return Overlap(matched, sum(predicted_bag.values()), sum(gold_bag.values()))


def excess(predicted: str, gold: str) -> tuple[Counter[str], Counter[str]]:
    """Tokens the output has beyond the gold, and tokens of the gold it lacks."""
    predicted_bag, gold_bag = Counter(tokens(predicted)), Counter(tokens(gold))
    return predicted_bag - gold_bag, gold_bag - predicted_bag


@dataclass(frozen=True)
class Shingles:
    """One page's shingle counts, as shares of their sum (all 0 when both texts are empty)."""

    tp: float
    fp: float
    fn: float

    @property
    def precision(self) -> float:
        if self.fp == self.fn == 0:
            return 1.0
        return self.tp / (self.tp + self.fp) if self.tp or self.fp else 0.0

    @property
    def recall(self) -> float:
        if self.fp == self.fn == 0:
            return 1.0
        return self.tp / (self.tp + self.fn) if self.tp or self.fn else 0.0


def _shingles(text: str) -> Counter[tuple[str, ...]]:
    words = tokens(text, lower=False)
    count = max(1, len(words) - SHINGLE_TOKENS + 1)
    return Counter(tuple(words[i : i + SHINGLE_TOKENS]) for i in range(count) if words)


def shingles(predicted: str, gold: str) -> Shingles:
    predicted_bag, gold_bag = _shingles(predicted), _shingles(gold)
    tp = sum((predicted_bag & gold_bag).values())
    fp = sum((predicted_bag - gold_bag).values())
    fn = sum((gold_bag - predicted_bag).values())
    total = tp + fp + fn
    return Shingles(tp / total, fp / total, fn / total) if total else Shingles(0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float


def word_scores(pages: Sequence[Overlap]) -> Scores:
    """Macro averages over pages."""
    return Scores(
        statistics.fmean(page.precision for page in pages),
        statistics.fmean(page.recall for page in pages),
        statistics.fmean(page.f1 for page in pages),
    )


def micro_scores(pages: Sequence[Overlap]) -> Scores:
    total = sum(pages, Overlap(0, 0, 0))
    return Scores(total.precision, total.recall, total.f1)


def shingle_scores(pages: Sequence[Shingles]) -> Scores:
    """evaluate.py's aggregate: mean precision over pages with output, mean recall over pages
    with a gold text, F1 of the two means."""
    with_output = [page.precision for page in pages if page.tp + page.fp > 0]
    with_gold = [page.recall for page in pages if page.tp + page.fn > 0]
    precision = statistics.fmean(with_output) if with_output else 0.0
    recall = statistics.fmean(with_gold) if with_gold else 0.0
    total = precision + recall
    return Scores(precision, recall, 2 * precision * recall / total if total else 0.0)
