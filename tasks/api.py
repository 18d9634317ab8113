"""JSON REST APIs: pages of records, each mapped to a document or quarantined with a reason.

One read walks the pages (tasks/pagination.py) at most `requests_per_second`, with the
session's per-request retries (429/503 Retry-After, 5xx, resets, timeouts). A record is
counted once per read however often the pages repeat it; one older than the source's
watermark (tasks/watermark.py) is skipped; one whose mapped fields are missing or mistyped
is quarantined, counted by reason, and never fails the source, unless so many are that the
API's schema has evidently changed.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from tasks.config import ApiSource
from tasks.credentials import auth_headers
from tasks.demo import resolve_url
from tasks.http import SourceUnavailable, describe_failure, make_session
from tasks.mapping import QUARANTINE_REASONS, REASON_FIELDS, Mapped, map_record
from tasks.pagination import Page, dig, first_url, next_url, same_origin, token_of
from tasks.records import Document, utc_now
from tasks.watermark import Mark, Watermark

logger = logging.getLogger(__name__)

COUNTER_NAMES = (
    "pages",
    "records",
    "documents",
    "duplicates",  # the same id again within one read (offset pages over shifting data)
    "skipped_by_watermark",
    "stopped_at_max_pages",
    *(f"quarantined_{reason}" for reason in QUARANTINE_REASONS),
)
# Fewer records than this say little about a schema: a few bad ones are just quarantined.
SCHEMA_SAMPLE_RECORDS = 10
MAX_PAYLOAD_CHARS = 100_000  # a quarantined record is kept for a look, not in full at any size


class SchemaChanged(ValueError):
    """Most records failed the mapping: the API changed, so nothing is committed.

    A ValueError, so the Prefect task does not retry it. `quarantined` holds the rows seen
    so far, for the quarantine table: they show what the records look like now.
    """

    def __init__(self, message: str, quarantined: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.quarantined = quarantined


@dataclass(frozen=True)
class ApiRead:
    documents: list[Document]
    quarantined: list[dict[str, str]]  # rows of lake.QUARANTINE_TABLE
    counters: dict[str, int]
    watermark: Watermark  # to save once the documents are committed, not before
    complete: bool  # the last page was reached (not max_pages)


def fetch_api(
    source: ApiSource, base_urls: Mapping[str, str]
) -> tuple[list[Document], dict[str, int]]:
    """All documents of a source and its counters, ignoring any stored watermark."""
    read = read_api(source, base_urls)
    return read.documents, read.counters


def read_api(
    source: ApiSource, base_urls: Mapping[str, str], watermark: Watermark | None = None
) -> ApiRead:
    """The records of `source` that are newer than `watermark`, page by page."""
    reader = _Reader(source, watermark or Watermark(source.watermark_kind))
    base_url = resolve_url(source.url.rstrip("/") + _path(source.path), base_urls)
    since = None
    if source.since_param and reader.start.value is not None:
        since = source.since_template.replace("{value}", str(reader.start.value))
    token = None
    if reader.start.kind == "cursor" and reader.start.value is not None:
        token = str(reader.start.value)  # the last page read: resume there
    url: str | None = first_url(source, base_url, since, token)
    requested: set[str] = set()
    throttle = Throttle(source.requests_per_second)
    headers = auth_headers(source.name, source.auth)
    with make_session(source.user_agent, source.retries) as session:
        while url is not None:
            if reader.counters["pages"] == source.max_pages:
                reader.counters["stopped_at_max_pages"] = 1
                break
            requested.add(url)
            throttle.wait()
            first = not reader.counters["pages"]
            data, links = _get_json(session, source, url, headers, first)
            records = _records(data, source, url)
            reader.page(url, records)
            following = next_url(source, Page(url, data, links, len(records)))
            url = _checked_next(source, base_url, following, requested)
    return reader.finish()


class Throttle:
    """At most `per_second` request starts a second: a minimum interval between them."""

    def __init__(self, per_second: float | None) -> None:
        self.interval_s = 1 / per_second if per_second else 0.0
        self._next_at = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next_at:
            time.sleep(self._next_at - now)
            now = self._next_at
        self._next_at = now + self.interval_s


@dataclass
class _Reader:
    """The per-read bookkeeping: counters, documents, quarantine, ids seen, watermark."""

    source: ApiSource
    start: Watermark
    counters: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(COUNTER_NAMES, 0)))
    kept: list[tuple[Mapped, int, Mark | None]] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    reached: Watermark | None = None
    last_bad: object = None  # the latest quarantined record, to show its keys

    def page(self, url: str, records: list[Any]) -> None:
        self.counters["pages"] += 1
        page_token = token_of(self.source, url)
        for record in records:
            self.counters["records"] += 1
            self._take(record, url, page_token)
        self._check_schema()

    def _take(self, record: Any, url: str, page_token: str | None) -> None:
        mapped = map_record(record, self.source)
        if mapped.record_id is not None:
            if mapped.record_id in self.seen:
                self.counters["duplicates"] += 1
                return
            self.seen.add(mapped.record_id)
        mark = page_token if self.start.kind == "cursor" else mapped.updated_at
        if not self.start.is_new(mark, mapped.record_id):
            self.counters["skipped_by_watermark"] += 1
            return
        self.reached = (self.reached or self.start).advance(mark, mapped.record_id)
        if mapped.reason:
            self.counters[f"quarantined_{mapped.reason}"] += 1
            self.quarantined.append(self._quarantine_row(mapped.reason, url, record))
            self.last_bad = record
        else:
            self.kept.append((mapped, self.counters["pages"], mark))

    def _quarantine_row(self, reason: str, url: str, record: Any) -> dict[str, str]:
        payload = json.dumps(record, sort_keys=True, default=str)[:MAX_PAYLOAD_CHARS]
        return {
            "source": self.source.name,
            "kind": "api",
            "reason": reason,
            "url": url,
            "payload": payload,
            "fetched_at": utc_now(),
        }

    def _check_schema(self) -> None:
        limit = self.source.max_bad_fraction
        bad = {r: self.counters[f"quarantined_{r}"] for r in QUARANTINE_REASONS}
        mapped = len(self.kept) + sum(bad.values())
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

    def finish(self) -> ApiRead:
        complete = not self.counters["stopped_at_max_pages"]
        kind = self.start.kind
        # A cut-short read of records in no known order may have left older ones unread:
        # the watermark moves only if the read was complete or the order is ascending.
        moves = kind == "cursor" or complete or self.source.updated_at_ascending
        if not complete:
            logger.warning(
                "source '%s': stopped at max_pages=%d before the last page; raise it to read "
                "further%s",
                self.source.name,
                self.source.max_pages,
                "" if moves or kind is None else " (the watermark stays where it was)",
            )
        watermark = (self.reached or self.start) if moves else self.start
        documents = [self._document(m, page, mark, moves) for m, page, mark in self.kept]
        self.counters["documents"] = len(documents)
        counters = dict(self.counters)
        logger.info(
            "source '%s': %d documents, watermark %s, %s",
            self.source.name,
            len(documents),
            watermark.describe(),
            counters,
        )
        return ApiRead(documents, self.quarantined, counters, watermark, complete)

    def _document(self, mapped: Mapped, page: int, mark: Mark | None, moves: bool) -> Document:
        meta: dict[str, Any] = {"page": page}
        if mapped.record_id is not None:
            meta["record_id"] = mapped.record_id
        if mapped.updated_at is not None:
            meta["updated_at"] = mapped.updated_at
        kind = self.start.kind
        if kind == "cursor":
            meta["cursor"] = mark
        if kind is not None and moves:
            meta["watermark"] = kind  # this row counts when the watermark is rebuilt
        return Document(
            text=mapped.text,
            kind="api",
            source=self.source.name,
            url=mapped.url,
            title=mapped.title,
            meta=meta,
        )


def _get_json(
    session: requests.Session,
    source: ApiSource,
    url: str,
    headers: Mapping[str, str],
    first: bool,
) -> tuple[Any, Mapping[str, Mapping[str, str]]]:
    """A page's parsed JSON and its Link header. Failing pages fail the whole source: a
    partial read would be committed as if complete."""
    where = f"source '{source.name}': {'first page' if first else 'page'} {url}"
    try:
        # With credentials, no redirects: a redirect may lead to another host, and custom
        # auth headers would follow it there.
        response = session.get(
            url, headers=headers, timeout=source.timeout_s, allow_redirects=not headers
        )
    except requests.RequestException as exc:
        raise SourceUnavailable(f"{where} failed: {describe_failure(exc)}") from exc
    with response:
        if response.is_redirect:
            raise ValueError(
                f"{where} redirects to {response.headers.get('Location')}; set the source's "
                "url to where it points (credentials are not sent through redirects)"
            )
        if not 200 <= response.status_code < 300:
            reason = _status_reason(source, response)
            raise SourceUnavailable(f"{where} failed: {reason}", response.status_code)
        try:
            return response.json(), response.links
        except ValueError:
            content_type = response.headers.get("Content-Type", "no Content-Type")
            start = response.text[:80].replace("\n", " ")
            raise ValueError(
                f"{where} did not return JSON ({content_type}, starts with {start!r}); expected "
                f"records at records_path '{source.records_path}' (check the source's url)"
            ) from None


def _status_reason(source: ApiSource, response: requests.Response) -> str:
    status = response.status_code
    if response.headers.get("X-RateLimit-Remaining") == "0":
        return (
            f"HTTP {status}: rate limit used up (X-RateLimit-Remaining: 0); lower "
            "requests_per_second, or authenticate for a higher limit"
        )
    if status in (401, 403) and source.auth is not None:
        return (
            f"HTTP {status}: the API refused the credentials from {source.auth.where} (check "
            "that it holds a current secret with access to this API)"
        )
    if status in (401, 403):
        return f"HTTP {status}: the API wants credentials (set the source's auth)"
    return f"HTTP {status}"


def _records(data: Any, source: ApiSource, url: str) -> list[Any]:
    records = dig(data, source.records_path) if source.records_path else data
    if not isinstance(records, list):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"source '{source.name}': {url} has no list at records_path "
            f"'{source.records_path}' (found {found}); if the API changed, set records_path to "
            "the dotted path of the records, or '' when the page itself is the list"
        )
    return records


def _checked_next(
    source: ApiSource, base_url: str, url: str | None, requested: set[str]
) -> str | None:
    if url is None:
        return None
    if not same_origin(url, base_url):
        # Credentials and the rate limit belong to the source's own host.
        raise ValueError(
            f"source '{source.name}': the next page is on another host ({url}); only "
            f"pagination on {base_url}'s host is followed: point url at the host that serves "
            "the pages"
        )
    if url in requested:
        raise ValueError(
            f"source '{source.name}': pagination loops back to {url}, already read; check "
            f"pagination ({source.pagination.style}) against the API's documentation"
        )
    return url


def _path(path: str) -> str:
    return "/" + path.lstrip("/") if path else ""
