"""Main text, title and links of an HTML page.

markup.py parses it; layout.py finds where its text is and what
in it is page furniture, from a walk over it (survey.py) and what each element's
markup says (furniture.py). Here the main block becomes lines: headings,
paragraphs, list items and table rows each a line, code in its layout. The headline is left out: it
is the page's title, which Page.title carries, and the news, CMS and Readability dev sets leave it
out of their text too. bench/extract.py measures this against trafilatura on those and other dev
sets.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urljoin

from lxml import etree

from lmkiln.tasks.collect.extract.furniture import HEADING_TAGS, permalinked
from lmkiln.tasks.collect.extract.layout import Content, find_content
from lmkiln.tasks.collect.extract.markup import parse
from lmkiln.tasks.collect.http import canonical_query, canonical_url

PARAGRAPH_TAGS = frozenset(
    "p h1 h2 h3 h4 h5 h6 pre table ul ol dl blockquote section article figure hr".split()
)
LINE_TAGS = frozenset("div li tr dt dd br caption figcaption address details summary".split())
# A headline in the main block: a heading of the page's <title>, from a header or of a title
# class; a short one ("Glazes") may be a section's name that the title holds too.
HEADLINE_TAGS = HEADING_TAGS[:3]
HEADLINE_MIN_CHARS = 10
TITLE_CLASS = frozenset("title headline".split())
TITLE_WORD = re.compile(r"[a-z]+")
FOREIGN_TAGS = frozenset("svg math".split())  # their <title> names a picture or a formula
WEB_SCHEMES = ("http://", "https://")
# Hrefs already in canonical form: a lower-case host with no port or login, and a path with
# no query or fragment; and paths from the root with no "." or empty segments to resolve.
PLAIN_URL = re.compile(r"https?://[a-z0-9.-]+(?:/[^\s?#]*)?")
PLAIN_PATH = re.compile(r"/[^\s?#]*")
OTHER_SCHEMES = ("mailto:", "javascript:", "tel:", "sms:", "whatsapp:", "data:")
URL_BLANK = re.compile("[\t\r\n]")  # what urlsplit takes out of a URL, and
C0_AND_SPACE = "".join(map(chr, range(0x21)))  # what it strips from its start


@dataclass(frozen=True)
class Page:
    title: str
    text: str
    links: tuple[str, ...]  # absolute http(s) URLs without fragments, in page order


def extract(html: str, url: str, links: bool = True) -> Page:
    """Main text, title and outgoing links of one HTML page fetched from `url`; no links
    where the caller follows none (`links=False`: a WARC file, `extract_text`)."""
    root = parse(html)
    if root is None:
        return Page(title="", text="", links=())
    title = _title(root)
    found = _links(root, url) if links else ()
    content = find_content(next(root.iter("body"), root))
    text = _Renderer(content, title).render()
    if not title and (h1 := next(content.root.iter("h1"), None)) is not None:
        title = _text(h1)
    return Page(title=normal_text(title), text=normal_text(text), links=found)


def title_and_links(html: str, url: str, links: bool = True) -> Page:
    """Title and outgoing links of one HTML page, with no text: what the crawler needs where
    another extractor takes the text. One parse, no layout; a page without a <title> takes
    its first <h1>, one in its <main> if it has one. No links with `links=False`."""
    root = parse(html)
    if root is None:
        return Page(title="", text="", links=())
    title = _title(root)
    if not title:
        main = next(root.iterfind(".//main"), None)
        main = main if main is not None else next(root.iterfind(".//*[@role='main']"), root)
        h1 = next(main.iter("h1"), None)
        h1 = h1 if h1 is not None else next(root.iter("h1"), None)
        title = _text(h1) if h1 is not None else ""
    return Page(title=normal_text(title), text="", links=_links(root, url) if links else ())


def normal_text(text: str) -> str:
    """Soft hyphens (U+00AD) out of words, accents composed (NFC): "cafe" and U+0301, and
    no byte order mark (U+FEFF) at the start. Every extractor's text goes through this."""
    text = text.replace("\u00ad", "").lstrip("\ufeff")
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _text(element: etree._Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _title(root: etree._Element) -> str:
    """The head's <title>, not an inline SVG's: an icon's name ("Facebook")."""
    for title in root.iter("title"):
        if not any(element.tag in FOREIGN_TAGS for element in title.iterancestors()):
            return _text(title)
    return ""


def _links(root: etree._Element, url: str) -> tuple[str, ...]:
    """Links come from the whole page, menus included: they are how a crawler finds pages."""
    base = next((e.get("href") for e in root.iter("base") if e.get("href")), None)
    resolve = _Resolver(urljoin(url, base) if base else url)
    found: dict[str, None] = {}  # an ordered set
    # Each distinct href once: reference pages link the same target hundreds of times.
    for href in dict.fromkeys(a.get("href") for a in root.iter("a")):
        if href and (link := resolve(href.strip())):
            found.setdefault(link)
    return tuple(found)


class _Resolver:
    """`canonical_url(urljoin(base, href))` for a page's hrefs, or "" where that is no http(s)
    URL. Most hrefs are plain ("https://host/path?q=1", "/path", "#top", "mailto:"): they take
    short cuts that give the same URL, for the full parse costs as much as the whole layout."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.page = self.origin = ""  # the base's canonical URL, and its scheme and host
        if base_url.startswith(WEB_SCHEMES) and (page := self._slow("")):
            self.page = page
            self.origin = page[: page.index("/", page.index("//") + 2)]

    def __call__(self, href: str) -> str:
        if URL_BLANK.search(href):
            return self._slow(href)
        address, query = href.partition("#")[0], ""
        if "?" in address:
            address, _, query = address.partition("?")
            query = canonical_query(query) if query else ""
        if PLAIN_URL.fullmatch(address):
            link = address if "/" in address[address.index("//") + 2 :] else f"{address}/"
        elif not self.page:  # a base that is no web page: only an absolute href is a link
            scheme = href[:16].lstrip(C0_AND_SPACE)[:6].lower()
            return self._slow(href) if scheme.startswith(("http:", "https:")) else ""
        elif href[:1] == "#":
            return self.page
        elif PLAIN_PATH.fullmatch(address) and "//" not in address and "/." not in address:
            link = self.origin + address
        elif href[:11].lower().startswith(OTHER_SCHEMES):
            return ""
        else:
            return self._slow(href)
        return f"{link}?{query}" if query else link

    def _slow(self, href: str) -> str:
        try:
            link = canonical_url(urljoin(self.base_url, href))
        except ValueError:
            return ""  # "http://[bad/", a port past 65535: not a link anything could fetch
        return link if link.startswith(WEB_SCHEMES) else ""


class _Lines:
    """Collects inline text into lines; a block boundary ends the line being built."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.inline: list[str] = []
        self.prefix = ""  # "- " or "2. " waiting for the first line of a list item

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


class _Renderer:
    """Walks the main block, leaving furniture and the headline out and turning blocks into
    lines.

    The headline is the page's title, which Page.title carries: the headings just before the
    main block, unless they have a permalink (documentation's section headings, which are
    its text), and in it the first heading that repeats the page's <title> from a <header>
    or with a title class ("entry-title", "headline")."""

    def __init__(self, content: Content, title: str = "") -> None:
        self.content = content
        self.title = " ".join(title.lower().split())  # "" once the headline is found
        self.out = _Lines()
        self.cells = 0  # open table cells: their blocks share the row's line
        self.items = 0  # open list items: their paragraphs stay together
        self.lists: list[int] = []  # per open list: the next number, 0 for bullets

    def render(self) -> str:
        if self.content.main is None:  # no prose: all of it but the furniture
            self._walk(self.content.root)
        else:
            for heading in self.content.title():
                if permalinked(heading):
                    self._walk(heading)
            self._walk(self.content.main)
        return self.out.text()

    def _walk(self, top: etree._Element) -> None:
        """One block and what it holds; its own tail is not its text."""
        drops = self.content.drops
        stack: list[tuple[etree._Element, bool]] = [(top, False)]
        while stack:
            element, leaving = stack.pop()
            if leaving:
                self._close(element)
            elif element is not top and drops(element):
                pass
            elif self.title and element.tag in HEADLINE_TAGS and self._headline(element):
                self.title = ""
            elif element.tag == "pre":
                self.out.preformatted(_preformatted_text(element))
            else:
                self._open(element)
                self._inline(element.text)
                stack.append((element, True))
                stack.extend((child, False) for child in reversed(element))
                continue
            if element is not top:
                self._inline(element.tail)

    def _headline(self, heading: etree._Element) -> bool:
        text = " ".join("".join(heading.itertext()).lower().split())
        if len(text) < HEADLINE_MIN_CHARS or text not in self.title:
            return False
        if not TITLE_CLASS.isdisjoint(TITLE_WORD.findall(heading.get("class", "").lower())):
            return True
        return any(element.tag == "header" for element in heading.iterancestors())

    def _inline(self, text: str | None) -> None:
        if text:
            self.out.inline.append(text)

    def _open(self, element: etree._Element) -> None:
        tag = element.tag
        if tag in ("td", "th"):
            if "".join(self.out.inline).strip():
                self.out.inline.append(" | ")  # cells of a row share one line
            self.cells += 1
        self._boundary(tag)
        if tag in ("ul", "ol"):
            self.lists.append(1 if tag == "ol" else 0)
        elif tag == "li":
            self.items += 1
            if not self.cells:
                self.out.prefix = self._bullet()

    def _close(self, element: etree._Element) -> None:
        tag = element.tag
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag == "li":
            self.items -= 1
        elif tag in ("td", "th"):
            self.cells -= 1
        self._boundary(tag)

    def _boundary(self, tag: object) -> None:
        """Where a block starts or ends: a new line, blank after a paragraph, except that
        cells keep their blocks on the row's line and list items keep theirs together."""
        if tag not in PARAGRAPH_TAGS and tag not in LINE_TAGS:
            return
        if self.cells and tag != "tr":
            self.out.inline.append(" ")
        else:
            self.out.end_line(blank=tag in PARAGRAPH_TAGS and not self.items)

    def _bullet(self) -> str:
        if not self.lists:
            return "- "
        indent = "  " * (len(self.lists) - 1)
        number = self.lists[-1]
        if not number:
            return f"{indent}- "
        self.lists[-1] += 1
        return f"{indent}{number}. "


def _preformatted_text(pre: etree._Element) -> str:
    parts: list[str] = []
    for event, element in etree.iterwalk(pre, events=("start", "end")):
        if event == "start":
            parts.append("\n" if element.tag == "br" else element.text or "")
        elif element is not pre:
            parts.append(element.tail or "")
    return "".join(parts)
