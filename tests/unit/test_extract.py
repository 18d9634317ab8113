from __future__ import annotations

import pytest

from tasks.extract import decode, extract

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
        "<article><header><h1>Raku</h1></header><section><p>Pull the pot out glowing.</p>"
        '<aside class="footnote"><p>1. Wear gloves.</p></aside></section>'
        "<footer>Posted in Firing</footer></article>"
    )

    assert text_of(body) == "Raku\n\nPull the pot out glowing.\n\n1. Wear gloves."


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


def test_junk_html_gives_sane_text() -> None:
    html = "<p>unclosed <b>bold <i>italic</p> tail </div></span><p>next<!-- note --> para"

    assert extract(html, URL).text == "unclosed bold italic\n\ntail\n\nnext para"
    assert extract("", URL) == extract("   ", URL)
    assert extract("", URL).text == ""
    assert extract("just words", URL).text == "just words"


def test_an_xml_declaration_or_a_nul_in_the_text_does_no_harm() -> None:
    html = "<?xml version='1.0' encoding='latin-1'?><html><body><p>café\x00 au lait</p></body>"

    assert extract(html, URL).text == "café\ufffd au lait"


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
