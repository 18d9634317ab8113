"""Public corpora as sources: base (the reader contract: Entry, Damaged, Reader), the
readers warc (Common Crawl WARC and WET), wiki (Wikipedia dumps) and jsonl (JSON Lines in the
style of The Pile), and collection (a source's files in order, read in batches from where the
last commit ended).

In: a CorpusSource's files. Out: entries, each a document or a damaged record. A new format:
a reader module here on base's contract, chosen in collection.reader_for.
"""
