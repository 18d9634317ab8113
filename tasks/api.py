"""Paginated JSON APIs: page-number pagination, records at a dotted path, text from fields."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from tasks.config import ApiSource
from tasks.demo import resolve_url
from tasks.http import SourceUnavailable, describe_failure, make_session
from tasks.records import Document

logger = logging.getLogger(__name__)

COUNTER_NAMES = ("pages", "records", "records_without_text")
META_FIELDS = ("id", "updated_at")  # carried into meta, for lineage and later incremental reads


def fetch_api(
    source: ApiSource, base_urls: Mapping[str, str]
) -> tuple[list[Document], dict[str, int]]:
    """All records of an API source, page by page, until an empty page or `next_page: null`."""
    base_url = resolve_url(source.url, base_urls)
    counters: Counter[str] = Counter({name: 0 for name in COUNTER_NAMES})
    documents: list[Document] = []
    with make_session(source.user_agent, source.retries) as session:
        for page in range(source.first_page, source.first_page + source.max_pages):
            url = page_url(base_url, source.page_param, page)
            data = _get_json(session, source, url, first=page == source.first_page)
            records = _records(data, source, url)
            if not records:
                break
            counters["pages"] += 1
            for record in records:
                counters["records"] += 1
                document = to_document(record, source, page)
                if document is None:
                    counters["records_without_text"] += 1
                else:
                    documents.append(document)
            if isinstance(data, dict) and "next_page" in data and data["next_page"] is None:
                break
        else:
            logger.warning(
                "source '%s': stopped at max_pages=%d; raise it to read further",
                source.name,
                source.max_pages,
            )
    logger.info("source '%s': %d documents, %s", source.name, len(documents), dict(counters))
    return documents, dict(counters)


def page_url(base_url: str, page_param: str, page: int) -> str:
    """`base_url` with `page_param=page` set, keeping its other query parameters."""
    parts = urlsplit(base_url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != page_param]
    query.append((page_param, str(page)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def to_document(record: Mapping[str, Any], source: ApiSource, page: int) -> Document | None:
    """One record as a Document; None when none of the text fields has text."""
    parts = [_text(_dig(record, field)) for field in source.text_fields]
    text = "\n\n".join(part for part in parts if part)
    if not text:
        return None
    meta: dict[str, Any] = {"page": page}
    meta.update({key: record[key] for key in META_FIELDS if record.get(key) is not None})
    return Document(
        text=text,
        kind="api",
        source=source.name,
        url=_text(_dig(record, source.url_field)) if source.url_field else "",
        title=_text(_dig(record, source.title_field)) if source.title_field else "",
        meta=meta,
    )


def _get_json(session: requests.Session, source: ApiSource, url: str, first: bool) -> Any:
    try:
        response = session.get(url, timeout=source.timeout_s)
    except requests.RequestException as exc:
        raise SourceUnavailable(_unavailable(source, url, describe_failure(exc), first)) from exc
    with response:
        if not 200 <= response.status_code < 300:
            reason = f"HTTP {response.status_code}"
            raise SourceUnavailable(_unavailable(source, url, reason, first), response.status_code)
        try:
            return response.json()
        except ValueError:
            content_type = response.headers.get("Content-Type", "no Content-Type")
            start = response.text[:80].replace("\n", " ")
            raise ValueError(
                f"source '{source.name}': {url} did not return JSON ({content_type}, starts "
                f"with {start!r}); expected an object with a list at '{source.records_path}' "
                "(check the source's url)"
            ) from None


def _unavailable(source: ApiSource, url: str, reason: str, first: bool) -> str:
    # A later page failing fails the whole source too: a partial read would be committed
    # as if complete.
    where = "first page" if first else "page"
    return f"source '{source.name}': {where} {url} failed: {reason}"


def _records(data: Any, source: ApiSource, url: str) -> list[Mapping[str, Any]]:
    records = _dig(data, source.records_path) if source.records_path else data
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"source '{source.name}': {url} has no list of objects at "
            f"records_path '{source.records_path}' (found {found}); set records_path to the "
            "dotted path of the records, or '' when the page itself is the list"
        )
    return records


def _dig(data: Any, dotted: str | None) -> Any:
    value = data
    for key in dotted.split(".") if dotted else ():
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()
