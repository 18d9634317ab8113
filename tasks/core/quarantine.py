"""Fetched records that could not become documents: one row each, with the reason, kept once.

A record is stored as JSON, whole up to MAX_PAYLOAD_CHARS and otherwise wrapped with a
`truncated` marker, so every payload parses. Rows are told apart by (source, reason,
sha256 of the whole JSON): a retried task, a night that fails on a schema change, or a
re-read after a crash quarantines the same record again, and the table keeps it once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import utc_now

MAX_PAYLOAD_CHARS = 100_000  # a quarantined record is kept for a look, not in full at any size


def row(
    source_name: str,
    reason: str,
    url: str,
    record: Any,
    redact: Callable[[str], str],
    kind: str = "api",
) -> dict[str, str]:
    """A row of lake.QUARANTINE_TABLE; `redact` masks a secret the record might echo.
    `kind` is the source kind for a fetched record, or "clean" for a dropped document."""
    whole = redact(json.dumps(record, sort_keys=True, default=str))
    payload = whole
    if len(whole) > MAX_PAYLOAD_CHARS:
        cut = {"truncated": True, "chars": len(whole), "head": whole[:MAX_PAYLOAD_CHARS]}
        payload = json.dumps(cut)
    return {
        "source": source_name,
        "kind": kind,
        "reason": reason,
        "url": url,
        "payload": payload,
        "payload_sha256": hashlib.sha256(whole.encode("utf-8")).hexdigest(),
        "fetched_at": utc_now(),
    }


def store_all(storage: StorageConfig, rows: Sequence[dict[str, str]]) -> int:
    """`store` for rows of several sources; returns how many were new."""
    by_source: dict[str, list[dict[str, str]]] = {}
    for candidate in rows:
        by_source.setdefault(candidate["source"], []).append(candidate)
    return sum(store(storage, name, group) for name, group in sorted(by_source.items()))


def store(
    storage: StorageConfig,
    source_name: str,
    rows: Sequence[dict[str, str]],
    known: set[tuple[str, str]] | None = None,
) -> int:
    """Append the rows this source has not quarantined before; returns how many were new.
    `known` (from `known`, kept up to date here) saves reading the table again, for a
    writer that stores many batches and is the source's only writer meanwhile."""
    if not rows:
        return 0
    path, state = storage.lake("quarantine"), storage.lake_state("quarantine")
    # Held from reading what is there to appending, so two writers cannot both add a row.
    with lake.exclusive(path, state):
        known = _known(path, source_name) if known is None else known
        fresh = []
        for candidate in rows:
            key = (candidate["reason"], candidate["payload_sha256"])
            if key not in known:
                known.add(key)
                fresh.append(candidate)
        if fresh:
            message = f"quarantine source '{source_name}': {len(fresh)} records"
            lake.append(path, fresh, lake.QUARANTINE_TABLE, message, state)
    return len(fresh)


def known(storage: StorageConfig, source_name: str) -> set[tuple[str, str]]:
    """(reason, payload digest) of every row the source has quarantined."""
    path, state = storage.lake("quarantine"), storage.lake_state("quarantine")
    with lake.exclusive(path, state):
        return _known(path, source_name)


def _known(path: str, source_name: str) -> set[tuple[str, str]]:
    head = lake.head(path)
    if head is None:
        return set()
    columns = ("source", "reason", "payload_sha256")
    return {
        (r["reason"], r["payload_sha256"])
        for r in lake.read(head, columns)
        if r["source"] == source_name
    }
