"""Websites: a polite crawler (crawl: breadth-first, scope, depth and page caps, redirects
hop by hop, capped reads; politeness: robots.txt, sitemaps, pauses; webpage: one page for
`lmkiln extract`) and the crawler's memory of pages between nights (pages: validators for
conditional requests, stored HTML for re-extraction). The main text of each page comes from
lmkiln.tasks.collect.extract.

In: a WebSource whose URLs are http(s) (the collect task resolved any alias). Out: documents,
one per page with text, and page rows.
"""
