"""Conditional requests across nights, and the raw pages kept for re-extraction."""

from __future__ import annotations

import gzip
import json

from tasks import lake, pages
from tasks.config import WebSource
from tasks.scrape import crawl
from tests.helpers import HTML, serve_routes
from tests.sites import ChangingSite as Site


def source(base: str, start: str = "/") -> WebSource:
    return WebSource(
        name="site",
        start_urls=[base + start],
        max_depth=3,
        retries=0,
        sitemaps=False,
        allow_private_addresses=True,
    )


def test_an_unchanged_site_costs_one_304_per_page_and_no_extraction(tmp_path) -> None:
    site, path, log = Site(), str(tmp_path / "pages"), []
    with serve_routes(site.routes(), log) as base:
        first = crawl(source(base), {})
        pages.store(path, first.pages, "night 1")
        log.clear()
        second = crawl(source(base), {}, known=pages.known_pages(path, "site"))

    assert len(first.documents) == 4 and first.counters["extracted"] == 4
    assert second.documents == [] and second.pages == []
    assert second.counters["not_modified"] == 4 and second.counters["http_304"] == 4
    assert second.counters["extracted"] == 0 and second.counters["pages_fetched"] == 0
    # /a/deep is linked only from /a: the stored links carried the crawl past the 304.
    assert sorted(log) == ["/", "/a", "/a/deep", "/b", "/robots.txt"]


def test_a_changed_page_yields_a_new_document_version(tmp_path) -> None:
    site, path = Site(), str(tmp_path / "pages")
    with serve_routes(site.routes()) as base:
        first = crawl(source(base), {})
        pages.store(path, first.pages, "night 1")
        site.versions["/a"] = 2
        site.versions["/b"] = 2
        second = crawl(source(base), {}, known=pages.known_pages(path, "site"))
        pages.store(path, second.pages, "night 2")
        third = crawl(source(base), {}, known=pages.known_pages(path, "site"))

    changed = {doc.url.removeprefix(base): doc for doc in second.documents}
    assert sorted(changed) == ["/a", "/b"]
    assert "version 2" in changed["/a"].text and changed["/a"].meta["etag"] == '"/a-v2"'
    old = next(doc for doc in first.documents if doc.url == base + "/a")
    assert changed["/a"].id != old.id
    assert second.counters["not_modified"] == 2
    assert third.counters["not_modified"] == 4  # the new validators were kept


def test_raw_pages_are_kept_compressed_with_provenance_and_reextract_alike(tmp_path) -> None:
    site, path = Site(), str(tmp_path / "pages")
    with serve_routes(site.routes()) as base:
        first = crawl(source(base), {})
    pages.store(path, first.pages, "night 1")

    ref = lake.head(path)
    assert ref is not None and ref.rows == 4
    row = next(lake.read(ref, lake.PAGE_TABLE))
    assert row["status"] == "200" and row["fetched_at"] and row["etag"] == '"/-v1"'
    assert gzip.decompress(row["html_gz"]).decode() == site.body("/")
    headers = json.loads(row["headers"])
    assert headers["Content-Type"].startswith("text/html")
    assert "Set-Cookie" not in headers  # session secrets stay out of the lake
    again = list(pages.reextract(path, "site"))
    assert [(d.id, d.url, d.title) for d in again] == [
        (d.id, d.url, d.title) for d in first.documents
    ]


def test_a_start_url_that_redirects_still_gets_its_304(tmp_path) -> None:
    site, path = Site(), str(tmp_path / "pages")
    routes = {**site.routes(), "/start": (301, {"Location": "/"}, "")}
    with serve_routes(routes) as base:
        first = crawl(source(base, "/start"), {})
        pages.store(path, first.pages, "night 1")
        second = crawl(source(base, "/start"), {}, known=pages.known_pages(path, "site"))

    assert len(first.documents) == 4
    assert second.counters["not_modified"] == 4 and second.counters["extracted"] == 0


def test_the_same_bytes_without_validators_count_as_unchanged(tmp_path) -> None:
    path = str(tmp_path / "pages")
    routes = {"/": (200, HTML, "<main><p>Nothing ever changes here.</p></main>")}
    with serve_routes(routes) as base:
        first = crawl(source(base), {})
        pages.store(path, first.pages, "night 1")
        second = crawl(source(base), {}, known=pages.known_pages(path, "site"))

    assert len(first.documents) == 1
    assert second.documents == [] and second.pages == []
    assert second.counters["unchanged"] == 1 and second.counters["extracted"] == 0
