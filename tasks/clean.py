"""Cleaning: normalise text, drop what cannot be trained on, deduplicate exactly.

Each filter returns None to keep a document or the name of the rule that drops it; one loop
counts `seen / kept / dropped_<reason>`. The `clean` table gets one row per raw row with its
decision (`reason` empty when kept), so nothing silently disappears: the quarantine is the
rows with a reason. Incremental across nights: only raw rows past the clean table's row count
are read, and exact duplicates are checked against everything kept before.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from prefect import get_run_logger, task

from tasks import lake
from tasks.caching import code_version, stage_key
from tasks.config import CleanConfig, StorageConfig
from tasks.records import Document, LakeRef, StageResult, text_id

# Control characters other than newline and tab carry no text and confuse tokenizers.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize(text: str) -> str:
    """NFC, no control characters, single spaces, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


Filter = Callable[[Document], str | None]


def length_filter(config: CleanConfig) -> Filter:
    def check(doc: Document) -> str | None:
        if not doc.text:
            return "empty"
        if config.min_chars is not None and len(doc.text) < config.min_chars:
            return "too_short_chars"
        if config.min_words is not None and len(doc.text.split()) < config.min_words:
            return "too_few_words"
        return None

    return check


def exact_dedup_filter(known_ids: set[str]) -> Filter:
    """Drops a document whose normalised text was kept before (tonight or any earlier night)."""

    def check(doc: Document) -> str | None:
        if doc.id in known_ids:
            return "exact_duplicate"
        known_ids.add(doc.id)
        return None

    return check


@dataclass
class CleanOutcome:
    decisions: list[tuple[Document, str]] = field(default_factory=list)  # "" means kept
    counters: Counter[str] = field(default_factory=Counter)

    @property
    def kept(self) -> list[Document]:
        return [doc for doc, reason in self.decisions if not reason]

    @property
    def dropped(self) -> list[tuple[Document, str]]:
        return [(doc, reason) for doc, reason in self.decisions if reason]


def clean_documents(
    docs: Iterable[Document], config: CleanConfig, known_ids: set[str]
) -> CleanOutcome:
    # Dedup runs last so a document dropped for length never claims an id.
    filters = [length_filter(config), exact_dedup_filter(known_ids)]
    outcome = CleanOutcome()
    for raw in docs:
        outcome.counters["seen"] += 1
        text = normalize(raw.text)
        doc = replace(raw, text=text, id=text_id(text))
        reason = next((r for r in (f(doc) for f in filters) if r), "")
        outcome.counters[f"dropped_{reason}" if reason else "kept"] += 1
        outcome.decisions.append((doc, reason))
    return outcome


def decision_rows(outcome: CleanOutcome) -> list[dict[str, str]]:
    """One row per document seen, in input order; `reason` is empty for kept documents."""
    return [doc.to_row() | {"reason": reason} for doc, reason in outcome.decisions]


def clean_key(_context: object, params: dict) -> str:
    parts = (params["raw"], params["config"], params["storage"])
    return stage_key("clean", *parts, code_version("tasks.clean"))


@task(
    name="clean_corpus",
    task_run_name="clean",
    cache_key_fn=clean_key,
    persist_result=True,
    retries=1,
)
def clean_corpus(raw: LakeRef, config: CleanConfig, storage: StorageConfig) -> StageResult:
    """Decide on every raw row added since the last run; append the decisions to `clean`."""
    logger = get_run_logger()
    path = storage.lake("clean")
    # Held from reading where to start until the commit: two overlapping runs would otherwise
    # both decide on the same raw rows, and every later night would start too far on.
    with lake.exclusive(path):
        previous = lake.head(path)
        start = previous.rows if previous else 0
        known_ids = kept_ids(previous) if previous else set()
        rows = lake.read(raw, lake.DOCUMENT_TABLE, start=start)
        outcome = clean_documents((Document.from_row(r) for r in rows), config, known_ids)
        message = f"clean raw rows {start}:{raw.rows}"
        ref = lake.append(path, decision_rows(outcome), lake.CLEAN_TABLE, message)
    counters = dict(outcome.counters)
    logger.info("clean: raw rows %d:%d at %s: %s", start, raw.rows, raw.commit, counters)
    return StageResult(lake=ref, counters=counters)


def kept_ids(clean: LakeRef) -> set[str]:
    ids, reasons = lake.column(clean, "id"), lake.column(clean, "reason")
    return {doc_id for doc_id, reason in zip(ids, reasons, strict=True) if not reason}
