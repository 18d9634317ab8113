"""A polite breadth-first crawler: robots.txt, sitemaps, scope, depth and page caps, a few
requests in flight per site with a pause between them, redirects checked hop by hop, no
requests to non-public addresses unless allowed, pages cut at a size, and conditional
requests so an unchanged page costs one 304.

`crawl` walks a `WebSource` one depth at a time: a depth's pages are fetched concurrently
and taken back in queue order, so the same site gives the same documents in the same order
whatever the timing. tasks/extract.py turns each page into text and links; tasks/pages.py
keeps the raw pages and what the next night's conditional requests need.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests

from tasks.config import WebSource
from tasks.demo import resolve_url
from tasks.extract import decode, extract
from tasks.http import (
    SourceUnavailable,
    canonical_url,
    describe_failure,
    make_session,
    non_public_address,
    origin,
)
from tasks.pages import FetchedPage, Known
from tasks.politeness import SitePolicy, sitemap_urls
from tasks.records import Document, utc_now

logger = logging.getLogger(__name__)

COUNTER_NAMES = (
    "pages_fetched",
    "not_modified",
    "extracted",
    "bytes",
    "robots_forbidden",
    "skipped_type",
    "truncated_pages",
    "redirects",
    "redirects_refused",
    "too_many_redirects",
    "refused_private_address",
    "links_out_of_scope",
    "links_excluded",
    "stopped_at_max_bytes",
    "sitemaps",
    "sitemap_urls",
    "errors",
)


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
        self.private: dict[str, str | None] = {}  # host -> a non-public address it has
        self._lock = threading.Lock()

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
        with self._lock:
            if host not in self.private:
                self.private[host] = non_public_address(host)
            return self.private[host]


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


def crawl(
    source: WebSource, base_urls: Mapping[str, str], known: Mapping[str, Known] | None = None
) -> Crawl:
    """Fetch up to `max_pages` pages breadth-first from the start URLs (and the sites'
    sitemaps), within scope. `known` pages are asked for with their validators."""
    known = known or {}
    starts = [canonical_url(resolve_url(url, base_urls)) for url in source.start_urls]
    default_scope = sorted({origin(url) + "/" for url in starts})
    gate = _Gate(source, [resolve_url(p, base_urls) for p in source.scope] or default_scope)
    for url in starts:
        if (address := gate.refused_address(url)) is not None:
            raise ValueError(
                f"source '{source.name}': start URL {url} resolves to the non-public address "
                f"{address}; set allow_private_addresses: true only for sites you run"
            )
    counters: Counter[str] = Counter({name: 0 for name in COUNTER_NAMES})
    documents: list[Document] = []
    pages: list[FetchedPage] = []
    failures: list[tuple[str, str, int | None]] = []
    policy, sessions = SitePolicy(source), _Sessions(source)
    sites = sorted({origin(url) for url in starts})
    workers = source.concurrency * len(sites)
    with _closing(sessions), ThreadPoolExecutor(workers, thread_name_prefix="crawl") as pool:
        frontier = list(dict.fromkeys(url for url in starts if not gate.excluded(url)))
        if source.sitemaps:
            frontier += _from_sitemaps(sessions.get(), policy, gate, sites, frontier, counters)
        seen = set(frontier)
        budget, depth = source.max_pages, 0
        while frontier and budget > 0:
            wave: list[tuple[str, Future[_Outcome]]] = []
            for url in frontier:
                if len(wave) == budget:
                    break
                if _admitted(url, sessions.get(), policy, gate, counters, failures):
                    fetch = (sessions, policy, gate, url, depth, known.get(url))
                    job = pool.submit(_fetch, *fetch)
                    wave.append((url, job))
            budget -= len(wave)
            frontier = []
            for url, job in wave:
                if job.cancelled():
                    continue
                outcome = job.result()
                counters.update(outcome.counters)
                if outcome.failure is not None:
                    failures.append((url, *outcome.failure))
                if outcome.document is not None:
                    documents.append(outcome.document)
                if outcome.page is not None:
                    pages.append(outcome.page)
                seen.add(outcome.final_url)
                if depth < source.max_depth:
                    for link in outcome.links:
                        if link in seen:
                            continue
                        seen.add(link)  # counted once, however many pages link to it
                        if (refusal := gate.refusal(link)) is None:
                            frontier.append(link)
                        else:
                            counters[refusal] += 1
                if source.max_bytes is not None and counters["bytes"] >= source.max_bytes:
                    # Pages already in flight still land; the ones not started are dropped.
                    counters["stopped_at_max_bytes"] = 1
                    for _, pending in wave:
                        pending.cancel()
                    frontier, budget = [], 0
            depth += 1
    if counters["pages_fetched"] + counters["not_modified"] == 0 and failures:
        url, reason, status = failures[0]
        raise SourceUnavailable(
            f"source '{source.name}': no page could be fetched; {url}: {reason}", status=status
        )
    logger.info("source '%s': %d documents, %s", source.name, len(documents), dict(counters))
    return Crawl(documents=documents, pages=pages, counters=dict(counters))


@contextmanager
def _closing(sessions: _Sessions) -> Iterator[None]:
    try:
        yield
    finally:
        sessions.close()


def _admitted(
    url: str,
    session: requests.Session,
    policy: SitePolicy,
    gate: _Gate,
    counters: Counter[str],
    failures: list[tuple[str, str, int | None]],
) -> bool:
    """Whether `url` may be requested now; a refusal is counted under its reason."""
    if gate.refused_address(url) is not None:
        counters["refused_private_address"] += 1
        return False
    if policy.source.respect_robots and not policy.allowed(session, url):
        counters["robots_forbidden"] += 1
        return False
    if (down := policy.down.get(origin(url))) is not None:
        failures.append((url, down, None))
        counters["errors"] += 1
        return False
    return True


def _from_sitemaps(
    session: requests.Session,
    policy: SitePolicy,
    gate: _Gate,
    sites: list[str],
    frontier: list[str],
    counters: Counter[str],
) -> list[str]:
    """In-scope page URLs from the sites' sitemaps that the start URLs do not already name."""

    def may_fetch(url: str) -> bool:
        return gate.refused_address(url) is None

    found: dict[str, None] = {}
    for site in sites:
        if site in policy.down:
            continue
        urls, files = sitemap_urls(session, policy, site, may_fetch)
        counters["sitemaps"] += files
        for url in map(canonical_url, urls):
            if url not in frontier and gate.follows(url):
                found.setdefault(url)
    counters["sitemap_urls"] += len(found)
    return list(found)


def _fetch(
    sessions: _Sessions,
    policy: SitePolicy,
    gate: _Gate,
    url: str,
    depth: int,
    known: Known | None,
) -> _Outcome:
    """One page: its document, raw page and links; or a 304 with the links known from the
    last fetch; or a failure; or nothing, for a page skipped or refused (all counted)."""
    source = policy.source
    out = _Outcome(final_url=url)
    headers = known.request_headers() if known else {}
    try:
        with _follow_redirects(sessions.get(), policy, gate, url, headers, out) as response:
            if response is None:
                return out
            status = response.status_code
            out.counters[f"http_{status}"] += 1
            if status == 304 and known is not None:
                out.counters["not_modified"] += 1
                out.links = known.links
                return out
            if not 200 <= status < 300:
                out.failure = (f"HTTP {status}", status)
                return out
            content_type = response.headers.get("Content-Type", "")
            if content_type.split(";")[0].strip().lower() not in source.content_types:
                out.counters["skipped_type"] += 1
                return out
            body = _read_capped(response, source.max_page_bytes, out.counters)
            out.final_url = canonical_url(response.url)
            response_headers = dict(response.headers)
    except requests.RequestException as exc:
        out.counters["errors"] += 1
        logger.warning("source '%s': %s failed: %s", source.name, url, describe_failure(exc))
        out.failure = (describe_failure(exc), None)
        return out
    fetched_at = utc_now()
    out.counters["pages_fetched"] += 1
    out.counters["bytes"] += len(body)
    page = extract(decode(body, content_type), out.final_url)
    out.counters["extracted"] += 1
    out.links = page.links
    if page.text:
        meta: dict[str, object] = {"status": status, "content_type": content_type, "depth": depth}
        for header, key in (("ETag", "etag"), ("Last-Modified", "last_modified")):
            if header in response_headers:
                meta[key] = response_headers[header]
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
        headers=response_headers,
        links=page.links,
        doc_id=out.document.id if out.document else "",
        html=body,
    )
    return out


@contextmanager
def _follow_redirects(
    session: requests.Session,
    policy: SitePolicy,
    gate: _Gate,
    url: str,
    headers: Mapping[str, str],
    out: _Outcome,
) -> Iterator[requests.Response | None]:
    """GET `url`, following redirects by hand so each hop is checked before it is requested.

    Streamed: a non-HTML answer is skipped after its headers, a huge page is cut. Each hop
    holds one of the site's request slots until its body is read."""
    source = policy.source
    for _ in range(source.max_redirects + 1):
        with policy.slot(url):
            response = session.get(
                url, headers=headers, timeout=source.timeout_s, stream=True, allow_redirects=False
            )
            if not response.is_redirect:
                with response:
                    yield response
                return
            response.close()
        out.counters["redirects"] += 1
        target = canonical_url(urljoin(url, response.headers["Location"]))
        private = gate.follows(target) and gate.refused_address(target) is not None
        if private or not gate.follows(target):
            out.counters["redirects_refused"] += 1
            out.counters["refused_private_address"] += private
            logger.info("source '%s': refused redirect %s -> %s", source.name, url, target)
            yield None
            return
        url, headers = target, {}
    out.counters["too_many_redirects"] += 1
    yield None


def _read_capped(response: requests.Response, max_bytes: int, counters: Counter[str]) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= max_bytes:
            counters["truncated_pages"] += 1
            break
    return b"".join(chunks)[:max_bytes]
