"""Synthetic text: generate (the plan of requests from the source's templates, the
generation cache and the nightly budget) and backends (an OpenAI-compatible endpoint or a
local model from the registry or a folder).

In: a SynthSource. Out: documents, with the generator that made them. A new backend goes
into backends.py behind the Generator interface.
"""
