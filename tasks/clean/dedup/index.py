"""Near-duplicate detection with MinHash LSH against a persisted index of the kept corpus.

A document is a near duplicate of an earlier kept one when their sets of word 3-grams (after
lowercasing and dropping punctuation, accents and digit runs) have a Jaccard similarity of about
0.7 or more. MinHash with 128 hash functions estimates that similarity; LSH finds the
candidates: the 128 values are cut into b = 32 bands of r = 4, and two documents that agree
on a whole band are compared. The chance of that for similarity s is

    P(candidate | s) = 1 - (1 - s^r)^b          b = 32, r = 4

    s                     0.3    0.5    0.6    0.65   0.7    0.75   0.8    0.9
    32 x 4 bands          0.229  0.873  0.988  0.998  0.9998 1.000  1.000  1.000
    32 x 4 + check 0.7    0.000  0.000  0.010  0.120  0.512  0.905  0.997  1.000
    datatrove's 14 x 8    0.001  0.053  0.211  0.365  0.565  0.772  0.924  1.000

so the bands find nearly every pair at 0.6 and above, and a candidate is then a duplicate only
if its signatures agree on `min_similarity` (0.7) of the 128 positions (an estimate with a
standard error of 0.04 near 0.7; the "+ check" line is simulated in bench/neardup.py). The check
sets the threshold; the bands only have to be loose enough not to lose pairs above it.

Why these: a word edit removes every shingle it is in, so shorter shingles survive scattered
edits better. With 3% of words substituted, 3-grams keep a Jaccard similarity of about 0.83
(5-grams: 0.75), so such copies are caught 99.7% of the time on the labelled set, where
datatrove's default (5-grams, 14 bands of 8) catches 78%. Text moved in blocks (a header and a
footer added, the end cut, half the text shared) moves the similarity alike for any shingle
size, and there 0.7 sits near the midpoint of datatrove's curve (0.72), so no more unrelated
pages are merged (none on the labelled set; datatrove merged 8 half copies). Looser bands
without the check would merge pages that share half their text (bench/results/neardup.md
measures each choice).

Incremental and crash-safe: the index (SQLite, beside the clean table; see `index_path`) holds
for every kept row of the clean table its band keys and its signature, and the clean table's
row count and commit it covers. `check` stages what it keeps in an open transaction that
`commit` ends after the clean table's own commit; on `open`, an index behind the table (a crash
between the two commits) re-indexes the table's missing kept rows from their text, one ahead
(committed against a table that was not) drops its rows past the table's end, and one made for
a table that was replaced (its last indexed row holds another document), or with other shingle
or band settings, is rebuilt. Only kept documents are indexed, so near dedup must be the
clean stage's last keep/drop decision: a document it keeps and a later rule drops would stay in
an uninterrupted run's index but not in one re-indexed from the table.

The index also answers which ids are kept (`known`), so exact dedup needs no set of the
corpus's ids either. Memory is a batch's arrays plus SQLite's page cache (64 MB), whatever the
corpus size; on disk a kept document takes about 0.85 KB (32 band keys, a 256-byte signature,
its id twice: in the row and in the id index).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from types import TracebackType

import numpy as np

from lmkiln.tasks.clean.dedup.minhash import MinHasher, Normalisation
from lmkiln.tasks.config.clean import NearDedupConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import LakeRef

INDEX_VERSION = 1  # bump when the stored keys or signatures change meaning
REINDEX_BATCH = 1024  # documents hashed at a time when the index catches up with the table
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (row INTEGER PRIMARY KEY, id TEXT NOT NULL,
                                 signature BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS bands (key INTEGER NOT NULL, row INTEGER NOT NULL,
                                  PRIMARY KEY (key, row)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS docs_id ON docs (id);
"""


def fingerprint(config: NearDedupConfig) -> str:
    """What the stored keys and signatures depend on (min_similarity is applied later)."""
    fields = config.model_dump(exclude={"min_similarity"})
    return json.dumps({"version": INDEX_VERSION, **fields}, sort_keys=True)


def hasher(config: NearDedupConfig) -> MinHasher:
    normalisation = Normalisation(
        config.lowercase, config.strip_punctuation, config.fold_numbers, config.strip_accents
    )
    return MinHasher(
        config.shingle_words, config.bands, config.rows_per_band, config.seed, normalisation
    )


@dataclass(frozen=True)
class Duplicate:
    of: str  # id of the kept document it duplicates
    row: int  # that document's row in the clean table
    similarity: float  # estimated Jaccard similarity of the two


def index_path(clean_table: str) -> Path:
    """Where the index of a clean table lives: beside it, like its lock file."""
    return Path(f"{clean_table.rstrip('/')}.neardup") / "index.sqlite"


class NearDupIndex:
    """Band keys and signatures of every kept row of a clean table, on disk.

    Use it under the clean table's write lock, from `open` to `commit`:

        with lake.exclusive(path):
            head = lake.head(path)
            with NearDupIndex.open(index_path(path), config, head) as index:
                for batch in batches:  # (row in the clean table, id, normalised text)
                    duplicates = index.check(batch)  # Duplicate or None, in batch order
                ref = lake.append(path, rows, lake.CLEAN_TABLE, message)
                index.commit(ref)
    """

    def __init__(self, db: sqlite3.Connection, config: NearDedupConfig) -> None:
        self._db = db
        self.config = config
        self._hasher = hasher(config)
        self._next_row = 0  # a checked row must be at least this: past what is covered or staged

    @classmethod
    def open(cls, path: Path, config: NearDedupConfig, clean: LakeRef | None) -> NearDupIndex:
        """Open (or create) the index and bring it level with `clean`, the table's head."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, timeout=60)
        db.execute("PRAGMA journal_mode=WAL")
        # A power cut may lose the last commit; `open` re-indexes it from the table then.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-65536")  # KiB: 64 MB of pages, whatever the corpus size
        db.executescript(_SCHEMA)
        index = cls(db, config)
        try:
            index._reconcile(clean)
        except BaseException:
            db.close()
            raise
        index._next_row = index.covered[0]
        return index

    @property
    def covered(self) -> tuple[int, str]:
        """(rows, commit) of the clean table that the committed index covers."""
        values = dict(self._db.execute("SELECT name, value FROM meta"))
        return int(values.get("rows", 0)), values.get("commit", "")

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM docs").fetchone()[0]

    def known(self, ids: Iterable[str]) -> set[str]:
        """Those of `ids` that a kept document has (committed or staged): exact dedup
        against the whole corpus without holding its ids in memory."""
        query = "SELECT DISTINCT id FROM docs WHERE id IN (SELECT value FROM json_each(?))"
        return {row[0] for row in self._db.execute(query, (json.dumps(sorted(set(ids))),))}

    def check(self, docs: Sequence[tuple[int, str, str]]) -> list[Duplicate | None]:
        """For each (row, id, text) in order: the kept document it duplicates, or None.

        Compared with the index and with the documents kept before it in this batch and in
        earlier batches since `commit`; a document found to be new is staged into the index
        at its row (rows must increase), so the first of a set of near-copies is kept.
        """
        if not docs:
            return []
        rows = [row for row, _, _ in docs]
        if rows[0] < self._next_row or any(b <= a for a, b in zip(rows, rows[1:], strict=False)):
            raise ValueError(
                f"near-dup check: rows must increase from {self._next_row} (the rows covered "
                "or staged so far); the clean table's row of each document is expected"
            )
        stored = _stored(self._hasher.signatures([text for _, _, text in docs]))
        key_array = self._hasher.band_keys(stored)  # (n, bands)
        keys = key_array.tolist()
        hits = self._lookup({key for doc_keys in keys for key in doc_keys})
        known = self._signatures({row for found in hits.values() for row in found})
        batch_rows: dict[int, list[int]] = {}  # band key -> batch positions kept in this batch
        results: list[Duplicate | None] = []
        kept: list[int] = []
        for i, doc_keys in enumerate(keys):
            stored_rows = {r for key in doc_keys for r in hits.get(key, ())}
            batch = {p for key in doc_keys for p in batch_rows.get(key, ())}
            found = None
            if stored_rows or batch:
                found = self._best(stored[i], stored_rows, known, batch, stored, docs)
            results.append(found)
            if found is None:
                kept.append(i)
                for key in doc_keys:
                    batch_rows.setdefault(key, []).append(i)
        kept_rows = np.array([rows[i] for i in kept], dtype=np.int64)
        self._stage(
            [(docs[i][0], docs[i][1], stored[i].tobytes()) for i in kept],
            key_array[kept],
            kept_rows,
        )
        self._next_row = rows[-1] + 1
        return results

    def commit(self, clean: LakeRef) -> None:
        """Make the staged documents durable, covering `clean` (the table's new head)."""
        if self._next_row > clean.rows:
            raise ValueError(
                f"near-dup index: row {self._next_row - 1} was checked but {clean.path} has "
                f"only {clean.rows} rows at {clean.commit}: commit the table's rows first"
            )
        self._begin()
        self._set_covered(clean.rows, clean.commit)
        self._db.execute("COMMIT")
        self._next_row = clean.rows

    def rollback(self) -> None:
        """Forget what was staged since the last commit."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        self._next_row = self.covered[0]

    def rebuild(self, clean: LakeRef | None) -> None:
        """Drop everything and index the kept rows of `clean` again (or nothing)."""
        self.rollback()
        self._begin()
        self._db.execute("DELETE FROM bands")
        self._db.execute("DELETE FROM docs")
        self._db.execute("DELETE FROM meta")
        self._db.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (fingerprint(self.config),))
        self._set_covered(0, "")
        self._db.execute("COMMIT")
        if clean is not None:
            self._reindex(clean, start=0)
        self._next_row = self.covered[0]

    def close(self) -> None:
        self.rollback()
        self._db.close()

    def __enter__(self) -> NearDupIndex:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType
    ) -> None:
        self.close()  # without a commit, what was staged is dropped

    def _reconcile(self, clean: LakeRef | None) -> None:
        stored = self._db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
        rows, _ = self.covered
        if stored is None or stored[0] != fingerprint(self.config):
            self.rebuild(clean)
        elif clean is None:
            if rows:
                self.rebuild(None)  # the table is gone: so is what it kept
        elif not self._same_table(clean, min(rows, clean.rows)):
            self.rebuild(clean)
        elif rows > clean.rows:
            self._truncate(clean)
        elif rows < clean.rows:
            self._reindex(clean, start=rows)

    def _same_table(self, clean: LakeRef, rows: int) -> bool:
        """Whether the last indexed row below `rows` holds the same document in the table.

        A table that was deleted and made again (its commit names restart) fails this.
        """
        last = self._db.execute(
            "SELECT row, id FROM docs WHERE row < ? ORDER BY row DESC LIMIT 1", (rows,)
        ).fetchone()
        if last is None:
            return True
        found = next(lake.read(clean, ("id",), start=last[0], stop=last[0] + 1), None)
        return found is not None and found["id"] == last[1]

    def _truncate(self, clean: LakeRef) -> None:
        """Drop rows at and past the table's end: they were never committed there."""
        self._begin()
        cursor = self._db.execute("SELECT signature, row FROM docs WHERE row >= ?", (clean.rows,))
        for chunk in iter(lambda: cursor.fetchmany(REINDEX_BATCH), []):
            keys = self._hasher.band_keys(np.stack([_unpack(blob) for blob, _ in chunk])).tolist()
            pairs = [(k, row) for (_, row), ks in zip(chunk, keys, strict=True) for k in ks]
            self._db.executemany("DELETE FROM bands WHERE key = ? AND row = ?", pairs)
        self._db.execute("DELETE FROM docs WHERE row >= ?", (clean.rows,))
        self._set_covered(clean.rows, clean.commit)
        self._db.execute("COMMIT")

    def _reindex(self, clean: LakeRef, start: int) -> None:
        """Index the kept rows of `clean` from `start` on, as they were decided, and commit."""
        rows = lake.read(clean, ("id", "text", "reason"), start=start)
        kept = ((start + i, r["id"], r["text"]) for i, r in enumerate(rows) if not r["reason"])
        self._begin()
        for chunk in _chunks(kept, REINDEX_BATCH):
            stored = _stored(self._hasher.signatures([text for _, _, text in chunk]))
            pairs = zip(chunk, stored, strict=True)
            self._stage(
                [(row, doc_id, signature.tobytes()) for (row, doc_id, _), signature in pairs],
                self._hasher.band_keys(stored),
                np.array([row for row, _, _ in chunk], dtype=np.int64),
            )
        self._set_covered(clean.rows, clean.commit)
        self._db.execute("COMMIT")
        self._next_row = clean.rows

    def _best(
        self,
        signature: np.ndarray,
        stored_rows: set[int],
        known: dict[int, tuple[str, np.ndarray]],
        batch: set[int],
        stored: np.ndarray,
        docs: Sequence[tuple[int, str, str]],
    ) -> Duplicate | None:
        """The most similar candidate (index rows, then earlier kept documents of the batch)."""
        candidates = [(row, *known[row]) for row in sorted(stored_rows)]
        candidates += [(docs[p][0], docs[p][1], stored[p]) for p in sorted(batch)]
        if not candidates:
            return None
        similarities = (np.stack([c[2] for c in candidates]) == signature).mean(axis=1)
        best = int(np.argmax(similarities))  # the earliest row among equals
        similarity = float(similarities[best])
        threshold = self.config.min_similarity
        if threshold is not None and similarity < threshold - 1e-9:
            return None
        row, doc_id, _ = candidates[best]
        return Duplicate(of=doc_id, row=row, similarity=round(similarity, 4))

    def _lookup(self, keys: set[int]) -> dict[int, list[int]]:
        """Rows of the index (committed or staged) under each of these band keys."""
        found: dict[int, list[int]] = {}
        query = "SELECT key, row FROM bands WHERE key IN (SELECT value FROM json_each(?))"
        for chunk in _chunks(iter(keys), 50_000):
            for key, row in self._db.execute(query, (json.dumps(chunk),)):
                found.setdefault(key, []).append(row)
        return found

    def _signatures(self, rows: set[int]) -> dict[int, tuple[str, np.ndarray]]:
        if not rows:
            return {}
        query = "SELECT row, id, signature FROM docs WHERE row IN (SELECT value FROM json_each(?))"
        found = self._db.execute(query, (json.dumps(sorted(rows)),))
        return {row: (doc_id, _unpack(blob)) for row, doc_id, blob in found}

    def _stage(
        self, docs: list[tuple[int, str, bytes]], keys: np.ndarray, rows: np.ndarray
    ) -> None:
        """Insert documents and their band keys (documents, bands) in the open transaction."""
        self._begin()
        self._db.executemany("INSERT INTO docs VALUES (?, ?, ?)", docs)
        flat_keys = keys.ravel()
        flat_rows = np.repeat(rows, keys.shape[1])
        order = np.argsort(flat_keys, kind="stable")  # the B-tree fills page after page
        pairs = zip(flat_keys[order].tolist(), flat_rows[order].tolist(), strict=True)
        self._db.executemany("INSERT OR IGNORE INTO bands VALUES (?, ?)", pairs)

    def _begin(self) -> None:
        if not self._db.in_transaction:
            self._db.execute("BEGIN IMMEDIATE")

    def _set_covered(self, rows: int, commit: str) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", [("rows", str(rows)), ("commit", commit)]
        )


def _stored(signatures: np.ndarray) -> np.ndarray:
    """The low 16 bits of each value: what is kept and compared (b-bit minwise hashing).

    Two different values agree on 16 bits with chance 1/65536, which moves an estimate by less
    than 0.0001, and a signature takes 256 bytes instead of 512.
    """
    return (signatures & 0xFFFF).astype("<u2")


def _unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u2")


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
