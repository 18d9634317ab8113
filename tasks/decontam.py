"""Decontamination: a training document that copies text from a validation document is
dropped, so validation loss measures generalisation, not recall.

The split is a hash of the document id (tasks/split.py), so the clean stage already knows
which side each document will land on. Validation documents are never dropped here; a
training document is dropped when at least `min_overlap` of its word `ngram_words`-grams
(lower-cased, 13 by default as in GPT-3's decontamination) occur in validation documents of
the corpus, tonight's included. One shared 13-gram is as often a licence line or a menu as a
leak; a fifth of a document is a copy.

Only new training documents are checked: a training document kept on an earlier night
stays, even if a validation document that arrives later shares text with it (the model
has already seen it; dropping it now would not undo that).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np

_WORD = re.compile(r"\w+")


def ngram_hashes(text: str, n: int) -> np.ndarray:
    """64-bit hashes of the text's word n-grams (lower-cased), unique and sorted."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < n:
        return np.empty(0, dtype=np.uint64)
    grams = (" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1))
    values = [int.from_bytes(hashlib.blake2b(g, digest_size=8).digest(), "big") for g in grams]
    return np.unique(np.array(values, dtype=np.uint64))


class ValidationNgrams:
    """The n-grams of every validation document seen, as one sorted array."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._parts: list[np.ndarray] = []
        self._merged = np.empty(0, dtype=np.uint64)

    def add(self, texts: Iterable[str]) -> None:
        self._parts.extend(ngram_hashes(text, self.n) for text in texts)

    def _index(self) -> np.ndarray:
        if self._parts:
            self._merged = np.unique(np.concatenate([self._merged, *self._parts]))
            self._parts = []
        return self._merged

    def __len__(self) -> int:
        return len(self._index())

    def overlap(self, text: str) -> float:
        """The share of the text's n-grams that occur in a validation document."""
        index = self._index()
        grams = ngram_hashes(text, self.n)
        if not len(index) or not len(grams):
            return 0.0
        at = np.searchsorted(index, grams).clip(max=len(index) - 1)
        return float((index[at] == grams).mean())
