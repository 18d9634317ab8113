"""One API read's bookkeeping: which records become documents, which are quarantined or
skipped, and how far the watermark may move once the documents are committed.

A record is told apart by its id (or, without one, its content) and its version, the
`updated_at` value. Seen again at the same version it is a duplicate; at a newer version it
changed while the pages were read, and the newer version is kept. Such a change is also a
warning: a record that moved in the API's order shifts the records behind it, and with page
or offset pagination one of them can slip past a page boundary unread. So the read commits
only what is known complete (see `Reader.known_complete`) and leaves the rest for the next run.

A read cut short (max_pages, or a page that only repeats records already read) is safe to
commit only when the unread pages cannot hold changes older than the new watermark; otherwise
it fails, committing nothing (`ReadCutShort`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from lmkiln.tasks.collect.api.mapping import QUARANTINE_REASONS, REASON_FIELDS, Mapped, map_record
from lmkiln.tasks.collect.api.pagination import token_of
from lmkiln.tasks.collect.api.watermark import Mark, Watermark, mark_key
from lmkiln.tasks.collect.credentials import Credentials
from lmkiln.tasks.config.collect import ApiSource
from lmkiln.tasks.core import quarantine
from lmkiln.tasks.core.records import Document

logger = logging.getLogger(__name__)

COUNTER_NAMES = (
    "pages",
    "records",
    "documents",
    "duplicates",  # a record again in one read, at the same or an older version
    "superseded",  # a document replaced by a newer version of its record later in the read
    "changed_during_read",  # records seen again at a newer version (not in the sum below)
    "deferred",  # read after the data moved under the read: read again by the next run
    "skipped_by_watermark",
    "stopped_at_max_pages",
    "stopped_at_repeated_page",
    "stopped_at_watermark",
    *(f"quarantined_{reason}" for reason in QUARANTINE_REASONS),
)
# Fewer records than this say little about a schema: a few bad ones are just quarantined.
SCHEMA_SAMPLE_RECORDS = 10
CUT_SHORT = ("max_pages", "repeated_page")


class SchemaChanged(ValueError):
    """Most records failed the mapping: the API changed, so nothing is committed.

    A ValueError, so the Prefect task does not retry it. `quarantined` holds the rows seen
    so far, for the quarantine table: they show what the records look like now.
    """

    def __init__(self, message: str, quarantined: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.quarantined = quarantined


class ReadCutShort(ValueError):
    """A read that stopped before the last page, where committing it could skip records for
    good. A ValueError: retrying the same read would stop at the same place."""


@dataclass(frozen=True)
class ApiRead:
    documents: list[Document]
    quarantined: list[dict[str, str]]  # rows of lake.QUARANTINE_TABLE
    counters: dict[str, int]
    watermark: Watermark  # to save once the documents are committed, not before
    complete: bool  # the pagination ended (or, newest first, reached the watermark)


@dataclass
class _Entry:
    """A record that counts towards the watermark: a document, or a quarantined record."""

    order: int  # its place in the read, for a cursor watermark's "last page read"
    mark: Mark | None
    record_id: str | None
    version: float | None  # mark_key(updated_at)
    page: int


class Reader:
    """Takes the pages of one read in order; `finish` says what to commit."""

    def __init__(self, source: ApiSource, start: Watermark, credentials: Credentials) -> None:
        self.source = source
        self.start = start
        self.credentials = credentials
        self.counters: Counter[str] = Counter(dict.fromkeys(COUNTER_NAMES, 0))
        self.kept: dict[str, tuple[_Entry, Mapped]] = {}  # by identity: one version each
        self.held: list[_Entry] = []  # quarantined
        self.quarantined: list[dict[str, str]] = []
        self.seen: dict[str, tuple[float | None, int]] = {}  # identity -> (version, first page)
        self.page_max: dict[int, float] = {}  # the newest version on each page
        self.moved_from: int | None = None  # earliest page of a record that changed meanwhile
        self.stop: str | None = None  # why reading stopped before the pagination's end
        self.last_bad: object = None  # the latest quarantined record, to show its keys

    def page(self, url: str, records: list[Any]) -> bool:
        """Take a page's records; False when reading should stop here."""
        self.counters["pages"] += 1
        number = self.counters["pages"]
        token = token_of(self.source, url)
        outcomes = Counter(self._take(record, url, token, number) for record in records)
        self._check_schema()
        if records and not outcomes["fresh"] and not outcomes["old"]:
            # Nothing but records read before: a server that ignores the page parameter
            # would serve the same page until max_pages.
            self.stopped("repeated_page")
            return False
        if self.source.updated_at_descending and outcomes["old"] and not outcomes["fresh"]:
            # Newest first: every later page is older still.
            self.counters["stopped_at_watermark"] = 1
            return False
        return True

    def stopped(self, why: str) -> None:
        self.stop = why
        self.counters[f"stopped_at_{why}"] = 1

    def _take(self, record: Any, url: str, token: str | None, page: int) -> str:
        """What the record was: "fresh" (a document or quarantined: new since the watermark),
        "again" (read before in this read, at this version or a newer one) or "old" (not newer
        than the watermark)."""
        self.counters["records"] += 1
        mapped = map_record(record, self.source)
        identity = mapped.record_id if mapped.record_id is not None else _content_id(record)
        version = mark_key(mapped.updated_at) if mapped.updated_at is not None else None
        if version is not None:
            self.page_max[page] = max(version, self.page_max.get(page, version))
        earlier = self.seen.get(identity)
        if earlier is None:
            self.seen[identity] = (version, page)
        elif version is None or earlier[0] is None or version <= earlier[0]:
            self.counters["duplicates"] += 1
            return "again"
        else:
            self.counters["changed_during_read"] += 1
            self.seen[identity] = (version, earlier[1])
            self.moved_from = min(earlier[1], self.moved_from or earlier[1])
        mark = token if self.start.kind == "cursor" else mapped.updated_at
        if not self.start.is_new(mark, mapped.record_id):
            self.counters["skipped_by_watermark"] += 1
            return "old"
        entry = _Entry(self.counters["records"], mark, mapped.record_id, version, page)
        if mapped.reason:
            self.counters[f"quarantined_{mapped.reason}"] += 1
            self.quarantined.append(
                quarantine.row(self.source.name, mapped.reason, url, record, self._redact)
            )
            self.held.append(entry)
            self.last_bad = record
            return "fresh"
        if self.kept.pop(identity, None) is not None:
            self.counters["superseded"] += 1
        self.kept[identity] = (entry, mapped)
        return "fresh"

    def _redact(self, text: str) -> str:
        return self.credentials.redact(text)

    def _check_schema(self) -> None:
        limit = self.source.max_bad_fraction
        bad = {r: self.counters[f"quarantined_{r}"] for r in REASON_FIELDS}
        mapped = len(self.kept) + sum(self.counters[f"quarantined_{r}"] for r in QUARANTINE_REASONS)
        reason, count = max(bad.items(), key=lambda item: item[1])
        if limit is None or mapped < SCHEMA_SAMPLE_RECORDS or count <= limit * mapped:
            return
        setting = REASON_FIELDS[reason]
        value = getattr(self.source, setting)
        record = self.last_bad
        keys = sorted(record)[:30] if isinstance(record, dict) else type(record).__name__
        raise SchemaChanged(
            f"source '{self.source.name}': {count} of {mapped} records quarantined as {reason} "
            f"({setting}: {value!r}); the API's records have changed shape (a quarantined "
            f"record has keys {keys}). Set {setting} to match them. Nothing was committed and "
            "the watermark did not move; the records are in the quarantine table",
            self.quarantined,
        )

    def known_complete(self) -> float | None:
        """The newest version below which this read missed nothing; None: no limit.

        Only a record that changed during the read says the data moved. Oldest first, the
        records on the pages up to where it was first read were read before it moved; any
        slipped past a boundary later. Newest first, a changed record moves to the front,
        already read, and nothing slips. In no known order, nothing is known complete.
        """
        if self.start.kind != "updated_at" or self.moved_from is None:
            return None
        if self.source.updated_at_descending:
            return None
        if self.source.updated_at_ascending:
            read = [v for page, v in self.page_max.items() if page <= self.moved_from]
            return max(read, default=-math.inf)
        return -math.inf

    def _check_cut_short(self) -> None:
        if self.stop not in CUT_SHORT:
            return
        name, source = self.source.name, self.source
        if self.stop == "max_pages":
            why = f"stopped at max_pages={source.max_pages} before the last page"
        else:
            param = getattr(source.pagination, "param", None) or "its parameter"
            why = (
                f"page {self.counters['pages']} repeated only records already read: the API "
                f"seems to ignore the {source.pagination.style} pagination ({param}); check "
                "pagination against the API's documentation"
            )
        if self.start.kind != "updated_at" or source.updated_at_ascending:
            # No watermark, a cursor that resumes at the last page read, or oldest first with
            # since_param: the next run goes on from where this one stopped.
            logger.warning("source '%s': %s; raise max_pages to read more a run", name, why)
            return
        if source.updated_at_descending and self.start.value is None:
            logger.warning(
                "source '%s': %s; this first run keeps the newest records only, and older ones "
                "are never read (a backfill limit: raise max_pages before the first run to "
                "reach further back)",
                name,
                why,
            )
            return
        if self.stop == "repeated_page":
            advice = "committing it could skip the records the pagination never reached"
        elif source.updated_at_descending:
            advice = (
                f"more records changed since the watermark {self.start.value!r} than "
                f"max_pages={source.max_pages} pages hold, and committing the newest would skip "
                "the rest for good; raise max_pages, or run more often"
            )
        else:
            advice = (
                "the records come in no declared order, so the unread pages may hold older "
                "changes that the watermark would then skip for good; sort the API oldest "
                "change first and set updated_at_ascending: true with since_param, or newest "
                "first with updated_at_descending: true, or raise max_pages"
            )
        raise ReadCutShort(
            f"source '{name}': {why}; {advice}. Nothing was committed and the watermark did "
            "not move"
        )

    def finish(self) -> ApiRead:
        self._check_cut_short()
        cap = self.known_complete()
        documents: list[Document] = []
        counted = [e for e in self.held if cap is None or e.version is None or e.version <= cap]
        for entry, mapped in self.kept.values():
            if cap is not None and entry.version is not None and entry.version > cap:
                self.counters["deferred"] += 1
                continue
            documents.append(self._document(entry, mapped))
            counted.append(entry)
        if cap is not None:
            self._warn_moved(cap)
        watermark = self.start
        for entry in sorted(counted, key=lambda e: e.order):
            watermark = watermark.advance(entry.mark, entry.record_id)
        self.counters["documents"] = len(documents)
        counters = dict(self.counters)
        logger.info(
            "source '%s': %d documents, watermark %s, %s",
            self.source.name,
            len(documents),
            watermark.describe(),
            counters,
        )
        complete = self.stop not in CUT_SHORT
        return ApiRead(documents, self.quarantined, counters, watermark, complete)

    def _warn_moved(self, cap: float) -> None:
        logger.warning(
            "source '%s': %d records changed while the pages were read, so others may have "
            "moved past a page boundary unread; %d documents %s wait for the next run, which "
            "reads them again (if this happens every run, use an API order that cannot shift: "
            "a cursor, or oldest change first with since_param)",
            self.source.name,
            self.counters["changed_during_read"],
            self.counters["deferred"],
            "past what is known complete" if math.isfinite(cap) else "(all of them)",
        )

    def _document(self, entry: _Entry, mapped: Mapped) -> Document:
        meta: dict[str, Any] = {"page": entry.page}
        if mapped.record_id is not None:
            meta["record_id"] = mapped.record_id
        if mapped.updated_at is not None:
            meta["updated_at"] = mapped.updated_at
        kind = self.start.kind
        if kind == "cursor":
            meta["cursor"] = entry.mark
        if kind is not None:
            meta["watermark"] = kind  # this row counts when the watermark is rebuilt
        return Document(
            text=self._redact(mapped.text),
            kind="api",
            source=self.source.name,
            url=self.credentials.strip(mapped.url),
            title=self._redact(mapped.title),
            meta=meta,
        )


def _content_id(record: Any) -> str:
    """An identity for a record without an id: its content."""
    text = json.dumps(record, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
