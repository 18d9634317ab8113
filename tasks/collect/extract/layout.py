"""Where the main text of a parsed page is: its furniture, its landmark and its main block.

General signals (HTML5 semantics, ARIA roles, class and id words, link and text density,
position), not rules for one site:
1. One walk over the body (survey.py) sets aside what is never text (scripts,
navigation, ARIA roles of furniture, permalinks, tag links, "Prev | Up | Home | Next" lines) and
marks what is furniture unless it turns out to hold the content: hidden elements, page-level
headers, footers and asides, comment forms, photo captions, lists of teasers with no paragraph
beside them, and class and id words of two strengths (furniture.py). Furniture is
measured from outside, and walked into only on a page with little prose elsewhere. 2. The best
block: the element with the most prose in its child blocks, prose in marked blocks counting for
less. It may be all the prose there is (a page wrapped whole in a `<header>`, or whose text is only
in `<noscript>`); it and the elements around it are content, whatever their marks say. 3. The page's
landmark (`<main>`, `role="main"`, or an `<article>`) bounds the text: the innermost that holds the
best block, else one that holds a fair share of the text; an empty one or a banner does not. Menus
inside a `<main>` may be its text, not in others. 4. The main block: from there, down into the
wrapper that holds most of the text, as long as it leaves no prose behind. What it leaves is a
title, byline and date before it, tags, teasers, info boxes and footers after it; the headings just
before it are its title.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from lxml import etree

from lmkiln.tasks.collect.extract.furniture import HEADING_TAGS, LAYOUT, words_mark, worn_by_content
from lmkiln.tasks.collect.extract.survey import (
    AFTER_MAX_CHARS,
    FLOW_TAGS,
    NO_TEXT,
    PROSE_MIN_CHARS,
    PROSE_TAGS,
    Survey,
    in_words,
    prose_chars,
    walk,
)

# The main block is a wrapper holding this share of its parent's text (outside links and
# furniture) that leaves behind no prose block this long before it (a title, byline and
# date), nor AFTER_MAX_CHARS after it. A sentence before it is its lead.
MAIN_SHARE = 0.7
LEAD_MAX_CHARS = 50
# A landmark without the best block bounds the text still if it holds this share of it: the
# prose elsewhere may be a pop-up's that no class or style marks.
LANDMARK_MIN_SHARE = 0.2
# Furniture is half of a news page's elements: the survey first measures it from outside,
# and walks into it only where the prose outside it comes to less than this (a page whose
# text is all in <noscript>, or mislabelled).
SKIM_MIN_PROSE_CHARS = 500
# Content structures the main block never goes inside: a definition list is one API entry.
WHOLE_TAGS = frozenset("p pre ul ol dl dd dt li blockquote figure details table".split())


@dataclass
class Content:
    """Where a page's text is, and what in it to leave out."""

    survey: Survey
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
            marking = self._marking[classes] = not worn_by_content(classes, self.worn)
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
        return size.is_headlines() and in_words(next(element.iter("a"), element))

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
    survey = walk(body, skim=True)
    best = _best(survey)
    if best is None or sum(prose for _, prose in _weighted_prose(survey)) < SKIM_MIN_PROSE_CHARS:
        survey = walk(body, skim=False)  # the text may be all in furniture: look inside
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
        if words_mark(name) == LAYOUT
    )
    content.main = _main_block(content)
    return content


def _weighted_prose(survey: Survey) -> Iterator[tuple[etree._Element, float]]:
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


def _best(survey: Survey) -> etree._Element | None:
    """The element with most prose in its child blocks (grandchildren count half)."""
    scores: dict[etree._Element, float] = {}
    for block, prose in _weighted_prose(survey):
        if (parent := block.getparent()) is not None:
            scores[parent] = scores.get(parent, 0) + prose
            if (grandparent := parent.getparent()) is not None:
                scores[grandparent] = scores.get(grandparent, 0) + prose / 2
    return max(scores, key=scores.__getitem__) if scores else None


def _landmark(
    survey: Survey, body: etree._Element, best: etree._Element | None
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
