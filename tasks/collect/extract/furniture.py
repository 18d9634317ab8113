"""What an element's own markup says of it, before its text is measured: whether it is never
text, and whether it is furniture.

Never text: code, embedded objects, navigation, ARIA roles of furniture, permalinks, tag
links and skip links. Furniture unless it turns out to hold the content: hidden elements,
page-level headers, footers and asides, an article in an article, comment forms, photo
captions, and blocks by class and id words of two strengths. Furniture words ("comments",
"related", "byline", "newsletter") mark a block wherever it is; layout words ("sidebar",
"widget", "share") also name wrappers of the real content ("has-sidebar",
"elementor-widget-container"), so they mark nothing the content itself wears on that page
(`worn_by_content`). survey.py walks a page with these.
"""

from __future__ import annotations

import re
from functools import lru_cache

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
PERMALINK_MARKS = frozenset("¶ § # 🔗 ⚓".split())  # "headerlink" anchors after headings
SKIP_LINK = re.compile(r"^\s*(skip|jump) to\b", re.IGNORECASE)
# Links to the page's neighbours ("Prev | Up | Home | Next"), as rel or accesskey say, and
# to its tags and categories.
NAV_RELS = frozenset("prev previous next up home index contents start first last".split())
TAG_RELS = frozenset("tag category".split())
NONE, LAYOUT, CAPTION, COMMENTS, FURNITURE = range(5)  # marks by words; the strongest wins
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# A header or aside belongs to the page when not inside an article or section (the HTML-AAM
# mapping), a header not inside <main> either: an article's own header holds its title, a
# section's aside a footnote.
SECTIONING_TAGS = frozenset("article section".split())
# Containers that class and id words may mark; inline elements and headings keep their text.
CONTAINER_TAGS = frozenset(
    "div section aside ul ol li dl table form header footer p span figure figcaption".split()
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
WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # "cookieBanner" -> cookie, Banner
SLUG_WORD = re.compile(r"[^\W\d_]+")
HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
IMAGE_TAGS = ("img", "picture", "video")
IMAGE_LABEL_MAX_CHARS = 10  # "6 photos", "Play" beside an image in its wrapper


def never_text_link(link: etree._Element) -> bool:
    """A permalink, tag link or skip link; the survey drops other never-text elements by tag
    or role."""
    if not len(link) and (link.text or "").strip() in PERMALINK_MARKS:
        return True
    if has_rel(link, TAG_RELS):
        return True  # "Tags: kilns, glazes"
    within_page = link.get("href", "").startswith("#")
    return within_page and bool(SKIP_LINK.match("".join(link.itertext())))


def has_rel(link: etree._Element, kinds: frozenset[str]) -> bool:
    return bool((rel := link.get("rel")) and not kinds.isdisjoint(rel.lower().split()))


def mark_of(
    element: etree._Element,
    sectioned: bool,
    in_main: bool,
    in_article: bool,
    pictures: dict[etree._Element, list[etree._Element]],
) -> int:
    """FURNITURE, LAYOUT or NONE: hidden, a page-level header, footer or aside, an article in
    an article, a comment form, a photo caption, or by class and id words. `pictures` is the
    survey's record of each parent's pictures (`_pictures`), found once per parent."""
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
    mark = words_mark(classes) if (classes := get("class")) else NONE
    if (ids := get("id")) and (by_id := words_mark(ids, is_class=False)) > mark:
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
def words_mark(value: str, is_class: bool = True) -> int:
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


def worn_by_content(classes: str, worn: frozenset[str]) -> bool:
    """Whether every class that makes a layout mark is one the content wears, or a variant of
    one that adds no layout word: "elementor-widget-heading" beside "elementor-widget"."""
    marking = [name for name in classes.split() if words_mark(name) == LAYOUT]
    return bool(marking) and all(
        name in worn
        or any(
            name.startswith(f"{wrapper}-") and words_mark(name[len(wrapper) + 1 :]) == NONE
            for wrapper in worn
        )
        for name in marking
    )
