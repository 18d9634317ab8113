"""Cache keys that say what a task's result depends on, and the retry condition shared by
the tasks (DESIGN.md, "Caching and retries").

Prefect's TASK_SOURCE hashes only the decorated function, not the module doing the work,
so each key carries a digest of the stage's modules: editing the code invalidates the cache.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from pydantic import BaseModel

from tasks import clock

# Shared by every stage: a change to the record layout or lake access invalidates all keys.
_SHARED_MODULES = ("tasks.records", "tasks.lake", "tasks.caching")


@cache
def code_version(*module_names: str) -> str:
    digest = hashlib.sha256()
    for name in (*_SHARED_MODULES, *module_names):
        digest.update(inspect.getsource(importlib.import_module(name)).encode())
    return digest.hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def stage_key(stage: str, *parts: Any) -> str:
    payload = json.dumps([stage, *map(_plain, parts)], sort_keys=True, default=str)
    return f"{stage}-{hashlib.sha256(payload.encode()).hexdigest()[:32]}"


def bucket_start(hours: int, now: datetime | None = None) -> datetime:
    """Start of the UTC time bucket `now` (by default the clock's) falls in; buckets of 24 h
    start at midnight UTC."""
    now = now or clock.now()
    epoch_hours = int(now.timestamp() // 3600)
    return datetime.fromtimestamp((epoch_hours - epoch_hours % hours) * 3600, UTC)


def is_transient(_task: object, _task_run: object, state: object) -> bool:
    """Prefect retry condition: retry transport trouble, not bad config, bad data or a 4xx
    that says the request itself is wrong (SourceUnavailable.retryable)."""
    exc = state.result(raise_on_failure=False)  # type: ignore[attr-defined]
    if isinstance(exc, ValueError):
        return False
    return getattr(exc, "retryable", True)
