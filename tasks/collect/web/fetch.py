"""One request of a crawl: which URLs a source may ask for (Gate: scope, exclusions, public
addresses), a session per worker thread (Sessions), and `fetch`: one page through its
redirects, hop by hop, read up to the size and time caps, asked with its validators when
known, and turned into text and links by the source's extractor. Runs in the crawl's worker
threads; what it finds comes back as an Outcome that the crawl merges in queue order."""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import DecodeError, HTTPError

from lmkiln.tasks.collect.extract.extractors import extract, identity
from lmkiln.tasks.collect.extract.markup import decode, looks_binary
from lmkiln.tasks.collect.http import (
    canonical_url,
    describe_failure,
    make_session,
    non_public_address,
)
from lmkiln.tasks.collect.web.pages import FetchedPage, Known
from lmkiln.tasks.collect.web.politeness import SitePolicy
from lmkiln.tasks.config.collect import WebSource
from lmkiln.tasks.core.records import Document, utc_now

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
# A page must arrive within this many read timeouts: a server that drips one byte at a
# time never trips the read timeout, and would hold a request slot for hours.
PAGE_DEADLINE_TIMEOUTS = 6


@dataclass
class Outcome:
    """What one request gave; built in a worker thread, merged in the crawl's thread."""

    counters: Counter[str] = field(default_factory=Counter)
    final_url: str = ""
    links: tuple[str, ...] = ()
    document: Document | None = None
    page: FetchedPage | None = None
    failure: tuple[str, int | None] | None = None  # reason, HTTP status (None: no answer)


class Gate:
    """Which URLs this source may request: scope, exclusions, and public addresses only."""

    def __init__(self, source: WebSource, scope: list[str]) -> None:
        self.source, self.scope = source, scope
        self.excludes = [re.compile(pattern) for pattern in source.exclude]
        self.hosts = {urlsplit(prefix).hostname for prefix in scope}
        self.private: dict[str, str | None] = {}  # host -> a non-public address it has

    def excluded(self, url: str) -> bool:
        return any(pattern.search(url) for pattern in self.excludes)

    def follows(self, url: str) -> bool:
        """A link or redirect worth taking: in scope and not excluded."""
        return self.refusal(url) is None

    def refusal(self, url: str) -> str | None:
        """Why a link is not taken: the counter it goes under, or None."""
        if not any(url.startswith(p) for p in self.scope):
            return "links_out_of_scope"
        return "links_excluded" if self.excluded(url) else None

    def refused_address(self, url: str) -> str | None:
        """The non-public address `url` would reach, unless the source allows those."""
        if self.source.allow_private_addresses:
            return None
        host = urlsplit(url).hostname or ""
        if host not in self.private:
            # Unlocked: two threads may both resolve a host, and agree.
            self.private[host] = non_public_address(host)
        return self.private[host]

    def may_fetch_file(self, url: str) -> bool:
        """robots.txt and sitemaps: on a host in scope, at a public address."""
        return urlsplit(url).hostname in self.hosts and self.refused_address(url) is None


class Sessions:
    """One requests session per worker thread: sessions are not meant to be shared."""

    def __init__(self, source: WebSource) -> None:
        self.source = source
        self.local = threading.local()
        self.all: list[requests.Session] = []
        self.lock = threading.Lock()

    def get(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = make_session(self.source.user_agent, self.source.retries)
            self.local.session = session
            with self.lock:
                self.all.append(session)
        return session

    def close(self) -> None:
        for session in self.all:
            session.close()


def fetch(
    sessions: Sessions,
    policy: SitePolicy,
    gate: Gate,
    url: str,
    depth: int,
    known: Mapping[str, Known],
) -> Outcome:
    """One page: its document, raw page and links; or a 304 (or the same bytes again) with
    the links known from the last fetch; or a failure; or nothing, for a page skipped or
    refused (all counted)."""
    source = policy.source
    out = Outcome(final_url=url)
    encoding = "?"  # the Content-Encoding of a body that fails to decode
    try:
        with _follow_redirects(sessions.get(), policy, gate, url, known, out) as response:
            if response is None:
                return out
            encoding = response.headers.get("Content-Encoding", "?")
            status = response.status_code
            out.final_url = canonical_url(response.url)
            last = known.get(out.final_url)
            out.counters[f"http_{status}"] += 1
            if status == 304 and last is not None:
                out.counters["not_modified"] += 1
                out.links = last.links
                return out
            if not 200 <= status < 300:
                out.failure = (f"HTTP {status}", status)
                return out
            content_type = response.headers.get("Content-Type", "")
            if content_type.split(";")[0].strip().lower() not in source.content_types:
                out.counters["skipped_type"] += 1
                return out
            body = _read_capped(response, source, out.counters)
            response_headers = dict(response.headers)
    except requests.RequestException as exc:
        out.counters["errors"] += 1
        logger.warning("source '%s': %s failed: %s", source.name, url, describe_failure(exc))
        out.failure = (describe_failure(exc), None)
        return out
    except DecodeError:
        # urllib3's own errors come from reading the streamed body, which requests does not
        # wrap: one page's broken gzip must not end the crawl.
        out.counters["bad_content_encoding"] += 1
        logger.warning(
            "source '%s': %s skipped: its body is not valid %s (Content-Encoding)",
            source.name,
            url,
            encoding,
        )
        return out
    except HTTPError as exc:  # the connection broke or stalled in the middle of the body
        out.counters["errors"] += 1
        logger.warning("source '%s': %s failed while reading: %s", source.name, url, exc)
        out.failure = (f"{type(exc).__name__} while reading the body", None)
        return out
    out.counters["bytes"] += len(body)
    if looks_binary(body):
        out.counters["binary_body"] += 1
        logger.info(
            "source '%s': %s skipped: a binary body served as %s", source.name, url, content_type
        )
        return out
    digest = hashlib.sha256(body).hexdigest()
    if last is not None and last.sha256 == digest:
        # A server without validators sent the same bytes: as good as a 304.
        out.counters["unchanged"] += 1
        out.links = last.links
        return out
    _extract(out, source, url, depth, status, body, digest, content_type, response_headers)
    return out


def _extract(
    out: Outcome,
    source: WebSource,
    url: str,
    depth: int,
    status: int,
    body: bytes,
    digest: str,
    content_type: str,
    headers: Mapping[str, str],
) -> None:
    fetched_at = utc_now()
    out.counters["pages_fetched"] += 1
    try:
        page = extract(decode(body, content_type), out.final_url, source.extractor)
    except Exception:
        # An extractor's bug costs this page, not the crawl. No page row is kept, so the
        # next night fetches it again instead of taking its bytes for unchanged.
        logger.exception("source '%s': %s could not be extracted", source.name, url)
        out.counters["extract_failed"] += 1
        return
    out.counters["extracted"] += 1
    out.links = page.links
    made_by = identity(source.extractor)
    if page.text:
        meta: dict[str, object] = {
            "status": status,
            "content_type": content_type,
            "depth": depth,
            "extractor": made_by,
        }
        for header, key in (("ETag", "etag"), ("Last-Modified", "last_modified")):
            if header in headers:
                meta[key] = headers[header]
        out.document = Document(
            text=page.text,
            kind="web",
            source=source.name,
            url=out.final_url,
            title=page.title,
            fetched_at=fetched_at,
            meta=meta,
        )
    else:
        out.counters["empty_text"] += 1
    out.page = FetchedPage(
        source=source.name,
        url=url,
        final_url=out.final_url,
        status=status,
        fetched_at=fetched_at,
        headers=headers,
        links=page.links,
        doc_id=out.document.id if out.document else "",
        sha256=digest,
        # Compressed here, in the worker: the crawl holds its pages until they are stored.
        html_gz=gzip.compress(body, compresslevel=6, mtime=0),
        extractor=made_by,
    )


@contextmanager
def _follow_redirects(
    session: requests.Session,
    policy: SitePolicy,
    gate: Gate,
    url: str,
    known: Mapping[str, Known],
    out: Outcome,
) -> Iterator[requests.Response | None]:
    """GET `url`, following redirects by hand so each hop is checked (scope, address,
    robots.txt) before it is requested, and asked with that hop's own validators.

    Streamed: a non-HTML answer is skipped after its headers, a huge page is cut. Each hop
    holds one of the site's request slots until its body is read."""
    source = policy.source
    for _ in range(source.max_redirects + 1):
        last = known.get(url)
        headers = last.request_headers() if last else {}
        with policy.slot(url):
            try:
                response = session.get(
                    url,
                    headers=headers,
                    timeout=source.timeout_s,
                    stream=True,
                    allow_redirects=False,
                )
            except requests.RequestException:
                raise
            except ValueError:
                # requests parses a redirect's Location even when it does not follow it: one
                # that is not a URL ("http://[bad") raises here, with no response to look at.
                response = None
            if response is not None and not response.is_redirect:
                with response:
                    yield response
                return
            if response is not None:
                response.close()
        out.counters["redirects"] += 1
        target, refusal = None, ""
        if response is not None:
            target, refusal = _next_hop(session, policy, gate, url, response.headers["Location"])
        if target is None:
            out.counters["redirects_refused"] += 1
            if refusal:
                out.counters[refusal] += 1
            logger.info("source '%s': refused a redirect from %s", source.name, url)
            yield None
            return
        url = target
    out.counters["too_many_redirects"] += 1
    yield None


def _next_hop(
    session: requests.Session, policy: SitePolicy, gate: Gate, url: str, location: str
) -> tuple[str | None, str]:
    """Where a redirect to `location` goes, or None and the counter (besides
    `redirects_refused`) that says why it is refused."""
    try:
        target = canonical_url(urljoin(url, location))
    except ValueError:
        return None, ""  # not a URL
    if not gate.follows(target):
        return None, ""
    if gate.refused_address(target) is not None:
        return None, "refused_private_address"
    if policy.source.respect_robots and not policy.allowed(session, target):
        return None, "robots_forbidden"
    return target, ""


def _read_capped(response: requests.Response, source: WebSource, counters: Counter[str]) -> bytes:
    """The body, cut at `max_page_bytes`, or at the deadline for a page arriving too slowly.

    read1 returns what one socket read gives, so the deadline is checked at least once per
    read timeout however slowly the bytes come."""
    deadline_s = time.monotonic() + PAGE_DEADLINE_TIMEOUTS * source.timeout_s
    chunks, size = [], 0
    while chunk := response.raw.read1(CHUNK_BYTES, decode_content=True):
        chunks.append(chunk)
        size += len(chunk)
        if size >= source.max_page_bytes:
            counters["truncated_pages"] += 1
            break
        if time.monotonic() > deadline_s:
            counters["slow_pages_cut"] += 1
            break
    return b"".join(chunks)[: source.max_page_bytes]
