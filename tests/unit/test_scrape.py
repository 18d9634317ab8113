from __future__ import annotations

import gzip
import threading
import time

import pytest

from lmkiln.tasks.collect.extract.main_text import extract
from lmkiln.tasks.collect.http import SourceUnavailable, canonical_url
from lmkiln.tasks.collect.tasks import resolved
from lmkiln.tasks.collect.web.crawl import crawl
from lmkiln.tasks.config.collect import WebSource
from lmkiln.tasks.core.records import Document
from tests.helpers.routes import HTML, html_page, serve_routes, unused_port

ARTICLE = """<!doctype html><html><head><title>Kilns</title>
<style>body { color: red }</style><script>var tracking = 1;</script></head>
<body>
<header><a href="/">Home</a> Site banner</header>
<nav><a href="/docs/a#top">Docs A</a> <a href="https://other.example/x">Elsewhere</a></nav>
<main>
  <h1>Firing a kiln</h1>
  <p>A kiln   heats <b>clay</b> slowly.</p>
  <ul><li>Load the shelves</li><li>Close the <em>lid</em></li></ul>
  <table><tr><th>Cone</th><th>Temperature</th></tr><tr><td>06</td><td>999 C</td></tr></table>
  <pre>def fire(kiln):
    kiln.heat()</pre>
  <!-- an editor's note -->
  <p>See <a href="docs/b.html#part">the B docs</a>.</p>
</main>
<aside>Related posts</aside>
<footer>Copyright notice</footer>
<noscript>Enable JavaScript</noscript>
</body></html>"""


def test_extract_keeps_the_main_text_as_lines_and_drops_page_furniture() -> None:
    page = extract(ARTICLE, "http://site.test/guide/index.html")

    assert page.title == "Kilns"
    lines = page.text.splitlines()
    assert lines[0] == "Firing a kiln"
    assert "A kiln heats clay slowly." in lines
    assert "- Load the shelves" in lines and "- Close the lid" in lines
    assert "Cone | Temperature" in lines and "06 | 999 C" in lines
    assert "def fire(kiln):\n    kiln.heat()" in page.text
    assert "\n\n\n" not in page.text
    for furniture in ("banner", "Docs A", "tracking", "color", "Related", "Copyright", "editor"):
        assert furniture not in page.text


def test_extract_links_are_absolute_without_fragments_menus_included() -> None:
    page = extract(ARTICLE, "http://site.test/guide/index.html")

    assert page.links == (
        "http://site.test/",
        "http://site.test/docs/a",
        "https://other.example/x",
        "http://site.test/guide/docs/b.html",
    )


def test_extract_without_main_uses_the_body_and_falls_back_to_h1_for_title() -> None:
    html = "<html><body><h1>Only heading</h1><div>one</div><div>two<br>three</div></body></html>"
    page = extract(html, "http://site.test/")

    assert page.title == "Only heading"
    assert page.text.splitlines() == ["Only heading", "", "one", "two", "three"]


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("http://site.test#top", "http://site.test/"),
        ("http://site.test/a?q=1#x", "http://site.test/a?q=1"),
        ("HTTP://Site.TEST:80/a", "http://site.test/a"),
        ("https://site.test:443/a", "https://site.test/a"),
        ("http://site.test:8080/a", "http://site.test:8080/a"),
        ("http://site.test/a?b=2&a=1", "http://site.test/a?a=1&b=2"),
        ("http://site.test/a?utm_source=x&id=3&fbclid=y&UTM_medium=z", "http://site.test/a?id=3"),
        ("http://[::1]:8000/a", "http://[::1]:8000/a"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical
    assert canonical_url(canonical) == canonical


def link_page(title: str, *hrefs: str) -> tuple[int, dict[str, str], str]:
    links = "".join(f'<li><a href="{href}">{href}</a></li>' for href in hrefs)
    return html_page(title, f"<main><h1>{title}</h1><p>Text of {title}.</p><ul>{links}</ul></main>")


SITE = {
    "/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\nDisallow: /private/\n"),
    "/": link_page(
        "home",
        "/docs/a",
        "/docs/a#again",
        "docs/a",
        "/docs/b",
        "/private/secret",
        "/blog/post",
        "/files/manual.pdf",
        "http://unreachable.invalid/page",
    ),
    "/docs/a": link_page("a", "/docs/a/deep", "/"),
    "/docs/b": link_page("b", "/docs/a"),
    "/docs/a/deep": link_page("deep", "/docs/a/deeper"),
    "/docs/a/deeper": link_page("deeper"),
    "/private/secret": link_page("secret"),
    "/blog/post": link_page("post"),
    "/files/manual.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4"),
}


def crawl_site(source: WebSource) -> tuple[list[Document], dict[str, int]]:
    crawled = crawl(source)
    return crawled.documents, crawled.counters


def site_source(base: str, **overrides: object) -> WebSource:
    return WebSource.model_validate(
        {
            "name": "site",
            "start_urls": [base + "/"],
            "retries": 0,
            "timeout_s": 5,
            "allow_private_addresses": True,  # the test site is on 127.0.0.1
            **overrides,
        }
    )


def test_crawl_is_breadth_first_within_depth_and_deduplicates_urls() -> None:
    log: list[str] = []
    with serve_routes(SITE, log) as base:
        docs, counters = crawl_site(site_source(base, max_depth=1))

    titles = [doc.title for doc in docs]
    assert titles == ["home", "a", "b", "post"]
    assert log.count("/docs/a") == 1
    assert log.count("/robots.txt") == 1
    assert "/docs/a/deep" not in log  # two hops away
    assert "/private/secret" not in log
    assert counters["robots_forbidden"] == 1
    assert counters["skipped_type"] == 1
    assert counters["pages_fetched"] == 4 and counters["http_200"] == 5
    assert counters["errors"] == 0  # the other host is out of scope, never asked
    assert counters["bytes"] > 0
    home = docs[0]
    assert home.kind == "web" and home.source == "site" and home.url == base + "/"
    assert home.meta["status"] == 200 and home.meta["depth"] == 0
    assert home.meta["content_type"].startswith("text/html")


def test_crawl_stops_at_max_pages() -> None:
    log: list[str] = []
    with serve_routes(SITE, log) as base:
        docs, _ = crawl_site(site_source(base, max_pages=2, max_depth=5))

    assert [doc.title for doc in docs] == ["home", "a"]
    assert [path for path in log if path not in ("/robots.txt", "/sitemap.xml")] == [
        "/",
        "/docs/a",
    ]


def test_crawl_follows_only_links_in_scope_and_not_excluded() -> None:
    log: list[str] = []
    with serve_routes(SITE, log) as base:
        source = site_source(base, scope=[base + "/docs/"], exclude=[r"/deeper$"], max_depth=5)
        docs, counters = crawl_site(source)

    assert sorted(doc.title for doc in docs) == ["a", "b", "deep", "home"]
    assert "/blog/post" not in log and "/docs/a/deeper" not in log
    # Each counted once: /blog/post, the robots-forbidden page, the pdf, the other host.
    assert counters["links_out_of_scope"] == 4
    assert counters["links_excluded"] == 1


def test_crawl_ignores_robots_only_when_told() -> None:
    with serve_routes(SITE) as base:
        docs, counters = crawl_site(site_source(base, respect_robots=False, max_depth=1))

    assert "secret" in [doc.title for doc in docs]
    assert counters["robots_forbidden"] == 0


def test_crawl_pauses_between_requests_to_the_same_site() -> None:
    with serve_routes(SITE) as base:
        started = time.monotonic()
        crawl(site_source(base, max_pages=3, delay_ms=200, sitemaps=False))
        elapsed_s = time.monotonic() - started

    assert elapsed_s >= 0.6  # robots.txt and three pages: three pauses


def test_crawl_retries_429_after_retry_after_and_succeeds() -> None:
    routes = {"/": [(429, {"Retry-After": "1"}, "slow down"), link_page("home")]}
    log: list[str] = []
    with serve_routes(routes, log) as base:
        started = time.monotonic()
        docs, counters = crawl_site(site_source(base, retries=2))
        elapsed_s = time.monotonic() - started

    assert [doc.title for doc in docs] == ["home"]
    assert log.count("/") == 2
    assert elapsed_s >= 0.9
    assert counters["http_200"] == 1  # the retry is inside the request: one final answer


def test_crawl_of_an_unreachable_site_raises_source_unavailable() -> None:
    url = f"http://127.0.0.1:{unused_port()}/start"
    source = WebSource(
        name="gone", start_urls=[url], retries=0, timeout_s=2, allow_private_addresses=True
    )

    with pytest.raises(SourceUnavailable, match=r"source 'gone'.*127\.0\.0\.1.*Connection") as err:
        crawl(source)
    assert err.value.status is None and err.value.retryable


def test_crawl_whose_start_page_is_missing_raises_a_permanent_source_unavailable() -> None:
    with serve_routes({"/": (200, HTML, "<p>home</p>")}) as base:
        source = site_source(base, start_urls=[base + "/missing"])
        with pytest.raises(SourceUnavailable, match="HTTP 404 is not retried") as err:
            crawl(source)
    assert err.value.status == 404 and not err.value.retryable


def test_a_source_s_aliases_point_its_demo_urls_at_a_server_before_the_crawl() -> None:
    with serve_routes(SITE) as base:
        source = WebSource(
            name="site",
            start_urls=["demo://site/docs/b"],
            max_depth=0,
            allow_private_addresses=True,
        )
        docs, _ = crawl_site(resolved(source, {"demo://site": base}))

    assert [(doc.title, doc.url) for doc in docs] == [("b", base + "/docs/b")]


def test_a_start_url_on_a_non_public_address_is_refused_before_any_request() -> None:
    # The cloud metadata address: the classic server-side request forgery target.
    source = WebSource(name="meta", start_urls=["http://169.254.169.254/latest/meta-data/"])
    with pytest.raises(ValueError, match="non-public address 169.254.169.254.*only for sites"):
        crawl(source)


def test_redirects_are_checked_hop_by_hop() -> None:
    site = {
        "/": html_page(
            "home", '<a href="/moved">m</a> <a href="/away">a</a> <a href="/loop">l</a>'
        ),
        "/moved": (301, {"Location": "/docs/a"}, ""),
        "/docs/a": html_page("a", "<p>arrived</p>"),
        "/away": (302, {"Location": "http://elsewhere.test/x"}, ""),
        "/loop": (302, {"Location": "/loop?again=1"}, ""),
    }
    log: list[str] = []
    with serve_routes(site, log=log) as base:
        docs, counters = crawl_site(site_source(base, max_redirects=3))

    assert [doc.title for doc in docs] == ["home", "a"]
    assert docs[1].url == base + "/docs/a"
    assert counters["redirects_refused"] == 1  # elsewhere.test is out of scope: never asked
    assert counters["too_many_redirects"] == 1  # /loop: the first answer and 3 follows
    assert log.count("/loop") + log.count("/loop?again=1") == 4
    assert counters["redirects"] == 1 + 1 + 4


def test_a_page_longer_than_max_page_bytes_is_cut_and_counted() -> None:
    body = "<p>" + "word " * 5000 + "</p>"
    with serve_routes({"/": html_page("long", body)}) as base:
        docs, counters = crawl_site(site_source(base, max_page_bytes=4096))

    assert counters["truncated_pages"] == 1
    assert counters["bytes"] == 4096
    assert 0 < len(docs[0].text) < 4096


def test_robots_wildcards_and_the_longest_rule_win() -> None:
    robots = "User-agent: *\nDisallow: /docs/\nAllow: /docs/b\nDisallow: /*.pdf$\n"
    site = SITE | {"/robots.txt": (200, {"Content-Type": "text/plain"}, robots)}
    log: list[str] = []
    with serve_routes(site, log=log) as base:
        docs, counters = crawl_site(site_source(base, max_depth=1))

    assert "/docs/b" in log  # the longer Allow beats the shorter Disallow
    assert "/docs/a" not in log and "/files/manual.pdf" not in log
    assert counters["robots_forbidden"] == 2  # /docs/a and the pdf


def test_only_configured_content_types_are_extracted() -> None:
    plain = (200, {"Content-Type": "text/plain; charset=utf-8"}, "plain words " * 20)
    site = {"/": link_page("home", "/notes.txt"), "/notes.txt": plain}
    with serve_routes(site) as base:
        html_only, skipped = crawl_site(site_source(base))
        both, _ = crawl_site(site_source(base, content_types=["text/html", "text/plain"]))

    assert [doc.url for doc in html_only] == [base + "/"] and skipped["skipped_type"] == 1
    assert [doc.url for doc in both] == [base + "/", base + "/notes.txt"]


def test_the_crawl_stops_past_max_bytes() -> None:
    with serve_routes(SITE) as base:
        docs, counters = crawl_site(site_source(base, max_depth=1, max_bytes=1))

    assert len(docs) == 1  # the first page passes the cap; nothing is fetched after it
    assert counters["stopped_at_max_bytes"] == 1


XML = {"Content-Type": "application/xml"}


def test_pages_of_one_depth_are_fetched_concurrently_up_to_the_cap_and_kept_in_order() -> None:
    lock = threading.Lock()
    in_flight = {"now": 0, "peak": 0}

    def slow(title: str, pause_s: float):
        def route(_path: str):
            with lock:
                in_flight["now"] += 1
                in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
            time.sleep(pause_s)
            with lock:
                in_flight["now"] -= 1
            return link_page(title)

        return route

    names = [f"p{n}" for n in range(8)]
    # Later pages answer sooner: the documents still come back in link order.
    site = {f"/{name}": slow(name, 0.05 * (8 - n)) for n, name in enumerate(names)}
    site["/"] = link_page("home", *(f"/{name}" for name in names))
    with serve_routes(site) as base:
        docs, counters = crawl_site(site_source(base, concurrency=3))

    assert [doc.title for doc in docs] == ["home", *names]
    assert in_flight["peak"] == 3
    assert counters["pages_fetched"] == 9


def test_sitemaps_from_robots_txt_add_in_scope_pages_at_depth_zero() -> None:
    index = """<?xml version="1.0" encoding="UTF-8"?>
    <sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc>{base}/maps/pages.xml.gz</loc></sitemap>
    </sitemapindex>"""
    urlset = """<?xml version="1.0" encoding="UTF-8"?>
    <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <url><loc>{base}/orphan</loc></url>
      <url><loc>{base}/docs/b</loc></url>
      <url><loc>{base}/private/secret</loc></url>
      <url><loc>http://elsewhere.test/page</loc></url>
    </urlset>"""
    holder: dict[str, str] = {}
    site = {
        "/": link_page("home", "/docs/b"),
        "/docs/b": link_page("b"),
        "/orphan": link_page("orphan"),
        "/private/secret": link_page("secret"),
        "/robots.txt": lambda _path: (
            200,
            {"Content-Type": "text/plain"},
            f"User-agent: *\nDisallow: /private/\nSitemap: {holder['base']}/maps/index.xml\n",
        ),
        "/maps/index.xml": lambda _path: (200, XML, index.format(base=holder["base"])),
        "/maps/pages.xml.gz": lambda _path: (
            200,
            {"Content-Type": "application/gzip"},
            gzip.compress(urlset.format(base=holder["base"]).encode()),
        ),
    }
    with serve_routes(site) as base:
        holder["base"] = base
        docs, counters = crawl_site(site_source(base, max_depth=0))

    # Depth 0: the start URL, then the sitemap's in-scope pages; /docs/b is not asked twice.
    assert [doc.title for doc in docs] == ["home", "orphan", "b"]
    assert counters["sitemaps"] == 2
    assert counters["sitemap_urls"] == 3  # orphan, b and the robots-forbidden one
    assert counters["robots_forbidden"] == 1


def test_sitemaps_are_not_read_when_turned_off() -> None:
    log: list[str] = []
    with serve_routes(SITE, log) as base:
        crawl_site(site_source(base, max_depth=0, sitemaps=False))

    assert "/sitemap.xml" not in log


def test_links_and_redirects_to_non_public_addresses_are_refused_and_counted(monkeypatch):
    # Fake DNS answers: the test site's 127.0.0.1 counts as public, "localhost" as the
    # loopback address it is. Everything else about the crawl is real.
    answers = {"127.0.0.1": None, "localhost": "127.0.0.1"}
    monkeypatch.setattr("lmkiln.tasks.collect.web.fetch.non_public_address", answers.__getitem__)
    inside: dict[str, str] = {}
    site = {
        "/": lambda _path: link_page("home", f"{inside['base']}/admin", "/hop"),
        "/hop": lambda _path: (302, {"Location": f"{inside['base']}/metadata"}, ""),
    }
    log: list[str] = []
    with serve_routes(site, log) as base:
        inside["base"] = base.replace("127.0.0.1", "localhost")
        scope = [base + "/", inside["base"] + "/"]
        source = WebSource(name="site", start_urls=[base + "/"], scope=scope, retries=0)
        docs, counters = crawl_site(source)

    assert [doc.title for doc in docs] == ["home"]
    assert "/admin" not in log and "/metadata" not in log
    assert counters["refused_private_address"] == 2  # the link and the redirect
    assert counters["redirects_refused"] == 1


def test_malformed_links_and_sitemap_entries_are_skipped_not_fatal() -> None:
    sitemap = "<urlset><url><loc>http://[bad/</loc></url><url><loc>/docs/b</loc></url></urlset>"
    site = {
        "/": link_page("home", "http://[bad/", "http://site.test:99999/x", "/docs/b"),
        "/docs/b": link_page("b"),
        "/sitemap.xml": (200, XML, sitemap),
    }
    with serve_routes(site) as base:
        docs, counters = crawl_site(site_source(base))

    assert [doc.title for doc in docs] == ["home", "b"]
    assert counters["errors"] == 0


def test_a_sitemap_without_closing_tags_is_read_in_linear_time() -> None:
    # A quadratic search would take hours on this; the test would time out.
    sitemap = "<urlset>" + "<loc>x" * 400_000
    with serve_routes({"/": link_page("home"), "/sitemap.xml": (200, XML, sitemap)}) as base:
        docs, counters = crawl_site(site_source(base, max_page_bytes=4_000_000))

    assert [doc.title for doc in docs] == ["home"]
    assert counters["sitemaps"] == 1 and counters["sitemap_urls"] == 0


def test_a_sitemap_index_that_lists_itself_is_read_once() -> None:
    log: list[str] = []
    index = "<sitemapindex><sitemap><loc>{base}/sitemap.xml</loc></sitemap></sitemapindex>"
    holder: dict[str, str] = {}
    site = {
        "/": link_page("home"),
        "/sitemap.xml": lambda _path: (200, XML, index.format(base=holder["base"])),
    }
    with serve_routes(site, log) as base:
        holder["base"] = base
        crawl_site(site_source(base))

    assert log.count("/sitemap.xml") == 1


def test_robots_txt_and_sitemaps_never_redirect_to_private_addresses(monkeypatch) -> None:
    answers = {"127.0.0.1": None, "localhost": "127.0.0.1"}
    monkeypatch.setattr("lmkiln.tasks.collect.web.fetch.non_public_address", answers.__getitem__)
    holder: dict[str, str] = {}
    site = {
        "/": link_page("home"),
        "/robots.txt": lambda _p: (302, {"Location": f"{holder['inside']}/secret-robots"}, ""),
        "/sitemap.xml": lambda _p: (302, {"Location": f"{holder['inside']}/secret-map"}, ""),
        "/secret-robots": (200, {"Content-Type": "text/plain"}, "User-agent: *\nAllow: /\n"),
        "/secret-map": (200, XML, "<urlset></urlset>"),
    }
    log: list[str] = []
    with serve_routes(site, log) as base:
        holder["inside"] = base.replace("127.0.0.1", "localhost")
        scope = [base + "/", holder["inside"] + "/"]
        source = WebSource(name="site", start_urls=[base + "/"], scope=scope, retries=0)
        docs, _ = crawl_site(source)

    assert [doc.title for doc in docs] == ["home"]
    assert "/secret-robots" not in log and "/secret-map" not in log


def test_sitemaps_on_other_hosts_are_not_fetched() -> None:
    robots = "User-agent: *\nSitemap: http://elsewhere.invalid/sitemap.xml\n"
    log: list[str] = []
    site = {"/": link_page("home"), "/robots.txt": (200, {"Content-Type": "text/plain"}, robots)}
    with serve_routes(site, log) as base:
        docs, counters = crawl_site(site_source(base))

    assert [doc.title for doc in docs] == ["home"] and counters["sitemaps"] == 0


def test_a_robots_txt_answering_503_keeps_the_crawler_off_the_site() -> None:
    site = {"/": link_page("home"), "/robots.txt": (503, {"Retry-After": "0"}, "down")}
    log: list[str] = []
    with serve_routes(site, log) as base:
        with pytest.raises(SourceUnavailable, match="robots.txt answered HTTP 503"):
            crawl_site(site_source(base))

    assert "/" not in log


def test_a_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    site = {"/": (429, {"Retry-After": "3600"}, "come back in an hour")}
    log: list[str] = []
    with serve_routes(site, log) as base:
        started = time.monotonic()
        with pytest.raises(SourceUnavailable, match="HTTP 429"):
            crawl_site(site_source(base, retries=3, sitemaps=False))

    assert time.monotonic() - started < 10
    assert log.count("/") == 1


def test_two_links_redirecting_to_one_page_keep_it_once() -> None:
    site = {
        "/": link_page("home", "/old", "/older", "/docs/a"),
        "/old": (301, {"Location": "/docs/a"}, ""),
        "/older": (301, {"Location": "/docs/a"}, ""),
        "/docs/a": link_page("a"),
    }
    with serve_routes(site) as base:
        docs, counters = crawl_site(site_source(base))

    assert [doc.title for doc in docs] == ["home", "a"]
    assert counters["duplicate_final_url"] == 2  # queued together, the page is kept once


def test_a_broken_body_or_redirect_on_one_page_costs_that_page_alone() -> None:
    """urllib3 raises its own errors from a streamed body, and requests a ValueError for a
    Location that is no URL; each is counted for its page, and the crawl goes on."""
    site = {
        "/": link_page("home", "/gzip", "/cut", "/nul", "/image", "/bad-hop", "/ok"),
        "/gzip": (200, HTML | {"Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00not gzip at all"),
        "/cut": (200, HTML | {"Content-Length": "4000"}, "<p>only the start"),
        "/nul": (200, HTML, b"\x00" * 2000),
        "/image": (200, HTML, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
        "/bad-hop": (302, {"Location": "http://[bad"}, ""),
        "/ok": link_page("ok"),
    }
    with serve_routes(site) as base:
        docs, counters = crawl_site(site_source(base, max_depth=1, sitemaps=False))

    assert sorted(doc.title for doc in docs) == ["home", "ok"]
    assert counters["bad_content_encoding"] == 1
    assert counters["errors"] == 1  # /cut: the connection ended 3,983 bytes early
    assert counters["binary_body"] == 2
    assert counters["redirects_refused"] == 1 and counters["redirects"] == 1


def test_a_utf16_page_with_its_bom_is_text_not_binary() -> None:
    html = "<html><body><main><p>Text in UTF-16, as some servers still send it.</p></main>"
    page = (200, {"Content-Type": "text/html; charset=utf-16"}, html.encode("utf-16"))
    with serve_routes({"/": page}) as base:
        docs, counters = crawl_site(site_source(base, sitemaps=False))

    assert counters["binary_body"] == 0
    assert docs[0].text == "Text in UTF-16, as some servers still send it."
