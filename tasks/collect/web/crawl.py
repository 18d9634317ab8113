"""A polite breadth-first crawler: robots.txt, sitemaps, scope, depth and page caps, a few
requests in flight per site with a pause between them, redirects checked hop by hop, no
requests to non-public addresses unless allowed, pages cut at a size and a time, and
conditional requests so an unchanged page costs one 304.

`crawl` walks a `WebSource` one depth at a time: a depth's pages are fetched concurrently and taken
back in queue order, so the same site gives the same documents in the same order whatever the
timing. tasks/collect/extract/extractors.py turns each page into text (with the source's extractor)
and links; pages.py keeps the raw pages and what the next night's conditional requests need.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import DecodeError, HTTPError

from lmkiln.tasks.collect.extract.extractors import extract, identity
from lmkiln.tasks.collect.extract.markup import decode, looks_binary
from lmkiln.tasks.collect.http import (
    SourceUnavailable,
    canonical_url,
    describe_failure,
    make_session,
    non_public_address,
    origin,
)
from lmkiln.tasks.collect.web.pages import FetchedPage, Known
from lmkiln.tasks.collect.web.politeness import SitePolicy, sitemap_urls
from lmkiln.tasks.config.collect import WebSource
from lmkiln.tasks.core.records import Document, utc_now

logger = logging.getLogger(__name__)

COUNTER_NAMES = (
    "pages_fetched",
    "not_modified",
    "unchanged",
    "extracted",
    "extract_failed",
    "bytes",
    "robots_forbidden",
    "skipped_type",
    "truncated_pages",
    "slow_pages_cut",
    "bad_content_encoding",
    "binary_body",
    "redirects",
    "redirects_refused",
    "too_many_redirects",
    "refused_private_address",
    "links_out_of_scope",
    "links_excluded",
    "duplicate_final_url",
    "stopped_at_max_bytes",
    "sitemaps",
    "sitemap_urls",
    "errors",
)
CHUNK_BYTES = 64 * 1024
# A page must arrive within this many read timeouts: a server that drips one byte at a
# time never trips the read timeout, and would hold a request slot for hours.
PAGE_DEADLINE_TIMEOUTS = 6


@dataclass(frozen=True)
class Crawl:
    documents: list[Document]
    pages: list[FetchedPage]  # every 2xx page fetched, for the pages table
    counters: dict[str, int]


@dataclass
class _Outcome:
    """What one request gave; built in a worker thread, merged in the crawl's thread."""

    counters: Counter[str] = field(default_factory=Counter)
    final_url: str = ""
    links: tuple[str, ...] = ()
    document: Document | None = None
    page: FetchedPage | None = None
    failure: tuple[str, int | None] | None = None  # reason, HTTP status (None: no answer)


class _Gate:
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


class _Sessions:
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


def crawl(source: WebSource, known: Mapping[str, Known] | None = None) -> Crawl:
    """Fetch up to `max_pages` pages breadth-first from the start URLs (and the sites'
    sitemaps), within scope. `known` pages are asked for with their validators."""
    starts = [canonical_url(url) for url in source.start_urls]
    default_scope = sorted({origin(url) + "/" for url in starts})
    gate = _Gate(source, source.scope or default_scope)
    for url in starts:
        if (address := gate.refused_address(url)) is not None:
            raise ValueError(
                f"source '{source.name}': start URL {url} resolves to the non-public address "
                f"{address}; set allow_private_addresses: true only for sites you run"
            )
    crawler = _Crawler(source, gate, known or {})
    sites = sorted({origin(url) for url in starts})
    pool = ThreadPoolExecutor(source.concurrency * len(sites), thread_name_prefix="crawl")
    try:
        crawler.run(pool, starts, sites)
    finally:
        # On an error, requests not started yet are dropped rather than waited for.
        pool.shutdown(wait=True, cancel_futures=True)
        crawler.sessions.close()
    counters = crawler.counters
    if counters["pages_fetched"] + counters["not_modified"] + counters["unchanged"] == 0:
        if crawler.failures:
            url, reason, status = crawler.failures[0]
            message = f"source '{source.name}': no page could be fetched; {url}: {reason}"
            raise SourceUnavailable(message, status=status)
    logger.info("source '%s': %d documents, %s", source.name, len(crawler.documents), counters)
    return Crawl(documents=crawler.documents, pages=crawler.pages, counters=dict(counters))


class _Crawler:
    """The crawl's state, owned by the crawl's thread; workers only run `_fetch`."""

    def __init__(self, source: WebSource, gate: _Gate, known: Mapping[str, Known]) -> None:
        self.source, self.gate, self.known = source, gate, known
        self.policy = SitePolicy(source, gate.may_fetch_file)
        self.sessions = _Sessions(source)
        self.counters: Counter[str] = Counter({name: 0 for name in COUNTER_NAMES})
        self.documents: list[Document] = []
        self.pages: list[FetchedPage] = []
        self.failures: list[tuple[str, str, int | None]] = []
        self.landed: set[str] = set()  # final URLs that gave a page, after redirects

    def run(self, pool: ThreadPoolExecutor, starts: list[str], sites: list[str]) -> None:
        frontier = list(dict.fromkeys(url for url in starts if not self.gate.excluded(url)))
        if self.source.sitemaps:
            frontier += self._from_sitemaps(sites, frontier)
        seen = set(frontier)
        budget, depth = self.source.max_pages, 0
        while frontier and budget > 0:
            wave: list[tuple[str, Future[_Outcome]]] = []
            for url in frontier:
                if len(wave) == budget:
                    break
                if self._admitted(url):
                    fetch = (self.sessions, self.policy, self.gate, url, depth, self.known)
                    wave.append((url, pool.submit(_fetch, *fetch)))
            budget -= len(wave)
            frontier = []
            for url, job in wave:
                if job.cancelled():
                    continue
                outcome = job.result()
                links = self._merge(url, outcome)
                seen.add(outcome.final_url)
                for link in links if depth < self.source.max_depth else ():
                    if link in seen:
                        continue
                    seen.add(link)  # counted once, however many pages link to it
                    if (refusal := self.gate.refusal(link)) is None:
                        frontier.append(link)
                    else:
                        self.counters[refusal] += 1
                if self._past_max_bytes():
                    # Pages already in flight still land; the ones not started are dropped.
                    self.counters["stopped_at_max_bytes"] = 1
                    for _, pending in wave:
                        pending.cancel()
                    frontier, budget = [], 0
            depth += 1

    def _past_max_bytes(self) -> bool:
        cap = self.source.max_bytes
        return cap is not None and self.counters["bytes"] >= cap

    def _admitted(self, url: str) -> bool:
        """Whether `url` may be requested now; a refusal is counted under its reason."""
        if self.gate.refused_address(url) is not None:
            self.counters["refused_private_address"] += 1
            return False
        session = self.sessions.get()
        if self.source.respect_robots and not self.policy.allowed(session, url):
            self.counters["robots_forbidden"] += 1
            return False
        if (down := self.policy.down.get(origin(url))) is not None:
            self.failures.append((url, down, None))
            self.counters["errors"] += 1
            return False
        return True

    def _merge(self, url: str, outcome: _Outcome) -> tuple[str, ...]:
        """Take one outcome in queue order; returns the links to follow."""
        self.counters.update(outcome.counters)
        if outcome.failure is not None:
            self.failures.append((url, *outcome.failure))
        if outcome.page is not None:
            if outcome.final_url in self.landed:
                # Two queued URLs redirected to one page: it is kept once.
                self.counters["duplicate_final_url"] += 1
                return ()
            self.landed.add(outcome.final_url)
            self.pages.append(outcome.page)
        if outcome.document is not None:
            self.documents.append(outcome.document)
        return outcome.links

    def _from_sitemaps(self, sites: list[str], frontier: list[str]) -> list[str]:
        """In-scope page URLs from the sites' sitemaps that the start URLs do not name."""
        found: dict[str, None] = {}
        session = self.sessions.get()
        for site in sites:
            if site in self.policy.down:
                continue
            urls, files = sitemap_urls(session, self.policy, site)
            self.counters["sitemaps"] += files
            for raw in urls:
                try:
                    url = canonical_url(raw)
                except ValueError:
                    continue  # not a URL: a broken sitemap line
                if url not in frontier and self.gate.follows(url):
                    found.setdefault(url)
        self.counters["sitemap_urls"] += len(found)
        return list(found)


def _fetch(
    sessions: _Sessions,
    policy: SitePolicy,
    gate: _Gate,
    url: str,
    depth: int,
    known: Mapping[str, Known],
) -> _Outcome:
    """One page: its document, raw page and links; or a 304 (or the same bytes again) with
    the links known from the last fetch; or a failure; or nothing, for a page skipped or
    refused (all counted)."""
    source = policy.source
    out = _Outcome(final_url=url)
    try:
        with _follow_redirects(sessions.get(), policy, gate, url, known, out) as response:
            if response is None:
                return out
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
            response.headers.get("Content-Encoding", "?"),
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
    out: _Outcome,
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
    gate: _Gate,
    url: str,
    known: Mapping[str, Known],
    out: _Outcome,
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
    session: requests.Session, policy: SitePolicy, gate: _Gate, url: str, location: str
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
