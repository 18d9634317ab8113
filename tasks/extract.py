"""Main text, title and links of an HTML page (parsed by tasks/markup.py).

How the main text is found, with general signals (HTML5 semantics, ARIA roles, class and id
words, link and text density, position), not rules for one site:
1. One walk over the body (`_survey`) sets aside furniture by what the page says about it:
   scripts, navigation, ARIA roles, hidden elements, page headers and footers, comment
   sections and forms, photo captions; and by class and id words, of two strengths. Words of
   furniture ("comments", "related", "byline", "newsletter") mark it wherever they are; layout
   words ("sidebar", "widget", "share") are also found on the wrappers of the real content
   ("has-sidebar", "elementor-widget-container"), so they mark nothing the content wears.
2. The best block: the element with the most prose in its child blocks, prose inside
   furniture counting for little; it may be all the prose there is (a page wrapped whole in a
   `<header>`, or whose text is only in `<noscript>`). It and the elements around it are
   content, whatever their marks say.
3. The page's landmark (`<main>`, `role="main"`, or its one `<article>`) bounds the text when
   it holds the best block; an empty or stray one does not.
4. The main block: from there, down into any wrapper that holds most of the text and leaves
   no prose behind (`_main_block`). What it leaves behind is bylines, dates, tags, teasers
   and info boxes; the headings just before it stay, as its title.
5. Headings, paragraphs, list items and table rows become lines; code keeps its layout.
bench/extract.py measures this against trafilatura on annotated dev sets.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urljoin

from lxml import etree

from tasks.http import canonical_url
from tasks.markup import decode, looks_binary, parse

__all__ = ["Page", "decode", "extract", "looks_binary"]

# Never text: code, styling, embedded objects, form controls, ruby annotations (the reading
# of the base text, which stays), the head's metadata (libxml2 puts a page with no <body> tag
# in the <head> once it meets an HTML5 element).
DROP_TAGS = frozenset(
    "script style template svg canvas iframe object embed button input select textarea option "
    "datalist dialog menu nav rt rp title meta link base".split()
)
# Page furniture by ARIA role; "dialog" covers cookie and newsletter pop-ups.
DROP_ROLES = frozenset(
    "navigation banner contentinfo complementary search menu menubar toolbar dialog "
    "alertdialog tooltip".split()
)
# Words in a class or id that mark furniture wherever they are ("comments-area", "byline").
# Not "comment", "toc", "caption": documentation uses them on content ("toc-backref").
FURNITURE_WORDS = frozenset(
    "comments commentlist disqus respond related recommended trending byline dateline author "
    "date meta tags categories cookie cookies consent gdpr subscribe subscription newsletter "
    "paywall advert advertisement advertising ad ads adsense sponsor sponsored promo popup "
    "modal breadcrumb breadcrumbs pagination pager skip".split()
)
# Layout words: furniture too ("site-footer", "nav_menu"), but also found in the class of a
# wrapper of the content ("wy-nav-content", "has-sidebar", "elementor-widget-container").
LAYOUT_WORDS = frozenset(
    "nav navbar navigation menu menubar sidebar footer masthead banner widget widgets share "
    "sharing social toolbar".split()
)
# Words of a photo's caption or credit; documentation captions code and tables with them too,
# so they mark only an element beside an image.
CAPTION_WORDS = frozenset("caption credit credits".split())
# Furniture words also found inside compound class names ("sitefooter", "commentlist",
# "jp-relatedposts"), looked for in each class with "-" and "_" taken out; not in ids, which
# are often made from a heading's text, and not short or common words ("menu" is in
# "menuselection", "share" in "shared").
FURNITURE_COMPOUNDS = (
    "comments", "commentlist", "commentform", "commentrespond", "commentarea", "disqus",
    "related", "byline", "postmeta", "entrymeta", "articlemeta", "catlinks", "taglinks",
    "tagcloud", "posttags", "breadcrumb", "consent", "cookie", "newsletter", "subscribe",
    "paywall", "infobox", "readmore", "morestories",
)  # fmt: skip
LAYOUT_COMPOUNDS = ("sidebar", "navbar", "navigation", "footer", "masthead", "sharing", "social")
CAPTION_COMPOUNDS = ("caption", "credit")
TAXONOMY_CLASSES = ("tag-", "category-")
NONE, LAYOUT, CAPTION, COMMENTS, FURNITURE = range(5)  # marks; a stronger one wins
COMMENT_WORDS = frozenset("comments commentlist disqus respond".split())
# Containers that class and id words may mark; inline elements and headings keep their text.
CONTAINER_TAGS = frozenset(
    "div section aside ul ol dl table form header footer p span figure figcaption".split()
)
# A header or aside belongs to the page when not inside an article or section (the HTML-AAM
# mapping), a header not inside <main> either: an article's own header holds its title, a
# section's aside a footnote.
SECTIONING_TAGS = frozenset("article section".split())
HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
IMAGE_TAGS = ("img", "picture", "video")
PARAGRAPH_TAGS = frozenset(
    "p h1 h2 h3 h4 h5 h6 pre table ul ol dl blockquote section article figure hr".split()
)
LINE_TAGS = frozenset("div li tr dt dd br caption figcaption address details summary".split())
PERMALINK_MARKS = frozenset("¶ § # 🔗 ⚓".split())  # "headerlink" anchors after headings
SKIP_LINK = re.compile(r"^\s*(skip|jump) to\b", re.IGNORECASE)
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # "cookieBanner" -> cookie, Banner
# Links to the page's neighbours ("Prev | Up | Home | Next"), as rel or accesskey say.
NAV_RELS = frozenset("prev previous next up home index contents start first last".split())
TAG_RELS = frozenset("tag category".split())
# A block left with at most this much text once its tag links are gone is a "Tags:" line.
TAG_LABEL_MAX_CHARS = 30
# Without a landmark, a block of several links whose text is mostly link text, with little
# else between the links ("Home | Docs", "Previous: X"), is a menu.
MENU_MIN_LINKS = 3  # one or two links in a short paragraph are part of the prose
MENU_LINK_SHARE = 0.5
MENU_PLAIN_CHARS_PER_LINK = 10  # "X – raised when Y is called" is a list of content
# Prose: text outside links in these blocks, when there is this much of it.
# Other elements hold prose in their own text: "post-body" divs of text and <br>s.
PROSE_TAGS = frozenset("p pre li dd td blockquote".split())
INLINE_TAGS = frozenset(
    "a abbr b bdi bdo big cite code data dfn em font i kbd label mark nobr q s samp small span "
    "strike strong sub sup time tt u var h1 h2 h3 h4 h5 h6".split()
)
PROSE_MIN_CHARS = 25
# Prose inside furniture counts this much towards the best block: a comment thread holds
# more prose than most posts, but a page wrapped whole in a <header> has no other.
FURNITURE_WEIGHT = 0.1
LAYOUT_WEIGHT = 0.5
# The main block is a wrapper holding this share of its parent's text (outside links and
# furniture) that leaves behind no prose block this long: a title, byline and date before
# it, a footer line or a teaser's blurb after it. A sentence before it is its lead.
MAIN_SHARE = 0.7
LEAD_MAX_CHARS = 50
AFTER_MAX_CHARS = 80
# Content structures the main block never goes inside: a definition list is one API entry.
WHOLE_TAGS = frozenset("p pre ul ol dl dd dt li blockquote figure details table".split())


@dataclass(frozen=True)
class Page:
    title: str
    text: str
    links: tuple[str, ...]  # absolute http(s) URLs without fragments, in page order


def extract(html: str, url: str) -> Page:
    """Main text, title and outgoing links of one HTML page fetched from `url`."""
    root = parse(html)
    if root is None:
        return Page(title="", text="", links=())
    base = next((e.get("href") for e in root.iter("base") if e.get("href")), None)
    base_url = urljoin(url, base) if base else url
    # Links come from the whole page, menus included: they are how a crawler finds pages.
    links = _links(root, base_url)
    title = next((_text(e) for e in root.iter("title")), "")
    body = next(root.iter("body"), root)
    survey = _survey(body)
    content = survey.content(body)
    text = _Renderer(survey, content).render()
    if not title and (h1 := next(content.root.iter("h1"), None)) is not None:
        title = _text(h1)
    return Page(title=_normal(title), text=_normal(text), links=links)


def _normal(text: str) -> str:
    """Soft hyphens out of words, and accents composed: "Ka\u00adffee", "cafe\u0301"."""
    text = text.replace("\u00ad", "")
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


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


@lru_cache(maxsize=4096)
def _words_mark(value: str, is_class: bool = True) -> int:
    """The strongest mark the words of a class or id value make: "site-footer" is LAYOUT."""
    if is_class:  # a post's own tags and categories name its subject: "tag-cookies"
        value = " ".join(name for name in value.split() if not name.startswith(TAXONOMY_CLASSES))
    words = {word.lower() for word in WORD.findall(value)}
    if words & COMMENT_WORDS:
        return COMMENTS
    squashed = value.lower().replace("-", "").replace("_", "") if is_class else ""
    if words & FURNITURE_WORDS or any(part in squashed for part in FURNITURE_COMPOUNDS):
        return FURNITURE
    if words & CAPTION_WORDS or any(part in squashed for part in CAPTION_COMPOUNDS):
        return CAPTION
    if words & LAYOUT_WORDS or any(part in squashed for part in LAYOUT_COMPOUNDS):
        return LAYOUT
    return LAYOUT if not is_class and "header" in words else NONE  # id="header": the banner


def _is_furniture(element: etree._Element) -> bool:
    """Never content, whatever is around it: by tag, role, or as a permalink or skip link."""
    tag = element.tag
    if tag in DROP_TAGS or element.get("role") in DROP_ROLES:
        return True
    if tag == "a":
        if not len(element) and (element.text or "").strip() in PERMALINK_MARKS:
            return True
        if _is_tag_link(element):
            return True  # "Tags: kilns, glazes"
        within_page = element.get("href", "").startswith("#")
        return within_page and bool(SKIP_LINK.match(_text(element)))
    return False


def _mark(element: etree._Element, sectioned: bool, in_main: bool) -> int:
    """Furniture unless it is on the way to the best block: hidden, a page-level header,
    footer or aside, a comment form, a photo caption, or by class and id words."""
    tag, get = element.tag, element.get
    if get("role") != "tabpanel":  # a hidden tab is content the reader opens with one click
        if get("hidden") is not None or get("aria-hidden") == "true":
            return FURNITURE
        if (style := get("style")) and HIDDEN_STYLE.search(style):
            return FURNITURE
    if tag == "footer" or tag == "noscript" or (tag == "aside" and not sectioned):
        return FURNITURE
    if tag == "header" and not sectioned and not in_main:
        return LAYOUT  # a banner holds no prose, unless it wraps the whole page
    if tag not in CONTAINER_TAGS:
        return NONE
    if tag == "form" and next(element.iter("textarea"), None) is not None:
        return FURNITURE  # where readers write: a comment or contact form
    mark = _words_mark(classes) if (classes := get("class")) else NONE
    if (ids := get("id")) and (by_id := _words_mark(ids, is_class=False)) > mark:
        # Ids of blocks that open with a heading are often that heading's slug ("cookies",
        # "comments" in a language reference); a comment section holds comments or a form.
        if not _opens_with_heading(element) or (by_id == COMMENTS and _holds_comments(element)):
            mark = by_id
    if tag == "figcaption":
        mark = max(mark, CAPTION)
    if mark == CAPTION:
        return FURNITURE if _photo_caption(element) else NONE
    return FURNITURE if mark == COMMENTS else mark


def _photo_caption(caption: etree._Element) -> bool:
    """A caption beside an image, unless it has a permalink: documentation numbers and links
    its figures as it does its headings."""
    if (parent := caption.getparent()) is None:
        return False
    # The image is the caption's sibling, or a sibling's one child (<a><img></a>).
    if not any(
        sibling.tag in IMAGE_TAGS or (len(sibling) == 1 and sibling[0].tag in IMAGE_TAGS)
        for sibling in parent
    ):
        return False
    return not any((a.text or "").strip() in PERMALINK_MARKS for a in caption.iter("a"))


def _opens_with_heading(element: etree._Element) -> bool:
    for child in element:
        if child.tag in HEADING_TAGS:
            return True
        if child.text or len(child):  # empty ones are link targets: <span id="label">
            return False
    return False


def _holds_comments(element: etree._Element) -> bool:
    return bool(element.xpath("boolean(.//form | .//*[contains(@class, 'comment')])"))


class _Size(NamedTuple):
    chars: int  # text characters, whitespace at the ends of text nodes left out
    link_chars: int
    links: int
    marks: int  # marked elements inside, itself included
    widest: int  # text outside links of the longest prose block inside
    own: int  # text of its own, not in child elements, when that much is prose

    def is_menu(self) -> bool:
        """Several links, most of the text, little between them: "Home | Docs | Blog"."""
        return self.links >= MENU_MIN_LINKS and self.is_links()

    def is_links(self) -> bool:
        plain = self.chars - self.link_chars
        return (
            self.link_chars >= MENU_LINK_SHARE * self.chars
            and plain < MENU_PLAIN_CHARS_PER_LINK * self.links
        )


NO_TEXT = _Size(0, 0, 0, 0, 0, 0)


class _Content(NamedTuple):
    root: etree._Element  # the landmark, else the body
    main: etree._Element | None  # the main block; None where the page has no prose
    protected: frozenset[etree._Element]  # the best block and all blocks around it
    voided: frozenset[str]  # class names the content wears: no marks on this page
    menus: bool  # no landmark: link-dense blocks are menus too


@dataclass
class _Survey:
    """One walk over the tree: furniture by tag and role (dropped), furniture and layout marks,
    the text size of every element kept, prose blocks and landmarks."""

    dropped: set[etree._Element] = field(default_factory=set)
    furniture: set[etree._Element] = field(default_factory=set)
    layout: set[etree._Element] = field(default_factory=set)
    sizes: dict[etree._Element, _Size] = field(default_factory=dict)
    prose: list[tuple[etree._Element, float]] = field(default_factory=list)  # with a weight
    landmarks: list[etree._Element] = field(default_factory=list)  # main, role="main"
    articles: list[etree._Element] = field(default_factory=list)
    nav_links: list[etree._Element] = field(default_factory=list)
    layout_classes: dict[str, bool] = field(default_factory=dict)  # whether they still mark

    def content(self, body: etree._Element) -> _Content:
        best = self._best()
        landmark = self._landmark(best)
        root = body if landmark is None else landmark
        if best is None:
            return _Content(root, None, frozenset(), frozenset(), landmark is None)
        chain = [best, *best.iterancestors()]
        chain = chain[: chain.index(root) + 1] if root in chain else [root]
        voided = frozenset(
            name
            for element in chain
            if element in self.layout
            for name in element.get("class", "").split()
            if _words_mark(name) == LAYOUT
        )
        content = _Content(root, None, frozenset(chain), voided, landmark is None)
        return content._replace(main=_main_block(root, self, content))

    def _best(self) -> etree._Element | None:
        """The element with most prose in its child blocks (grandchildren count half)."""
        scores: dict[etree._Element, float] = {}
        for block, weight in self.prose:
            size = self.sizes[block]
            prose = size.chars - size.link_chars if block.tag in PROSE_TAGS else size.own
            if prose < PROSE_MIN_CHARS:
                continue
            if (parent := block.getparent()) is not None:
                scores[parent] = scores.get(parent, 0) + prose * weight
                if (grandparent := parent.getparent()) is not None:
                    scores[grandparent] = scores.get(grandparent, 0) + prose * weight / 2
        return max(scores, key=scores.__getitem__) if scores else None

    def _landmark(self, best: etree._Element | None) -> etree._Element | None:
        """The first landmark that holds the best block; without one, that has any text."""
        candidates = self.landmarks + (self.articles if len(self.articles) == 1 else [])
        if best is None:
            return next((c for c in candidates if self.sizes[c].chars), None)
        around = {best, *best.iterancestors()}
        return next((c for c in candidates if c in around), None)

    def marked(self, element: etree._Element, content: _Content) -> bool:
        if element in content.protected:
            return False
        if element in self.furniture:
            return True
        if element not in self.layout:
            return False
        classes = element.get("class", "")
        if (marked := self.layout_classes.get(classes)) is None:
            marked = self.layout_classes[classes] = not _worn(classes, content.voided)
        return marked


def _worn(classes: str, voided: frozenset[str]) -> bool:
    """Whether every class that makes a layout mark is one the content wears, or a variant of
    one that adds no layout word: "elementor-widget-heading" beside "elementor-widget"."""
    marking = [name for name in classes.split() if _words_mark(name) == LAYOUT]
    return bool(marking) and all(
        name in voided
        or any(
            name.startswith(f"{worn}-") and _words_mark(name[len(worn) + 1 :]) == NONE
            for worn in voided
        )
        for name in marking
    )


def _survey(root: etree._Element) -> _Survey:
    survey = _Survey()
    sectioned = mains = 0  # open sectioning elements, open <main>s
    furniture = layout = 0  # open marked elements
    tag_lines: set[etree._Element] = set()  # blocks that held a tag link
    # An explicit stack, not recursion: junk HTML nests deeper than Python's stack.
    stack: list[tuple[etree._Element, bool]] = [(root, False)]
    while stack:
        element, leaving = stack.pop()
        tag = element.tag
        if leaving:
            sectioned -= tag in SECTIONING_TAGS
            mains -= tag == "main"
            in_furniture = element in survey.furniture
            in_layout = not in_furniture and element in survey.layout
            size = _size(element, survey.sizes, in_furniture or in_layout)
            survey.sizes[element] = size
            if tag in PROSE_TAGS or (size.own and tag not in INLINE_TAGS):
                weight = FURNITURE_WEIGHT if furniture else LAYOUT_WEIGHT if layout else 1.0
                survey.prose.append((element, weight))
            furniture -= in_furniture
            layout -= in_layout
            if element in tag_lines and size.chars <= TAG_LABEL_MAX_CHARS and not size.links:
                survey.dropped.add(element)
        elif not isinstance(tag, str):  # an entity or stray node
            continue
        elif element is not root and _is_furniture(element):
            survey.dropped.add(element)
            if tag == "a" and _is_tag_link(element) and (parent := element.getparent()) is not None:
                tag_lines.add(parent)
        elif tag == "pre":  # code: thousands of highlighting spans, all text
            chars = len("".join(element.itertext()).strip())
            survey.sizes[element] = _Size(chars, 0, 0, 0, chars, 0)
            weight = FURNITURE_WEIGHT if furniture else LAYOUT_WEIGHT if layout else 1.0
            survey.prose.append((element, weight))
        else:
            sectioned += tag in SECTIONING_TAGS
            mains += tag == "main"
            if element is not root:
                mark = _mark(element, sectioned > 0, mains > 0)
                if mark == FURNITURE:
                    survey.furniture.add(element)
                    furniture += 1
                elif mark == LAYOUT:
                    survey.layout.add(element)
                    layout += 1
            if tag == "main" or element.get("role") == "main":
                survey.landmarks.append(element)
            elif tag == "article":
                survey.articles.append(element)
            elif tag == "a" and _is_nav_link(element):
                survey.nav_links.append(element)
            stack.append((element, True))
            stack.extend((child, False) for child in reversed(element))
    survey.dropped.update(_nav_lines(survey, root))
    return survey


def _is_tag_link(element: etree._Element) -> bool:
    return bool((rel := element.get("rel")) and not TAG_RELS.isdisjoint(rel.lower().split()))


def _is_nav_link(element: etree._Element) -> bool:
    if element.get("accesskey"):
        return True
    return bool((rel := element.get("rel")) and not NAV_RELS.isdisjoint(rel.lower().split()))


def _nav_lines(survey: _Survey, root: etree._Element) -> set[etree._Element]:
    """The widest block around each link to a neighbouring page that holds only such links:
    "Prev | Up | Home | Next", "Next: Glazes, Previous: Clay"."""
    lines = set()
    for link in survey.nav_links:
        line = None
        for element in link.iterancestors():
            if element is root or not survey.sizes.get(element, NO_TEXT).is_links():
                break
            line = element
        if line is not None:
            lines.add(line)
    return lines


def _size(element: etree._Element, sizes: dict[etree._Element, _Size], marked: bool) -> _Size:
    """Size of an element from its children's; dropped children count only by their tail."""
    own = len((element.text or "").strip())
    chars, link_chars, links, marks, widest = 0, 0, 0, int(marked), 0
    for child in element:
        child_chars, child_link_chars, child_links, child_marks, child_widest, _ = sizes.get(
            child, NO_TEXT
        )
        own += len((child.tail or "").strip())
        chars += child_chars
        link_chars += child_link_chars
        links += child_links
        marks += child_marks
        widest = max(widest, child_widest)
    chars += own
    own = own if own >= PROSE_MIN_CHARS else 0
    if element.tag == "a":
        return _Size(chars, chars, links + 1, marks, widest, 0)
    if element.tag in PROSE_TAGS:
        widest = max(widest, chars - link_chars)
    elif element.tag not in INLINE_TAGS:
        widest = max(widest, own)
    return _Size(chars, link_chars, links, marks, widest, own)


def _main_block(root: etree._Element, survey: _Survey, content: _Content) -> etree._Element:
    """From the root down into the wrapper that holds most of the text outside links and
    furniture, as long as it leaves no prose behind; never into a list or a table."""
    measures, walked = _measure(root, survey, content)

    def inner(element: etree._Element) -> dict[etree._Element, tuple[int, int]]:
        if element in walked:
            return {child: measures[child] for child in element if child in measures}
        # Nothing inside is marked: sizes will do.
        sizes = survey.sizes
        return {
            child: (size.chars - size.link_chars, size.widest)
            for child in element
            if child.tag != "a" and child not in survey.dropped and (size := sizes.get(child))
        }

    main, (text, _) = root, measures[root]
    while text:
        children = inner(main)
        widest = max(children, key=lambda child: children[child][0], default=None)
        if widest is None or _one_block(widest):
            break
        if children[widest][0] < MAIN_SHARE * text:
            break
        order = list(children)
        at = order.index(widest)
        before = max((children[child][1] for child in order[:at]), default=0)
        after = max((children[child][1] for child in order[at + 1 :]), default=0)
        if before >= LEAD_MAX_CHARS or after >= AFTER_MAX_CHARS:
            break
        main, (text, _) = widest, children[widest]
    return main


def _one_block(element: etree._Element) -> bool:
    """A list, table, paragraph or heading, or a wrapper of just one: a code block's."""
    while element.tag not in WHOLE_TAGS and element.tag not in HEADING_TAGS:
        if len(element) != 1 or (element.text or "").strip() or (element[0].tail or "").strip():
            return False
        element = element[0]
    return True


def _measure(
    root: etree._Element, survey: _Survey, content: _Content
) -> tuple[dict[etree._Element, tuple[int, int]], set[etree._Element]]:
    """Text outside links and furniture, and the longest prose block, of each element kept
    that holds marked ones (walked), and of the widest ones that hold none."""
    measures: dict[etree._Element, tuple[int, int]] = {}
    walked: set[etree._Element] = set()
    stack: list[tuple[etree._Element, bool]] = [(root, False)]
    while stack:
        element, leaving = stack.pop()
        if leaving:
            own, text, widest = len((element.text or "").strip()), 0, 0
            for child in element:
                own += len((child.tail or "").strip())
                if (measure := measures.get(child)) is not None:
                    text += measure[0]
                    widest = max(widest, measure[1])
            text += own
            if element.tag in PROSE_TAGS:
                widest = max(widest, text)
            elif element.tag not in INLINE_TAGS and own >= PROSE_MIN_CHARS:
                widest = max(widest, own)
            measures[element] = (text, widest)
            continue
        if not isinstance(element.tag, str) or element.tag == "a":
            continue
        if element in survey.dropped or survey.marked(element, content):
            continue
        size = survey.sizes[element]
        if not size.marks:
            measures[element] = (size.chars - size.link_chars, size.widest)
            continue
        walked.add(element)
        stack.append((element, True))
        stack.extend((child, False) for child in reversed(element))
    return measures, walked


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
    """Walks the main block, and the headings just before it, leaving furniture out and
    turning blocks into lines."""

    def __init__(self, survey: _Survey, content: _Content) -> None:
        self.survey = survey
        self.content = content
        self.menus = content.menus
        self.out = _Lines()
        self.cells = 0  # open table cells: their blocks share the row's line
        self.items = 0  # open list items: their paragraphs stay together
        self.lists: list[int] = []  # per open list: the next number, 0 for bullets

    def render(self) -> str:
        main = self.content.main
        if main is None:
            self._walk(self.content.root)
        else:
            for heading in self._title(main):
                self._walk(heading)
            self._walk(main)
        return self.out.text()

    def _title(self, main: etree._Element) -> list[etree._Element]:
        """The headings before the main block, beside it: its title, the post's name."""
        if main is self.content.root:
            return []
        headings = []
        for sibling in reversed(list(main.itersiblings(preceding=True))):
            if not isinstance(sibling.tag, str) or self._dropped(sibling):
                continue
            for heading in sibling.iter(*HEADING_TAGS):
                path = [heading, *heading.iterancestors()]
                if not any(self._dropped(e) for e in path[: path.index(sibling)]):
                    headings.append(heading)
        return headings

    def _walk(self, top: etree._Element) -> None:
        """One block and what it holds; its own tail is not its text."""
        stack: list[tuple[etree._Element, bool]] = [(top, False)]
        while stack:
            element, leaving = stack.pop()
            if leaving:
                self._close(element)
            elif element is not top and self._dropped(element):
                pass
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

    def _dropped(self, element: etree._Element) -> bool:
        survey = self.survey
        if element in survey.dropped or not isinstance(element.tag, str):
            return True
        if survey.marked(element, self.content):
            return True
        if element in self.content.protected:
            return False
        return self.menus and survey.sizes[element].is_menu()

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
