"""The crawler's memory between nights: every fetched page with its raw HTML, status,
headers and fetch time (provenance, and extraction can be rerun without refetching), and
the validators (ETag, Last-Modified) and links that let the next night ask
"changed since?" and still follow an unchanged page's links after a 304.

The pages table is appended after the documents: a crash between the two commits only
costs a full refetch of those pages the next night, whose documents then have the same id
and are dropped by exact dedup. The other order could lose a page's document for good.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tasks import lake
from tasks.extract import decode, extract
from tasks.records import Document

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


def reextract(path: str, source: str) -> Iterator[Document]:
    """Documents from the stored HTML of `source`'s pages (the latest fetch of each), as
    the current extractor sees them: a better extractor is rerun over what was fetched,
    without fetching again."""
    ref = lake.head(path)
    if ref is None:
        return
    latest: dict[str, int] = {}
    for index, row in enumerate(lake.read(ref, ("source", "final_url"))):
        if row["source"] == source:
            latest[row["final_url"]] = index
    wanted = set(latest.values())
    for index, row in enumerate(lake.read(ref, lake.PAGE_TABLE)):
        if index not in wanted:
            continue
        headers = json.loads(row["headers"])
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        page = extract(decode(gzip.decompress(row["html_gz"]), content_type), row["final_url"])
        if page.text:
            meta = {"status": int(row["status"]), "content_type": content_type}
            yield Document(
                text=page.text,
                kind="web",
                source=source,
                url=row["final_url"],
                title=page.title,
                fetched_at=row["fetched_at"],
                meta=meta,
            )
