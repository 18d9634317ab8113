"""The main-text extractors a source may choose (`extractor:`), by name, and the identity
(name and version) of each, which goes into every document's meta, the pages table and the
fetch cache key.

Whatever extracts the text, the title and the links come from lmkiln's own parser
(main_text.py, `title_and_links` where another extractor takes the text): the crawler follows
the same links whichever extractor a source uses. The libraries are imported on first use, so
naming an extractor costs nothing.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import TYPE_CHECKING, Any, get_args

from lmkiln.tasks.config.collect import ExtractorName
from lmkiln.tasks.core.caching import code_digest

if TYPE_CHECKING:
    from lmkiln.tasks.collect.extract.main_text import Page

NAMES: tuple[str, ...] = get_args(ExtractorName)
# What `auto` stands for: lmkiln's own until the benchmark (bench/results/extract.md) picks
# the default by quality and speed. Changing it re-extracts every web source set to auto.
AUTO = "lmkiln"
# trafilatura as the pipeline runs it and bench/extract.py measures it: plain text with
# tables, no comments, links, images or formatting marks, and no deduplication (which depends
# on the pages seen before).
TRAFILATURA_SETTINGS: dict[str, Any] = {
    "output_format": "txt",
    "include_tables": True,
    "include_formatting": False,
    "include_comments": False,
    "include_links": False,
    "include_images": False,
    "deduplicate": False,
}
# resiliparse as the pipeline runs it and bench/extract.py measures it: main content only,
# its blocks on lines of their own; no comment section, alt texts, links, form fields,
# <noscript> or list bullets.
RESILIPARSE_SETTINGS: dict[str, Any] = {
    "main_content": True,
    "comments": False,
    "alt_texts": False,
    "links": False,
    "form_fields": False,
    "noscript": False,
    "list_bullets": False,
}


def resolve(name: str) -> str:
    """The extractor `name` stands for: `auto` is AUTO, any other name itself."""
    if name not in NAMES:
        raise ValueError(f"unknown extractor {name!r}: choose one of {', '.join(NAMES)}")
    return AUTO if name == "auto" else name


@cache
def version(name: str) -> str:
    """The version of the extractor `name` stands for: the library's, with a digest of the
    settings lmkiln gives it; lmkiln's own, with a digest of this package's code (comments and
    layout left out) and of the libxml2 that parses. Any of these changing counts as a new
    extractor (re-extraction, cache keys)."""
    from importlib import metadata

    resolved = resolve(name)
    digest = hashlib.sha256()
    if resolved == "lmkiln":
        from lxml import etree

        digest.update(code_digest(__package__).encode())
        digest.update(repr(etree.LIBXML_VERSION).encode())
        return f"{metadata.version('lmkiln')}+{digest.hexdigest()[:8]}"
    settings = TRAFILATURA_SETTINGS if resolved == "trafilatura" else RESILIPARSE_SETTINGS
    digest.update(repr(sorted(settings.items())).encode())
    return f"{metadata.version(resolved)}+{digest.hexdigest()[:8]}"


def identity(name: str) -> str:
    """Name and version, as documents and page rows record it: "trafilatura 2.3.1"."""
    return f"{resolve(name)} {version(name)}"


def extract_text(html: str, url: str, name: str = "auto") -> str:
    """The main text of one page with the extractor `name`, normalised alike whichever it
    is (lmkiln.tasks.collect.extract.main_text.normal_text: soft hyphens, NFC, byte order mark)."""
    from lmkiln.tasks.collect.extract.main_text import extract, normal_text

    resolved = resolve(name)
    if resolved == "lmkiln":
        return extract(html, url, links=False).text
    if resolved == "trafilatura":
        import trafilatura

        text = trafilatura.extract(html, url=url or None, **TRAFILATURA_SETTINGS) or ""
    else:
        from resiliparse.extract.html2text import extract_plain_text

        text = extract_plain_text(html, **RESILIPARSE_SETTINGS)
    return normal_text(text).strip()


def extract(html: str, url: str, name: str = "auto", links: bool = True) -> Page:
    """Title, links and main text of one page fetched from `url`; the text from the
    extractor `name`, the rest from lmkiln's parser. No links with `links=False`, where the
    caller follows none (a WARC file): they cost a tenth of lmkiln's time."""
    from lmkiln.tasks.collect.extract.main_text import Page, extract, title_and_links

    if resolve(name) == "lmkiln":
        return extract(html, url, links=links)
    page = title_and_links(html, url, links=links)
    return Page(title=page.title, text=extract_text(html, url, name), links=page.links)
