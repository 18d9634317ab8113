"""lmkiln's public API. For now: `extract_text`, the main text of one HTML page.

Each function imports what it needs when called, so `import lmkiln` stays fast.
"""

from __future__ import annotations

__all__ = ["extract_text"]


def extract_text(html: str | bytes, url: str | None = None, extractor: str = "auto") -> str:
    """The main text of one HTML page, as a web source keeps it: headings, paragraphs, list
    items and table rows as lines, code as laid out, page furniture left out.

    `html` as text, or as the bytes a server sent (decoded by the charset its `<meta>`
    declares, else a detected one, as the crawler decodes); `url` is where the page came from
    (some extractors look at it); `extractor` is auto, lmkiln, trafilatura or resiliparse, as
    a source's `extractor:` setting."""
    from lmkiln.tasks.collect.extract.extractors import extract_text as main_text

    if isinstance(html, bytes):
        from lmkiln.tasks.collect.extract.markup import decode

        html = decode(html, "")
    return main_text(html, url or "", extractor)
