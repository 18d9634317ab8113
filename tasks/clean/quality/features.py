"""What the quality rules measure in a document, computed once and shared by every rule.

`Features(text)` computes each measure on first use: lines (split three ways, as the three datatrove
filters split them), paragraphs, words (words.py), and n-grams as integer ids in
numpy arrays, so that counting and comparing them costs no string joins and no Python loop per word.
Also datatrove's duplicate counts (`find_duplicates`, `find_top_duplicate`, `find_all_duplicate`),
computed from the ids.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import cached_property

import numpy as np

from lmkiln.tasks.clean.quality.words import (
    LETTER,
    NOT_SYMBOL,
    TOKENS,
    kinds_array,
    lengths_array,
    token_id,
    token_ids,
)

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
        """The words as token ids (lmkiln.tasks.clean.quality.words.TOKENS)."""
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
        grams = self.ngrams
        kinds = kinds_array()[grams.words]
        not_symbol = (kinds & NOT_SYMBOL).astype(bool)
        chars = int(grams.lengths[not_symbol].sum())
        return int(not_symbol.sum()), chars, int(np.count_nonzero(kinds & LETTER))

    def distinct(self, words: tuple[str, ...]) -> int:
        """How many of `words` the text holds."""
        vocabulary = self.ngrams.vocabulary[0]
        ids = np.array([i for i in map(token_id, words) if i is not None], dtype=np.int64)
        if not len(ids) or not len(vocabulary):
            return 0
        found = np.searchsorted(vocabulary, ids)
        return int(np.count_nonzero(vocabulary[np.minimum(found, len(vocabulary) - 1)] == ids))

    @cached_property
    def ngrams(self) -> NGrams:
        return NGrams(self.word_ids)


_EMPTY = np.zeros(0, dtype=np.int64)


def _first_positions(keys: np.ndarray) -> np.ndarray:
    """For each key, the index of its first occurrence in `keys`."""
    if not len(keys):
        return _EMPTY
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first[inverse]


class NGrams:
    """The n-grams of a list of words that occur more than once, as integer ids.

    An n-gram's id is the position where the same n-gram first occurs. Each size is built
    from the one below, looking only at the positions where the shorter n-gram repeats:
    an n-gram can repeat only where its first n-1 words do. A key is (id of the first n-1
    words, id of the last word) as one int64, and every step is a numpy pass over the
    positions. Positions and ids are int64 arrays.
    """

    def __init__(self, word_ids: list[int]) -> None:
        self.size = len(word_ids)
        self.words = np.array(
            word_ids, dtype=np.int64
        )  # token ids (lmkiln.tasks.clean.quality.words.TOKENS)
        self.base = max(len(TOKENS), self.size) + 1  # above every token id and position
        self.lengths = lengths_array()[self.words]
        self.offsets = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=self.offsets[1:])
        self._ids: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._later: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._groups: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._counts: dict[int, np.ndarray] = {}
        self._values: dict[tuple[int, int], int] = {}
        self._runs: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @cached_property
    def vocabulary(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct token ids, in increasing order, and how often each occurs."""
        return np.unique(self.words, return_counts=True)

    def ids(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions, in order, of the n-grams that may repeat (all of them for n <= 2),
        and their ids."""
        if n not in self._ids:
            if n <= 2:
                words = self.words
                keys = words if n == 1 else words[:-1] * self.base + words[1:]
                self._ids[n] = np.arange(len(keys)), _first_positions(keys)
            else:
                shorter, shorter_ids = self.groups(n - 1)
                fits = int(np.searchsorted(shorter, self.size - n, side="right"))
                positions = shorter[:fits]
                keys = shorter_ids[:fits] * self.base + self.words[positions + (n - 1)]
                self._ids[n] = positions, positions[_first_positions(keys)]
        return self._ids[n]

    def later(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the n-grams equal to an earlier one, in order, and their ids."""
        if n not in self._later:
            positions, ids = self.ids(n)
            later = ids != positions
            self._later[n] = positions[later], ids[later]
        return self._later[n]

    def groups(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions, in order, of the n-grams that occur more than once, and their ids."""
        if n not in self._groups:
            positions, ids = self.ids(n)
            repeated = np.zeros(self.size, dtype=bool)
            repeated[self.later(n)[1]] = True
            kept = repeated[ids]
            self._groups[n] = positions[kept], ids[kept]
        return self._groups[n]

    def counts(self, n: int) -> np.ndarray:
        """counts[id]: how often the n-gram with that id occurs among those that may repeat."""
        if n not in self._counts:
            self._counts[n] = np.bincount(self.ids(n)[1], minlength=1)
        return self._counts[n]

    def top(self, n: int) -> tuple[int, int]:
        """The most frequent n-gram, as (id, count); the first seen among equals, as with
        Counter.most_common (argmax takes the lowest id: the earliest first position).
        With no repeats, the first n-gram, which may not be among those counted."""
        if not len(self.later(n)[0]):
            return 0, 1
        counts = self.counts(n)
        first = int(counts.argmax())
        return first, int(counts[first])

    def value(self, n: int, extra: int = 0) -> int:
        """The most that (characters + n - 1 + extra) times count comes to for one n-gram
        that may repeat."""
        key = (n, extra)
        if key not in self._values:
            if n == 1:
                tokens, times = self.vocabulary
                lengths = lengths_array()[tokens] + extra
            else:
                counts = self.counts(n)
                ids = np.flatnonzero(counts)
                times = counts[ids]
                lengths = self.offsets[ids + n] - self.offsets[ids] + (n - 1 + extra)
            self._values[key] = int((lengths * times).max()) if len(times) else 0
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
            longest = int(self.lengths.max()) if self.size else 0
            bound = min(bound, self.value(m, (n - m) * (longest + 1)))
        return max(bound, self.chars(0, n) + n - 1)

    def runs(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Words and characters of each stretch of words covered by m-grams equal to an
        earlier one. A counted n-gram (n >= m) lies in one such stretch of n words or more:
        each of its m-grams equals the one as far into its earlier copy."""
        if m not in self._runs:
            later, _ = self.later(m)
            if not len(later):
                self._runs[m] = _EMPTY, _EMPTY
            else:
                # A stretch ends where the next repeated m-gram starts past the last one's end.
                breaks = np.flatnonzero(np.diff(later) > m) + 1
                starts = later[np.concatenate(([0], breaks))]
                stops = later[np.concatenate((breaks - 1, [len(later) - 1]))] + m
                chars = self.offsets[stops] - self.offsets[starts]
                self._runs[m] = stops - starts, chars
        return self._runs[m]

    def deepest(self, below: int) -> int:
        """The largest size under `below` with ids so far (at least 1)."""
        return max((m for m in self._ids if m < below), default=1)

    def chars(self, start: int, n: int) -> int:
        """Characters of the n-gram at `start`, its words joined without spaces."""
        return int(self.offsets[start + n] - self.offsets[start])


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
    # Not None: the text has at least n words, as checked above.
    return top_ngram_chars(grams, n) > limit  # type: ignore[operator]


def repeated_ngram_chars(grams: NGrams, n: int) -> int:
    """Characters of n-grams equal to an earlier counted one, words joined without spaces
    (find_all_duplicate). datatrove walks every position: an n-gram it has seen counts and
    the walk jumps past it, and n-grams jumped over are not remembered. Only positions that
    are not first occurrences can count, so only those are visited here."""
    counted: list[int] = []  # positions that counted, each followed by a jump of n
    seen: set[int] = set()  # n-grams remembered at later occurrences
    chars = walk = 0
    positions, firsts = grams.later(n)
    offsets = grams.offsets.tolist()
    for position, first in zip(positions.tolist(), firsts.tolist(), strict=True):
        if position < walk:  # jumped over
            continue
        jumps = bisect_left(counted, first)
        first_remembered = jumps == 0 or first >= counted[jumps - 1] + n
        if first in seen or first_remembered:
            chars += offsets[position + n] - offsets[position]
            counted.append(position)
            walk = position + n
        seen.add(first)
    return int(chars)


def repeated_ngrams_exceed(grams: NGrams, n: int, limit: float) -> bool:
    """repeated_ngram_chars(grams, n) > limit. Counted n-grams do not overlap and each lies in
    a stretch of repeated m-grams at least n words long (`runs`), so those stretches bound
    them; sizes m are measured one by one from the deepest known while the bound says no."""
    for m in range(max(grams.deepest(n), 2), n):
        words, chars = grams.runs(m)
        if chars[words >= n].sum() <= limit:
            return False
    return repeated_ngram_chars(grams, n) > limit
