"""The extractors a source may choose: dispatch by name, identity (name and version), the
config field, the fetch cache key, and the public `lmkiln.extract_text`."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pytest
from pydantic import ValidationError

from lmkiln import extract_text
from lmkiln.tasks.collect.extract import extractors
from lmkiln.tasks.collect.extract.main_text import extract, title_and_links
from lmkiln.tasks.collect.tasks import fetch_key
from lmkiln.tasks.config.collect import CorpusSource, WebSource
from lmkiln.tasks.config.storage import StorageConfig

PROSE = "The kiln fires the clay slowly, so that the water leaves it before it can crack."
PAGE = f"""<!doctype html><html><head><title>Firing clay</title></head><body>
<header><nav><a href="/">Home</a> <a href="/shop">Shop</a> <a href="/about">About</a></nav>
</header>
<main><article><h1>Firing clay</h1><p>{PROSE}</p>
<p>Bisque comes first, glaze second, and each firing takes most of a day to cool down.</p>
<ul><li>Cone 04 for bisque</li><li>Cone 6 for stoneware glazes</li></ul></article></main>
<footer><p>Copyright 2024 The Pottery. All rights reserved.</p></footer>
</body></html>"""
URL = "https://pottery.example/guides/firing"


@pytest.mark.parametrize("name", extractors.NAMES)
def test_every_extractor_keeps_the_prose_and_leaves_the_furniture(name: str) -> None:
    page = extractors.extract(PAGE, URL, name)
    assert PROSE in page.text
    assert "All rights reserved" not in page.text and "Shop" not in page.text
    # Title and links are lmkiln's whatever takes the text: the crawl follows the same links.
    assert page.title == "Firing clay"
    assert page.links == (
        "https://pottery.example/",
        "https://pottery.example/shop",
        "https://pottery.example/about",
    )


@pytest.mark.parametrize("name", extractors.NAMES)
def test_a_caller_that_follows_no_links_gets_none(name: str) -> None:
    page, full = (
        extractors.extract(PAGE, URL, name, links=False),
        extractors.extract(PAGE, URL, name),
    )
    assert (page.title, page.text, page.links) == (full.title, full.text, ())


def test_title_and_links_come_from_one_parse_as_the_full_extraction_gives_them() -> None:
    full, parsed = extract(PAGE, URL), title_and_links(PAGE, URL)
    assert (parsed.title, parsed.links, parsed.text) == (full.title, full.links, "")
    # No <title>: the first <h1> of the page's <main>, not the site's name in its banner.
    untitled = "<body><header><h1>Pottery</h1></header><main><h1>Firing clay</h1></main></body>"
    assert title_and_links(untitled, URL).title == "Firing clay"
    assert title_and_links("", URL) == extract("", URL)


def test_lmkiln_s_extraction_imports_nothing_outside_its_package_but_core_and_http() -> None:
    # Its identity digests the package: code the text depends on must live in it. tasks.core is
    # the digest itself; collect.http only canonicalises links.
    code = "import sys, lmkiln.tasks.collect.extract.main_text; print(*sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    loaded = {name for name in result.stdout.split() if name.startswith("lmkiln.tasks.")}
    outside = {
        name
        for name in loaded
        if not name.startswith(("lmkiln.tasks.collect.extract", "lmkiln.tasks.core"))
    }
    assert outside <= {"lmkiln.tasks.collect", "lmkiln.tasks.collect.http"}, outside


def test_auto_is_the_chosen_default() -> None:
    assert extractors.resolve("auto") == extractors.AUTO
    assert extractors.identity("auto") == extractors.identity(extractors.AUTO)
    assert extractors.extract_text(PAGE, URL) == extractors.extract_text(PAGE, URL, "auto")


def test_identity_names_the_installed_version_and_a_digest_of_what_lmkiln_sets() -> None:
    # The libraries' with a digest of the settings lmkiln passes; lmkiln's own with a digest
    # of its code, which changes between releases.
    for name in ("trafilatura", "resiliparse", "lmkiln"):
        shown, version = extractors.identity(name).split(" ")
        release, digest = version.split("+")
        assert shown == name and release == metadata.version(name) and len(digest) == 8


def test_lmkiln_s_version_ignores_comments_and_follows_code(monkeypatch, tmp_path) -> None:
    import shutil

    from lmkiln.tasks.core import caching

    package = tmp_path / "extract"
    shutil.copytree(Path(extractors.__file__).parent, package)
    found = caching.sources
    monkeypatch.setattr(
        caching, "sources", lambda name: {p.name: p for p in sorted(package.glob("*.py"))}
    )

    def version_after(edit) -> str:
        edit(package / "layout.py")
        caching.code_digest.cache_clear()
        extractors.version.cache_clear()
        return extractors.version("lmkiln")

    before = version_after(lambda path: None)
    commented = version_after(lambda path: path.write_text(path.read_text() + "\n# why\n"))
    changed = version_after(lambda path: path.write_text(path.read_text() + "\nLIMIT = 3\n"))
    monkeypatch.setattr(caching, "sources", found)
    caching.code_digest.cache_clear()
    extractors.version.cache_clear()
    assert commented == before and changed != before


def test_an_unknown_extractor_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown extractor 'goose': choose one of auto, lmkiln"):
        extractors.extract_text(PAGE, URL, "goose")


def test_the_public_api_gives_the_main_text() -> None:
    assert extract_text(PAGE) == extractors.extract_text(PAGE, "", "auto")
    assert PROSE in extract_text(PAGE, URL, extractor="resiliparse")
    assert "All rights reserved" not in extract_text(PAGE, url=URL)
    # Bytes as a server sent them, in the charset their <meta> declares.
    latin = PAGE.replace("<head>", '<head><meta charset="latin-1">').replace(
        PROSE, "Glasur à 1280 °C."
    )
    assert "Glasur à 1280 °C." in extract_text(latin.encode("latin-1"))


def test_every_extractor_s_text_is_normalised_alike() -> None:
    text = "\ufeffCafe\u0301 glazes need a so\u00adft hand and a slow kiln."
    page = f"<html><body><article><p>{text}</p></article></body></html>"
    for name in ("lmkiln", "trafilatura", "resiliparse"):
        text = extractors.extract_text(page, URL, name)
        assert text.startswith("Café glazes need a soft hand"), (name, text)


def test_importing_lmkiln_loads_no_extractor() -> None:
    heavy = ("lmkiln.tasks.collect.extract.main_text", "lxml", "bs4", "trafilatura", "resiliparse")
    code = f"import sys, lmkiln; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_sources_default_to_auto_and_refuse_other_names() -> None:
    web = WebSource(name="s", start_urls=["https://example.org/"])
    assert web.extractor == "auto"
    with pytest.raises(ValidationError, match="extractor"):
        WebSource(name="s", start_urls=["https://example.org/"], extractor="goose")
    warc = CorpusSource(name="cc", format="warc", paths=["a.warc.gz"], extractor="trafilatura")
    assert warc.extractor == "trafilatura"


def test_a_corpus_source_takes_an_extractor_only_for_warc() -> None:
    with pytest.raises(ValidationError, match="extractor applies to format warc only"):
        CorpusSource(name="cc", format="wet", paths=["a.wet.gz"], extractor="resiliparse")


def _key(source: WebSource) -> str:
    bucket = datetime(2024, 1, 1, tzinfo=UTC)
    return fetch_key(None, {"source": source, "storage": StorageConfig(), "bucket": bucket})


def test_the_fetch_key_changes_with_the_extractor() -> None:
    source = WebSource(name="s", start_urls=["https://example.org/"])
    keys = {_key(source.model_copy(update={"extractor": name})) for name in extractors.NAMES}
    assert len(keys) == len(extractors.NAMES)


@pytest.fixture
def fresh_versions():
    extractors.version.cache_clear()
    yield
    extractors.version.cache_clear()


def test_the_fetch_key_changes_with_the_extractors_version(monkeypatch, fresh_versions) -> None:
    source = WebSource(name="s", start_urls=["https://example.org/"], extractor="trafilatura")
    before = _key(source)
    installed = metadata.version
    newer = {"trafilatura": "9.9.9"}
    monkeypatch.setattr(metadata, "version", lambda name: newer.get(name) or installed(name))
    extractors.version.cache_clear()
    assert extractors.identity("trafilatura").startswith("trafilatura 9.9.9+")
    assert _key(source) != before
