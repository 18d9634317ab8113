"""Conditional requests across nights, and the raw pages kept for re-extraction."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace

from lmkiln.tasks.collect.extract.extractors import identity
from lmkiln.tasks.collect.web import pages
from lmkiln.tasks.collect.web.crawl import crawl
from lmkiln.tasks.config.collect import WebSource
from lmkiln.tasks.core import lake
from tests.helpers.routes import HTML, serve_routes
from tests.helpers.sites import ChangingSite as Site


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
        first = crawl(source(base))
        pages.store(path, first.pages, "night 1")
        log.clear()
        second = crawl(source(base), known=pages.known_pages(path, "site"))

    assert len(first.documents) == 4 and first.counters["extracted"] == 4
    assert second.documents == [] and second.pages == []
    assert second.counters["not_modified"] == 4 and second.counters["http_304"] == 4
    assert second.counters["extracted"] == 0 and second.counters["pages_fetched"] == 0
    # /a/deep is linked only from /a: the stored links carried the crawl past the 304.
    assert sorted(log) == ["/", "/a", "/a/deep", "/b", "/robots.txt"]


def test_a_changed_page_yields_a_new_document_version(tmp_path) -> None:
    site, path = Site(), str(tmp_path / "pages")
    with serve_routes(site.routes()) as base:
        first = crawl(source(base))
        pages.store(path, first.pages, "night 1")
        site.versions["/a"] = 2
        site.versions["/b"] = 2
        second = crawl(source(base), known=pages.known_pages(path, "site"))
        pages.store(path, second.pages, "night 2")
        third = crawl(source(base), known=pages.known_pages(path, "site"))

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
        first = crawl(source(base))
    pages.store(path, first.pages, "night 1")

    ref = lake.head(path)
    assert ref is not None and ref.rows == 4
    row = next(lake.read(ref, lake.PAGE_TABLE))
    assert row["status"] == "200" and row["fetched_at"] and row["etag"] == '"/-v1"'
    assert gzip.decompress(row["html_gz"]).decode() == site.body("/")
    headers = json.loads(row["headers"])
    assert headers["Content-Type"].startswith("text/html")
    assert "Set-Cookie" not in headers  # session secrets stay out of the lake
    assert row["extractor"] == identity("auto") and row["doc_id"] == first.documents[0].id


def test_a_start_url_that_redirects_still_gets_its_304(tmp_path) -> None:
    site, path = Site(), str(tmp_path / "pages")
    routes = {**site.routes(), "/start": (301, {"Location": "/"}, "")}
    with serve_routes(routes) as base:
        first = crawl(source(base, "/start"))
        pages.store(path, first.pages, "night 1")
        second = crawl(source(base, "/start"), known=pages.known_pages(path, "site"))

    assert len(first.documents) == 4
    assert second.counters["not_modified"] == 4 and second.counters["extracted"] == 0


def test_the_same_bytes_without_validators_count_as_unchanged(tmp_path) -> None:
    path = str(tmp_path / "pages")
    routes = {"/": (200, HTML, "<main><p>Nothing ever changes here.</p></main>")}
    with serve_routes(routes) as base:
        first = crawl(source(base))
        pages.store(path, first.pages, "night 1")
        second = crawl(source(base), known=pages.known_pages(path, "site"))

    assert len(first.documents) == 1
    assert second.documents == [] and second.pages == []
    assert second.counters["unchanged"] == 1 and second.counters["extracted"] == 0


def _crawled(tmp_path):
    """The site crawled once with the default extractor, its pages stored."""
    path = str(tmp_path / "pages")
    with serve_routes(Site().routes()) as base:
        first = crawl(source(base))
    pages.store(path, first.pages, "night 1")
    return path, first


def test_reextraction_with_the_same_extractor_repeats_no_document(tmp_path) -> None:
    path, first = _crawled(tmp_path)
    again = pages.reextract(path, "site", "auto")
    assert again.documents == []
    assert again.counters == {
        "reextracted": 0,
        "unchanged_text": 4,
        "empty_text": 0,
        "extract_failed": 0,
        "no_stored_html": 0,
    }
    assert {doc.meta["extractor"] for doc in first.documents} == {identity("auto")}


def test_reextraction_with_another_extractor_gives_the_changed_texts_as_new_documents(
    tmp_path,
) -> None:
    path, first = _crawled(tmp_path)
    again = pages.reextract(path, "site", "trafilatura")

    before = {doc.url: doc for doc in first.documents}
    changed = [doc for doc in again.documents if doc.text != before[doc.url].text]
    # Some texts differ: trafilatura leaves no blank line between a page's blocks.
    assert changed == again.documents and again.documents
    assert again.counters["reextracted"] + again.counters["unchanged_text"] == 4
    for doc in again.documents:
        assert doc.meta["extractor"] == identity("trafilatura")
        assert doc.title == before[doc.url].title and doc.fetched_at == before[doc.url].fetched_at
    # A row per page names the new extractor and its document, without the HTML again.
    assert {page.extractor for page in again.pages} == {identity("trafilatura")}
    assert {page.html_gz for page in again.pages} == {b""}
    made = {page.final_url: page.doc_id for page in again.pages}
    assert all(made[doc.url] == doc.id for doc in again.documents)


def test_the_page_rows_tell_a_changed_extractor_and_record_the_reextraction(tmp_path) -> None:
    path, _ = _crawled(tmp_path)
    auto, other = identity("auto"), identity("trafilatura")
    assert not pages.extractor_changed(path, "site", auto)  # the rows say auto
    assert pages.extractor_changed(path, "site", other)
    assert not pages.extractor_changed(path, "elsewhere", other)  # no pages: a crawl
    assert not pages.extractor_changed(str(tmp_path / "none"), "site", auto)

    to_other = pages.reextract(path, "site", "trafilatura")
    pages.store(path, to_other.pages, "re-extract with trafilatura")
    assert not pages.extractor_changed(path, "site", other)  # done: the next night crawls
    assert pages.extractor_changed(path, "site", auto)
    # Back again: the stored HTML is found behind the rows of the re-extraction.
    back = pages.reextract(path, "site", "auto")
    assert back.counters["no_stored_html"] == 0
    assert back.counters["reextracted"] == to_other.counters["reextracted"]


def test_a_page_that_fails_to_extract_costs_only_itself(tmp_path) -> None:
    path, first = _crawled(tmp_path / "a")
    broken = str(tmp_path / "broken")
    damaged = [first.pages[0], *(replace(page, html_gz=b"not gzip") for page in first.pages[1:])]
    pages.store(broken, damaged, "night 1, three rows damaged")
    again = pages.reextract(broken, "site", "trafilatura")
    assert again.counters["extract_failed"] == 3 and len(again.pages) == 4
    pages.store(broken, again.pages, "re-extract")
    assert not pages.extractor_changed(broken, "site", identity("trafilatura"))  # not stuck


def test_a_pages_table_from_before_the_extractor_column_gains_it(tmp_path) -> None:
    path, first = _crawled(tmp_path / "new")
    old_path = str(tmp_path / "old")
    older = [c for c in lake.PAGE_TABLE if c != "extractor"]
    rows = [page.to_row() for page in first.pages]
    lake.append(old_path, rows, older, "night 1, by an older lmkiln")

    # Nothing says what made those pages' documents: they are re-extracted.
    assert pages.extractor_changed(old_path, "site", identity("auto"))
    assert pages.reextract(old_path, "site", "auto").counters["unchanged_text"] == 4
    ref = pages.store(old_path, first.pages[:1], "night 2")
    extractors = [row["extractor"] for row in lake.read(ref, ("extractor",))]
    assert extractors == ["", "", "", "", identity("auto")]


def test_a_page_row_without_html_is_left_for_a_crawl(tmp_path) -> None:
    path, first = _crawled(tmp_path / "a")
    bare = str(tmp_path / "bare")
    pages.store(bare, [replace(page, html_gz=b"") for page in first.pages], "night 1")
    again = pages.reextract(bare, "site", "trafilatura")
    assert again.documents == [] and again.counters["no_stored_html"] == 4
    assert {page.doc_id for page in again.pages} == {page.doc_id for page in first.pages}
