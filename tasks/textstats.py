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
from functools import cached_property
from itertools import accumulate, compress, count, repeat
from operator import add, and_, gt, mul, ne, sub

from tasks.wordsplit import SENTENCE_ENDS, words

# datatrove.utils.text (Apache-2.0): PUNCTUATION, and TERMINAL_PUNCTUATION, which holds the
# sentencizer's characters and these. A word made only of either is a "symbol" word.
PUNCTUATION = (
    "!/\u2014\u201d:\uff05\uff11\u3008&(\u3001\u2501\\\u3010#%\u300c\u300d\uff0c\u3011\uff1b+^]~"
    "\u201c\u300a\u201e';\u2019{|\u2236\xb4[=-`*\uff0e\uff08\u2013\uff1f\uff01\uff1a$\uff5e\xab"
    '\u3009,><\u300b)?\uff09\u3002\u2026@_."}\u25ba\xbb'
    + "".join(map(chr, [*range(0, 9), 11, 12, *range(13, 32), *range(127, 160)]))
)
TERMINAL_PUNCTUATION = SENTENCE_ENDS | frozenset(
    "\u061d\u061e\u0837\u0839\u083d\u083e\u17d4\u17d5\u17d6\u17d9\u17da\u1b7d\u1b7e\u2e53\u2e54"
    "\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89"
    "\U00011944\U00011946\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016e98"
)
SYMBOL_CHARS = PUNCTUATION + "".join(TERMINAL_PUNCTUATION)
_PARAGRAPHS = re.compile(r"\n{2,}")
_NEWLINES = re.compile(r"\n+")


# A word's kind: bits, and never 0, so that a missing one shows as None.
KNOWN, NOT_SYMBOL, LETTER = 1, 2, 4
_KINDS: dict[str, int] = {}


def _kind(word: str) -> int:
    kind = KNOWN | (NOT_SYMBOL if word.strip(SYMBOL_CHARS) else 0)
    kind |= LETTER if any(c.isalpha() for c in word) else 0
    if len(_KINDS) >= 500_000:
        _KINDS.clear()
    _KINDS[word] = kind
    return kind


class Features:
    """One text's measures, each computed on first use."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def lines(self) -> list[str]:
        """`str.splitlines()`: Gopher quality's and C4's lines."""
        return self.text.splitlines()

    @cached_property
    def words(self) -> list[str]:
        return words(self.text)

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
    def word_counts(self) -> dict[str, int]:
        """Each distinct word and its count: per-word measures look at each word once."""
        counts = self.ngrams.word_counts
        return dict(zip(map(self.words.__getitem__, counts), counts.values(), strict=True))

    @cached_property
    def word_kinds(self) -> tuple[int, int, int]:
        """Words with a character that is not punctuation, and their characters (Gopher's
        word count and mean length); words with a letter in them."""
        counts = self.word_counts
        kinds = list(map(_KINDS.get, counts))
        if None in kinds:
            kinds = [kind or _kind(word) for kind, word in zip(kinds, counts, strict=True)]
        times = list(counts.values())
        not_symbols = list(map(and_, kinds, repeat(NOT_SYMBOL)))
        chars = sum(compress(map(mul, times, map(len, counts)), not_symbols))
        letters = sum(compress(times, map(and_, kinds, repeat(LETTER))))
        return sum(compress(times, not_symbols)), chars, letters

    @cached_property
    def ngrams(self) -> NGrams:
        return NGrams(self.words)


class NGrams:
    """The n-grams of a list of words that occur more than once, as integer ids.

    An n-gram's id is the position where the same n-gram first occurs. Each size is built
    from the one below, looking only at the positions where the shorter n-gram repeats:
    an n-gram can repeat only where its first n-1 words do. A key is (id of the first n-1
    words, id of the last word) as one int, and every step is a C-level pass over ints.
    """

    def __init__(self, words: list[str]) -> None:
        self.size = len(words)
        firsts: dict[str, int] = {}
        self.word_ids = list(map(firsts.setdefault, words, count()))
        self.offsets = list(accumulate(map(len, words), initial=0))  # characters before
        self._groups: dict[int, tuple[list[int], list[int]]] = {}
        self._top: dict[int, tuple[int, int]] = {}
        self._later: dict[int, tuple[list[int], list[int]]] = {}
        self._runs: dict[int, list[tuple[int, int]]] = {}
        self._heaviest_word = -1

    @property
    def word_counts(self) -> Counter[int]:
        """Word id -> count, in order of first occurrence."""
        self.groups(1)
        return self._word_counts

    def groups(self, n: int) -> tuple[list[int], list[int]]:
        """Positions, in order, of the n-grams that occur more than once, and their ids."""
        if n not in self._groups:
            if n == 1:
                positions, ids = list(range(self.size)), self.word_ids
            else:
                shorter, shorter_ids = self.groups(n - 1)
                fits = bisect_right(shorter, self.size - n)
                positions = shorter[:fits]
                lasts = map(self.word_ids.__getitem__, map(add, positions, repeat(n - 1)))
                keys = map(add, map(mul, shorter_ids[:fits], repeat(self.size + 1)), lasts)
                firsts: dict[int, int] = {}
                ids = list(map(firsts.setdefault, keys, positions))
            times = Counter(ids)
            if n == 1:
                self._word_counts = times
            top_id, top_times = times.most_common(1)[0] if ids else (0, 1)
            # With no repeats the most frequent is the first n-gram, which may be left out.
            self._top[n] = (top_id, top_times) if top_times > 1 else (0, 1)
            repeated = list(map(gt, map(times.__getitem__, ids), repeat(1)))
            self._groups[n] = list(compress(positions, repeated)), list(compress(ids, repeated))
        return self._groups[n]

    def later(self, n: int) -> tuple[list[int], list[int]]:
        """Positions of the n-grams equal to an earlier one, in order, and their ids."""
        if n not in self._later:
            positions, ids = self.groups(n)
            later = list(map(ne, ids, positions))
            self._later[n] = list(compress(positions, later)), list(compress(ids, later))
        return self._later[n]

    def top(self, n: int) -> tuple[int, int]:
        """The most frequent n-gram, as (id, count); the first seen among equals, as with
        Counter.most_common: both count in order of position."""
        if n not in self._top:
            self.groups(n)
        return self._top[n]

    def top_bound(self, n: int) -> int:
        """At least top_ngram_chars(n), from shorter sizes. An n-gram occurs no more often
        than any of its words or its first n-1 words, so (its characters + n - 1) times its
        count is at most n times the most characters any one word takes in all, plus n - 1
        times the most frequent word's count; or the longest n-gram times the count of the
        most frequent shorter one."""
        if self._heaviest_word < 0:  # the most characters one word takes in all
            ids, offsets = list(self.word_counts), self.offsets
            ends = map(offsets.__getitem__, map(add, ids, repeat(1)))
            lengths = map(sub, ends, map(offsets.__getitem__, ids))
            self._heaviest_word = max(map(mul, lengths, self.word_counts.values()), default=0)
        bound = n * self._heaviest_word + (n - 1) * self._top[1][1]
        times = min(times for m, (_, times) in self._top.items() if m < n)
        if times * (self.size + n) < bound:  # worth a pass over the offsets
            longest = max(map(sub, self.offsets[n:], self.offsets), default=0) + n - 1
            bound = min(bound, times * longest)
        return bound

    def runs(self, m: int) -> list[tuple[int, int]]:
        """(words, characters) of each stretch of words covered by m-grams equal to an
        earlier one. A counted n-gram (n >= m) lies in one such stretch of n words or more:
        each of its m-grams equals the one as far into its earlier copy."""
        if m not in self._runs:
            later, _ = self.later(m)
            # A stretch ends where the next repeated m-gram starts past the last one's end.
            gaps = map(gt, map(sub, later[1:], later), repeat(m))
            ends = list(compress(range(1, len(later)), gaps))
            starts = [later[0], *map(later.__getitem__, ends)] if later else []
            stops = [later[i - 1] + m for i in ends] + ([later[-1] + m] if later else [])
            offsets = self.offsets
            chars = map(sub, map(offsets.__getitem__, stops), map(offsets.__getitem__, starts))
            self._runs[m] = list(zip(map(sub, stops, starts), chars, strict=True))
        return self._runs[m]

    def deepest(self, below: int) -> int:
        """The largest size under `below` measured so far (at least 1)."""
        return max((m for m in self._groups if m < below), default=1)

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
    if grams.size < n or (n > 1 and grams.top_bound(n) <= limit):
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
        if sum(chars for words, chars in grams.runs(m) if words >= n) <= limit:
            return False
    return repeated_ngram_chars(grams, n) > limit
