"""Main text, title and links of an HTML page, with BeautifulSoup.

Page furniture (navigation, headers, footers, scripts) is dropped; headings, lists, tables
and code stay readable as lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin

from bs4 import BeautifulSoup, NavigableString, Tag, UnicodeDammit
from bs4.element import PreformattedString

from tasks.http import canonical_url

# Page furniture: repeated on every page, it would teach the model menus, not language.
DROP_TAGS = ("script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template")
# Blocks that end a paragraph (a blank line after) and blocks that only end a line.
PARAGRAPH_TAGS = frozenset(
    "p h1 h2 h3 h4 h5 h6 pre table ul ol dl blockquote section article figure hr".split()
)
LINE_TAGS = frozenset("div li tr dt dd br caption figcaption address details summary".split())


@dataclass(frozen=True)
class Page:
    title: str
    text: str
    links: tuple[str, ...]  # absolute http(s) URLs without fragments, in page order


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


def decode(body: bytes, content_type: str) -> str:
    # Without a charset header requests assumes ISO-8859-1; UnicodeDammit reads <meta charset>.
    declared = re.search(r"charset=([\w.:-]+)", content_type, re.IGNORECASE)
    known = [declared.group(1)] if declared else []
    return UnicodeDammit(body, known_definite_encodings=known, is_html=True).unicode_markup or ""
