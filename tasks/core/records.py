"""The record that flows through every stage, and the small references tasks pass instead."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from lmkiln.tasks.core import clock

DocumentKind = Literal["web", "api", "synthetic", "file", "dataset", "corpus"]

# Column order of every document table in the lake; `meta` is stored as JSON text.
DOCUMENT_COLUMNS = ("id", "text", "kind", "source", "url", "title", "fetched_at", "lang", "meta")


def text_id(text: str) -> str:
    """Content address of a text: clean recomputes it after normalisation."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_storable(*texts: str) -> bool:
    """Whether every text is valid Unicode: a lone surrogate (a JSON escape such as
    "\\ud800", or a byte kept by the surrogateescape error handler) can be neither hashed
    nor stored, so the record that holds one is quarantined instead."""
    try:
        for text in texts:
            text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utc_now() -> str:
    return clock.iso_now()


@dataclass(frozen=True)
class Document:
    text: str
    kind: DocumentKind
    source: str
    url: str = ""
    title: str = ""
    fetched_at: str = field(default_factory=utc_now)
    lang: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", text_id(self.text))

    def to_row(self) -> dict[str, str]:
        row = {name: getattr(self, name) for name in DOCUMENT_COLUMNS}
        row["meta"] = json.dumps(self.meta, sort_keys=True, default=str)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Document:
        values = {name: str(row[name]) for name in DOCUMENT_COLUMNS}
        meta = json.loads(values.pop("meta") or "{}")
        # The lake holds only kinds that a Document was made with.
        kind = cast(DocumentKind, values.pop("kind"))
        return cls(kind=kind, meta=meta, **values)


@dataclass(frozen=True)
class LakeRef:
    """A dataset at one commit: enough to reopen exactly what a task wrote."""

    path: str
    commit: str
    rows: int


@dataclass(frozen=True)
class SourceResult:
    """What one collection task did: where its rows went, how many, and why it skipped if so."""

    source: str
    kind: DocumentKind
    lake: LakeRef | None
    added: int
    counters: dict[str, int] = field(default_factory=dict)
    skipped: str = ""


@dataclass(frozen=True)
class StageResult:
    """A cleaning-style stage: its output at a commit plus `seen / kept / dropped_<reason>`."""

    lake: LakeRef
    counters: dict[str, int]
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)  # the same, per source


@dataclass(frozen=True)
class RunRef:
    """A finished training run in MLflow."""

    run_id: str
    model_dir: str
    metrics: dict[str, float]
    corpus: LakeRef


@dataclass(frozen=True)
class ModelRef:
    """A registered model version and the aliases it holds after registration."""

    name: str
    version: str
    aliases: tuple[str, ...]
    decision: str


_HASH_SPACE = 2**64


def assign_split(doc_id: str, validation_fraction: float, salt: str) -> str:
    """The side ("train" or "validation") a document falls on, from a hash of its id: the
    split stage assigns it, and decontamination in clean must know it before the split runs."""
    digest = hashlib.sha256(f"{salt}:{doc_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / _HASH_SPACE
    return "validation" if position < validation_fraction else "train"
