"""Collect: every configured source becomes rows of the raw table.

In: the `collect` section of the config and the night's time bucket. Out: documents
appended to the raw table (a LakeRef) and a SourceResult of counters per source; records
that cannot become documents are quarantined with a reason.

tasks.py holds the thin Prefect tasks, one per source kind; the work is in web/ (crawler and
main-text extraction), api/ (JSON REST APIs), synth/ (synthetic text from a model), files.py,
datasets.py and corpora/ (WARC, Wikipedia, JSON Lines). http.py and credentials.py are shared
by them. A new source kind: its model in config/collect.py, its reader in a module here, and
its task in tasks.py. Source code only ever sees http(s) URLs: the tasks point demo:// URLs
at the servers the flow started (`resolved`, with the flow's aliases) before any reader runs,
and key their caches by the source as configured.
"""
