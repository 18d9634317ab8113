"""What the quality rules measure in a document, computed once and shared by every rule.

`Features(text)` computes each measure on first use: lines (split three ways, as the three
datatrove filters split them), paragraphs, words (tasks/wordsplit.py), and n-grams as integer
ids, so that counting and comparing them costs no string joins. Also datatrove's duplicate
counts (`find_duplicates`, `find_top_duplicate`, `find_all_duplicate`), computed from the ids.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from itertools import accumulate, compress, count, repeat
from operator import add, and_, ge, gt, mul, ne, sub

from tasks.wordsplit import (
    KINDS,
    LENGTHS,
    LETTER,
    NOT_SYMBOL,
    TERMINAL_PUNCTUATION,
    TOKENS,
    token_id,
    token_ids,
)

__all__ = ["TERMINAL_PUNCTUATION", "Features", "NGrams"]

_PARAGRAPHS = re.compile(r"\n{2,}")
_NEWLINES = re.compile(r"\n+")


class Features:
    """One text's measures, each computed on first use."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def lines(self) -> list[str]:
        """`str.splitlines()`: Gopher quality's and C4's lines."""
        return self.text.splitlines()

    @cached_property
    def word_ids(self) -> list[int]:
        """The words as token ids (tasks.wordsplit.TOKENS)."""
        return token_ids(self.text)

    @property
    def words(self) -> list[str]:
        return list(map(TOKENS.__getitem__, self.word_ids))

    @cached_property
    def newline_lines(self) -> list[str]:
        """Gopher repetition's lines: split on runs of newlines."""
        return _NEWLINES.split(self.text)

    @cached_property
    def paragraphs(self) -> list[str]:
        """Gopher repetition's paragraphs: split on blank lines."""
        return _PARAGRAPHS.split(self.text.strip())

    @cached_property
    def nonblank_lines(self) -> list[str]:
        """FineWeb's lines: split on newlines, blank ones left out, not stripped."""
        return [line for line in self.text.split("\n") if line.strip()]

    @cached_property
    def word_kinds(self) -> tuple[int, int, int]:
        """Words with a character that is not punctuation, and their characters (Gopher's
        word count and mean length); words with a letter in them."""
        counts = self.ngrams.word_counts
        times = list(counts.values())
        kinds = list(map(KINDS.__getitem__, counts))
        not_symbols = list(map(and_, kinds, repeat(NOT_SYMBOL)))
        chars = sum(compress(map(mul, times, map(LENGTHS.__getitem__, counts)), not_symbols))
        letters = sum(compress(times, map(and_, kinds, repeat(LETTER))))
        return sum(compress(times, not_symbols)), chars, letters

    def distinct(self, words: tuple[str, ...]) -> int:
        """How many of `words` the text holds."""
        counts = self.ngrams.word_counts
        return sum(token_id(word) in counts for word in words)

    @cached_property
    def ngrams(self) -> NGrams:
        return NGrams(self.word_ids)


class NGrams:
    """The n-grams of a list of words that occur more than once, as integer ids.

    An n-gram's id is the position where the same n-gram first occurs. Each size is built
    from the one below, looking only at the positions where the shorter n-gram repeats:
    an n-gram can repeat only where its first n-1 words do. A key is (id of the first n-1
    words, id of the last word) as one int, and every step is a C-level pass over ints.
    """

    def __init__(self, word_ids: list[int]) -> None:
        self.size = len(word_ids)
        self.word_ids = word_ids  # token ids (tasks.wordsplit.TOKENS)
        self.base = max(len(TOKENS), self.size) + 1  # above every token id and position
        self.offsets = list(accumulate(map(LENGTHS.__getitem__, word_ids), initial=0))
        self.word_counts = Counter(word_ids)
        self._ids: dict[int, tuple[Sequence[int], list[int]]] = {}
        self._later: dict[int, tuple[list[int], list[int]]] = {}
        self._groups: dict[int, tuple[list[int], list[int]]] = {}
        self._counts: dict[int, Counter[int]] = {}
        self._values: dict[tuple[int, int], int] = {}
        self._runs: dict[int, tuple[list[int], list[int]]] = {}
        self._longest_word = -1

    def ids(self, n: int) -> tuple[Sequence[int], list[int]]:
        """Positions, in order, of the n-grams that may repeat (all of them for n <= 2),
        and their ids."""
        if n not in self._ids:
            if n == 1:
                firsts: dict[int, int] = {}
                self._ids[1] = (
                    range(self.size),
                    list(map(firsts.setdefault, self.word_ids, count())),
                )
            elif n == 2:  # most words repeat: every position
                words, firsts = self.word_ids, {}
                keys = map(add, map(mul, words, repeat(self.base)), words[1:])
                ids = list(map(firsts.setdefault, keys, count()))
                self._ids[2] = range(len(ids)), ids
            else:
                shorter, shorter_ids = self.groups(n - 1)
                fits = bisect_right(shorter, self.size - n)
                positions = shorter[:fits]
                lasts = map(self.word_ids.__getitem__, map(add, positions, repeat(n - 1)))
                keys = map(add, map(mul, shorter_ids[:fits], repeat(self.base)), lasts)
                firsts = {}
                self._ids[n] = positions, list(map(firsts.setdefault, keys, positions))
        return self._ids[n]

    def later(self, n: int) -> tuple[list[int], list[int]]:
        """Positions of the n-grams equal to an earlier one, in order, and their ids."""
        if n not in self._later:
            positions, ids = self.ids(n)
            later = list(map(ne, ids, positions))
            self._later[n] = list(compress(positions, later)), list(compress(ids, later))
        return self._later[n]

    def groups(self, n: int) -> tuple[list[int], list[int]]:
        """Positions, in order, of the n-grams that occur more than once, and their ids."""
        if n not in self._groups:
            positions, ids = self.ids(n)
            repeated = set(self.later(n)[1])
            kept = list(map(repeated.__contains__, ids))
            self._groups[n] = list(compress(positions, kept)), list(compress(ids, kept))
        return self._groups[n]

    def counts(self, n: int) -> Counter[int]:
        """n-gram id -> count, for the n-grams that may repeat, in order of first position."""
        if n not in self._counts:
            self._counts[n] = Counter(self.ids(n)[1])
        return self._counts[n]

    def top(self, n: int) -> tuple[int, int]:
        """The most frequent n-gram, as (id, count); the first seen among equals, as with
        Counter.most_common: both count in order of position. With no repeats, the first
        n-gram, which may not be among those counted."""
        if not self.later(n)[0]:
            return 0, 1
        return self.counts(n).most_common(1)[0]

    def value(self, n: int, extra: int = 0) -> int:
        """The most that (characters + n - 1 + extra) times count comes to for one n-gram
        that may repeat."""
        key = (n, extra)
        if key not in self._values and n == 1:
            lengths = map(add, map(LENGTHS.__getitem__, self.word_counts), repeat(extra))
            self._values[key] = max(map(mul, lengths, self.word_counts.values()), default=0)
        if key not in self._values:
            times = self.counts(n)
            ids, offsets = list(times), self.offsets
            ends = map(offsets.__getitem__, map(add, ids, repeat(n)))
            lengths = map(add, map(sub, ends, map(offsets.__getitem__, ids)), repeat(n - 1 + extra))
            self._values[key] = max(map(mul, lengths, times.values()), default=0)
        return self._values[key]

    def top_bound(self, n: int, limit: float) -> int:
        """At least top_ngram_chars(n), or at least above `limit`, from the deepest size m
        counted below n; an n-gram that repeats is a repeated m-gram and n - m words, and
        occurs no more often than either. So (its characters + n - 1) times its count is at
        most value(m) plus n - m times the most a word with its space comes to; or value(m)
        with the longest words and spaces added. Unless nothing repeats: then it is the
        first n-gram's own length."""
        m = self.deepest(n)
        bound = self.value(m) + (n - m) * self.value(1, 1)
        if bound > limit:
            if self._longest_word < 0:
                self._longest_word = max(map(sub, self.offsets[1:], self.offsets), default=0)
            bound = min(bound, self.value(m, (n - m) * (self._longest_word + 1)))
        return max(bound, self.chars(0, n) + n - 1)

    def runs(self, m: int) -> tuple[list[int], list[int]]:
        """Words and characters of each stretch of words covered by m-grams equal to an
        earlier one. A counted n-gram (n >= m) lies in one such stretch of n words or more:
        each of its m-grams equals the one as far into its earlier copy."""
        if m not in self._runs:
            later, _ = self.later(m)
            # A stretch ends where the next repeated m-gram starts past the last one's end.
            breaks = list(
                compress(range(1, len(later)), map(gt, map(sub, later[1:], later), repeat(m)))
            )
            starts = [*later[:1], *map(later.__getitem__, breaks)]
            stops = [*map(add, map(later.__getitem__, map(sub, breaks, repeat(1))), repeat(m))]
            stops += [later[-1] + m] if later else []
            offsets = self.offsets
            chars = map(sub, map(offsets.__getitem__, stops), map(offsets.__getitem__, starts))
            self._runs[m] = list(map(sub, stops, starts)), list(chars)
        return self._runs[m]

    def deepest(self, below: int) -> int:
        """The largest size under `below` with ids so far (at least 1)."""
        return max((m for m in self._ids if m < below), default=1)

    def chars(self, start: int, n: int) -> int:
        """Characters of the n-gram at `start`, its words joined without spaces."""
        return self.offsets[start + n] - self.offsets[start]


def duplicates(items: list[str]) -> tuple[int, int]:
    """Items equal to an earlier one: how many, and their characters (find_duplicates)."""
    if len(set(items)) == len(items):
        return 0, 0
    seen: set[str] = set()
    repeats = chars = 0
    for item in items:
        if item in seen:
            repeats += 1
            chars += len(item)
        else:
            seen.add(item)
    return repeats, chars


def top_ngram_chars(grams: NGrams, n: int) -> int | None:
    """The most frequent n-gram's length, words joined by spaces, times its count
    (datatrove's find_top_duplicate). None: fewer than n words."""
    if grams.size < n:
        return None
    first, times = grams.top(n)
    return (grams.chars(first, n) + n - 1) * times


def top_ngram_exceeds(grams: NGrams, n: int, limit: float) -> bool:
    """top_ngram_chars(grams, n) > limit, without counting where a bound says no."""
    if grams.size < n or (n > 1 and grams.top_bound(n, limit) <= limit):
        return False
    return top_ngram_chars(grams, n) > limit  # type: ignore[operator]


def repeated_ngram_chars(grams: NGrams, n: int) -> int:
    """Characters of n-grams equal to an earlier counted one, words joined without spaces
    (find_all_duplicate). datatrove walks every position: an n-gram it has seen counts and
    the walk jumps past it, and n-grams jumped over are not remembered. Only positions that
    are not first occurrences can count, so only those are visited here."""
    counted: list[int] = []  # positions that counted, each followed by a jump of n
    seen: set[int] = set()  # n-grams remembered at later occurrences
    chars = walk = 0
    for position, first in zip(*grams.later(n), strict=True):
        if position < walk:  # jumped over
            continue
        jumps = bisect_left(counted, first)
        first_remembered = jumps == 0 or first >= counted[jumps - 1] + n
        if first in seen or first_remembered:
            chars += grams.chars(position, n)
            counted.append(position)
            walk = position + n
        seen.add(first)
    return chars


def repeated_ngrams_exceed(grams: NGrams, n: int, limit: float) -> bool:
    """repeated_ngram_chars(grams, n) > limit. Counted n-grams do not overlap and each lies in
    a stretch of repeated m-grams at least n words long (`runs`), so those stretches bound
    them; sizes m are measured one by one from the deepest known while the bound says no."""
    for m in range(max(grams.deepest(n), 2), n):
        words, chars = grams.runs(m)
        if sum(compress(chars, map(ge, words, repeat(n)))) <= limit:
            return False
    return repeated_ngram_chars(grams, n) > limit
