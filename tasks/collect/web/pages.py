"""The crawler's memory between nights: every fetched page with its raw HTML, status,
headers, fetch time and the extractor that made its document (provenance, and extraction
can be rerun without refetching), and the validators (ETag, Last-Modified) and links that
let the next night ask "changed since?" and still follow an unchanged page's links after a
304.

The pages table is appended after the documents: a crash between the two commits only
costs a full refetch of those pages the next night, whose documents then have the same id
and are dropped by exact dedup. The other order could lose a page's document for good.

A source's extractor setting can change between nights. Each row names the extractor that
made its page's document; when the latest row of any of a source's pages names another one
than tonight's, the night re-extracts the stored HTML (`reextract`) instead of crawling, and
appends a row per page naming the new extractor and its document, without the HTML again
(`reextracted`; the HTML stays in the fetch's row). Rows from before the extractor column
name none: their pages are re-extracted.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lmkiln.tasks.collect.extract.extractors import extract, identity
from lmkiln.tasks.collect.extract.markup import decode
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import Document

logger = logging.getLogger(__name__)

# Response headers that say nothing about the content and may carry session secrets.
_PRIVATE_HEADERS = frozenset({"set-cookie", "authorization", "www-authenticate"})


@dataclass(frozen=True)
class Known:
    """What the last fetch of a URL left for a conditional request."""

    etag: str
    last_modified: str
    links: tuple[str, ...]
    sha256: str = ""  # of the body: the same bytes again count as unchanged

    def request_headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class FetchedPage:
    """One 2xx page as fetched: the row the pages table keeps."""

    source: str
    url: str  # as queued: what the next night's request is keyed by
    final_url: str  # after redirects
    status: int
    fetched_at: str
    headers: Mapping[str, str]
    links: tuple[str, ...]
    doc_id: str  # "" when the page had no text
    sha256: str  # of the body as received (decompressed)
    html_gz: bytes
    extractor: str  # the identity of what made doc_id's text (tasks/collect/extract/extractors.py)

    def to_row(self) -> dict[str, object]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _PRIVATE_HEADERS}
        lowered = {k.lower(): v for k, v in headers.items()}
        return {
            "source": self.source,
            "url": self.url,
            "final_url": self.final_url,
            "status": str(self.status),
            "fetched_at": self.fetched_at,
            "headers": json.dumps(headers, sort_keys=True),
            "etag": lowered.get("etag", ""),
            "last_modified": lowered.get("last-modified", ""),
            "links": json.dumps(list(self.links)),
            "doc_id": self.doc_id,
            "sha256": self.sha256,
            "html_gz": self.html_gz,
            "extractor": self.extractor,
        }


def store(
    path: str, pages: Iterable[FetchedPage], message: str, state: Path | None = None
) -> lake.LakeRef:
    """`state`: the table's local lock path (lake.lock_file), needed when it is on S3."""
    return lake.append(path, [page.to_row() for page in pages], lake.PAGE_TABLE, message, state)


def known_pages(path: str, source: str) -> dict[str, Known]:
    """The latest validators, body hash and links of every page `source` has fetched, by
    the URL it was queued under and by the URL it was finally fetched from."""
    ref = lake.head(path)
    if ref is None:
        return {}
    columns = ("source", "url", "final_url", "etag", "last_modified", "links", "sha256")
    known: dict[str, Known] = {}
    for row in lake.read(ref, columns):
        if row["source"] == source:  # later rows replace earlier ones
            links = tuple(json.loads(row["links"] or "[]"))
            page = Known(row["etag"], row["last_modified"], links, row["sha256"])
            known[row["url"]] = known[row["final_url"]] = page
    return known


@dataclass(frozen=True)
class Reextraction:
    documents: list[Document]
    pages: list[FetchedPage]  # a row per page re-extracted: new extractor, its document
    counters: dict[str, int]


def extractor_changed(path: str, source: str, made_by: str) -> bool:
    """Whether another extractor than `made_by` (an identity, tasks/collect/extract/extractors.py)
    made the latest document of any of `source`'s pages."""
    ref = lake.head(path)
    if ref is None:
        return False
    latest: dict[str, str] = {}
    for row in lake.read(ref, ("source", "final_url", "extractor")):
        if row["source"] == source:
            latest[row["final_url"]] = row["extractor"]
    return any(extractor != made_by for extractor in latest.values())


def reextract(path: str, source: str, extractor: str) -> Reextraction:
    """Documents from the stored HTML of `source`'s pages (each page's latest fetch), as
    `extractor` sees them now, without fetching again; and a page row for each, naming the
    extractor. A text the page's document already had is not repeated (`unchanged_text`); a
    page that fails to extract is logged and counted (`extract_failed`: its row names the new
    extractor and no document, so the night is not repeated for it), and one without stored
    HTML (`no_stored_html`) is extracted anew when a crawl fetches it changed."""
    counters: Counter[str] = Counter(
        reextracted=0, unchanged_text=0, empty_text=0, extract_failed=0, no_stored_html=0
    )
    documents: list[Document] = []
    rows: list[FetchedPage] = []
    ref = lake.head(path)
    if ref is None:
        return Reextraction(documents, rows, dict(counters))
    indices: dict[str, list[int]] = {}  # final URL -> its rows, oldest first
    for index, row in enumerate(lake.read(ref, ("source", "final_url"))):
        if row["source"] == source:
            indices.setdefault(row["final_url"], []).append(index)
    made_by = identity(extractor)
    for final_url, found in indices.items():
        # The latest row holds the page's document; the latest with HTML, its fetch (rows of
        # earlier re-extractions come after it, without HTML).
        latest = fetch = _row(ref, found[-1])
        for index in reversed(found[:-1]):
            if fetch["html_gz"]:
                break
            fetch = _row(ref, index)
        if not fetch["html_gz"]:
            counters["no_stored_html"] += 1
            rows.append(_page_row(latest, latest["doc_id"], made_by))
            continue
        headers = json.loads(fetch["headers"])
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        try:
            html = decode(gzip.decompress(fetch["html_gz"]), content_type)
            page = extract(html, final_url, extractor, links=False)
        except Exception:  # a damaged row or an extractor's bug costs this page only
            logger.exception(
                "source '%s': stored page %s could not be re-extracted", source, final_url
            )
            counters["extract_failed"] += 1
            rows.append(_page_row(latest, "", made_by))
            continue
        if not page.text:
            counters["empty_text"] += 1
            rows.append(_page_row(latest, "", made_by))
            continue
        meta = {"status": int(fetch["status"]), "content_type": content_type, "extractor": made_by}
        document = Document(
            text=page.text,
            kind="web",
            source=source,
            url=final_url,
            title=page.title,
            fetched_at=fetch["fetched_at"],
            meta=meta,
        )
        rows.append(_page_row(latest, document.id, made_by))
        if document.id == latest["doc_id"]:
            counters["unchanged_text"] += 1
            continue
        documents.append(document)
        counters["reextracted"] += 1
    return Reextraction(documents, rows, dict(counters))


def _row(ref: lake.LakeRef, index: int) -> dict:
    (row,) = lake.read(ref, lake.PAGE_TABLE, start=index, stop=index + 1)
    return row


def _page_row(row: Mapping[str, object], doc_id: str, made_by: str) -> FetchedPage:
    """`row` again, naming the document `made_by` made of it, without its HTML."""
    return FetchedPage(
        source=str(row["source"]),
        url=str(row["url"]),
        final_url=str(row["final_url"]),
        status=int(str(row["status"])),
        fetched_at=str(row["fetched_at"]),
        headers=json.loads(str(row["headers"])),
        links=tuple(json.loads(str(row["links"]) or "[]")),
        doc_id=doc_id,
        sha256=str(row["sha256"]),
        html_gz=b"",
        extractor=made_by,
    )
