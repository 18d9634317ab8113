"""What a crawler owes the sites it visits: robots.txt, pauses, a cap on requests in flight,
and the sitemaps a site publishes so it need not be discovered link by link.

Shared by the crawl's worker threads: every method here is thread-safe.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests
from protego import Protego

from tasks.config import WebSource
from tasks.http import describe_failure, origin

logger = logging.getLogger(__name__)

# A sitemap index may name thousands of sitemaps; a nightly crawl reads the first few.
MAX_SITEMAPS = 20
_LOC = re.compile(rb"<loc>\s*(.*?)\s*</loc>", re.IGNORECASE | re.DOTALL)


class SitePolicy:
    """robots.txt once per site, and when each site may be asked again.

    `slot(url)` is held for the whole of a request: at most `source.concurrency` requests
    to one site are in flight, and two of them start at least the pause apart (the larger
    of `delay_ms` and the site's Crawl-delay), as Scrapy's per-domain download slots do.
    """

    def __init__(self, source: WebSource) -> None:
        self.source = source
        self.parsers: dict[str, Protego | None] = {}  # None: no robots.txt, allow all
        self.down: dict[str, str] = {}  # site -> why robots.txt could not even be asked
        self._lock = threading.Lock()
        self._next_start_s: dict[str, float] = {}
        self._in_flight: dict[str, threading.BoundedSemaphore] = {}

    def robots(self, session: requests.Session, url: str) -> Protego | None:
        site = origin(url)
        if site not in self.parsers:
            self.parsers[site] = self._fetch_robots(session, site)
        return self.parsers[site]

    def allowed(self, session: requests.Session, url: str) -> bool:
        parser = self.robots(session, url)
        return parser is None or parser.can_fetch(url, self.source.user_agent)

    def _fetch_robots(self, session: requests.Session, site: str) -> Protego | None:
        try:
            with (
                self.slot(site),
                session.get(f"{site}/robots.txt", timeout=self.source.timeout_s) as response,
            ):
                if response.status_code != 200:
                    return None
                text = response.text
        except requests.ConnectionError as exc:
            # The pages would fail the same way after the same retries: skip the site.
            self.down[site] = describe_failure(exc)
            return None
        except requests.RequestException:
            return None
        # Protego, as Scrapy uses: wildcards, Allow/Disallow precedence by length, Crawl-delay.
        return Protego.parse(text)

    def _delay_s(self, site: str) -> float:
        delay_s = self.source.delay_ms / 1000
        parser = self.parsers.get(site)
        if parser is not None:
            delay_s = max(delay_s, float(parser.crawl_delay(self.source.user_agent) or 0))
        return delay_s

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        site = origin(url)
        with self._lock:
            in_flight = self._in_flight.setdefault(
                site, threading.BoundedSemaphore(self.source.concurrency)
            )
        with in_flight:
            with self._lock:
                now_s = time.monotonic()
                start_s = max(now_s, self._next_start_s.get(site, now_s))
                self._next_start_s[site] = start_s + self._delay_s(site)
            time.sleep(start_s - now_s)
            yield


def sitemap_urls(
    session: requests.Session,
    policy: SitePolicy,
    site: str,
    may_fetch: Callable[[str], bool],
) -> tuple[list[str], int]:
    """Page URLs listed by the site's sitemaps (from robots.txt, else /sitemap.xml), in
    order, and how many sitemap files were read. Sitemap indexes are followed one level."""
    parser = policy.robots(session, site)
    pending = list(parser.sitemaps) if parser is not None else []
    pending = pending or [f"{site}/sitemap.xml"]
    pages: list[str] = []
    read = 0
    while pending and read < MAX_SITEMAPS:
        url = pending.pop(0)
        if not may_fetch(url):
            continue
        body = _fetch_sitemap(session, policy, url)
        if body is None:
            continue
        read += 1
        locs = [html.unescape(loc.decode("utf-8", "replace")) for loc in _LOC.findall(body)]
        if b"<sitemapindex" in body[:2048].lower():
            pending.extend(locs)
        else:
            pages.extend(locs)
    return pages, read


def _fetch_sitemap(session: requests.Session, policy: SitePolicy, url: str) -> bytes | None:
    source = policy.source
    try:
        with policy.slot(url), session.get(url, timeout=source.timeout_s, stream=True) as response:
            if response.status_code != 200:
                return None
            body = response.raw.read(source.max_page_bytes + 1, decode_content=True)
    except requests.RequestException as exc:
        logger.info("source '%s': sitemap %s: %s", source.name, url, describe_failure(exc))
        return None
    if body[:2] == b"\x1f\x8b":  # sitemap.xml.gz, served as a file rather than encoded
        try:
            # Bounded: a small gzip can unpack to gigabytes.
            body = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
                body, source.max_page_bytes + 1
            )
        except zlib.error:
            return None
    return body[: source.max_page_bytes]
