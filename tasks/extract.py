"""Main text, title and links of an HTML page, parsed with lxml.

The text is the page's main landmark (`<main>`, `role="main"`, or its one `<article>`) when it
marks one, else its body; either way without page furniture: scripts, hidden elements,
navigation, banners, footers, sidebars, cookie notices, share bars, permalink anchors. The
signals are general ones (HTML5 semantics, ARIA roles, class and id words, link density), not
rules for one site. Headings, paragraphs, list items and table rows become lines; code keeps
its layout. bench/extract.py measures this against trafilatura on an annotated dev set.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urljoin

from bs4 import BeautifulSoup, NavigableString, Tag, UnicodeDammit
from bs4.dammit import EncodingDetector
from bs4.element import PreformattedString
from lxml import etree

from tasks.http import canonical_url

# Never text: code, styling, embedded objects and form controls.
DROP_TAGS = frozenset(
    "script style noscript template svg canvas iframe object embed button input select "
    "textarea option datalist dialog menu nav head".split()
)
# Page furniture by ARIA role; "dialog" covers cookie and newsletter pop-ups.
DROP_ROLES = frozenset(
    "navigation banner contentinfo complementary search menu menubar toolbar dialog "
    "alertdialog tooltip".split()
)
# Words in a class or id that mark furniture ("site-footer", "nav_menu", "cookieBanner").
# Not "toc", "caption", "comment": generators use them on content ("toc-backref" headings).
FURNITURE_WORDS = frozenset(
    "nav navbar navigation menu menubar sidebar footer masthead breadcrumb breadcrumbs cookie "
    "cookies consent gdpr banner share sharing social skip subscribe newsletter advert "
    "advertisement ads sponsor sponsored popup modal pagination pager widget related".split()
)
# Words also found inside compound class names ("sitefooter", "leftsidebar"); not in ids,
# which are often made from a heading's text, and not short or common words ("menu" is in
# "menuselection").
COMPOUND_WORDS = ("sidebar", "navbar", "navigation", "breadcrumb", "footer", "masthead", "consent")
# Containers that class and id words may drop; inline elements and headings keep their text.
CONTAINER_TAGS = frozenset("div section aside ul ol dl table form header footer p span".split())
# header, footer and aside belong to the page when not inside a sectioning element (the
# HTML-AAM mapping): an article's own header holds its title, a section's aside a footnote.
SECTIONING_TAGS = frozenset("article section main".split())
PARAGRAPH_TAGS = frozenset(
    "p h1 h2 h3 h4 h5 h6 pre table ul ol dl blockquote section article figure hr".split()
)
LINE_TAGS = frozenset("div li tr dt dd br caption figcaption address details summary".split())
PERMALINK_MARKS = frozenset("¶ § # 🔗 ⚓".split())  # "headerlink" anchors after headings
SKIP_LINK = re.compile(r"^\s*(skip|jump) to\b", re.IGNORECASE)
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # "cookieBanner" -> cookie, Banner
# Without a landmark, a block of several links whose text is mostly link text, with little
# else between the links ("Home | Docs", "Previous: X"), is a menu.
MENU_MIN_LINKS = 3  # one or two links in a short paragraph are part of the prose
MENU_LINK_SHARE = 0.5
MENU_PLAIN_CHARS_PER_LINK = 10  # "X – raised when Y is called" is a list of content
# Weak signals (class and id words, hidden styles, link density) never drop the block with
# the most prose or a block around it: "wy-nav-content-wrap" and "has-sidebar" name layout
# wrappers. Prose: text outside links in these blocks, when there is this much of it.
PROSE_TAGS = frozenset("p pre li dd td blockquote".split())
PROSE_MIN_CHARS = 25
# WHATWG MIME sniffing: a "binary data byte" in the first 1445 bytes means the body is not
# text, whatever its name or Content-Type says (an image or archive served as text/html).
SNIFF_BYTES = 1445
_BINARY_BYTE = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
# Undecodable characters, as a share of all non-ASCII ones, past which a charset is wrong.
MAX_BAD_SHARE = 0.25

_parsers = threading.local()  # an lxml parser is not to be shared between threads


@dataclass(frozen=True)
class Page:
    title: str
    text: str
    links: tuple[str, ...]  # absolute http(s) URLs without fragments, in page order


def extract(html: str, url: str) -> Page:
    """Main text, title and outgoing links of one HTML page fetched from `url`."""
    root = _parse(html)
    if root is None:
        return Page(title="", text="", links=())
    base = next((e.get("href") for e in root.iter("base") if e.get("href")), None)
    base_url = urljoin(url, base) if base else url
    # Links come from the whole page, menus included: they are how a crawler finds pages.
    links = _links(root, base_url)
    title = next((_text(e) for e in root.iter("title")), "")
    main = _landmark(root)
    content = main if main is not None else next(root.iter("body"), root)
    text = _Renderer(_survey(content), menus=main is None).render(content)
    if not title and (h1 := next(content.iter("h1"), None)) is not None:
        title = _text(h1)
    return Page(title=title, text=text, links=links)


def _parse(html: str) -> etree._Element | None:
    """The document tree; an XML encoding declaration or NUL byte in the text does no harm."""
    if not hasattr(_parsers, "html"):
        _parsers.html = etree.HTMLParser(
            encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True
        )
    parser = _parsers.html
    root = etree.fromstring(html.encode("utf-8", "replace"), parser)
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        return _parse_deep(html)  # libxml2 gave up at its depth limit and dropped the rest
    return root


def _parse_deep(html: str) -> etree._Element:
    """Junk HTML nested past libxml2's limit: html.parser, copied into an lxml tree."""
    soup = BeautifulSoup(html, "html.parser")
    root = etree.Element("html")
    # An explicit stack, not recursion: such pages nest deeper than Python's stack.
    stack: list[tuple[object, etree._Element]] = [(c, root) for c in reversed(soup.contents)]
    while stack:
        node, parent = stack.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, doctypes, CDATA
                _append_text(parent, str(node))
        elif isinstance(node, Tag):
            name = node.name if re.fullmatch(r"[a-z][a-z0-9-]*", node.name) else "span"
            attributes = {
                key: " ".join(value) if isinstance(value, list) else value
                for key, value in node.attrs.items()
            }
            element = etree.SubElement(parent, name, _xml_safe(attributes))
            stack.extend((child, element) for child in reversed(node.contents))
    return root


def _append_text(parent: etree._Element, text: str) -> None:
    text = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)  # not allowed in an lxml tree
    if len(parent):
        parent[-1].tail = (parent[-1].tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def _xml_safe(attributes: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in attributes.items() if re.fullmatch(r"[a-zA-Z_][\w.-]*", k)}


def _text(element: etree._Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _links(root: etree._Element, base_url: str) -> tuple[str, ...]:
    found: dict[str, None] = {}  # an ordered set
    # Each distinct href once: reference pages link the same target hundreds of times.
    for href in dict.fromkeys(a.get("href") for a in root.iter("a")):
        if not href:
            continue
        try:
            link = canonical_url(urljoin(base_url, href.strip()))
        except ValueError:
            continue  # "http://[bad/", a port past 65535: not a link anything could fetch
        if link.startswith(("http://", "https://")):
            found.setdefault(link)
    return tuple(found)


def _landmark(root: etree._Element) -> etree._Element | None:
    """The element the page marks as its main content, if it marks one."""
    for path in ("//main", "//*[@role='main']"):
        if found := root.xpath(path):
            return found[0]
    articles = root.xpath("//article")
    return articles[0] if len(articles) == 1 else None  # several: a list of teasers


@lru_cache(maxsize=4096)
def _furniture_words(value: str, compounds: bool = False) -> bool:
    """Whether a class or id value has a furniture word: "site-footer", "cookieNotice"."""
    words = [word.lower() for word in WORD.findall(value)]
    if any(word in FURNITURE_WORDS for word in words):
        return True
    return compounds and any(part in word for word in words for part in COMPOUND_WORDS)


def _is_furniture(element: etree._Element, sectioned: bool) -> bool:
    """Furniture by what the page itself says: tag and role; see also `_weak_furniture`."""
    tag = element.tag
    if tag in DROP_TAGS:
        return True
    if tag == "footer" or (tag in ("header", "aside") and not sectioned):
        return True
    if element.get("role") in DROP_ROLES:
        return True
    if tag == "a":
        if not len(element) and (element.text or "").strip() in PERMALINK_MARKS:
            return True
        within_page = element.get("href", "").startswith("#")
        return within_page and bool(SKIP_LINK.match(_text(element)))
    return False


def _weak_furniture(element: etree._Element) -> bool:
    """Furniture by hints that layout wrappers share: hidden styles, class and id words."""
    get = element.get
    if get("role") != "tabpanel":  # a hidden tab is content the reader opens with one click
        if get("hidden") is not None or get("aria-hidden") == "true":
            return True
        if (style := get("style")) and HIDDEN_STYLE.search(style):
            return True
    if element.tag in CONTAINER_TAGS:
        if (classes := get("class")) and _furniture_words(classes, compounds=True):
            return True
        # Ids of blocks that open with a heading are often that heading's slug ("cookies").
        if (ids := get("id")) and _furniture_words(ids) and not _opens_with_heading(element):
            return True
    return False


def _opens_with_heading(element: etree._Element) -> bool:
    for child in element:
        if child.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            return True
        if child.text or len(child):  # empty ones are link targets: <span id="label">
            return False
    return False


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


class _Size(NamedTuple):
    chars: int  # text characters, whitespace at the ends of text nodes left out
    link_chars: int
    links: int

    def is_menu(self) -> bool:
        """Several links, most of the text, little between them: "Home | Docs | Blog"."""
        plain = self.chars - self.link_chars
        return (
            self.links >= MENU_MIN_LINKS
            and self.link_chars >= MENU_LINK_SHARE * self.chars
            and plain < MENU_PLAIN_CHARS_PER_LINK * self.links
        )


NO_TEXT = _Size(0, 0, 0)


@dataclass
class _Survey:
    """One walk over the tree: furniture by tag and role (dropped), by weak hints (weak), and
    the text size of every element kept."""

    dropped: set[etree._Element]
    weak: set[etree._Element]
    sizes: dict[etree._Element, _Size]
    prose: list[tuple[etree._Element, bool]]  # blocks that may hold prose; inside weak ones?

    def core(self) -> set[etree._Element]:
        """The block with the most prose, and all blocks around it. Prose inside weakly
        marked furniture counts only when there is no other: then the mark was a wrapper's."""
        outside = [block for block, inside_weak in self.prose if not inside_weak]
        best = self._most_prose(outside)
        if best is None:
            best = self._most_prose([block for block, _ in self.prose])
        return set() if best is None else {best, *best.iterancestors()}

    def _most_prose(self, blocks: list[etree._Element]) -> etree._Element | None:
        """The element with most prose in its child blocks (grandchildren count half)."""
        scores: dict[etree._Element, float] = {}
        for block in blocks:
            chars, link_chars, _ = self.sizes[block]
            if (prose := chars - link_chars) < PROSE_MIN_CHARS:
                continue
            if (parent := block.getparent()) is not None:
                scores[parent] = scores.get(parent, 0) + prose
                if (grandparent := parent.getparent()) is not None:
                    scores[grandparent] = scores.get(grandparent, 0) + prose / 2
        return max(scores, key=scores.__getitem__) if scores else None


def _survey(root: etree._Element) -> _Survey:
    survey = _Survey(set(), set(), {}, [])
    sectioned = int(root.tag in SECTIONING_TAGS)
    weak = 0  # open weakly marked elements
    # An explicit stack, not recursion: junk HTML nests deeper than Python's stack.
    stack: list[tuple[etree._Element, bool]] = [(root, False)]
    while stack:
        element, leaving = stack.pop()
        tag = element.tag
        if leaving:
            sectioned -= tag in SECTIONING_TAGS
            weak -= element in survey.weak
            survey.sizes[element] = _size(element, survey.sizes)
            if tag in PROSE_TAGS:
                survey.prose.append((element, weak > 0))
        elif not isinstance(tag, str):  # an entity or stray node
            continue
        elif element is not root and _is_furniture(element, sectioned > 0):
            survey.dropped.add(element)
        elif tag == "pre":  # code: thousands of highlighting spans, all text
            survey.sizes[element] = _Size(len("".join(element.itertext()).strip()), 0, 0)
            survey.prose.append((element, weak > 0))
        else:
            sectioned += tag in SECTIONING_TAGS
            if element is not root and _weak_furniture(element):
                survey.weak.add(element)
                weak += 1
            stack.append((element, True))
            stack.extend((child, False) for child in reversed(element))
    return survey


def _size(element: etree._Element, sizes: dict[etree._Element, _Size]) -> _Size:
    """Size of an element from its children's; dropped children count only by their tail."""
    chars, link_chars, links = len((element.text or "").strip()), 0, 0
    for child in element:
        child_chars, child_link_chars, child_links = sizes.get(child, NO_TEXT)
        chars += child_chars + len((child.tail or "").strip())
        link_chars += child_link_chars
        links += child_links
    if element.tag == "a":
        return _Size(chars, chars, links + 1)
    return _Size(chars, link_chars, links)


class _Renderer:
    """Walks the tree once more, leaving furniture out and turning blocks into lines."""

    def __init__(self, survey: _Survey, menus: bool) -> None:
        self.survey = survey
        self.protected = survey.core()
        self.menus = menus  # no landmark: link-dense blocks are menus too
        self.out = _Lines()
        self.cells = 0  # open table cells: their blocks share the row's line
        self.items = 0  # open list items: their paragraphs stay together
        self.lists: list[int] = []  # per open list: the next number, 0 for bullets

    def render(self, root: etree._Element) -> str:
        stack: list[tuple[etree._Element, bool]] = [(c, False) for c in reversed(root)]
        self._inline(root.text)
        while stack:
            element, leaving = stack.pop()
            if leaving:
                self._close(element)
                self._inline(element.tail)
            elif self._dropped(element):
                self._inline(element.tail)
            elif element.tag == "pre":
                self.out.preformatted(_preformatted_text(element))
                self._inline(element.tail)
            else:
                self._open(element)
                self._inline(element.text)
                stack.append((element, True))
                stack.extend((child, False) for child in reversed(element))
        return self.out.text()

    def _dropped(self, element: etree._Element) -> bool:
        if element in self.survey.dropped or not isinstance(element.tag, str):
            return True
        if element in self.protected:
            return False
        return element in self.survey.weak or (self.menus and self.survey.sizes[element].is_menu())

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

    def _boundary(self, tag: str) -> None:
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


def decode(body: bytes, content_type: str) -> str:
    """The page's text, in the charset its header or <meta> declares, else a detected one."""
    # Without a charset header requests assumes ISO-8859-1; the <meta charset> is read here.
    header = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
    declared = header.group(1) if header else None
    declared = declared or EncodingDetector.find_declared_encoding(body, is_html=True)
    if declared and re.match(r"utf-?(16|32)", declared, re.IGNORECASE) and not _has_bom(body):
        # WHATWG: a page that declares UTF-16 in ASCII bytes cannot be UTF-16.
        declared = "utf-8"
    if declared and (text := _decode_mostly(body, declared)) is not None:
        return text
    return UnicodeDammit(body, is_html=True).unicode_markup or ""


def looks_binary(body: bytes) -> bool:
    """A body that is no text in any charset; UTF-16 (with its BOM) is the one text that
    holds such bytes."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return _BINARY_BYTE.search(body, 0, SNIFF_BYTES) is not None


def _has_bom(body: bytes) -> bool:
    return body.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf"))


def _decode_mostly(body: bytes, encoding: str) -> str | None:
    """`body` in `encoding`, unless that fails for much of it: the declaration is wrong.

    A few bad bytes do not make it wrong: a page cut at a size cap ends mid-character, and
    one stray byte in a UTF-8 page should not turn all its other accents into mojibake."""
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:  # not a codec Python knows
        return None
    if bad := text.count("\ufffd"):
        non_ascii = len(text) - len(text.encode("ascii", "ignore"))
        if bad > MAX_BAD_SHARE * non_ascii:
            return None
    return text
