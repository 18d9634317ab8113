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

The validation side's n-grams are kept beside the clean table (`store_folder`): one sorted
file of 64-bit hashes, memory-mapped, covering the table up to a row, and tonight's in memory.
`open_validation` brings the file level with the table (reading only rows it does not cover,
or every row when the settings changed or the table was replaced), and `save` merges
tonight's into it after the night's last commit, chunk by chunk, so neither time nor memory
grows with the corpus except the single pass that copies the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lmkiln.tasks.config.split import SplitConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import LakeRef, assign_split

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
    """The n-grams of every validation document seen: `stored`, a sorted array (the file's
    memory map), and those added since, merged into a sorted array when next looked up."""

    def __init__(self, n: int, stored: np.ndarray | None = None) -> None:
        self.n = n
        self.stored = stored if stored is not None else np.empty(0, dtype=np.uint64)
        self._parts: list[np.ndarray] = []
        self._added = np.empty(0, dtype=np.uint64)

    def add(self, texts: Iterable[str]) -> None:
        self._parts.extend(ngram_hashes(text, self.n) for text in texts)

    @property
    def added(self) -> np.ndarray:
        """The n-grams added since `stored`, sorted and unique."""
        if self._parts:
            self._added = np.unique(np.concatenate([self._added, *self._parts]))
            self._parts = []
        return self._added

    def __len__(self) -> int:
        return len(self.stored) + len(np.setdiff1d(self.added, self.stored, assume_unique=True))

    def overlap(self, text: str, extra: np.ndarray | None = None) -> float:
        """The share of the text's n-grams that occur in a validation document (or in
        `extra`, sorted n-grams of validation documents not added yet)."""
        grams = ngram_hashes(text, self.n)
        if not len(grams):
            return 0.0
        found = _contains(self.stored, grams) | _contains(self.added, grams)
        if extra is not None:
            found |= _contains(extra, grams)
        return float(found.mean())


def _contains(index: np.ndarray, values: np.ndarray) -> np.ndarray:
    if not len(index):
        return np.zeros(len(values), dtype=bool)
    at = np.searchsorted(index, values).clip(max=len(index) - 1)
    return index[at] == values


DATA, META = "validation-ngrams.u64", "meta.json"
MERGE_CHUNK = 1 << 20  # stored values merged at a time: 8 MB


def store_folder(clean_table: str) -> Path:
    """Where the validation n-grams of a clean table live: beside it, like its lock file."""
    return Path(f"{clean_table.rstrip('/')}.decontam")


def _fingerprint(n: int, split: SplitConfig) -> dict:
    return {"ngram_words": n, "validation_fraction": split.validation_fraction, "salt": split.salt}


def open_validation(
    folder: Path, n: int, split: SplitConfig, clean: LakeRef | None
) -> ValidationNgrams:
    """The validation n-grams of `clean` (the table's head): the stored file, brought level
    with the table first. Rows it does not cover are read from the table (a crash after a
    commit of the table, before `save`); a file made with other settings, or for a table
    that was replaced or cut back, is made again from every row."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = _read_meta(folder)
    covered = meta.get("rows", 0) if meta.get("fingerprint") == _fingerprint(n, split) else -1
    if clean is None or covered < 0 or covered > clean.rows or not _same_table(clean, meta):
        covered, start = 0, 0
        _write(folder, np.empty(0, dtype=np.uint64), n, split, clean, rows=0)
    else:
        start = covered
    ngrams = ValidationNgrams(n, _load(folder))
    if clean is not None and start < clean.rows:
        fraction, salt = split.validation_fraction, split.salt
        for row in lake.read(clean, ("id", "text", "reason"), start=start):
            if not row["reason"] and assign_split(row["id"], fraction, salt) == "validation":
                ngrams.add([row["text"]])
        save(folder, ngrams, split, clean)
        ngrams = ValidationNgrams(n, _load(folder))
    return ngrams


def save(folder: Path, ngrams: ValidationNgrams, split: SplitConfig, clean: LakeRef) -> None:
    """Merge the n-grams added since the file was read into it, covering `clean`."""
    merged = _merged_file(folder, ngrams.stored, ngrams.added)
    _write(folder, None, ngrams.n, split, clean, rows=clean.rows, data=merged)


def _merged_file(folder: Path, stored: np.ndarray, added: np.ndarray) -> Path:
    """A new file of the union of two sorted unique arrays, `stored` read a chunk at a time."""
    temporary = folder / f"{DATA}.tmp"
    with temporary.open("wb") as out:
        taken = 0
        for lo in range(0, len(stored), MERGE_CHUNK):
            part = np.asarray(stored[lo : lo + MERGE_CHUNK])
            upto = int(np.searchsorted(added, part[-1], side="right"))
            out.write(np.union1d(part, added[taken:upto]).astype("<u8").tobytes())
            taken = upto
        out.write(added[taken:].astype("<u8").tobytes())
        out.flush()
        os.fsync(out.fileno())
    return temporary


def _write(
    folder: Path,
    values: np.ndarray | None,
    n: int,
    split: SplitConfig,
    clean: LakeRef | None,
    rows: int,
    data: Path | None = None,
) -> None:
    """Replace the data file (with `values`, or the file `data`), then the meta file. A crash
    between the two leaves more n-grams than the meta file says: adding them again is a no-op."""
    if data is None:
        data = folder / f"{DATA}.tmp"
        data.write_bytes(values.astype("<u8").tobytes() if values is not None else b"")
    os.replace(data, folder / DATA)
    last_id = ""
    if clean is not None and rows:
        last_id = next(lake.read(clean, ("id",), start=rows - 1, stop=rows))["id"]
    meta = {"fingerprint": _fingerprint(n, split), "rows": rows, "last_id": last_id}
    (folder / f"{META}.tmp").write_text(json.dumps(meta))
    os.replace(folder / f"{META}.tmp", folder / META)


def _read_meta(folder: Path) -> dict:
    try:
        return json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return {}


def _same_table(clean: LakeRef, meta: dict) -> bool:
    """Whether the last covered row holds the same document (a replaced table fails this)."""
    rows = meta.get("rows", 0)
    if not rows:
        return True
    found = next(lake.read(clean, ("id",), start=rows - 1, stop=rows), None)
    return found is not None and found["id"] == meta.get("last_id")


def _load(folder: Path) -> np.ndarray:
    path = folder / DATA
    if not path.is_file() or not path.stat().st_size:
        return np.empty(0, dtype=np.uint64)
    return np.memmap(path, dtype="<u8", mode="r")
