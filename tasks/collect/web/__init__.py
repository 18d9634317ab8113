"""Websites: a polite crawler (crawl, politeness, http), the crawler's memory of pages
between nights (pages), and main-text extraction: markup (bytes to a tree), furniture and
survey (what markup says, one walk over the body), layout (where the main text is), extract
(the text itself) and extractors (lmkiln's own or trafilatura or resiliparse, by name).

In: a WebSource. Out: documents, one per page with text, and page rows. A new extractor goes
into extractors.py, with its settings and identity.
"""
