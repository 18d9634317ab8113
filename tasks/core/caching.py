"""Cache keys that say what a task's result depends on, and the retry condition shared by
the tasks (docs/reliability.md, "Caching, retries and failures").

Prefect's TASK_SOURCE hashes only the decorated function, not the module doing the work, so
each key carries a digest of the code behind it: the stage's whole package, with core and
config, which every stage stands on. Computed from the files, never listed by hand: a module
added to a stage is in its key from the start.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import threading
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from lmkiln.tasks.core import clock

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

# Below every stage: a change to records, lake access, caching or a config model changes
# every key.
FOUNDATION = ("lmkiln.tasks.core", "lmkiln.tasks.config")


def sources(name: str) -> dict[str, Path]:
    """The files of module or package `name` by their names relative to it: a package's every
    module, in a stable order."""
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations)))
        return {path.relative_to(root).as_posix(): path for path in sorted(root.rglob("*.py"))}
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"no module named {name!r}")
    return {Path(spec.origin).name: Path(spec.origin)}


def _without_prose(tree: ast.Module) -> ast.Module:
    """The tree without its docstrings: a string alone as a statement (a module's, class's or
    function's docstring, a field's attribute docstring) does nothing when the code runs. The
    config's field docstrings are the UI's help text, and rewording one must not retrain."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [
                statement
                for statement in body
                if not (
                    isinstance(statement, ast.Expr)
                    and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)
                )
            ]
            node.body = kept or [ast.Pass()]  # type: ignore[attr-defined]  # checked above
    return tree


# CPython 3.11's ast.parse keeps its recursion depth in shared state: two threads parsing at
# once can raise "SystemError: AST constructor recursion depth mismatch". Sources run in
# threads, and each task computes its key on first use; an error there costs the task its
# cached result (Prefect logs it and persists nothing), so the next run repeats the work.
_PARSING = threading.Lock()


@cache
def code_digest(*names: str) -> str:
    """A digest of the code of the modules and packages `names`, comments, docstrings and
    layout left out: prose or a reflowed line changes no result, and must not cost a night's
    caches."""
    digest = hashlib.sha256()
    for name in names:
        for label, path in sources(name).items():
            source = path.read_text(encoding="utf-8")
            with _PARSING:
                tree = ast.parse(source, filename=str(path))
            digest.update(f"{name}:{label}".encode())
            digest.update(ast.dump(_without_prose(tree)).encode())
    return digest.hexdigest()[:16]


def code_version(*stages: str) -> str:
    """The code a stage's results depend on: the packages or modules `stages`, with core and
    config ("lmkiln.tasks.clean" is the clean stage's every module)."""
    return code_digest(*FOUNDATION, *stages)


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


def is_transient(_task: object, _task_run: object, state: State) -> bool:
    """Prefect retry condition: retry transport trouble, not bad config, bad data or a 4xx
    that says the request itself is wrong (SourceUnavailable.retryable)."""
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, ValueError):
        return False
    return getattr(exc, "retryable", True)
