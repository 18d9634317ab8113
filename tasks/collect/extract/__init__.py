"""Main text from HTML: markup (bytes to a tree: the charset, whether it is text at all),
furniture and survey (what an element's markup says; one walk over the body), layout (where
the main text is), main_text (the text as lines, the title and the links) and extractors
(lmkiln's own, trafilatura or resiliparse, by name, with the identity each document records).

In: HTML and its URL. Out: a Page (title, text, links). Used by the crawler, the WARC reader
and `lmkiln extract`. lmkiln's identity digests this whole package, so any change here
re-extracts stored pages on the next night. A new extractor goes into extractors.py, with its
settings; bench/extract.py measures it.
"""
