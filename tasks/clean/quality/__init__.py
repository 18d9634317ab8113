"""Quality rules as datatrove 0.10.1 has them: rules (Gopher, C4, FineWeb), features (what
the rules measure, computed once per document) and words (datatrove's word and sentence
splitting, without spaCy). A new rule goes into rules.py, with a named drop reason.
"""
