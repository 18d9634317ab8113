"""Near-duplicate detection: minhash (signatures and LSH band keys, vectorised) and index
(the persisted index of the kept corpus that each new document is checked against).
"""
