"""MinHash signatures and LSH band keys, vectorised with numpy (the arithmetic of
index.py).

A document becomes a set of shingles: its words (after the normalisation the config asks for)
hashed with xxh64, and each run of `shingle_words` words combined into one 64-bit hash. The
signature holds, for each of `bands * rows_per_band` hash functions h_i(x) = a_i x + b_i
mod 2^64 (a multiply-add-shift family: only the high 32 bits are kept), the smallest value over
the document's shingles; two signatures agree in one position with probability equal to the
Jaccard similarity of the two shingle sets. A band key hashes `rows_per_band` consecutive
positions together with the band's number, so two documents share a key exactly when they
agree on a whole band.

Speed comes from doing per document only what must be: one pass of `str`/`bytes` methods
(C loops) for the normalisation, one xxh64 call per word, and the (hashes x shingles) products
for a whole batch of documents at once, in cache-sized chunks, with the per-document minimum
taken by `np.minimum.reduceat`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import xxhash

_CHUNK_SHINGLES = 8192  # (hashes x chunk) uint64 products stay near 1 MB per band of rows
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's finaliser constants
_MIX_2 = np.uint64(0x94D049BB133111EB)
_EMPTY = np.array([0x9E3779B97F4A7C15], dtype=np.uint64)  # the one shingle of a text with no words

# Combining marks left by NFKD: accents come off, the base letter stays ("café" -> "cafe").
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Non-ASCII punctuation and symbols, as UTF-8 byte sequences: Latin-1 punctuation and no-break
# space, x and ÷, general punctuation (dashes, quotes, ellipsis, spaces), arrows to dingbats,
# CJK punctuation, full-width punctuation. Letters of every script are left alone.
_UNICODE_PUNCTUATION = re.compile(
    rb"\xc2[\xa0-\xbf]|\xc3[\x97\xb7]|\xe2\x80[\x80-\xbf]|\xe2\x81[\x80-\xaf]"
    rb"|\xe2[\x86-\xaf][\x80-\xbf]|\xe3\x80[\x80-\xbf]"
    rb"|\xef\xbc[\x81-\x8f\x9a-\xa0\xbb-\xbf]|\xef\xbd[\x80\x9b-\xa5]"
)
_ZEROS = re.compile(rb"0+")


def _byte_table(strip_punctuation: bool, fold_numbers: bool) -> bytes:
    table = bytearray(range(256))
    for code in range(128):
        char = chr(code)
        if strip_punctuation and not char.isalnum() and not char.isspace():
            table[code] = ord(" ")
        if fold_numbers and char.isdigit():
            table[code] = ord("0")
    return bytes(table)


@dataclass(frozen=True)
class Normalisation:
    lowercase: bool = True
    strip_punctuation: bool = True
    fold_numbers: bool = True
    strip_accents: bool = True

    @cached_property
    def _table(self) -> bytes:
        return _byte_table(self.strip_punctuation, self.fold_numbers)

    def words(self, text: str) -> list[bytes]:
        """The words shingles are made of, as UTF-8 bytes."""
        if self.strip_accents and not text.isascii():
            text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
        if self.lowercase:
            text = text.lower()
        data = text.encode("utf-8", "replace")
        if self.strip_punctuation and not data.isascii():
            data = _UNICODE_PUNCTUATION.sub(b" ", data)
        data = data.translate(self._table)
        if self.fold_numbers and b"0" in data:
            data = _ZEROS.sub(b"0", data)  # "2024" and "17" are both "0": dates and counts drift
        return data.split()


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place: every input bit reaches every output bit."""
    values ^= values >> np.uint64(30)
    values *= _MIX_1
    values ^= values >> np.uint64(27)
    values *= _MIX_2
    values ^= values >> np.uint64(31)
    return values


class MinHasher:
    """Signatures (documents x hashes, uint32) and band keys (documents x bands, int64)."""

    def __init__(
        self,
        shingle_words: int,
        bands: int,
        rows_per_band: int,
        seed: int,
        normalisation: Normalisation,
    ) -> None:
        self.shingle_words = shingle_words
        self.bands, self.rows = bands, rows_per_band
        self.hashes = bands * rows_per_band
        self.normalisation = normalisation
        rng = np.random.default_rng(seed)
        full = np.iinfo(np.uint64).max
        self._word_weights = rng.integers(1, full, size=shingle_words, dtype=np.uint64) | 1
        self._a = (rng.integers(1, full, size=self.hashes, dtype=np.uint64) | 1)[:, None]
        self._b = rng.integers(0, full, size=self.hashes, dtype=np.uint64)[:, None]
        self._row_weights = rng.integers(1, full, size=rows_per_band, dtype=np.uint64) | 1
        self._band_salts = rng.integers(0, full, size=bands, dtype=np.uint64)

    def shingles(self, text: str) -> np.ndarray:
        """Hashes of the text's runs of `shingle_words` words; a shorter text is one shingle."""
        words = self.normalisation.words(text)
        if not words:
            return _EMPTY
        hashed = np.fromiter(map(xxhash.xxh64_intdigest, words), np.uint64, len(words))
        k = min(self.shingle_words, len(words))
        count = len(words) - k + 1
        combined = hashed[:count] * self._word_weights[0]
        for j in range(1, k):
            combined += hashed[j : j + count] * self._word_weights[j]
        return _mix(combined)

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), hashes) uint32: each hash function's minimum over a text's shingles."""
        parts = [self.shingles(text) for text in texts]
        if not parts:
            return np.empty((0, self.hashes), dtype=np.uint32)
        lengths = np.fromiter(map(len, parts), np.int64, len(parts))
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        shingles = np.concatenate(parts)
        doc_of = np.repeat(np.arange(len(parts)), lengths)
        mins = np.full((len(parts), self.hashes), np.iinfo(np.uint64).max, dtype=np.uint64)
        buffer = np.empty((self.hashes, _CHUNK_SHINGLES), dtype=np.uint64)
        for lo in range(0, len(shingles), _CHUNK_SHINGLES):
            hi = min(lo + _CHUNK_SHINGLES, len(shingles))
            values = buffer[:, : hi - lo]  # (H, C)
            np.multiply(self._a, shingles[None, lo:hi], out=values)
            values += self._b
            # Segments: the chunk's first shingle, then every document that starts inside it.
            inside = starts[(starts > lo) & (starts < hi)] - lo
            segments = np.concatenate(([0], inside))
            docs = doc_of[lo + segments]
            partial = np.minimum.reduceat(values, segments, axis=1).T  # (segments, H)
            np.minimum(mins[docs], partial, out=partial)
            mins[docs] = partial
        return (mins >> np.uint64(32)).astype(np.uint32)

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """(documents, bands) int64 keys, non-negative so that SQLite stores them as is."""
        rows = signatures.reshape(len(signatures), self.bands, self.rows).astype(np.uint64)
        keys = (rows * self._row_weights).sum(axis=2, dtype=np.uint64) + self._band_salts
        return (_mix(keys) >> np.uint64(1)).astype(np.int64)
