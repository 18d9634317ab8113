from __future__ import annotations

import time
from html import escape
from urllib.parse import urljoin

import pytest

from lmkiln.tasks.collect.extract.main_text import extract, title_and_links
from lmkiln.tasks.collect.extract.markup import decode
from lmkiln.tasks.collect.http import canonical_url

URL = "http://blog.test/glazes"

# An ordinary web page: no <main>, furniture marked only by class, id, role and link density.
BLOG = """<!doctype html><html><head><title>Glazes | Kiln Blog</title>
<script>var consent = true;</script></head><body>
<a class="screen-reader" href="#content">Skip to content</a>
<div id="cookie-notice">We use cookies to improve your experience. <button>Accept</button></div>
<div class="site-header"><a href="/">Kiln Blog</a>
  <ul class="menu"><li><a href="/about">About</a></li><li><a href="/shop">Shop</a></li></ul></div>
<div class="container has-sidebar">
  <div class="post" id="content">
    <h1>Mixing a glaze<a class="headerlink" href="#mixing">¶</a></h1>
    <div class="share-buttons"><a href="https://x.test/s">Share</a> <a href="https://y.test/s">Post</a></div>
    <p>A glaze is glass that melts onto clay. Weigh every ingredient, then sieve it twice.</p>
    <section id="cookies"><h2>Cookies and glazes</h2><p>Never use lead on a plate.</p></section>
  </div>
  <div class="sidebar"><h3>Recent posts</h3><p>Firing schedules for cone 6.</p></div>
</div>
<div><a href="/1">Home</a> | <a href="/2">Archive</a> | <a href="/3">Contact</a></div>
<div id="footer">Copyright 2024 Kiln Blog. All rights reserved.</div>
<div role="dialog" aria-label="Newsletter">Subscribe to our newsletter for weekly tips!</div>
</body></html>"""


def text_of(body: str) -> str:
    return extract(f"<html><body>{body}</body></html>", URL).text


def test_an_ordinary_page_keeps_the_post_and_drops_every_kind_of_furniture() -> None:
    page = extract(BLOG, URL)

    assert page.title == "Glazes | Kiln Blog"
    assert page.text == (
        "Mixing a glaze\n\n"
        "A glaze is glass that melts onto clay. Weigh every ingredient, then sieve it twice.\n\n"
        "Cookies and glazes\n\n"  # a section id that is a heading's slug is not a cookie banner
        "Never use lead on a plate."
    )
    # Links still come from the whole page: menus are how a crawler finds pages.
    assert "http://blog.test/about" in page.links and "http://blog.test/3" in page.links


HREFS = (
    "https://blog.test", "https://blog.test/a/../b", "http://Blog.test/A", "HTTP://BLOG.TEST/",
    "https://blog.test:8080/p", "https://user@blog.test/p", "https://blog.test/p#frag",
    "https://blog.test/p?b=2&a=1&utm_source=x", "https://blog.test/caf\u00e9", "http://[bad/",
    "/", "/x/../y", "/a//b", "/a/./b", "/.well-known/x", "/p;param", "/p?q=1", "/path with space",
    "#top", "#", "?q=1", "x/y", "../z", "//cdn.test/p", "mailto:a@b.test", "JavaScript:void(0)",
    "tel:123", "localhost:8080/x", "https://blog.test/tab\there", "ht\ttps://blog.test/t",
    "\x01https://blog.test/c0", "Https://blog.test/H", "http:blog.test", "/p?b=2&a=1#f",
    "https://blog.test?x=1", "/p?", "/p?utm_source=a", "/p#f?x", "https://blog.test/p?a=b c&d",
    "/p?a=%2F&b=\u00e9", "/p?q=1\t2",
)  # fmt: skip


@pytest.mark.parametrize(
    "base",
    ["http://blog.test/g", "https://Blog.test:443/a/b?x=1#f", "https://u@blog.test/", "", "a.html"],
)
def test_links_are_the_canonical_form_of_each_href_joined_to_the_pages_url(base: str) -> None:
    page = "".join(f'<a href="{escape(href)}">x</a>' for href in HREFS)
    expected: dict[str, None] = {}
    for href in HREFS:
        try:
            link = canonical_url(urljoin(base, href.strip()))
        except ValueError:
            continue
        if link.startswith(("http://", "https://")):
            expected.setdefault(link)

    assert extract(page, base).links == tuple(expected)


@pytest.mark.parametrize(
    "banner",
    [
        '<div class="cookie-consent">We use cookies. <a href="/p">Privacy</a></div>',
        '<div id="gdpr-banner"><p>We and our partners store data on your device.</p></div>',
        '<div role="dialog"><p>This site uses cookies to give you a better experience.</p></div>',
        '<div class="cookieBanner"><p>Cookies help us deliver our services.</p></div>',
    ],
)
def test_cookie_banners_are_dropped(banner: str) -> None:
    article = "<article><h1>Kilns</h1><p>A kiln is an oven for firing clay.</p></article>"

    assert text_of(banner + article) == "Kilns\n\nA kiln is an oven for firing clay."


@pytest.mark.parametrize(
    "sidebar",
    [
        "<aside><h3>Archive</h3><p>Posts from every month since the blog began.</p></aside>",
        '<div class="sidebar"><h3>About me</h3><p>I have fired kilns for thirty years.</p></div>',
        '<div role="complementary"><p>Popular: a guide to raku firing for beginners.</p></div>',
        '<div id="secondary" class="widget-area"><p>Tag cloud: clay, glaze, kiln.</p></div>',
    ],
)
def test_sidebars_are_dropped_without_a_main_landmark(sidebar: str) -> None:
    prose = "A kiln is an oven for firing clay. It reaches 1300 C in about eight hours."
    content = f'<div class="content"><h1>Kilns</h1><p>{prose}</p></div>'

    assert text_of(content + sidebar) == f"Kilns\n\n{prose}"


def test_a_layout_wrapper_named_after_a_sidebar_is_not_dropped() -> None:
    body = (
        '<div class="wrap with-sidebar"><div class="nav-content">'
        "<h1>Kilns</h1><p>A kiln is an oven for firing clay at high temperature.</p>"
        '</div><div class="sidebar"><p>Other posts</p></div></div>'
    )

    assert text_of(body) == "Kilns\n\nA kiln is an oven for firing clay at high temperature."


def test_an_articles_own_header_and_a_sections_aside_are_content() -> None:
    body = (
        "<header><h1>Kiln Blog</h1></header>"
        "<article><header><h1>Raku</h1><p>A firing where the pot comes out of the kiln red hot."
        "</p></header><section><p>Pull the pot out glowing.</p>"
        '<aside class="footnote"><p>1. Wear gloves.</p></aside></section>'
        "<footer>Posted in Firing</footer></article>"
    )

    assert text_of(body) == (
        "Raku\n\nA firing where the pot comes out of the kiln red hot.\n\n"
        "Pull the pot out glowing.\n\n1. Wear gloves."
    )


def test_a_table_keeps_one_line_per_row_even_with_paragraphs_in_cells() -> None:
    body = (
        "<main><table><thead><tr><th><p>Cone</p></th><th><p>Temperature</p></th></tr></thead>"
        "<tbody><tr><td><p>06</p></td><td><p>999</p><p>C</p></td></tr>"
        "<tr><td>6</td><td>1222 C</td></tr></tbody></table></main>"
    )

    assert text_of(body) == "Cone | Temperature\n06 | 999 C\n6 | 1222 C"


def test_code_keeps_its_layout_and_inline_code_stays_in_the_sentence() -> None:
    body = (
        "<main><p>Call <code>fire()</code> once.</p>"
        '<div class="highlight"><pre><span class="k">def</span> fire(kiln):\n'
        '    <span class="n">kiln</span>.heat()<br>    return kiln</pre></div></main>'
    )

    assert text_of(body) == (
        "Call fire() once.\n\ndef fire(kiln):\n    kiln.heat()\n    return kiln"
    )


def test_lists_are_bulleted_numbered_and_nested_items_indented() -> None:
    body = (
        "<main><p>Steps:</p><ol><li><p>Weigh</p></li><li>Mix<ul><li>with water</li>"
        "<li>slowly</li></ul></li><li>Sieve</li></ol><ul><li>Done</li></ul></main>"
    )

    assert text_of(body) == (
        "Steps:\n\n1. Weigh\n2. Mix\n  - with water\n  - slowly\n3. Sieve\n\n- Done"
    )


def test_headings_lose_their_permalink_anchors() -> None:
    body = (
        '<main><h2>Glazes<a class="headerlink" href="#glazes" title="Permalink">¶</a></h2>'
        '<h3>Oxides <a href="#oxides">#</a></h3><p>Iron makes <a href="/iron">brown</a>.</p></main>'
    )

    assert text_of(body) == "Glazes\n\nOxides\n\nIron makes brown."


def test_hidden_elements_are_dropped_but_hidden_tabs_are_content() -> None:
    body = (
        '<main><p>Shown.</p><p hidden>Draft.</p><p aria-hidden="true">Icon.</p>'
        '<p style="display: none">Old price.</p>'
        '<div role="tabpanel"><p>Linux steps.</p></div>'
        '<div role="tabpanel" hidden="true"><p>Windows steps.</p></div></main>'
    )

    assert text_of(body) == "Shown.\n\nLinux steps.\n\nWindows steps."


def test_a_menu_without_markup_is_dropped_but_prose_with_links_is_kept() -> None:
    body = (
        '<div><a href="/">Home</a> | <a href="/b">Blog</a> | <a href="/c">Contact</a></div>'
        '<div><p>Read <a href="/a">the kiln guide</a>, <a href="/b">the glaze guide</a> and '
        '<a href="/c">the clay guide</a> before you fire anything at all.</p></div>'
    )

    assert text_of(body) == (
        "Read the kiln guide, the glaze guide and the clay guide before you fire anything at all."
    )


def test_deep_nesting_past_the_parsers_limit_keeps_all_the_text() -> None:
    depth = 5000  # libxml2 stops at 2048: the page goes through html.parser instead
    html = "<html><body>" + "<div>" * depth + "deep" + "</div>" * depth + "<p>after</p>"

    assert extract(html, URL).text == "deep\n\nafter"


def test_deep_nesting_after_an_xml_declaration_is_no_xml_to_the_fallback_parser() -> None:
    # html.parser's builder warns of XML on such a page; under -W error that would raise.
    html = "<?xml version='1.0' encoding='utf-8'?>" + "<div>" * 5000 + "deep" + "</div>" * 5000

    assert extract(html, URL).text == "deep"


def test_junk_html_gives_sane_text() -> None:
    html = "<p>unclosed <b>bold <i>italic</p> tail </div></span><p>next<!-- note --> para"

    assert extract(html, URL).text == "unclosed bold italic\n\ntail\n\nnext para"
    assert extract("", URL) == extract("   ", URL)
    assert extract("", URL).text == ""
    assert extract("just words", URL).text == "just words"


def test_an_xml_declaration_or_a_nul_in_the_text_does_no_harm() -> None:
    html = "<?xml version='1.0' encoding='latin-1'?><html><body><p>café\x00 au lait</p></body>"

    assert extract(html, URL).text == "café\ufffd au lait"


POST = (
    "A glaze is glass that melts onto clay. Weigh every ingredient, then sieve it twice so "
    "that no lump of oxide is left to speckle the pot.",
    "Dip the pot for a count of three. Too thin a coat fires dry and rough; too thick a coat "
    "runs down the sides and glues the pot to the shelf.",
    "Fire slowly through 573 C, where quartz changes size and cold pots crack, then hold the "
    "top temperature for ten minutes to heal pinholes.",
)
POST_HTML = "".join(f"<p>{paragraph}</p>" for paragraph in POST)
POST_TEXT = "\n\n".join(POST)  # the headline is the page's title, not its text
HEADED_TEXT = f"Mixing a glaze\n\n{POST_TEXT}"  # a heading in the text: the text's own


def wordpress(content: str = "", after: str = "", header: str = "", footer: str = "") -> str:
    """A post as a WordPress theme lays it out; `content` goes inside the post's text."""
    return (
        '<html><body><div id="page" class="site"><div class="site-branding">'
        '<p class="site-title"><a href="/">Kiln Blog</a></p>'
        '<p class="site-description">Notes from a potter who fires with wood and gas</p></div>'
        '<div id="content" class="site-content"><div id="primary" class="content-area">'
        '<main id="main" class="site-main"><article class="post type-post tag-cookies">'
        f'<header class="entry-header"><h1 class="entry-title">Mixing a glaze</h1>{header}'
        f'</header><div class="entry-content"><p>{POST[0]}</p>{content}<p>{POST[1]}</p>'
        f"<p>{POST[2]}</p></div>"
        f'<footer class="entry-footer">{footer}</footer></article>{after}</main></div>'
        '<aside id="secondary" class="widget-area"><section class="widget">'
        "<h2>About</h2><p>I have fired kilns for thirty years, mostly stoneware.</p></section>"
        "</aside></div></div></body></html>"
    )


COMMENTS = (
    "<h2>2 thoughts on Mixing a glaze</h2>"
    '<ol class="comment-list"><li class="comment"><article class="comment-body">'
    "<footer>Ann says:</footer><p>I sieve mine three times and it still crawls on the rim.</p>"
    '</article></li><li class="comment"><article class="comment-body">'
    "<p>Try a little bentonite in the bucket, it keeps the glaze in suspension.</p>"
    "</article></li></ol>"
)
COMMENT_FORM = (
    '<h3 id="reply-title">Leave a Reply</h3><form id="commentform">'
    "<p>Your email address will not be published. Required fields are marked.</p>"
    '<p><label>Comment</label><textarea name="comment"></textarea></p>'
    '<p><input type="submit" value="Post Comment"></p></form>'
)


@pytest.mark.parametrize(
    "comments",
    [
        f'<div id="comments" class="comments-area">{COMMENTS}'
        f'<div id="respond" class="comment-respond">{COMMENT_FORM}</div></div>',
        f'<section id="comments">{COMMENTS}</section>',  # an id alone, opening with a heading
        f'<div id="disqus_thread"><p>{COMMENTS}</p></div>',
        f'<div class="bloc-commentaires">{COMMENTS}</div>',  # in French
        COMMENT_FORM,  # a form where readers write, with nothing around it
    ],
)
def test_comment_sections_and_comment_forms_are_dropped(comments: str) -> None:
    assert extract(wordpress(after=comments), URL).text == POST_TEXT


def test_comment_sections_are_dropped_without_a_landmark_too() -> None:
    page = wordpress(after=f'<div class="comments-area">{COMMENTS}</div>')

    text = extract(page.replace("<main", "<div").replace("</main>", "</div>"), URL).text

    assert text == POST_TEXT


def test_comment_in_documentation_is_content() -> None:
    # A language reference's section on comments, and code that styles its comments.
    body = (
        '<main><section id="comments"><h3>2.1.3. Comments</h3>'
        "<p>A comment starts with a hash character that is not part of a string literal.</p>"
        '<div class="comment"><p>Comments are ignored by the syntax.</p></div>'
        '<p><code><span class="comment"># fire slowly</span></code> is one.</p></section></main>'
    )

    assert text_of(body) == (
        "2.1.3. Comments\n\n"
        "A comment starts with a hash character that is not part of a string literal.\n\n"
        "Comments are ignored by the syntax.\n\n# fire slowly is one."
    )


@pytest.mark.parametrize(
    "teasers",
    [
        '<div class="jp-relatedposts"><h3>Related</h3><p><a href="/raku">Raku firing</a> '
        "In our series on firing, the second part tells how to pull pots out glowing.</p></div>",
        '<section class="more-stories"><h2>More stories</h2><ul>'
        '<li><a href="/a">Cone 6 glazes</a></li><li><a href="/b">A wood kiln</a></li></ul>'
        "</section>",
        '<div class="recommended"><h3>You may also like</h3><p>A guide to raku firing for '
        "people who have never fired a pot before in their lives.</p></div>",
    ],
)
def test_related_and_more_teasers_are_dropped(teasers: str) -> None:
    assert extract(wordpress(after=teasers), URL).text == POST_TEXT
    assert extract(wordpress(content=teasers), URL).text == POST_TEXT


def test_teasers_after_the_post_are_dropped_by_position_alone() -> None:
    # No class says what they are; they come after the post's text, outside it.
    teasers = (
        "<div><h3>Read next</h3><div><h4><a href='/a'>Cone 6 glazes</a></h4>"
        "<p>Why a middle fire is kind to the planet and to your electricity bill.</p></div></div>"
    )

    assert extract(wordpress(after=teasers), URL).text == POST_TEXT


def test_lists_of_links_are_dropped_from_a_post_and_from_main_only_lists_of_headlines() -> None:
    headlines = (
        "<ul><li><a href='/a'>Why a wood kiln is worth the sleepless nights</a></li>"
        "<li><a href='/b'>Ten glazes every beginner should mix at least once</a></li>"
        "<li><a href='/c'>The potter who fires with nothing but the sun</a></li></ul>"
    )
    references = (
        "<ul><li><a href='/g#mix'><code>glaze.mix()</code></a></li>"
        "<li><a href='/g#sieve'><code>glaze.sieve()</code></a></li>"
        "<li><a href='/k#fire'><code>kiln.fire()</code></a></li></ul>"
    )

    for links in (headlines, references):
        # A post's <article> is no <main>: a list of links in it is a menu.
        assert extract(wordpress(content=links), URL).text == POST_TEXT
    # Documentation: <main> holds it, and its lists of links may be its text, even of names
    # as long as headlines.
    assert text_of(f"<main>{POST_HTML}{headlines}</main>") == POST_TEXT
    text = text_of(f"<main>{POST_HTML}{references}</main>")
    assert text == f"{POST_TEXT}\n\n- glaze.mix()\n- glaze.sieve()\n- kiln.fire()"
    names = ", ".join(
        f'<a href="#{name}">{name}</a>'
        for name in (
            "KilnFiringScheduleGetSegment",
            "KilnFiringScheduleSetSegment",
            "KilnPyrometerTemperature",
        )
    )
    text = text_of(f"<main>{POST_HTML}<p>See also: {names}</p></main>")
    assert text.endswith("KilnFiringScheduleSetSegment, KilnPyrometerTemperature")


STORIES = (
    ("Why a wood kiln is worth the sleepless nights", "Three days of stoking for one firing."),
    ("Ten glazes every beginner should mix once", "From a clear base to a tenmoku brown."),
    ("The potter who fires with nothing but the sun", "A solar kiln in the Spanish hills."),
    ("Clay prices rise for the third year running", "Suppliers blame the cost of energy."),
)


def test_a_list_of_teasers_is_dropped_even_with_more_prose_than_the_post() -> None:
    teasers = "".join(
        f'<li><span>NEWS</span> <a href="/{n}">{title}</a> <span>{blurb} {blurb}</span></li>'
        for n, (title, blurb) in enumerate(STORIES)
    )
    body = f'<div class="breaking"><ul>{teasers}</ul></div><div class="story">{POST_HTML}</div>'

    assert text_of(body) == POST_TEXT


def test_teasers_that_open_with_an_image_link_are_teasers() -> None:
    teasers = "".join(
        f'<div><a href="/{n}"><img src="{n}.jpg"></a><div><a href="/{n}">{title[:24]}</a></div>'
        f"<div>{blurb} {blurb}</div></div>"
        for n, (title, blurb) in enumerate(STORIES)
    )
    body = f'<div class="story">{POST_HTML}</div><div><h2>Most read</h2>{teasers}</div>'

    assert text_of(body) == POST_TEXT


def test_the_stories_before_and_after_are_dropped() -> None:
    (before, blurb_before), (after, blurb_after) = STORIES[:2]
    links = (
        f'<div class="next-prev"><div class="prev"><a href="/p">Previous story</a><h5>{before}'
        f'</h5><p>{blurb_before}</p></div><div class="next"><a href="/n">Next story</a>'
        f"<h5>{after}</h5><p>{blurb_after}</p></div></div>"
    )

    assert extract(wordpress(content=links), URL).text == POST_TEXT


def test_a_next_js_root_is_no_link_to_the_next_story() -> None:
    notice = (
        "<div><p>This site is best viewed with JavaScript on; some parts may not work.</p></div>"
    )
    body = f'<div id="__next"><div class="post">{POST_HTML}</div></div>{notice}'

    assert text_of(body) == POST_TEXT


def test_a_digest_of_stories_among_paragraphs_is_the_posts_text() -> None:
    digest = "".join(
        f'<li><strong><a href="/{n}">{title}</a>.</strong> {blurb}</li>'
        for n, (title, blurb) in enumerate(STORIES)
    )
    body = f"<main><p>{POST[0]}</p><ol>{digest}</ol><p>{POST[1]}</p></main>"

    assert text_of(body).splitlines()[2:6] == [
        f"{n}. {title}. {blurb}" for n, (title, blurb) in enumerate(STORIES, 1)
    ]


def test_articles_nested_in_the_posts_article_are_dropped_unless_they_hold_the_text() -> None:
    # HTML: an article inside an article is related to it, a comment or another post.
    others = "".join(
        f"<article><h2>{title}</h2><p>{blurb} {blurb} {blurb}</p></article>"
        for title, blurb in STORIES
    )

    assert text_of(f"<article>{POST_HTML}{others}</article>") == POST_TEXT
    assert text_of(f"<article><article>{POST_HTML}</article></article>") == POST_TEXT


def test_the_posts_article_in_main_bounds_the_text() -> None:
    # Below the post's article, <main> holds what the theme adds: teasers with blurbs, a call
    # to action, credits; no class says so.
    after = (
        f"<div><div><h3>{STORIES[0][0]}</h3><p>{POST[1]}</p></div></div>"
        "<div><p>Support our work: give to the kiln fund, so that the studio stays open.</p></div>"
        "<div><p>Photo credits: the kiln, by Jane Doe, CC BY-SA 4.0</p></div>"
    )

    assert text_of(
        f"<main><article><h1>Mixing a glaze</h1>{POST_HTML}</article>{after}</main>"
    ) == (HEADED_TEXT)


@pytest.mark.parametrize("name", ["p-dek", "article-standfirst", "entry-subtitle"])
def test_the_line_under_a_headline_is_dropped(name: str) -> None:
    dek = f'<p class="{name}">How to mix a glaze that stays on the pot and off the kiln shelf.</p>'

    assert text_of(f"<main><h1>Mixing a glaze</h1>{dek}{POST_HTML}</main>") == HEADED_TEXT


def test_bylines_dates_tags_and_categories_are_dropped() -> None:
    header = (
        '<div class="entry-meta"><span class="byline">By <a rel="author" href="/jane">Jane'
        '</a></span> <time datetime="2024-03-03">March 3, 2024</time></div>'
    )
    footer = (
        '<span class="cat-links">Posted in <a rel="category tag" href="/c">Glazes</a></span>'
        '<span class="tags-links">Tags: <a rel="tag" href="/t/r">raku</a>, '
        '<a rel="tag" href="/t/k">kiln</a></span>'
    )
    # And inside the post's text, with no class: a tag line and a byline.
    content = (
        '<p>Tags: <a rel="tag" href="/t/r">raku</a>, <a rel="tag" href="/t/k">kiln</a></p>'
        '<div class="post-meta">Posted by Jane on 3 March 2024 in Glazes</div>'
    )

    page = wordpress(content=content, header=header, footer=footer)

    assert extract(page, URL).text == POST_TEXT


def test_a_time_and_byline_outside_the_posts_text_are_dropped() -> None:
    body = (
        "<div><h1>Mixing a glaze</h1><p>By Jane Doe, our potter in residence</p>"
        f"<time>3 March 2024</time><div>{POST_HTML}</div></div>"
    )

    assert text_of(body) == POST_TEXT


def test_text_wrapped_in_inline_elements_is_prose() -> None:
    # A Blogger post's text in spans, in a widget; the theme's credit line is in a <div>.
    body = (
        '<div class="widget Blog"><div class="post-body"><div><span><span>'
        f"{POST[0]}</span></span></div><div><span>{POST[1]}</span></div></div></div>"
        '<div class="footer-wrapper"><div class="row"><div class="copyright">Crafted with love '
        "by a template shop in a small town by the sea</div></div></div>"
    )

    assert text_of(body) == f"{POST[0]}\n{POST[1]}"


@pytest.mark.parametrize("beside", ["", '<div class="share">Share</div>'])
def test_prose_in_spans_after_the_text_is_prose_beside_a_marked_block_too(beside: str) -> None:
    # A paragraph of spans after three paragraphs: text, whether or not furniture is in it.
    after = (
        "After the firing, let the kiln cool for a whole day",
        "before you open the door and take out the pots.",
    )
    spans = " ".join(f"<span>{part}</span>" for part in after)
    body = f"<div>{POST_HTML}</div><div>{spans}{beside}</div>"

    assert text_of(body) == f"{POST_TEXT}\n\n{' '.join(after)}"


def test_a_dateline_of_time_elements_is_no_prose_before_the_text() -> None:
    body = (
        "<div><h1>Mixing a glaze</h1><div><time>Published 10:48, Tuesday 19 November 2019"
        "</time> | <time>Updated 11:05, Tuesday 19 November 2019</time></div>"
        f"<div>{POST_HTML}</div></div>"
    )

    assert text_of(body) == POST_TEXT


def test_a_long_comment_thread_of_list_items_does_not_outweigh_a_short_post() -> None:
    # Each comment is a list item of paragraphs: it counts as a comment, not as one long line.
    reply = "<p>I sieve mine three times and it still crawls on the rim of every bowl I make.</p>"
    thread = "".join(f"<li><div>{reply * 3}</div></li>" for _ in range(12))
    post = "You can view our June open thread here, and ask us anything below."
    page = wordpress(after=f'<div class="comments-area"><ol>{thread}</ol></div>')
    page = page.replace(f"<p>{POST[1]}</p><p>{POST[2]}</p>", "").replace(POST[0], post)

    assert extract(page, URL).text == f"Mixing a glaze\n\n{post}"


@pytest.mark.parametrize(
    "block",
    [
        '<div class="print-header"><span>https://kiln.blog/2024/03/mixing-a-glaze-and-firing'
        "-it-slowly</span></div>",
        '<div class="d-none d-print-block">Printed from Kiln Blog, the notebook of a potter who '
        "fires with wood</div>",
        '<ul><li class="print"><a href="?print=1">Print</a></li></ul>',
    ],
)
def test_blocks_for_printing_only_or_hidden_from_print_are_dropped(block: str) -> None:
    assert text_of(f"<main>{block}<h1>Mixing a glaze</h1>{POST_HTML}</main>") == HEADED_TEXT


@pytest.mark.parametrize(
    "headline",
    [
        '<h1 class="entry-title">Mixing a glaze</h1>',
        "<header><h2>Mixing a glaze</h2></header>",
    ],
)
def test_the_headline_is_the_pages_title_and_not_its_text(headline: str) -> None:
    head = "<head><title>Mixing a glaze | Kiln Blog</title></head>"
    page = extract(f"<html>{head}<body><main>{headline}{POST_HTML}</main></body></html>", URL)

    assert (page.title, page.text) == ("Mixing a glaze | Kiln Blog", POST_TEXT)
    # A heading that is no headline stays: one of no title class, or not the page's title.
    assert extract(f"{head}<main><h1>Mixing a glaze</h1>{POST_HTML}</main>", URL).text == (
        HEADED_TEXT
    )
    other = f"<html><head><title>Kiln Blog</title></head><body><main>{headline}"
    assert extract(f"{other}{POST_HTML}</main></body></html>", URL).text == HEADED_TEXT


def test_an_icons_svg_title_is_not_the_pages_title() -> None:
    icon = '<a href="https://x.test/k"><svg><title>Facebook</title><path d="M0 0"/></svg></a>'
    body = f"<body><header>{icon}</header><main><h1>Mixing a glaze</h1>{POST_HTML}</main></body>"

    # No <title> in the head: the headline.
    assert extract(f"<html>{body}</html>", URL).title == "Mixing a glaze"
    assert title_and_links(f"<html>{body}</html>", URL).title == "Mixing a glaze"
    head = "<head><title>Mixing a glaze | Kiln Blog</title></head>"
    assert extract(f"<html>{head}{body}</html>", URL).title == "Mixing a glaze | Kiln Blog"


def test_documentation_keeps_a_section_heading_before_its_text() -> None:
    # Sphinx: the page's heading, with its permalink, before the one section of its text.
    body = (
        '<main><section id="glazes"><h1>Glazes<a class="headerlink" href="#glazes">¶</a></h1>'
        '<section id="mixing"><h2>Mixing<a class="headerlink" href="#mixing">¶</a></h2>'
        f"{POST_HTML}</section></section></main>"
    )

    assert text_of(f"<title>Glazes — Kiln docs</title>{body}") == f"Glazes\n\nMixing\n\n{POST_TEXT}"


@pytest.mark.parametrize(
    "figure",
    [
        '<figure><img src="k.jpg" alt=""><figcaption>The kiln at 1200 C. Photo: Jane Doe'
        "</figcaption></figure>",
        '<div class="wp-caption"><img src="k.jpg"><p class="wp-caption-text">The kiln at '
        "1200 C, seen through the spy hole</p></div>",
        '<div class="image"><img src="k.jpg"><span class="credit">Photo: Jane Doe / Kiln '
        "Blog</span></div>",
        # the image deeper in a sibling: a link to a lightbox, beside an icon
        '<figure><div class="media"><a href="#"><img src="k.jpg"></a><i></i></div>'
        '<figcaption class="media-caption">The kiln at 1200 C, seen through the spy hole'
        '<span class="credit">Credit: Jane Doe</span></figcaption></figure>',
        # MediaWiki's: a caption word at the end of a class's word
        '<div class="thumbinner"><a href="/k.jpg"><img src="k.jpg"></a><div class="thumbcaption">'
        "The kiln at 1200 C, seen through the spy hole</div></div>",
        # a gallery's captions sit apart from its images, beside its controls
        '<div class="asset_gallery"><ul><li><img src="k.jpg"></li></ul><div class="controls">'
        "<p>The kiln at 1200 C, seen through the spy hole on the second day</p>"
        "<p>Photo: Jane Doe</p><p>Back to gallery</p></div></div>",
    ],
)
def test_photo_captions_and_credits_are_dropped(figure: str) -> None:
    assert extract(wordpress(content=figure), URL).text == POST_TEXT


@pytest.mark.parametrize("name", ["accreditation", "captionlink"])
def test_a_caption_word_inside_another_word_marks_no_caption(name: str) -> None:
    badge = (
        f'<div class="badge"><img src="guild.png"><p class="{name}">Accredited by the Potters '
        "Guild of Wales since 1998.</p></div>"
    )

    assert "Potters Guild" in extract(wordpress(content=badge), URL).text


def test_thousands_of_credit_lines_side_by_side_take_linear_time() -> None:
    # Each looks for a picture beside it, and finds none.
    credits = '<div class="credit">Photo</div>' * 4000
    started = time.process_time()

    text = text_of(f"<div>{credits}</div>{POST_HTML}")

    # Quadratic in the siblings, this took 12 CPU-seconds; linear, a few hundredths.
    assert time.process_time() - started < 2
    assert POST_TEXT in text


def test_captions_of_code_tables_and_numbered_figures_are_content() -> None:
    body = (
        '<main><div class="code-block-caption"><span class="caption-text">fire.py</span></div>'
        "<pre>fire(kiln)</pre><table><caption>Cones</caption><tr><td>6</td></tr></table>"
        '<figure id="fig-1"><img src="k.png"><figcaption><p>Figure 1: the kiln'
        '<a class="headerlink" href="#fig-1">¶</a></p></figcaption></figure></main>'
    )

    assert text_of(body) == "fire.py\n\nfire(kiln)\n\nCones\n6\n\nFigure 1: the kiln"


INFO_BOX = (
    '<table class="infobox"><tr><th>Kiln</th><td>Gas, 1300 C, built 1998 by hand</td></tr></table>'
)


@pytest.mark.parametrize(
    "box",
    [
        INFO_BOX,
        '<div class="sidebar"><h3>About me</h3><p>I have fired kilns for thirty years.</p></div>',
    ],
)
def test_sidebars_and_info_boxes_in_the_posts_text_are_dropped(box: str) -> None:
    assert extract(wordpress(content=box), URL).text == POST_TEXT


@pytest.mark.parametrize(
    "box",
    [
        INFO_BOX,
        # an <aside> in <main> but outside the article: the page's, not the post's
        "<aside><p>Popular: a guide to raku firing for beginners and the curious.</p></aside>",
        # no word for it: a line beside the post (a paragraph of prose there would stay)
        '<div class="about-box"><p>Jane has fired kilns for thirty years.</p></div>',
    ],
)
def test_sidebars_and_info_boxes_beside_the_post_are_dropped(box: str) -> None:
    assert extract(wordpress(after=box), URL).text == POST_TEXT


@pytest.mark.parametrize(
    "block",
    [
        '<div class="sharedaddy sd-sharing-enabled"><h3>Share this:</h3><ul><li>'
        '<a href="https://x.test/s">Share on X</a></li></ul></div>',
        '<div class="newsletter-signup"><p>Get a glaze recipe every Friday in our newsletter.'
        '</p><form><input type="email"><button>Sign up</button></form></div>',
        '<div class="ad-slot"><p>Advertisement: the best kiln shelves money can buy today</p>'
        "</div>",
        '<div class="paywall"><p>Subscribe to keep reading this and every other story.</p></div>',
    ],
)
def test_share_newsletter_ad_and_paywall_blocks_are_dropped(block: str) -> None:
    assert extract(wordpress(content=block), URL).text == POST_TEXT


def test_a_page_header_and_footer_without_landmarks_are_dropped() -> None:
    # The post's title is a level up from its text, with its date and a menu.
    body = (
        '<div id="header"><div class="logo"><a href="/">Kiln Blog</a></div>'
        "<p>Notes from a potter who fires with wood and gas since 1998</p></div>"
        '<div id="main-column"><div class="head"><nav><h2>Menu</h2></nav>'
        "<h1>Mixing a glaze</h1><p>3 March 2024</p>"
        f'</div><div class="text"><div class="inner">{POST_HTML}</div></div></div>'
        '<div id="bottom"><p>All text and photos by Jane Doe, who lives in the hills.</p>'
        "<p>Hosted on a small server in the studio, powered by the sun.</p></div>"
    )

    assert text_of(body) == POST_TEXT


def test_a_foot_is_a_footer() -> None:
    # A page's text, then its foot: a notice long enough to hold the main block back.
    body = (
        f'<div id="page"><div class="main"><div class="text">{POST_HTML}</div></div>'
        '<div class="page-foot"><p>Best viewed in a browser that supports style sheets: please '
        "upgrade yours, or turn style sheets on where you can.</p></div></div>"
    )

    assert text_of(body) == POST_TEXT


@pytest.mark.parametrize(
    "line",
    [
        # DocBook, with access keys
        '<table class="navheader"><tr><td><a accesskey="p" href="1.html">Prev</a></td>'
        '<td><a accesskey="u" href="i.html">Up</a></td><td><a accesskey="h" href="/">Home</a>'
        '</td><td><a accesskey="n" href="3.html">Next</a></td></tr></table>',
        # Texinfo, with rel
        '<div class="nav-panel"><p>Next: <a href="3.html" rel="next">Firing</a>, Previous: '
        '<a href="1.html" rel="prev">Clay</a>, Up: <a href="i.html" rel="up">Top</a></p></div>',
    ],
)
def test_prev_up_home_next_lines_are_dropped_even_inside_the_landmark(line: str) -> None:
    body = f"<main>{line}<h1>Mixing a glaze</h1>{POST_HTML}{line}</main>"

    assert text_of(body) == HEADED_TEXT


BLOGGER = (
    '<div class="main section" id="main"><div class="widget Blog" id="Blog1">'
    '<div class="blog-posts"><div class="post-outer"><div class="post hentry">'
    '<h3 class="post-title">Mixing a glaze</h3><div class="post-header">Posted by Jane</div>'
    f'<div class="post-body entry-content">{"<br><br>".join(POST)}</div>'
    '<div class="post-footer">Labels: <a href="/l/glaze">glaze</a></div></div></div></div>'
    '<div class="comments" id="comments"><h4>No comments:</h4><div class="comment-form">'
    "<p>Note: only a member of this blog may post a comment, so sign in to write one here.</p>"
    "</div></div></div></div>"
    '<div class="sidebar section"><div class="widget HTML"><p>Blog archive, 2009 to now.</p>'
    "</div></div>"
    '<div class="footer"><p>Simple theme. Powered by Blogger, a service of a large company.</p>'
    "</div>"
)
ELEMENTOR = (
    '<div class="elementor-section"><div class="elementor-widget-wrap">'
    '<div class="elementor-element elementor-widget elementor-widget-heading">'
    '<div class="elementor-widget-container"><h2>Mixing a glaze</h2></div></div>'
    '<div class="elementor-element elementor-widget elementor-widget-text-editor">'
    f'<div class="elementor-widget-container"><p>{POST[0]}</p></div></div>'
    '<div class="elementor-element elementor-widget elementor-widget-share-buttons">'
    '<div class="elementor-widget-container"><a href="https://x.test/s">Share on X</a> '
    '<a href="https://y.test/s">Share by email</a></div></div>'
    '<div class="elementor-element elementor-widget elementor-widget-text-editor">'
    f'<div class="elementor-widget-container"><p>{POST[1]}</p><p>{POST[2]}</p></div></div>'
    "</div></div>"
    '<footer class="elementor-location-footer"><p>Kiln Blog is made in a shed by the sea.</p>'
    "</footer>"
)
SHARE_WRAPPER = (
    '<div class="content-wrap share-enabled"><h1>Mixing a glaze</h1>'
    f"{POST_HTML}</div>"
    '<div class="share-bar"><a href="https://x.test/s">Share</a></div>'
    "<div><p>Kiln Blog is made in a shed by the sea, with love and clay dust.</p></div>"
)


@pytest.mark.parametrize(
    ("body", "text"),
    [(BLOGGER, POST_TEXT), (ELEMENTOR, HEADED_TEXT), (SHARE_WRAPPER, HEADED_TEXT)],
)
def test_a_content_wrapper_whose_class_holds_a_furniture_word_is_kept(body: str, text: str) -> None:
    # Blogger's post title sits before the post's text: the headline; the others' in it.
    assert text_of(body).replace("\n\n", "\n") == text.replace("\n\n", "\n")


@pytest.mark.parametrize(
    "first",
    [
        "<main></main>",
        "<main><p>Welcome!</p></main>",
        '<article><a href="/x">Sign in</a></article>',
    ],
)
def test_an_empty_or_tiny_first_landmark_is_passed_over(first: str) -> None:
    body = f"{first}<div class='post'><h1>Mixing a glaze</h1>{POST_HTML}</div>"

    assert text_of(body) == HEADED_TEXT


def test_a_landmark_with_little_text_is_kept_when_the_other_prose_is_a_pop_ups() -> None:
    # The pop-up's id is no heading's slug: "popup" marks it.
    body = (
        '<div id="help-popup"><h2>Keyboard shortcuts</h2><p>Press S or / to search the '
        "book, and ? to show this help.</p></div>"
        '<main><h1><a href="#flags">Compiler flags</a></h1></main>'
    )

    assert text_of(body) == "Compiler flags"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        # A sentence as short as a "Tags:" label is no label, in an article or the body.
        (
            '<article><p>Fire the kiln slowly today.</p> <a rel="tag" href="/t">kilns</a>'
            "</article>",
            "Fire the kiln slowly today.",
        ),
        ('<p>Fire the kiln slowly today.</p> <a rel="tag" href="/t">kilns</a>', "Fire the kiln"),
        # A label in an article of its own: the text is beside it.
        (
            '<article><span>Filed under</span> <a rel="tag" href="/t">kilns</a></article>'
            "<p>A paragraph with enough words to be prose.</p>",
            "A paragraph with enough words to be prose.",
        ),
        # A <main> that is a line of links to the neighbours bounds no text.
        (
            '<main><p>Fire the kiln slowly today.</p><a rel="next" href="/2">Next: glazes</a> '
            '<a rel="prev" href="/0">Previous: clay</a> <a rel="up" href="/">Up: pottery</a>'
            "</main><div><p>A paragraph with enough words to be prose.</p></div>",
            "A paragraph with enough words to be prose.",
        ),
    ],
)
def test_a_short_page_around_tag_and_neighbour_links_keeps_its_text(body: str, text: str) -> None:
    assert text_of(body).startswith(text)


def test_a_hidden_main_is_not_the_text_of_a_page_with_visible_text() -> None:
    body = (
        "<main hidden><p>A draft kept hidden from the reader, long enough to be prose.</p>"
        "</main><div><p>The text the reader sees, long enough to be prose as well.</p></div>"
    )

    assert text_of(body) == "The text the reader sees, long enough to be prose as well."


def test_code_before_the_text_of_a_page_is_kept() -> None:
    # The description holds most of the text; the declaration above it is no byline.
    body = (
        "<main><h1>Type alias blksize_t</h1><pre>pub type blksize_t = u64;</pre>"
        f'<div class="docblock"><p>{POST[0]}</p><p>{POST[1]}</p></div></main>'
    )

    assert text_of(body) == (
        f"Type alias blksize_t\n\npub type blksize_t = u64;\n\n{POST[0]}\n\n{POST[1]}"
    )


def test_a_page_wrapped_whole_in_a_header_keeps_its_text() -> None:
    body = (
        '<header class="page"><h1>Mixing a glaze</h1><nav><a href="/">Home</a></nav>'
        f'<div class="text">{POST_HTML}</div></header>'
        "<div><p>Copyright 2024 Kiln Blog, all rights reserved.</p></div>"
    )

    assert text_of(body) == POST_TEXT


def test_text_only_in_noscript_is_kept_and_a_noscript_notice_is_not() -> None:
    body = (
        '<div id="app"></div><noscript><p>You need to enable JavaScript to run this app.</p>'
        f"</noscript><noscript><h1>Mixing a glaze</h1>{POST_HTML}"
        "</noscript>"
    )

    assert text_of(body) == HEADED_TEXT
    assert (
        "JavaScript"
        not in extract(wordpress(after="<noscript>Enable JavaScript</noscript>"), URL).text
    )


def test_soft_hyphens_go_accents_compose_and_ruby_keeps_its_base_text() -> None:
    body = (
        "<main><h1>Ke\u00adra\u00admik</h1><p>Cafe\u0301 au lait, cre\u0300me bru\u0302le\u0301e."
        "</p><p><ruby>\u6f22<rp>(</rp><rt>\u304b\u3093</rt><rp>)</rp>\u5b57<rt>\u3058</rt>"
        "</ruby>\u3092\u8aad\u3080\u3002</p></main>"
    )

    page = extract(f"<title>Ke\u00adra\u00admik</title>{body}", URL)

    assert page.title == "Keramik"
    assert page.text == (
        "Keramik\n\nCafé au lait, crème brûlée.\n\n\u6f22\u5b57\u3092\u8aad\u3080\u3002"
    )


UTF8 = "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        ("<p>café</p>".encode(), UTF8, "<p>café</p>"),
        ("<p>café</p>".encode("latin-1"), "text/html; charset=ISO-8859-1", "<p>café</p>"),
        # no header: the <meta charset> decides
        (
            "<meta charset='windows-1252'><p>“café”</p>".encode("cp1252"),
            "text/html",
            "<meta charset='windows-1252'><p>“café”</p>",
        ),
        # a page cut mid-character, or one stray byte, stays UTF-8 around the damage
        ("<p>café déjà ".encode() + "é".encode()[:1], UTF8, "<p>café déjà �"),
        ("<p>café ".encode() + b"\xff" + " déjà</p>".encode(), UTF8, "<p>café � déjà</p>"),
    ],
)
def test_decode(body: bytes, content_type: str, text: str) -> None:
    assert decode(body, content_type) == text
