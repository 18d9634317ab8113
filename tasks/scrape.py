"""A polite breadth-first crawler: robots.txt, scope, depth and page caps, a pause per site.

`extract` turns one HTML page into its main text and links; `crawl` walks a `WebSource`
and returns `Document`s plus counters for the data-quality table.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin
from urllib.robotparser import RobotFileParser

import requests
from bs4 import BeautifulSoup, NavigableString, Tag, UnicodeDammit
from bs4.element import PreformattedString

from tasks.config import WebSource
from tasks.demo import resolve_url
from tasks.http import SourceUnavailable, canonical_url, describe_failure, make_session, origin
from tasks.records import Document

logger = logging.getLogger(__name__)

# Page furniture: repeated on every page, it would teach the model menus, not language.
DROP_TAGS = ("script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template")
# Blocks that end a paragraph (a blank line after) and blocks that only end a line.
PARAGRAPH_TAGS = frozenset(
    "p h1 h2 h3 h4 h5 h6 pre table ul ol dl blockquote section article figure hr".split()
)
LINE_TAGS = frozenset("div li tr dt dd br caption figcaption address details summary".split())
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
COUNTER_NAMES = ("pages_fetched", "robots_forbidden", "skipped_type", "errors", "bytes")


@dataclass(frozen=True)
class Page:
    title: str
    text: str
    links: tuple[str, ...]  # absolute http(s) URLs without fragments, in page order


@dataclass(frozen=True)
class _Failure:
    url: str
    reason: str
    status: int | None  # None: no HTTP answer at all


def extract(html: str, url: str) -> Page:
    """Main text, title and outgoing links of one HTML page fetched from `url`."""
    soup = BeautifulSoup(html, "html.parser")
    base = soup.find("base", href=True)
    base_url = urljoin(url, str(base["href"])) if isinstance(base, Tag) else url
    # Links come from the whole page, menus included: they are how a crawler finds pages.
    links = _links(soup, base_url)
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(DROP_TAGS):
        tag.decompose()
    main = soup.find("main") or soup.find("article") or soup.find(attrs={"role": "main"})
    root = main or soup.body or soup
    if not title and isinstance(root, Tag) and (h1 := root.find("h1")):
        title = h1.get_text(" ", strip=True)
    return Page(title=title, text=_render(root), links=links)


def _links(soup: BeautifulSoup, base_url: str) -> tuple[str, ...]:
    found: dict[str, None] = {}  # an ordered set
    for anchor in soup.find_all("a", href=True):
        link = canonical_url(urljoin(base_url, str(anchor["href"]).strip()))
        if link.startswith(("http://", "https://")):
            found.setdefault(link)
    return tuple(found)


class _Lines:
    """Collects inline text into lines; a block boundary ends the line being built."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.inline: list[str] = []
        self.prefix = ""  # "- " waiting for the first line of a list item

    def end_line(self, blank: bool = False) -> None:
        line = " ".join("".join(self.inline).split())
        self.inline = []
        if line:
            self.lines.append(self.prefix + line)
            self.prefix = ""
        if blank and self.lines and self.lines[-1]:
            self.lines.append("")

    def preformatted(self, text: str) -> None:
        self.end_line(blank=True)
        block = [line.rstrip() for line in text.strip("\n").splitlines()]
        if any(block):
            self.lines.extend(block)
        self.end_line(blank=True)

    def text(self) -> str:
        self.end_line()
        return re.sub(r"\n{3,}", "\n\n", "\n".join(self.lines)).strip()


def _render(root: Tag | BeautifulSoup) -> str:
    out = _Lines()
    # An explicit stack, not recursion: junk HTML can nest deeper than Python's stack.
    stack: list[tuple[object, bool]] = [(child, False) for child in reversed(root.contents)]
    while stack:
        node, leaving = stack.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, doctypes, CDATA
                out.inline.append(str(node))
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if leaving:
            out.end_line(blank=name in PARAGRAPH_TAGS)
            continue
        if name == "pre":
            out.preformatted(node.get_text())
            continue
        if name in ("td", "th") and "".join(out.inline).strip():
            out.inline.append(" | ")  # cells of a data table share one line
        if name in PARAGRAPH_TAGS or name in LINE_TAGS:
            out.end_line(blank=name in PARAGRAPH_TAGS)
            if name == "li":
                out.prefix = "- "
            stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.contents))
    return out.text()


def crawl(source: WebSource, base_urls: Mapping[str, str]) -> tuple[list[Document], dict[str, int]]:
    """Fetch up to `max_pages` pages breadth-first from the start URLs, within scope."""
    starts = [canonical_url(resolve_url(url, base_urls)) for url in source.start_urls]
    default_scope = sorted({origin(url) + "/" for url in starts})
    scope = [resolve_url(prefix, base_urls) for prefix in source.scope] or default_scope
    excludes = _compile_excludes(source)
    counters: Counter[str] = Counter({name: 0 for name in COUNTER_NAMES})
    robots, session = _Robots(source), make_session(source.user_agent, source.retries)
    documents: list[Document] = []
    failures: list[_Failure] = []
    queue = deque((url, 0) for url in dict.fromkeys(starts) if not _excluded(url, excludes))
    seen = {url for url, _ in queue}
    requests_made = 0
    with session:
        while queue and requests_made < source.max_pages:
            url, depth = queue.popleft()
            if source.respect_robots and not robots.allowed(session, url):
                counters["robots_forbidden"] += 1
                continue
            if (down := robots.down.get(origin(url))) is not None:
                failures.append(_Failure(url, down, None))
                counters["errors"] += 1
                continue
            robots.wait_turn(url)
            requests_made += 1
            result = _fetch(session, source, url, depth, counters)
            if isinstance(result, _Failure):
                failures.append(result)
                continue
            if result is None:
                continue
            document, links = result
            if document.url != url and not _in_scope(document.url, scope):
                counters["redirected_out_of_scope"] += 1
                continue
            if document.text:
                documents.append(document)
            else:
                counters["empty_text"] += 1
            seen.add(document.url)
            if depth >= source.max_depth:
                continue
            for link in links:
                if link not in seen and _in_scope(link, scope) and not _excluded(link, excludes):
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
    session: requests.Session, source: WebSource, url: str, depth: int, counters: Counter[str]
) -> tuple[Document, tuple[str, ...]] | _Failure | None:
    """A document and its links, a failure, or None for a page skipped for its type."""
    try:
        # Streamed, so that a large non-HTML file is skipped after its headers only.
        with session.get(url, timeout=source.timeout_s, stream=True) as response:
            counters[f"http_{response.status_code}"] += 1
            if not 200 <= response.status_code < 300:
                return _Failure(url, f"HTTP {response.status_code}", response.status_code)
            content_type = response.headers.get("Content-Type", "")
            if content_type.split(";")[0].strip().lower() not in HTML_TYPES:
                counters["skipped_type"] += 1
                return None
            body = response.content
            final_url = canonical_url(response.url)
            status = response.status_code
            headers = response.headers
    except requests.RequestException as exc:
        counters["errors"] += 1
        logger.warning("source '%s': %s failed: %s", source.name, url, describe_failure(exc))
        return _Failure(url, describe_failure(exc), None)
    counters["pages_fetched"] += 1
    counters["bytes"] += len(body)
    page = extract(_decode(body, content_type), final_url)
    meta: dict[str, object] = {"status": status, "content_type": content_type, "depth": depth}
    for header, key in (("ETag", "etag"), ("Last-Modified", "last_modified")):
        if header in headers:
            meta[key] = headers[header]
    fields = {"text": page.text, "title": page.title, "url": final_url, "meta": meta}
    return Document(kind="web", source=source.name, **fields), page.links


def _decode(body: bytes, content_type: str) -> str:
    # Without a charset header requests assumes ISO-8859-1; UnicodeDammit reads <meta charset>.
    declared = re.search(r"charset=([\w.:-]+)", content_type, re.IGNORECASE)
    known = [declared.group(1)] if declared else []
    return UnicodeDammit(body, known_definite_encodings=known, is_html=True).unicode_markup or ""


def _in_scope(url: str, scope: list[str]) -> bool:
    return any(url.startswith(prefix) for prefix in scope)


def _excluded(url: str, excludes: list[re.Pattern[str]]) -> bool:
    return any(pattern.search(url) for pattern in excludes)


def _compile_excludes(source: WebSource) -> list[re.Pattern[str]]:
    patterns = []
    for pattern in source.exclude:
        try:
            patterns.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(
                f"source '{source.name}': exclude pattern {pattern!r} is not a valid "
                f"regular expression ({exc}); escape literal dots and brackets with a backslash"
            ) from None
    return patterns


class _Robots:
    """robots.txt once per site, and the pause between two requests to the same site."""

    def __init__(self, source: WebSource) -> None:
        self.source = source
        self.parsers: dict[str, RobotFileParser | None] = {}  # None: no robots.txt, allow all
        self.down: dict[str, str] = {}  # site -> why robots.txt could not even be asked
        self.last_request_s: dict[str, float] = {}

    def allowed(self, session: requests.Session, url: str) -> bool:
        site = origin(url)
        if site not in self.parsers:
            self.parsers[site] = self._fetch(session, site)
        parser = self.parsers[site]
        return parser is None or parser.can_fetch(self.source.user_agent, url)

    def _fetch(self, session: requests.Session, site: str) -> RobotFileParser | None:
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
        parser = RobotFileParser()
        parser.parse(text.splitlines())
        return parser

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
