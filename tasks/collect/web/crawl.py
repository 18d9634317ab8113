"""A polite breadth-first crawler: robots.txt, sitemaps, scope, depth and page caps, a few
requests in flight per site with a pause between them, redirects checked hop by hop, no
requests to non-public addresses unless allowed, pages cut at a size and a time, and
conditional requests so an unchanged page costs one 304.

`crawl` walks a `WebSource` one depth at a time: a depth's pages are fetched concurrently (fetch.py)
and taken back in queue order, so the same site gives the same documents in the same order whatever
the timing. tasks/collect/extract/extractors.py turns each page into text (with the source's
extractor) and links; pages.py keeps the raw pages and what the next night's conditional requests
need.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from lmkiln.tasks.collect.http import (
    SourceUnavailable,
    canonical_url,
    origin,
)
from lmkiln.tasks.collect.web.fetch import Gate, Outcome, Sessions, fetch
from lmkiln.tasks.collect.web.pages import FetchedPage, Known
from lmkiln.tasks.collect.web.politeness import SitePolicy, sitemap_urls
from lmkiln.tasks.config.collect import WebSource
from lmkiln.tasks.core.records import Document

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


@dataclass(frozen=True)
class Crawl:
    documents: list[Document]
    pages: list[FetchedPage]  # every 2xx page fetched, for the pages table
    counters: dict[str, int]


def crawl(source: WebSource, known: Mapping[str, Known] | None = None) -> Crawl:
    """Fetch up to `max_pages` pages breadth-first from the start URLs (and the sites'
    sitemaps), within scope. `known` pages are asked for with their validators."""
    starts = [canonical_url(url) for url in source.start_urls]
    default_scope = sorted({origin(url) + "/" for url in starts})
    gate = Gate(source, source.scope or default_scope)
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
    """The crawl's state, owned by the crawl's thread; workers only run `fetch`."""

    def __init__(self, source: WebSource, gate: Gate, known: Mapping[str, Known]) -> None:
        self.source, self.gate, self.known = source, gate, known
        self.policy = SitePolicy(source, gate.may_fetch_file)
        self.sessions = Sessions(source)
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
            wave: list[tuple[str, Future[Outcome]]] = []
            for url in frontier:
                if len(wave) == budget:
                    break
                if self._admitted(url):
                    request = (self.sessions, self.policy, self.gate, url, depth, self.known)
                    wave.append((url, pool.submit(fetch, *request)))
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

    def _merge(self, url: str, outcome: Outcome) -> tuple[str, ...]:
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
