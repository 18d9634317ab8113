"""Where the main text of a parsed page is: its furniture, its landmark and its main block.

General signals (HTML5 semantics, ARIA roles, class and id words, link and text density,
position), not rules for one site:
1. One walk over the body (`_survey`) sets aside what is never text (scripts, navigation,
   ARIA roles of furniture, permalinks, tag links, "Prev | Up | Home | Next" lines) and marks
   what is furniture unless it turns out to hold the content: hidden elements, page-level
   headers, footers and asides, comment forms, photo captions, lists of teasers (a link to
   a headline and a blurb, again and again) with no paragraph beside them, and class and id
   words of two strengths. Furniture words ("comments", "related", "byline", "newsletter")
   mark a block wherever it is; layout words ("sidebar", "widget", "share") also name
   wrappers of the real content ("has-sidebar", "elementor-widget-container"), so they mark
   nothing the content itself wears on that page. Furniture is measured from outside, and
   walked into only on a page with little prose elsewhere.
2. The best block: the element with the most prose in its child blocks, prose in marked
   blocks counting for less. It may be all the prose there is (a page wrapped whole in a
   `<header>`, or whose text is only in `<noscript>`); it and the elements around it are
   content, whatever their marks say.
3. The page's landmark (`<main>`, `role="main"`, or an `<article>`) bounds the text: the
   innermost that holds the best block, else one that holds a fair share of the text; an
   empty one or a banner does not. Menus inside a `<main>` may be its text, not in others.
4. The main block: from there, down into the wrapper that holds most of the text, as long as
   it leaves no prose behind. What it leaves is a title, byline and date before it, tags,
   teasers, info boxes and footers after it; the headings just before it are its title.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from lxml import etree

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
# Words in a class or id that mark furniture wherever it is ("comments-area", "byline"), a
# few in French, Spanish, Italian, German or Dutch; "print" for what is shown only in print
# ("print-header") or hidden from it ("d-print-none"); "gallery" for a slideshow's captions
# and controls, which sit apart from its images; "prev" and "next" for links to the stories
# before and after, which a "rel" does not always mark; "dek", "standfirst" and "subtitle"
# for the line under a headline, which repeats the story. Not "comment", "toc", "caption":
# documentation uses them on content ("toc-backref").
COMMENT_WORDS = frozenset(
    "comments commentlist disqus respond commentaires comentarios commenti kommentare reacties "
    "reactions".split()
)
FURNITURE_WORDS = COMMENT_WORDS | frozenset(
    "related recommended trending byline dateline author autor auteur autore date fecha datum "
    "meta tags categories cookie cookies consent gdpr subscribe subscription newsletter "
    "paywall advert advertisement advertising ad ads adsense sponsor sponsored promo popup "
    "modal breadcrumb breadcrumbs pagination pager prev previous next skip print noprint "
    "gallery dek standfirst subtitle".split()
)
APP_ROOT_IDS = frozenset({"__next"})  # Next.js renders the whole page into it: no "next" link
# Layout words: furniture too ("site-footer", "blq-foot", "nav_menu"), but also in the class
# of a wrapper of the content ("wy-nav-content", "has-sidebar", "elementor-widget-container").
LAYOUT_WORDS = frozenset(
    "nav navbar navigation menu menubar sidebar footer foot masthead banner widget widgets share "
    "sharing social toolbar compartir partager teilen".split()
)
# A photo's caption or credit; documentation captions code and tables too, so these words
# mark only an element beside an image. They are words, or the ends of words ("thumbcaption",
# "figcaption"), not the middle of one ("accreditation", "captionlink").
CAPTION_WORDS = ("caption", "captions", "credit", "credits")
# Words also found inside compound class names ("sitefooter", "commentlist",
# "jp-relatedposts"), looked for in each class with "-" and "_" taken out; not in ids, which
# are often made from a heading's text, and not short or common words ("menu" is in
# "menuselection", "share" in "shared").
FURNITURE_COMPOUNDS = (
    "comments", "commentlist", "commentform", "commentrespond", "commentarea", "disqus",
    "commentaire", "comentario", "kommentar", "commenti",
    "related", "byline", "postmeta", "entrymeta", "articlemeta", "catlinks", "taglinks",
    "tagcloud", "posttags", "breadcrumb", "consent", "cookie", "newsletter", "subscribe",
    "paywall", "infobox", "readmore", "morestories",
)  # fmt: skip
LAYOUT_COMPOUNDS = ("sidebar", "navbar", "navigation", "footer", "masthead", "sharing", "social")
FURNITURE_PARTS, LAYOUT_PARTS = frozenset(FURNITURE_COMPOUNDS), frozenset(LAYOUT_COMPOUNDS)
COMPOUNDS = FURNITURE_COMPOUNDS + LAYOUT_COMPOUNDS
EMPTY: frozenset[str] = frozenset()
TAXONOMY_CLASSES = ("tag-", "category-")  # a post's own tags, on its wrapper: "tag-cookies"
NONE, LAYOUT, CAPTION, COMMENTS, FURNITURE = range(5)  # marks by words; the strongest wins
# Containers that class and id words may mark; inline elements and headings keep their text.
CONTAINER_TAGS = frozenset(
    "div section aside ul ol li dl table form header footer p span figure figcaption".split()
)
# A header or aside belongs to the page when not inside an article or section (the HTML-AAM
# mapping), a header not inside <main> either: an article's own header holds its title, a
# section's aside a footnote.
SECTIONING_TAGS = frozenset("article section".split())
HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
IMAGE_TAGS = ("img", "picture", "video")
IMAGE_LABEL_MAX_CHARS = 10  # "6 photos", "Play" beside an image in its wrapper
PERMALINK_MARKS = frozenset("¶ § # 🔗 ⚓".split())  # "headerlink" anchors after headings
SKIP_LINK = re.compile(r"^\s*(skip|jump) to\b", re.IGNORECASE)
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # "cookieBanner" -> cookie, Banner
SLUG_WORD = re.compile(r"[^\W\d_]+")
# Links to the page's neighbours ("Prev | Up | Home | Next"), as rel or accesskey say, and
# to its tags and categories.
NAV_RELS = frozenset("prev previous next up home index contents start first last".split())
TAG_RELS = frozenset("tag category".split())
TAG_LABEL_MAX_CHARS = 30  # a block left with no more once its tag links are gone: "Tags:"
# Without a landmark, a block of several links whose text is mostly link text, with little
# else between the links ("Home | Docs", "Previous: X"), is a menu.
MENU_MIN_LINKS = 3  # one or two links in a short paragraph are part of the prose
MENU_LINK_SHARE = 0.5
MENU_PLAIN_CHARS_PER_LINK = 10  # "X – raised when Y is called" is a list of content
# In a landmark, only a menu of headlines: this much of its text in links, this long each on
# average. Documentation's lists of links are shorter ("pathlib.Path.mkdir") or hold more
# text beside them (a list of articles with their authors).
HEADLINES_LINK_SHARE = 0.8
HEADLINES_MIN_LINK_CHARS = 25
# Teasers: a headline's link (its image's too) and a blurb of at most this much, at least
# this share of it and this long in links; a list of at least three, most of its text, is
# furniture unless a paragraph this long stands beside it.
TEASER_MAX_CHARS = 400
TEASER_LINK_SHARE = 0.1
TEASER_HEADLINE_MIN_CHARS = 20
TEASERS_MIN = 3
TEASERS_SHARE = 0.8
TEASERS_BESIDE_PROSE_CHARS = 100
KICKER_MAX_CHARS = 20
TEASERS_MIN_LINK_CHARS = TEASERS_MIN * TEASER_HEADLINE_MIN_CHARS  # fewer: no list of teasers
# Prose: text outside links in these blocks, or in the own text of any block ("post-body"
# divs of text and <br>s, or of spans), when there is this much of it. A list item or cell
# that holds blocks of text is a wrapper: it counts its own text only, so that a list of
# comments counts as comments, each beside the others, and not as one long list.
PROSE_TAGS = frozenset("p pre li dd td blockquote".split())
INLINE_TAGS = frozenset(
    "a abbr b bdi bdo big cite code data dfn em font i kbd label mark nobr q s samp small span "
    "strike strong sub sup time tt u var h1 h2 h3 h4 h5 h6".split()
)
# Inline elements whose text is their parent's own: not links, headings, nor a <time>,
# which is a dateline's ("Published 10:48, Tuesday 19 November 2019").
FLOW_TAGS = INLINE_TAGS - {"a", "time", *"h1 h2 h3 h4 h5 h6".split()}
PROSE_MIN_CHARS = 25
# Prose inside marked blocks counts this much towards the best block: a comment thread holds
# more prose than most posts, but a page wrapped whole in a <header> has no other.
FURNITURE_WEIGHT = 0.1
LAYOUT_WEIGHT = 0.5
# The main block is a wrapper holding this share of its parent's text (outside links and
# furniture) that leaves behind no prose block this long: a title, byline and date before
# it, a footer line or a teaser's blurb after it. A sentence before it is its lead.
MAIN_SHARE = 0.7
LEAD_MAX_CHARS = 50
AFTER_MAX_CHARS = 80
# A landmark without the best block bounds the text still if it holds this share of it: the
# prose elsewhere may be a pop-up's that no class or style marks.
LANDMARK_MIN_SHARE = 0.2
# Furniture is half of a news page's elements: the survey first measures it from outside,
# and walks into it only where the prose outside it comes to less than this (a page whose
# text is all in <noscript>, or mislabelled).
SKIM_MIN_PROSE_CHARS = 500
# Content structures the main block never goes inside: a definition list is one API entry.
WHOLE_TAGS = frozenset("p pre ul ol dl dd dt li blockquote figure details table".split())


class Size(NamedTuple):
    chars: int  # text characters, whitespace at the ends of text nodes left out
    link_chars: int
    links: int
    marks: int  # marked elements inside, itself included
    widest: int  # text outside links of the longest prose block inside
    own: int  # flow, when that much is prose
    flow: int  # text in no child element but inline ones, links left out
    nested: int  # 1 where a child block holds text: a list item of paragraphs

    def is_menu(self) -> bool:
        """Several links, most of the text, little between them: "Home | Docs | Blog"."""
        return self.links >= MENU_MIN_LINKS and self.is_links()

    def is_headlines(self) -> bool:
        """Links to other stories, by their headlines, and little else: "Related", "Popular"."""
        return (
            self.is_menu()
            and self.link_chars >= HEADLINES_LINK_SHARE * self.chars
            and self.link_chars >= HEADLINES_MIN_LINK_CHARS * self.links
        )

    def is_links(self) -> bool:
        plain = self.chars - self.link_chars
        return (
            self.link_chars >= MENU_LINK_SHARE * self.chars
            and plain < MENU_PLAIN_CHARS_PER_LINK * self.links
        )


NO_TEXT = Size(0, 0, 0, 0, 0, 0, 0, 0)
# Size(...) with NamedTuple's own __new__, a Python function, skipped: _size makes one for
# every element of every page.
new_tuple = tuple.__new__


@dataclass
class _Survey:
    """One walk over the tree: what is never text (dropped), furniture and layout marks, the
    size of every element kept, prose blocks and landmarks."""

    dropped: set[etree._Element] = field(default_factory=set)
    furniture: set[etree._Element] = field(default_factory=set)
    layout: set[etree._Element] = field(default_factory=set)
    sizes: dict[etree._Element, Size] = field(default_factory=dict)
    prose: list[tuple[etree._Element, float]] = field(default_factory=list)  # with a weight
    landmarks: list[etree._Element] = field(default_factory=list)  # main, role="main"
    articles: list[etree._Element] = field(default_factory=list)
    nav_links: list[etree._Element] = field(default_factory=list)
    # Lists of teasers, each with the range of its prose blocks in `prose`, and those of them
    # that are furniture: no paragraph beside them.
    teasers: dict[etree._Element, tuple[int, int]] = field(default_factory=dict)
    teaser_parents: set[etree._Element] = field(default_factory=set)
    pictures: dict[etree._Element, list[etree._Element]] = field(default_factory=dict)


@dataclass
class Content:
    """Where a page's text is, and what in it to leave out."""

    survey: _Survey
    root: etree._Element  # the landmark, else the body
    landmark: bool  # the root is <main> or role="main": its lists of links may be its text
    protected: frozenset[etree._Element] = frozenset()  # the best block, the blocks around it
    worn: frozenset[str] = frozenset()  # layout classes the content wears: no marks here
    main: etree._Element | None = None  # the main block; None where the page has no prose
    _marking: dict[str, bool] = field(default_factory=dict)  # per class value

    def marked(self, element: etree._Element) -> bool:
        """Furniture by its marks: those of layout only where the content does not wear them."""
        if element in self.protected:
            return False
        if element in self.survey.furniture:
            return True
        if element not in self.survey.layout:
            return False
        classes = element.get("class", "")
        if (marking := self._marking.get(classes)) is None:
            marking = self._marking[classes] = not _worn(classes, self.worn)
        return marking

    def drops(self, element: etree._Element) -> bool:
        """Whether the text leaves this element out: furniture, and menus, or in a landmark
        (where a list of links may be its content: "See also") lists of headlines."""
        if element in self.survey.dropped or not isinstance(element.tag, str):
            return True
        if self.marked(element):
            return True
        if element in self.protected:
            return False
        size = self.survey.sizes.get(element, NO_TEXT)
        if not self.landmark:
            return size.is_menu()
        return size.is_headlines() and _in_words(next(element.iter("a"), element))

    def title(self) -> list[etree._Element]:
        """The nearest headings before the main block, beside it or beside a wrapper of it:
        its title, the post's headline or a documentation section's heading."""
        element = self.main
        while element is not None and element is not self.root:
            headings = []
            for sibling in reversed(list(element.itersiblings(preceding=True))):
                if self.drops(sibling):
                    continue
                for heading in sibling.iter(*HEADING_TAGS):
                    path = [heading, *heading.iterancestors()]
                    # From the sibling down: what is inside dropped blocks was not surveyed.
                    if not any(self.drops(e) for e in reversed(path[: path.index(sibling)])):
                        headings.append(heading)
            if headings:
                return headings
            element = element.getparent()
        return []


def find_content(body: etree._Element) -> Content:
    """The landmark or body that bounds a page's text, its main block, and its furniture."""
    survey = _survey(body, skim=True)
    best = _best(survey)
    if best is None or sum(prose for _, prose in _weighted_prose(survey)) < SKIM_MIN_PROSE_CHARS:
        survey = _survey(body, skim=False)  # the text may be all in furniture: look inside
        best = _best(survey)
    landmark = _landmark(survey, body, best)
    root = body if landmark is None else landmark
    content = Content(survey, root, landmark is not None and landmark.tag != "article")
    if best is None:
        return content
    chain = [best, *best.iterancestors()]
    content.protected = frozenset(chain[: chain.index(root) + 1] if root in chain else [root])
    content.worn = frozenset(
        name
        for element in content.protected & survey.layout
        for name in element.get("class", "").split()
        if _words_mark(name) == LAYOUT
    )
    content.main = _main_block(content)
    return content


def _survey(root: etree._Element, skim: bool) -> _Survey:
    """The walk; with `skim`, furniture (but for an article in an article, which holds the
    text as often as not) is measured by its text and links, not walked into."""
    survey = _Survey()
    sizes, prose, marked_furniture, marked_layout = (
        survey.sizes,
        survey.prose,
        survey.furniture,
        survey.layout,
    )
    sectioned = mains = articles = 0  # open sectioning elements, <main>s, <article>s
    furniture = layout = 0  # open marked elements
    tag_lines: set[etree._Element] = set()  # blocks that held a tag link
    starts: list[int] = []  # per open element, where its prose blocks start; -1: skipped
    # lxml's own walk, not recursion: junk HTML nests deeper than Python's stack.
    walk = etree.iterwalk(root, events=("start", "end"), tag="*")
    for event, element in walk:
        tag = element.tag
        if event == "end":
            if (start := starts.pop()) < 0:
                continue
            sectioned -= tag in SECTIONING_TAGS
            mains -= tag == "main"
            articles -= tag == "article"
            if element in survey.teaser_parents:
                _drop_teasers(survey, element)
            in_furniture = element in marked_furniture
            in_layout = not in_furniture and element in marked_layout
            size = sizes[element] = _size(element, sizes, in_furniture or in_layout)
            if tag in PROSE_TAGS or (size.own and tag not in INLINE_TAGS):
                prose.append((element, _weight(furniture, layout)))
            furniture -= in_furniture
            layout -= in_layout
            if (
                element in tag_lines
                and size.chars <= TAG_LABEL_MAX_CHARS
                and not size.links
                and size.widest < PROSE_MIN_CHARS  # a sentence as short as a label
                and element is not root
            ):
                survey.dropped.add(element)
            if (
                size.link_chars >= TEASERS_MIN_LINK_CHARS
                and not in_furniture
                and _teaser_list(element, sizes)
            ):
                survey.teasers[element] = (start, len(prose))
                if (parent := element.getparent()) is not None:
                    survey.teaser_parents.add(parent)
            continue
        if element is not root and (
            tag in DROP_TAGS
            or element.get("role") in DROP_ROLES
            or (tag == "a" and _never_text_link(element))
        ):
            survey.dropped.add(element)
            parent = element.getparent()
            if tag == "a" and _rel(element, TAG_RELS) and parent is not None:
                tag_lines.add(parent)
            starts.append(-1)
            walk.skip_subtree()
            continue
        if tag == "pre":  # code: thousands of highlighting spans, all text
            chars = len("".join(element.itertext()).strip())
            # Code is never a byline or a footer: left beside the main block, it holds it back.
            widest = max(chars, AFTER_MAX_CHARS) if chars else 0
            sizes[element] = Size(chars, 0, 0, 0, widest, 0, 0, 0)
            prose.append((element, _weight(furniture, layout)))
            starts.append(-1)
            walk.skip_subtree()
            continue
        sectioned += tag in SECTIONING_TAGS
        mains += tag == "main"
        if element is not root:
            mark = _mark(element, sectioned > 0, mains > 0, articles > 0, survey.pictures)
            if mark == FURNITURE and skim and tag != "article":
                survey.furniture.add(element)
                sizes[element] = _outside_size(element)
                starts.append(-1)
                walk.skip_subtree()
                sectioned -= tag in SECTIONING_TAGS
                mains -= tag == "main"
                continue
            if mark == FURNITURE:
                survey.furniture.add(element)
                furniture += 1
            elif mark == LAYOUT:
                survey.layout.add(element)
                layout += 1
        articles += tag == "article"
        if tag == "main" or element.get("role") == "main":
            survey.landmarks.append(element)
        elif tag == "article":
            survey.articles.append(element)
        elif tag == "a" and (element.get("accesskey") or _rel(element, NAV_RELS)):
            survey.nav_links.append(element)
        starts.append(len(prose))
    survey.dropped.update(_nav_lines(survey, root))
    return survey


def _weight(furniture: int, layout: int) -> float:
    """How much the prose of a block counts towards the best block, inside `furniture` and
    `layout` marked elements."""
    return FURNITURE_WEIGHT if furniture else LAYOUT_WEIGHT if layout else 1.0


def _outside_size(element: etree._Element) -> Size:
    """Size of a block not walked into: its text (code's left out) and links, one mark."""
    chars = sum(len(t.strip()) for t in element.itertext())
    for code in element.iter("script", "style", "template"):
        chars -= len((code.text or "").strip())
    link_chars = links = 0
    for link in element.iter("a"):
        links += 1
        link_chars += sum(len(t.strip()) for t in link.itertext())
    return new_tuple(Size, (chars, min(link_chars, chars), links, 1, 0, 0, 0, int(chars > 0)))


def _never_text_link(link: etree._Element) -> bool:
    """A permalink, tag link or skip link; the survey drops other never-text elements by tag
    or role."""
    if not len(link) and (link.text or "").strip() in PERMALINK_MARKS:
        return True
    if _rel(link, TAG_RELS):
        return True  # "Tags: kilns, glazes"
    within_page = link.get("href", "").startswith("#")
    return within_page and bool(SKIP_LINK.match("".join(link.itertext())))


def _rel(link: etree._Element, kinds: frozenset[str]) -> bool:
    return bool((rel := link.get("rel")) and not kinds.isdisjoint(rel.lower().split()))


def _mark(
    element: etree._Element,
    sectioned: bool,
    in_main: bool,
    in_article: bool,
    pictures: dict[etree._Element, list[etree._Element]],
) -> int:
    """FURNITURE, LAYOUT or NONE: hidden, a page-level header, footer or aside, an article in
    an article, a comment form, a photo caption, or by class and id words. `pictures` holds,
    per parent, the children that are pictures (`_pictures`), as the survey has found them."""
    tag, get = element.tag, element.get
    if get("role") != "tabpanel":  # a hidden tab is content the reader opens with one click
        if get("hidden") is not None or get("aria-hidden") == "true":
            return FURNITURE
        if (style := get("style")) and HIDDEN_STYLE.search(style):
            return FURNITURE
    if tag == "footer" or tag == "noscript" or (tag == "aside" and not sectioned):
        return FURNITURE
    if tag == "article" and in_article:
        return FURNITURE  # in HTML's words, related to the outer one: a comment, another post
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
        if not _slug_of_heading(ids, element) or (by_id == COMMENTS and _holds_comments(element)):
            mark = by_id
    if tag == "figcaption":
        mark = max(mark, CAPTION)
    if mark == CAPTION:
        return FURNITURE if _photo_caption(element, pictures) else NONE
    return FURNITURE if mark == COMMENTS else mark


@lru_cache(maxsize=4096)
def _words_mark(value: str, is_class: bool = True) -> int:
    """The strongest mark the words of a class or id value make: "site-footer" is LAYOUT."""
    if is_class:
        value = " ".join(name for name in value.split() if not name.startswith(TAXONOMY_CLASSES))
    elif value in APP_ROOT_IDS:
        return NONE
    words = {word.lower() for word in WORD.findall(value)}
    if words & COMMENT_WORDS:
        return COMMENTS
    squashed = value.lower().replace("-", "").replace("_", "") if is_class else ""
    # `in` for each compound: faster in CPython than one regex of them all.
    parts = {part for part in COMPOUNDS if part in squashed} if squashed else EMPTY
    if words & FURNITURE_WORDS or parts & FURNITURE_PARTS:
        return FURNITURE
    if any(word.endswith(CAPTION_WORDS) for word in words):
        return CAPTION
    if words & LAYOUT_WORDS or parts & LAYOUT_PARTS:
        return LAYOUT
    return LAYOUT if not is_class and "header" in words else NONE  # id="header": the banner


def _slug_of_heading(ids: str, element: etree._Element) -> bool:
    """Whether the block opens with a heading that has every word of its id."""
    for child in element:
        if child.tag in HEADING_TAGS:
            heading = "".join(child.itertext()).lower()
            return set(SLUG_WORD.findall(ids.lower())) <= set(SLUG_WORD.findall(heading))
        if child.text or len(child):  # empty ones are link targets: <span id="label">
            return False
    return False


def _holds_comments(element: etree._Element) -> bool:
    return bool(element.xpath("boolean(.//form | .//*[contains(@class, 'comment')])"))


def _photo_caption(
    caption: etree._Element, pictures: dict[etree._Element, list[etree._Element]]
) -> bool:
    """A caption beside a picture, unless it has a permalink: documentation numbers and links
    its figures as it does its headings."""
    if (parent := caption.getparent()) is None:
        return False
    # Once per parent: a page may have thousands of credit lines side by side.
    if (beside := pictures.get(parent)) is None:
        beside = pictures[parent] = _pictures(parent)
    if all(picture is caption for picture in beside):
        return False
    return not permalinked(caption)


def _pictures(parent: etree._Element) -> list[etree._Element]:
    """Its children that are an image, or hold one with next to no text of their own
    (<a><img></a>, a lightbox with its count of photos)."""
    return [
        child
        for child in parent
        if next(child.iter(*IMAGE_TAGS), None) is not None
        and len("".join(child.itertext()).strip()) <= IMAGE_LABEL_MAX_CHARS
    ]


def permalinked(element: etree._Element) -> bool:
    """Whether it holds a permalink ("¶"), as documentation's headings and figures do."""
    return any((a.text or "").strip() in PERMALINK_MARKS for a in element.iter("a"))


def _worn(classes: str, worn: frozenset[str]) -> bool:
    """Whether every class that makes a layout mark is one the content wears, or a variant of
    one that adds no layout word: "elementor-widget-heading" beside "elementor-widget"."""
    marking = [name for name in classes.split() if _words_mark(name) == LAYOUT]
    return bool(marking) and all(
        name in worn
        or any(
            name.startswith(f"{wrapper}-") and _words_mark(name[len(wrapper) + 1 :]) == NONE
            for wrapper in worn
        )
        for name in marking
    )


def _size(element: etree._Element, sizes: dict[etree._Element, Size], marked: bool) -> Size:
    """Size of an element from its children's; dropped children count only by their tail."""
    tag, text = element.tag, element.text
    own = len(text.strip()) if text else 0  # text in no child element
    chars = link_chars = links = widest = inline = nested = 0
    marks = int(marked)
    for child in element:  # written out: this runs once for every element of every page
        if tail := child.tail:
            own += len(tail.strip())
        if (size := sizes.get(child)) is not None:
            chars += size[0]
            link_chars += size[1]
            links += size[2]
            marks += size[3]
            if size[4] > widest:
                widest = size[4]
            if size[0]:
                if (child_tag := child.tag) in FLOW_TAGS:
                    inline += size[6]
                elif child_tag not in INLINE_TAGS:
                    nested = 1
    chars += own
    if tag == "a":
        return new_tuple(Size, (chars, chars, links + 1, marks, widest, 0, 0, nested))
    flow = own + inline
    if (prose := prose_chars(tag, chars - link_chars, flow)) > widest:
        widest = prose
    own_prose = flow if flow >= PROSE_MIN_CHARS else 0
    return new_tuple(Size, (chars, link_chars, links, marks, widest, own_prose, flow, nested))


def prose_chars(tag: str, text: int, flow: int) -> int:
    """The prose of a block as the widest prose block counts it: all the `text` outside links
    of a paragraph, list item or cell; the `flow` of another block (its own text and that of
    its inline children), where that is prose ("post-body" divs of text and <br>s, or of
    spans); none of an inline element's."""
    if tag in PROSE_TAGS:
        return text
    if flow < PROSE_MIN_CHARS or tag in INLINE_TAGS:
        return 0
    return flow


def _teaser_list(element: etree._Element, sizes: dict[etree._Element, Size]) -> bool:
    """Whether most of its text is in teasers, at least three: blocks that open with a link to a
    story by its headline, with a short blurb or none after it."""
    if element.tag in INLINE_TAGS or element.tag in PROSE_TAGS:
        return False
    teasers = covered = chars = 0
    for child in element:
        if (size := sizes.get(child)) is None:
            continue
        chars += size.chars
        if (
            size.links
            and size.link_chars >= TEASER_HEADLINE_MIN_CHARS
            and size.link_chars >= TEASER_LINK_SHARE * size.chars
            and size.chars <= TEASER_MAX_CHARS
            and child.tag not in INLINE_TAGS
            and child.tag != "p"  # a sentence that opens with a link
            and _opens_with_headline(child)
        ):
            teasers += 1
            covered += size.chars
    return teasers >= TEASERS_MIN and covered >= TEASERS_SHARE * chars


def _in_words(link: etree._Element) -> bool:
    """Whether a link's text is words, not a name in code or a URL."""
    text = "".join(link.itertext()).strip()
    return " " in text or not text.isascii()


def _opens_with_headline(block: etree._Element) -> bool:
    """Whether a link to a headline comes first, after at most a kicker ("AUTO NEWS",
    "12:02 PM") and links with no text (an image's)."""
    chars = 0
    for event, element in etree.iterwalk(block, events=("start", "end")):
        if event == "start":
            if element.tag == "a" and "".join(element.itertext()).strip():
                return _in_words(element)
            chars += len(element.text.strip()) if element.text else 0
        elif element is not block and element.tail:
            chars += len(element.tail.strip())
        if chars > KICKER_MAX_CHARS:
            return False
    return False


def _drop_teasers(survey: _Survey, parent: etree._Element) -> None:
    """Lists of teasers among `parent`'s children are furniture, and their prose counts as
    furniture's, unless a paragraph stands beside them: a digest of stories, each a link
    and a sentence, is a post's text."""
    lists = [child for child in parent if child in survey.teasers]
    if not lists:
        return
    sizes = survey.sizes
    for child in parent:
        if child not in survey.teasers and (size := sizes.get(child)) is not None:
            prose = size.chars - size.link_chars if child.tag in PROSE_TAGS else size.own
            if prose >= TEASERS_BESIDE_PROSE_CHARS:
                return
    for child in lists:
        start, end = survey.teasers[child]
        survey.furniture.add(child)
        sizes[child] = sizes[child]._replace(marks=sizes[child].marks + 1)
        survey.prose[start:end] = [(b, w * FURNITURE_WEIGHT) for b, w in survey.prose[start:end]]


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


def _weighted_prose(survey: _Survey) -> Iterator[tuple[etree._Element, float]]:
    """The prose blocks and their prose, by its weight, as the best block counts them: a
    paragraph's text outside links, unless it holds blocks of text (a list item of
    paragraphs: a comment), and the own text of any other block, where that is prose."""
    sizes = survey.sizes
    for block, weight in survey.prose:
        size = sizes[block]
        whole = block.tag in PROSE_TAGS and not size.nested
        prose = size.chars - size.link_chars if whole else size.own
        if prose >= PROSE_MIN_CHARS:
            yield block, prose * weight


def _best(survey: _Survey) -> etree._Element | None:
    """The element with most prose in its child blocks (grandchildren count half)."""
    scores: dict[etree._Element, float] = {}
    for block, prose in _weighted_prose(survey):
        if (parent := block.getparent()) is not None:
            scores[parent] = scores.get(parent, 0) + prose
            if (grandparent := parent.getparent()) is not None:
                scores[grandparent] = scores.get(grandparent, 0) + prose / 2
    return max(scores, key=scores.__getitem__) if scores else None


def _landmark(
    survey: _Survey, body: etree._Element, best: etree._Element | None
) -> etree._Element | None:
    """The innermost landmark or article that holds the best block (a post's <article> in
    the <main> that also holds its comments and related posts), else the first landmark or
    only article that holds a fair share of the page's text: not an empty one, a hero banner
    while the text is elsewhere, nor furniture (a hidden <main>). Where all the prose is in
    furniture (a help pop-up), the first with any text. Never one that is no text (a line of
    links to the neighbours)."""
    dropped, furniture, sizes = survey.dropped, survey.furniture, survey.sizes
    candidates = [
        element
        for element in survey.landmarks + (survey.articles if len(survey.articles) == 1 else [])
        if element not in dropped
    ]
    if best is not None:
        chain = [best, *best.iterancestors()]
        holders = {*survey.landmarks, *survey.articles} - furniture - dropped
        if (holder := next((e for e in chain if e in holders), None)) is not None:
            return holder
        around = set(chain)
        if around.isdisjoint(furniture):
            page = sizes[body]
            least = max(1, LANDMARK_MIN_SHARE * (page.chars - page.link_chars))
            return next(
                (
                    c
                    for c in candidates
                    if c not in furniture and sizes[c].chars - sizes[c].link_chars >= least
                ),
                None,
            )
    return next((c for c in candidates if sizes[c].chars), None)


def _main_block(content: Content) -> etree._Element:
    """From the root down into the wrapper that holds most of the text outside links and
    furniture, as long as it leaves no prose behind; never into a list or a table."""
    survey = content.survey
    measures, walked = _measure(content)

    def inner(element: etree._Element) -> dict[etree._Element, Measure]:
        if element in walked:
            return {child: measures[child] for child in element if child in measures}
        # Nothing inside is marked: sizes will do.
        sizes = survey.sizes
        return {
            child: Measure(size.chars - size.link_chars, size.widest, size.flow)
            for child in element
            if child.tag != "a" and child not in survey.dropped and (size := sizes.get(child))
        }

    # A root that is a link (<a role="main">) is not measured: no text outside links.
    main, text = content.root, measures.get(content.root, NO_MEASURE).text
    while text:
        children = inner(main)
        widest = max(children, key=lambda child: children[child].text, default=None)
        if widest is None or _one_block(widest) or children[widest].text < MAIN_SHARE * text:
            break
        order = list(children)
        at = order.index(widest)
        before = max((children[child].widest for child in order[:at]), default=0)
        after = max((children[child].widest for child in order[at + 1 :]), default=0)
        if before >= LEAD_MAX_CHARS or after >= AFTER_MAX_CHARS:
            break
        main, text = widest, children[widest].text
    return main


def _one_block(element: etree._Element) -> bool:
    """A list, table, paragraph or heading, or a wrapper of just one: a code block's."""
    while element.tag not in WHOLE_TAGS and element.tag not in HEADING_TAGS:
        if len(element) != 1 or (element.text or "").strip() or (element[0].tail or "").strip():
            return False
        element = element[0]
    return True


class Measure(NamedTuple):
    """Size of an element as the main block counts it: furniture left out."""

    text: int  # text outside links
    widest: int  # text of the longest prose block inside
    flow: int  # text in no child element but inline ones, links left out


NO_MEASURE = Measure(0, 0, 0)


def _measure(content: Content) -> tuple[dict[etree._Element, Measure], set[etree._Element]]:
    """Text outside links and furniture, and the longest prose block, of the elements that
    hold marked ones (walked), and of their children that hold none (from their size)."""
    survey = content.survey
    measures: dict[etree._Element, Measure] = {}
    walked: set[etree._Element] = set()
    stack: list[tuple[etree._Element, bool]] = [(content.root, False)]
    while stack:
        element, leaving = stack.pop()
        if leaving:
            own, text, widest, inline = len((element.text or "").strip()), 0, 0, 0
            for child in element:
                own += len((child.tail or "").strip())
                if (measure := measures.get(child)) is not None:
                    text += measure.text
                    widest = max(widest, measure.widest)
                    if child.tag in FLOW_TAGS:
                        inline += measure.flow
            text += own
            widest = max(widest, prose_chars(element.tag, text, own + inline))
            measures[element] = Measure(text, widest, own + inline)
            continue
        if not isinstance(element.tag, str) or element.tag == "a":
            continue
        if element in survey.dropped or content.marked(element):
            continue
        size = survey.sizes[element]
        if not size.marks:
            measures[element] = Measure(size.chars - size.link_chars, size.widest, size.flow)
            continue
        walked.add(element)
        stack.append((element, True))
        stack.extend((child, False) for child in reversed(element))
    return measures, walked
