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
from urllib.parse import urljoin

import requests
from protego import Protego

from lmkiln.tasks.collect.http import canonical_url, describe_failure, origin
from lmkiln.tasks.config.collect import WebSource

logger = logging.getLogger(__name__)

# RFC 9309: a crawler may stop reading robots.txt after 500 KiB.
MAX_ROBOTS_BYTES = 500 * 1024
# Sitemap files tried per site, failures included: a night reads the first few.
MAX_SITEMAPS = 20
# Redirect hops when fetching robots.txt or a sitemap (RFC 9309 asks for at least five).
MAX_FILE_REDIRECTS = 5
# No closing tag in reach must not make the search quadratic: [^<]* stops at the next tag.
_LOC = re.compile(rb"<loc>([^<]*)</loc>", re.IGNORECASE)

MayFetch = Callable[[str], bool]


class SitePolicy:
    """robots.txt once per site, and when each site may be asked again.

    `slot(url)` is held for the whole of a request: at most `source.concurrency` requests
    to one site are in flight, and two of them start at least the pause apart (the larger
    of `delay_ms` and the site's Crawl-delay), as Scrapy's per-domain download slots do.
    """

    def __init__(self, source: WebSource, may_fetch: MayFetch) -> None:
        self.source = source
        self.may_fetch = may_fetch  # checked at every hop of robots.txt and sitemap fetches
        self.parsers: dict[str, Protego | None] = {}  # None: no robots.txt, allow all
        self.down: dict[str, str] = {}  # site -> why none of its pages may be fetched
        self._lock = threading.Lock()
        self._site_locks: dict[str, threading.Lock] = {}
        self._next_start_s: dict[str, float] = {}
        self._in_flight: dict[str, threading.BoundedSemaphore] = {}

    def robots(self, session: requests.Session, url: str) -> Protego | None:
        site = origin(url)
        with self._lock:
            site_lock = self._site_locks.setdefault(site, threading.Lock())
        with site_lock:  # one fetch per site, whichever thread asks first
            if site not in self.parsers:
                self.parsers[site] = self._fetch_robots(session, site)
                # The pause after robots.txt is already the site's Crawl-delay.
                with self._lock:
                    after_s = time.monotonic() + self._delay_s(site)
                    self._next_start_s[site] = max(self._next_start_s.get(site, 0), after_s)
        return self.parsers[site]

    def allowed(self, session: requests.Session, url: str) -> bool:
        parser = self.robots(session, url)
        return parser is None or parser.can_fetch(url, self.source.user_agent)

    def _fetch_robots(self, session: requests.Session, site: str) -> Protego | None:
        url = f"{site}/robots.txt"
        try:
            answer = fetch_file(session, self, url, MAX_ROBOTS_BYTES)
        except requests.ConnectionError as exc:
            # The pages would fail the same way after the same retries: skip the site.
            self.down[site] = f"robots.txt: {describe_failure(exc)}"
            return None
        except requests.RequestException:
            return None
        if answer is None:
            return None
        status, body = answer
        if status == 429 or status >= 500:
            # RFC 9309 2.3.1.4: an unreachable robots.txt means the whole site is disallowed.
            self.down[site] = f"robots.txt answered HTTP {status}: the site counts as disallowed"
            return None
        if status != 200:
            return None  # 4xx: no rules, everything allowed
        # Protego, as Scrapy uses: wildcards, Allow/Disallow precedence by length, Crawl-delay.
        return Protego.parse(body.decode("utf-8", "replace"))

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


def fetch_file(
    session: requests.Session, policy: SitePolicy, url: str, max_bytes: int
) -> tuple[int, bytes] | None:
    """Status and body (cut at `max_bytes`) of robots.txt or a sitemap, following redirects
    by hand so that every hop passes `policy.may_fetch`; None if a hop is refused."""
    source = policy.source
    for _ in range(MAX_FILE_REDIRECTS + 1):
        if not policy.may_fetch(url):
            logger.info("source '%s': refused to fetch %s", source.name, url)
            return None
        with (
            policy.slot(url),
            session.get(
                url, timeout=source.timeout_s, stream=True, allow_redirects=False
            ) as response,
        ):
            if not response.is_redirect:
                body = response.raw.read(max_bytes, decode_content=True) or b""
                return response.status_code, body
            try:
                url = canonical_url(urljoin(url, response.headers["Location"]))
            except ValueError:
                return None
    return None


def sitemap_urls(session: requests.Session, policy: SitePolicy, site: str) -> tuple[list[str], int]:
    """Page URLs listed by the site's sitemaps (from robots.txt, else /sitemap.xml), in
    order, and how many sitemap files were read. Sitemap indexes are followed."""
    parser = policy.robots(session, site)
    pending = list(parser.sitemaps) if parser is not None else []
    pending = pending or [f"{site}/sitemap.xml"]
    tried: set[str] = set()
    pages: list[str] = []
    read = 0
    while pending and len(tried) < MAX_SITEMAPS:
        url = pending.pop(0)
        if url in tried:
            continue
        tried.add(url)
        body = _fetch_sitemap(session, policy, url)
        if body is None:
            continue
        read += 1
        locs = [html.unescape(loc.decode("utf-8", "replace")).strip() for loc in _LOC.findall(body)]
        if b"<sitemapindex" in body[:2048].lower():
            pending.extend(locs)
        else:
            pages.extend(locs)
    return pages, read


def _fetch_sitemap(session: requests.Session, policy: SitePolicy, url: str) -> bytes | None:
    source = policy.source
    try:
        answer = fetch_file(session, policy, url, source.max_page_bytes)
    except (requests.RequestException, ValueError) as exc:
        logger.info("source '%s': sitemap %s: %s", source.name, url, exc)
        return None
    if answer is None or answer[0] != 200:
        return None
    body = answer[1]
    if body[:2] == b"\x1f\x8b":  # sitemap.xml.gz, served as a file rather than encoded
        try:
            # Bounded: a small gzip can unpack to gigabytes.
            body = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
                body, source.max_page_bytes + 1
            )
        except zlib.error:
            return None
    return body[: source.max_page_bytes]
