"""JSON REST APIs: client (fetching pages of records), pagination (where the next page is),
mapping (record fields to document fields), reader (one read's bookkeeping) and watermark
(where each source stopped, advanced only after its rows are committed).

In: an ApiSource. Out: documents and quarantined records. A new pagination style goes into
pagination.py and its config model.
"""
