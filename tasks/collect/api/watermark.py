"""Incremental API reads: where each source stopped, advanced only after its rows are committed.

A watermark is either the newest `updated_at` a source has committed (`kind="updated_at"`)
or the token of the last page it read (`kind="cursor"`), with the ids of the records
committed at exactly that value, so that equal timestamps (or a re-read resume page) neither
skip nor duplicate a record.

The raw table is the truth: every API document carries its watermark value in `meta`
(`"watermark": kind`, plus `record_id` and `updated_at` or `cursor`). A small state file per
source, written atomically after the lake commit, is a checkpoint: the value then, how many
raw rows it covers, and which raw table (its Deep Lake id) those rows are in. Loading folds
the raw rows after that checkpoint into it, so a crash between the lake commit and the state
write loses nothing and re-reads nothing committed. A per-source lock beside the state file
keeps two runs of one source from reading from the same watermark.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import utc_now

logger = logging.getLogger(__name__)

WatermarkKind = Literal["updated_at", "cursor"]
Mark = str | int | float  # a record's updated_at as the API sent it, or a page token


def mark_key(value: object) -> float:
    """An updated_at value as epoch seconds, so ISO 8601 strings and epoch numbers compare.

    Raises ValueError for anything else: the caller quarantines that record.
    """
    if isinstance(value, bool):  # a bool is an int to Python, never a time to an API
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        number = float(value)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is neither ISO 8601 nor epoch seconds") from None
        if moment.tzinfo is None:  # APIs that leave the zone out mean UTC far more often
            moment = moment.replace(tzinfo=UTC)
        number = moment.timestamp()
    else:
        raise ValueError(f"{type(value).__name__} {value!r} is not a time")
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a time")
    return number


@dataclass(frozen=True)
class Watermark:
    """Where a source stopped. `kind=None`: the source is not incremental."""

    kind: WatermarkKind | None
    value: Mark | None = None
    ids: frozenset[str] = field(default_factory=frozenset)
    """Ids of the records committed at exactly `value`."""

    @cached_property
    def _key(self) -> float | None:
        return (
            mark_key(self.value) if self.kind == "updated_at" and self.value is not None else None
        )

    def is_new(self, mark: Mark | None, record_id: str | None) -> bool:
        """Whether a record at `mark` still has to be read."""
        if self.kind is None:
            return True
        if self.kind == "cursor":
            # Only the resume page (read with the stored token) holds committed records.
            return not (mark == self.value and record_id in self.ids)
        if self._key is None or mark is None:
            return True
        key = mark_key(mark)
        return key > self._key or (key == self._key and record_id not in self.ids)

    def advance(self, mark: Mark | None, record_id: str | None) -> Watermark:
        """The watermark once a record at `mark` is committed too."""
        if self.kind is None:
            return self
        ids = frozenset({record_id}) if record_id is not None else frozenset()
        if self.kind == "cursor":
            # Pages come in order: the last page read is where the next run starts.
            same = mark == self.value
        elif mark is None:
            return self
        elif self._key is None or mark_key(mark) > self._key:
            same = False
        else:
            same = mark_key(mark) == self._key
            if not same:
                return self
        return Watermark(self.kind, mark, self.ids | ids if same else ids)

    def fold(self, metas: Iterable[Mapping[str, Any]]) -> Watermark:
        """Advanced over the `meta` of committed documents, in commit order."""
        watermark = self
        for meta in metas:
            if self.kind is not None and meta.get("watermark") == self.kind:
                watermark = watermark.advance(meta.get(self.kind), meta.get("record_id"))
        return watermark

    def describe(self) -> str:
        if self.kind is None:
            return "none (reads everything)"
        if self.value is None and not self.ids:
            return f"{self.kind}: none yet"
        return f"{self.kind} {self.value!r} ({len(self.ids)} records at it)"


def state_path(storage: StorageConfig, source_name: str) -> Path:
    return storage.root / "state" / "api" / f"{source_name}.json"


def locked(storage: StorageConfig, source_name: str) -> AbstractContextManager[None]:
    """Hold from `load` until `save`: a second run of the source waits, then starts from the
    first one's watermark instead of reading (and committing) the same records again."""
    return lake.file_lock(state_path(storage, source_name).with_suffix(".lock"))


def load(storage: StorageConfig, source_name: str, kind: WatermarkKind | None) -> Watermark:
    """The committed watermark: the state file's, advanced over the raw rows it does not cover."""
    if kind is None:
        return Watermark(None)
    raw_path = storage.lake("raw")
    watermark, raw_rows, table = _read_state(state_path(storage, source_name), kind)
    head = lake.head(raw_path)
    rows = head.rows if head else 0
    replaced = None
    if raw_rows > rows:
        replaced = f"covers {raw_rows} raw rows but the raw table has {rows}"
    elif table is not None and head is not None and table != raw_table_id(raw_path):
        replaced = f"was saved against raw table {table}, and that table has been replaced"
    if replaced:
        # What the old table held is gone: read it again rather than trust a watermark past it.
        logger.warning(
            "source '%s': watermark state %s; the source is read from the start",
            source_name,
            replaced,
        )
        watermark, raw_rows = Watermark(kind), 0
    if head is not None and raw_rows < rows:
        tail = lake.read(head, ("source", "kind", "meta"), start=raw_rows)
        metas = (
            json.loads(row["meta"] or "{}")
            for row in tail
            if row["source"] == source_name and row["kind"] == "api"
        )
        watermark = watermark.fold(metas)
    return watermark


def save(storage: StorageConfig, source_name: str, watermark: Watermark, raw_rows: int) -> None:
    """Record `watermark` as covering the first `raw_rows` rows of the raw table.

    Call it only after those rows are committed. Written to a temporary file and renamed,
    so a crash leaves the old state or the new one, never half of one.
    """
    if watermark.kind is None:
        return
    state = {
        "kind": watermark.kind,
        "value": watermark.value,
        "ids": sorted(watermark.ids),
        "raw_rows": raw_rows,
        "raw_table": raw_table_id(storage.lake("raw")),
        "saved_at": utc_now(),
    }
    lake.write_json_atomic(state_path(storage, source_name), state)


def reset(storage: StorageConfig, source_name: str) -> None:
    """Forget where a source stopped: its next run reads from the first page.

    For a stale resume cursor, or a watermark set wrongly by hand. Deleting the state file is
    not enough, since `load` rebuilds the watermark from the source's rows in the raw table:
    this state covers every raw row there is now, so none of them counts. What was committed
    is read again; clean's exact dedup drops the repeats.
    """
    with locked(storage, source_name):
        raw_path = storage.lake("raw")
        head = lake.head(raw_path)
        state: dict[str, Any] = {
            "kind": None,  # a reset, whatever kind of watermark the source keeps
            "value": None,
            "ids": [],
            "raw_rows": head.rows if head else 0,
            "raw_table": raw_table_id(raw_path),
            "saved_at": utc_now(),
        }
        lake.write_json_atomic(state_path(storage, source_name), state)
    logger.warning("source '%s': watermark reset; its next run reads from the start", source_name)


def reset_command(source_name: str) -> str:
    """A shell line that resets a source's watermark; CONFIG is the user's config file."""
    code = (
        "from lmkiln.tasks.collect.api import watermark; "
        "from lmkiln.tasks.config.pipeline import load_config; "
        f"watermark.reset(load_config('CONFIG').storage, '{source_name}')"
    )
    return f'python -c "{code}"'


def raw_table_id(path: str) -> str | None:
    """Deep Lake's id of the table at `path`: new whenever the table is made anew."""
    if not lake.exists(path):
        return None
    return str(lake.open_read_only(path).id)


def _read_state(path: Path, kind: WatermarkKind) -> tuple[Watermark, int, str | None]:
    """The watermark, the raw rows it covers and the raw table's id, from the state file."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Watermark(kind), 0, None
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"watermark state {path} is unreadable ({exc}); delete it to rebuild the watermark "
            "from the raw table"
        ) from None
    table = state.get("raw_table")
    raw_rows = int(state.get("raw_rows") or 0)
    if state.get("kind") is None:  # reset(): nothing committed so far counts
        return Watermark(kind), raw_rows, table
    if state.get("kind") != kind:
        logger.warning(
            "watermark state %s is a %s watermark but the source now uses %s; starting over",
            path,
            state.get("kind"),
            kind,
        )
        return Watermark(kind), 0, None
    watermark = Watermark(kind, state.get("value"), frozenset(state.get("ids") or ()))
    return watermark, raw_rows, table
