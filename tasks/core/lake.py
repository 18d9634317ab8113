"""Deep Lake access: append rows and commit under a lock, read a table at a commit.

Every writer takes an exclusive file lock beside the dataset (or, for a dataset on s3://,
at the local `state` path that storage.lake_state gives), so concurrent source tasks
(threads here, processes elsewhere on one machine) append one after another; a stage that
reads a table's head to decide what to append holds the same lock across both (`exclusive`).
A dataset is only ever seen at a commit: rows appended by a writer that crashed before
committing are invisible to the next reader, which is what makes a crashed run safe to rerun.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from lmkiln.tasks.config.storage import is_s3
from lmkiln.tasks.core.records import DOCUMENT_COLUMNS, LakeRef
from lmkiln.tasks.core.storage import lake_creds

DOCUMENT_TABLE = DOCUMENT_COLUMNS
# Every raw row the clean stage has seen, with its decision: `reason` is empty when kept.
# One row per raw row makes the next night's start offset this table's row count, committed
# atomically with the rows; the quarantine is the rows whose reason is not empty.
CLEAN_TABLE = (*DOCUMENT_COLUMNS, "reason")
CORPUS_TABLE = (*DOCUMENT_COLUMNS, "split")
# Fetched records that could not become documents (storage.lake("quarantine")): `reason` says
# why (e.g. "missing_text"), `payload` is the record as JSON text, `url` the page it was on,
# `payload_sha256` the whole record's hash, which keeps a record once (quarantine.py).
QUARANTINE_TABLE = ("source", "kind", "reason", "url", "payload", "payload_sha256", "fetched_at")
# Every page the crawler fetched, with its raw HTML (gzip) and what the next night's
# conditional request needs; written after the documents, see tasks/collect/web/pages.py.
PAGE_TABLE = (
    "source",
    "url",
    "final_url",
    "status",
    "fetched_at",
    "headers",
    "etag",
    "last_modified",
    "links",
    "doc_id",
    "sha256",
    "html_gz",
    "extractor",  # name and version of what made doc_id's text (collect/extract/extractors.py)
)
# Columns added after their table was first released: an older table gains them on its next
# append, its earlier rows (and commits from before) reading back as "".
ADDED_COLUMNS = frozenset({"extractor"})
# Columns that hold bytes; every other column is text.
BYTES_COLUMNS = frozenset({"html_gz"})
READ_BATCH_ROWS = 2048  # rows fetched per read; keeps memory flat on large tables


_held = threading.local()  # lock files this thread holds, so `exclusive` can nest


@contextmanager
def file_lock(lock_path: Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """An exclusive flock, across threads and processes of one machine; re-entrant per thread.
    `waiting` is called once if another holder makes this one wait."""
    held: set[Path] = _held.__dict__.setdefault("paths", set())
    if lock_path in held:
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(handle, fcntl.LOCK_EX)
        held.add(lock_path)
        try:
            yield
        finally:
            held.discard(lock_path)
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_json_atomic(path: Path, value: Mapping[str, Any]) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename: a kill leaves
    the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        json.dump(value, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


def lock_file(path: str, state: Path | None = None) -> Path:
    """A table's lock file, always on local disk (flock): beside a local table, or at `state`."""
    if state is not None:
        return Path(f"{state}.lock")
    if is_s3(path):
        raise ValueError(
            f"lake table {path} is on S3, where a file lock cannot live; pass its local state "
            "path (storage.lake_state(name)) to the lake call"
        )
    return Path(f"{path.rstrip('/')}.lock")


def exclusive(path: str, state: Path | None = None) -> AbstractContextManager[None]:
    """Hold a table's write lock, e.g. from reading its head until appending what follows."""
    return file_lock(lock_file(path, state))


def exists(path: str) -> bool:
    import deeplake

    return deeplake.exists(path, creds=lake_creds(path))


def open_read_only(path: str) -> Any:
    import deeplake

    return deeplake.open_read_only(path, creds=lake_creds(path))


def _add_columns(ds: Any, columns: Sequence[str], message: str = "create table") -> None:
    import deeplake

    for column in columns:
        kind = deeplake.types.Bytes() if column in BYTES_COLUMNS else deeplake.types.Text()
        ds.add_column(column, kind)
    ds.commit(message)


def _columns(ds: Any) -> set[str]:
    return {column.name for column in ds.schema.columns}


def _open_for_write(path: str, columns: Sequence[str]) -> Any:
    import deeplake

    creds = lake_creds(path)
    if deeplake.exists(path, creds=creds):
        ds = deeplake.open(path, creds=creds)
        missing = [c for c in columns if c not in _columns(ds)]
        if added := [c for c in missing if c in ADDED_COLUMNS]:
            _add_columns(ds, added, f"add columns {', '.join(added)}")
            missing = [c for c in missing if c not in ADDED_COLUMNS]
        if missing and len(ds) == 0 and is_s3(path):
            _add_columns(ds, missing)  # a creation that crashed before its commit
        elif missing:
            raise ValueError(
                f"lake table {path} lacks columns {missing}: it was written by another version "
                "of lmkiln; move it aside or point storage.lake_root (or data_root) elsewhere"
            )
        return ds
    if is_s3(path):
        # S3 cannot rename a folder; a half-made table is finished by the branch above.
        ds = deeplake.create(path, creds=creds)
        _add_columns(ds, columns)
        return ds
    # Built aside and renamed into place: a crash mid-creation leaves no half-made table.
    staging = f"{path.rstrip('/')}.creating"
    shutil.rmtree(staging, ignore_errors=True)
    ds = deeplake.create(staging)
    _add_columns(ds, columns)
    del ds
    os.replace(staging, path)
    return deeplake.open(path)


def append(
    path: str,
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    message: str,
    state: Path | None = None,
) -> LakeRef:
    """Append rows in one commit; returns the new head. `state`: see `lock_file`.

    Deep Lake's metadata is not versioned, so progress markers live in the rows themselves.
    """
    # Built before touching the table: a failure here leaves nothing half-appended.
    batch = {c: [_value(c, row.get(c)) for row in rows] for c in columns}
    with exclusive(path, state):
        ds = _open_for_write(path, columns)
        if rows:
            ds.append(batch)
            ds.commit(message)
        return LakeRef(path=path, commit=ds.version, rows=len(ds))


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _value(column: str, value: object) -> str | bytes:
    if column in BYTES_COLUMNS:
        # A row's bytes, or the bytes-like value Deep Lake reads back: object to the checker.
        return bytes(value) if value is not None else b""  # type: ignore[call-overload]
    return _text(value)


def ids_committed_with(path: str, marker: str) -> set[str]:
    """The ids of the rows appended by the commits whose message holds `marker`: what a
    writer killed after its commit, and so never told it landed, already put in the table."""
    if not exists(path):
        return set()
    history = open_read_only(path).history  # its versions live as long as it does
    versions = [(version.id, version.message or "") for version in history]
    ids: set[str] = set()
    for (parent, _), (commit, message) in zip(versions, versions[1:], strict=False):
        if marker in message:
            before, after = len(history[parent].open()), history[commit].open()
            ids.update(_text(value) for value in after["id"][before : len(after)])
    return ids


def commits(path: str) -> Iterator[tuple[str, str]]:
    """A table's commits as (id, message), newest first."""
    if not exists(path):
        return
    history = open_read_only(path).history
    yield from reversed([(version.id, version.message or "") for version in history])


def head(path: str) -> LakeRef | None:
    """The latest commit of a table, or None when it does not exist yet."""
    if not exists(path):
        return None
    ds = open_read_only(path)
    return LakeRef(path=path, commit=ds.version, rows=len(ds))


def _open_at(ref: LakeRef) -> Any:
    ds = open_read_only(ref.path)
    if ds.version == ref.commit:
        return ds
    try:
        return ds.history[ref.commit].open()
    except Exception as exc:  # deeplake raises its own error types per backend
        raise ValueError(
            f"lake table {ref.path} has no commit {ref.commit}: the table was replaced "
            "since this reference was made; rerun the stage that wrote it"
        ) from exc


def read(
    ref: LakeRef, columns: Sequence[str], start: int = 0, stop: int | None = None
) -> Iterator[dict[str, Any]]:
    """Rows `start:stop` of a table as it was at `ref.commit`, streamed in batches."""
    ds = _open_at(ref)
    stop = len(ds) if stop is None else min(stop, len(ds))
    absent = ADDED_COLUMNS.intersection(columns) - _columns(ds)
    for lo in range(start, stop, READ_BATCH_ROWS):
        hi = min(lo + READ_BATCH_ROWS, stop)
        batch = {c: ds[c][lo:hi] for c in columns if c not in absent}
        for i in range(hi - lo):
            # Deep Lake gives empty text back as None.
            yield {c: _value(c, batch[c][i] if c in batch else None) for c in columns}


def column(ref: LakeRef, name: str) -> list[str]:
    """One whole column at a commit (ids for dedup, splits for counting)."""
    ds = _open_at(ref)
    return [_text(value) for value in ds[name][:]] if len(ds) else []


# A corpus table's splits, as training and the registry's scores read them.


def corpus_texts(corpus: LakeRef, split: str) -> list[str]:
    """The texts of one split ("train" or "validation") at the corpus commit, in lake order."""
    return [row["text"] for row in split_rows(corpus.path, corpus.commit, corpus.rows, split)]


def split_rows(path: str, commit: str, rows: int, split: str) -> Iterator[dict[str, str]]:
    """The rows of one split of a corpus table at a commit, as {"text": ...} (plain arguments:
    the datasets library hashes them to name its cache)."""
    for row in read(LakeRef(path, commit, rows), ("text", "split")):
        if row["split"] == split:
            yield {"text": row["text"]}
