"""Clean: every raw row added since the last run gets a decision, kept or dropped with a
reason.

In: the raw table at a commit. Out: the kept table and the decisions (counters per reason).
tasks.py holds the Prefect task; decide.py what each document becomes, without Prefect;
normalize, language and pii are its steps, decontam keeps validation text out of training,
quality/ holds the quality rules (rules, the features they measure, the word splitter) and
dedup/ the near-duplicate index. A new rule: docs/guides/adding-a-cleaning-rule.md (a
quality rule in quality/rules.py returning a named reason, a per-document step beside
decide.py), with its threshold in the clean config.
"""
