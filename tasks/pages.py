"""The crawler's memory between nights: every fetched page with its raw HTML, status,
headers, fetch time and the extractor that made its document (provenance, and extraction
can be rerun without refetching), and the validators (ETag, Last-Modified) and links that
let the next night ask "changed since?" and still follow an unchanged page's links after a
304.

The pages table is appended after the documents: a crash between the two commits only
costs a full refetch of those pages the next night, whose documents then have the same id
and are dropped by exact dedup. The other order could lose a page's document for good.

A source's extractor setting can change between nights: a state file per source
(`state/extractor/<name>.json`) names the extractor that made its latest documents, written
after each night's commits. When it names another one than tonight's, the night re-extracts
the stored HTML (`reextract`) instead of crawling. A source with pages and no state file
(a crash before it was written, or a data root from before it existed) is judged by the
extractor recorded on its pages' rows, and rows from before that column say nothing: they
are re-extracted.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tasks import lake
from tasks.config_base import StorageConfig
from tasks.extract import decode
from tasks.extractors import extract, identity
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
    extractor: str  # the identity of what made doc_id's text (tasks/extractors.py)

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
    counters: dict[str, int]


def reextract(path: str, source: str, extractor: str = "auto") -> Reextraction:
    """Documents from the stored HTML of `source`'s pages (the latest fetch of each), as
    `extractor` sees them now, without fetching again. A text the page's document already
    had is not repeated (`unchanged_text`); a row without HTML is left for a later night's
    crawl (`no_stored_html`)."""
    counters: Counter[str] = Counter(reextracted=0, unchanged_text=0, empty_text=0)
    documents: list[Document] = []
    ref = lake.head(path)
    if ref is None:
        return Reextraction(documents, dict(counters))
    latest: dict[str, int] = {}
    for index, row in enumerate(lake.read(ref, ("source", "final_url"))):
        if row["source"] == source:
            latest[row["final_url"]] = index
    wanted = set(latest.values())
    made_by = identity(extractor)
    for index, row in enumerate(lake.read(ref, lake.PAGE_TABLE)):
        if index not in wanted:
            continue
        if not row["html_gz"]:
            counters["no_stored_html"] += 1
            continue
        headers = json.loads(row["headers"])
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        html = decode(gzip.decompress(row["html_gz"]), content_type)
        page = extract(html, row["final_url"], extractor)
        if not page.text:
            counters["empty_text"] += 1
            continue
        meta = {"status": int(row["status"]), "content_type": content_type, "extractor": made_by}
        document = Document(
            text=page.text,
            kind="web",
            source=source,
            url=row["final_url"],
            title=page.title,
            fetched_at=row["fetched_at"],
            meta=meta,
        )
        if document.id == row["doc_id"]:
            counters["unchanged_text"] += 1
            continue
        documents.append(document)
        counters["reextracted"] += 1
    return Reextraction(documents, dict(counters))


def state_file(storage: StorageConfig, source: str) -> Path:
    """Where the extractor of `source`'s latest documents is recorded."""
    return storage.root / "state" / "extractor" / f"{source}.json"


def extractor_changed(path: str, source: str, made_by: str, state: Path) -> bool:
    """Whether `source` has stored pages whose documents another extractor than `made_by`
    (an identity, tasks/extractors.py) made: the state file says which one, else the
    latest rows of its pages."""
    ref = lake.head(path)
    if ref is None:
        return False
    latest: dict[str, str] = {}
    for row in lake.read(ref, ("source", "final_url", "extractor")):
        if row["source"] == source:
            latest[row["final_url"]] = row["extractor"]
    if not latest:
        return False
    if state.exists():
        return json.loads(state.read_text(encoding="utf-8"))["extractor"] != made_by
    return set(latest.values()) != {made_by}


def record_extractor(state: Path, made_by: str) -> None:
    """After the night's commits: `made_by` made the source's latest documents."""
    lake.write_json_atomic(state, {"extractor": made_by})
