"""One walk over a page's body (`walk`): the size of every element kept, its prose blocks and
how much each counts, its landmarks, and what is furniture or never text.

What an element's own markup says comes from furniture.py; the walk adds what only
the elements around say: a line of tags ("Tags: kilns, glazes") or of links to the
neighbouring pages ("Prev | Up | Home | Next") is never text, and a list of teasers (a link
to a headline and a blurb, again and again) with no paragraph beside it is furniture.
Furniture is measured from outside, and walked into only on a page with little prose
elsewhere. layout.py finds the text from the survey.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from lxml import etree

from lmkiln.tasks.collect.extract.furniture import (
    DROP_ROLES,
    DROP_TAGS,
    FURNITURE,
    LAYOUT,
    NAV_RELS,
    SECTIONING_TAGS,
    TAG_RELS,
    has_rel,
    mark_of,
    never_text_link,
)

TAG_LABEL_MAX_CHARS = 30  # a block left with no more once its tag links are gone: "Tags:"
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
# The longest prose block the main block (layout.py) leaves behind it: a footer
# line, a teaser's blurb; code counts as longer.
AFTER_MAX_CHARS = 80
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
class Survey:
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


def walk(root: etree._Element, skim: bool) -> Survey:
    """The walk; with `skim`, furniture (but for an article in an article, which holds the
    text as often as not) is measured by its text and links, not walked into."""
    survey = Survey()
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
    events = etree.iterwalk(root, events=("start", "end"), tag="*")
    for event, element in events:
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
            or (tag == "a" and never_text_link(element))
        ):
            survey.dropped.add(element)
            parent = element.getparent()
            if tag == "a" and has_rel(element, TAG_RELS) and parent is not None:
                tag_lines.add(parent)
            starts.append(-1)
            events.skip_subtree()
            continue
        if tag == "pre":  # code: thousands of highlighting spans, all text
            chars = len("".join(element.itertext()).strip())
            # Code is never a byline or a footer: left beside the main block, it holds it back.
            widest = max(chars, AFTER_MAX_CHARS) if chars else 0
            sizes[element] = Size(chars, 0, 0, 0, widest, 0, 0, 0)
            prose.append((element, _weight(furniture, layout)))
            starts.append(-1)
            events.skip_subtree()
            continue
        sectioned += tag in SECTIONING_TAGS
        mains += tag == "main"
        if element is not root:
            mark = mark_of(element, sectioned > 0, mains > 0, articles > 0, survey.pictures)
            if mark == FURNITURE and skim and tag != "article":
                survey.furniture.add(element)
                sizes[element] = _outside_size(element)
                starts.append(-1)
                events.skip_subtree()
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
        elif tag == "a" and (element.get("accesskey") or has_rel(element, NAV_RELS)):
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


def prose_chars(tag: object, text: int, flow: int) -> int:
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


def in_words(link: etree._Element) -> bool:
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
                return in_words(element)
            chars += len(element.text.strip()) if element.text else 0
        elif element is not block and element.tail:
            chars += len(element.tail.strip())
        if chars > KICKER_MAX_CHARS:
            return False
    return False


def _drop_teasers(survey: Survey, parent: etree._Element) -> None:
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


def _nav_lines(survey: Survey, root: etree._Element) -> set[etree._Element]:
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
