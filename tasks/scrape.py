"""A polite breadth-first crawler: robots.txt, scope, depth and page caps, a pause per site,
redirects checked hop by hop, no requests to non-public addresses unless allowed, and pages
cut at a size. `crawl` walks a `WebSource` and returns `Document`s plus counters for the
data-quality table; tasks/extract.py turns each page into text and links.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from protego import Protego

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
from tasks.records import Document

logger = logging.getLogger(__name__)

COUNTER_NAMES = (
    "pages_fetched",
    "bytes",
    "robots_forbidden",
    "skipped_type",
    "truncated_pages",
    "redirects",
    "redirects_refused",
    "too_many_redirects",
    "refused_private_address",
    "stopped_at_max_bytes",
    "errors",
)


@dataclass(frozen=True)
class _Failure:
    url: str
    reason: str
    status: int | None  # None: no HTTP answer at all


class _Gate:
    """Which URLs this source may request: scope, exclusions, and public addresses only."""

    def __init__(self, source: WebSource, scope: list[str]) -> None:
        self.source, self.scope = source, scope
        self.excludes = [re.compile(pattern) for pattern in source.exclude]
        self.private: dict[str, str | None] = {}  # host -> a non-public address it has

    def excluded(self, url: str) -> bool:
        return any(pattern.search(url) for pattern in self.excludes)

    def follows(self, url: str) -> bool:
        """A link or redirect worth taking: in scope and not excluded."""
        return any(url.startswith(p) for p in self.scope) and not self.excluded(url)

    def refused_address(self, url: str) -> str | None:
        """The non-public address `url` would reach, unless the source allows those."""
        if self.source.allow_private_addresses:
            return None
        host = urlsplit(url).hostname or ""
        if host not in self.private:
            self.private[host] = non_public_address(host)
        return self.private[host]


def crawl(source: WebSource, base_urls: Mapping[str, str]) -> tuple[list[Document], dict[str, int]]:
    """Fetch up to `max_pages` pages breadth-first from the start URLs, within scope."""
    starts = [canonical_url(resolve_url(url, base_urls)) for url in source.start_urls]
    default_scope = sorted({origin(url) + "/" for url in starts})
    gate = _Gate(source, [resolve_url(p, base_urls) for p in source.scope] or default_scope)
    counters: Counter[str] = Counter({name: 0 for name in COUNTER_NAMES})
    robots, session = _Robots(source), make_session(source.user_agent, source.retries)
    documents: list[Document] = []
    failures: list[_Failure] = []
    for url in starts:
        if (address := gate.refused_address(url)) is not None:
            raise ValueError(
                f"source '{source.name}': start URL {url} resolves to the non-public address "
                f"{address}; set allow_private_addresses: true only for sites you run"
            )
    queue = deque((url, 0) for url in dict.fromkeys(starts) if not gate.excluded(url))
    seen = {url for url, _ in queue}
    requests_made = 0
    with session:
        while queue and requests_made < source.max_pages:
            if source.max_bytes is not None and counters["bytes"] >= source.max_bytes:
                counters["stopped_at_max_bytes"] += 1
                break
            url, depth = queue.popleft()
            if (address := gate.refused_address(url)) is not None:
                counters["refused_private_address"] += 1
                continue
            if source.respect_robots and not robots.allowed(session, url):
                counters["robots_forbidden"] += 1
                continue
            if (down := robots.down.get(origin(url))) is not None:
                failures.append(_Failure(url, down, None))
                counters["errors"] += 1
                continue
            robots.wait_turn(url)
            requests_made += 1
            result = _fetch(session, source, gate, url, depth, counters)
            if isinstance(result, _Failure):
                failures.append(result)
                continue
            if result is None:
                continue
            document, links = result
            if document.text:
                documents.append(document)
            else:
                counters["empty_text"] += 1
            seen.add(document.url)
            if depth >= source.max_depth:
                continue
            for link in links:
                if link not in seen and gate.follows(link):
                    seen.add(link)
                    queue.append((link, depth + 1))
    if counters["pages_fetched"] == 0 and failures:
        first = failures[0]
        raise SourceUnavailable(
            f"source '{source.name}': no page could be fetched; {first.url}: {first.reason}",
            status=first.status,
        )
    logger.info("source '%s': %d documents, %s", source.name, len(documents), dict(counters))
    return documents, dict(counters)


def _fetch(
    session: requests.Session,
    source: WebSource,
    gate: _Gate,
    url: str,
    depth: int,
    counters: Counter[str],
) -> tuple[Document, tuple[str, ...]] | _Failure | None:
    """A document and its links, a failure, or None for a page skipped or refused."""
    try:
        response = _follow_redirects(session, source, gate, url, counters)
        if response is None:
            return None
        # Streamed: a non-HTML file is skipped after its headers, a huge page is cut.
        with response:
            counters[f"http_{response.status_code}"] += 1
            if not 200 <= response.status_code < 300:
                return _Failure(url, f"HTTP {response.status_code}", response.status_code)
            content_type = response.headers.get("Content-Type", "")
            if content_type.split(";")[0].strip().lower() not in source.content_types:
                counters["skipped_type"] += 1
                return None
            body = _read_capped(response, source.max_page_bytes, counters)
            final_url = canonical_url(response.url)
            status, headers = response.status_code, response.headers
    except requests.RequestException as exc:
        counters["errors"] += 1
        logger.warning("source '%s': %s failed: %s", source.name, url, describe_failure(exc))
        return _Failure(url, describe_failure(exc), None)
    counters["pages_fetched"] += 1
    counters["bytes"] += len(body)
    page = extract(decode(body, content_type), final_url)
    meta: dict[str, object] = {"status": status, "content_type": content_type, "depth": depth}
    for header, key in (("ETag", "etag"), ("Last-Modified", "last_modified")):
        if header in headers:
            meta[key] = headers[header]
    fields = {"text": page.text, "title": page.title, "url": final_url, "meta": meta}
    return Document(kind="web", source=source.name, **fields), page.links


def _follow_redirects(
    session: requests.Session, source: WebSource, gate: _Gate, url: str, counters: Counter[str]
) -> requests.Response | None:
    """GET `url`, following redirects by hand so each hop is checked before it is requested."""
    for _ in range(source.max_redirects + 1):
        response = session.get(url, timeout=source.timeout_s, stream=True, allow_redirects=False)
        if not response.is_redirect:
            return response
        response.close()
        counters["redirects"] += 1
        target = canonical_url(urljoin(url, response.headers["Location"]))
        if not gate.follows(target) or gate.refused_address(target) is not None:
            counters["redirects_refused"] += 1
            logger.info("source '%s': refused redirect %s -> %s", source.name, url, target)
            return None
        url = target
    counters["too_many_redirects"] += 1
    return None


def _read_capped(response: requests.Response, max_bytes: int, counters: Counter[str]) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= max_bytes:
            counters["truncated_pages"] += 1
            break
    return b"".join(chunks)[:max_bytes]


class _Robots:
    """robots.txt once per site, and the pause between two requests to the same site."""

    def __init__(self, source: WebSource) -> None:
        self.source = source
        self.parsers: dict[str, Protego | None] = {}  # None: no robots.txt, allow all
        self.down: dict[str, str] = {}  # site -> why robots.txt could not even be asked
        self.last_request_s: dict[str, float] = {}

    def allowed(self, session: requests.Session, url: str) -> bool:
        site = origin(url)
        if site not in self.parsers:
            self.parsers[site] = self._fetch(session, site)
        parser = self.parsers[site]
        return parser is None or parser.can_fetch(url, self.source.user_agent)

    def _fetch(self, session: requests.Session, site: str) -> Protego | None:
        self.wait_turn(site)
        try:
            with session.get(f"{site}/robots.txt", timeout=self.source.timeout_s) as response:
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

    def wait_turn(self, url: str) -> None:
        site = origin(url)
        delay_s = self.source.delay_ms / 1000
        parser = self.parsers.get(site)
        if parser is not None:
            delay_s = max(delay_s, float(parser.crawl_delay(self.source.user_agent) or 0))
        last_s = self.last_request_s.get(site)
        if last_s is not None:
            time.sleep(max(0.0, last_s + delay_s - time.monotonic()))
        self.last_request_s[site] = time.monotonic()
