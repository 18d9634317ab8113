"""Synthetic text: generate (the plan of requests from the source's templates, the choice of
generator for the night, and the night's generations, each checked), budget (the generation
cache, the budget of requests and tokens, the pace of requests), backends (an
OpenAI-compatible endpoint or a local model from the registry or a folder) and serving (the
registry's champion served by `transformers serve` for demo://champion).

In: a SynthSpec and the night's generator. Out: documents, with the generator that made them,
and quarantined outputs. A new backend goes into backends.py behind the Backend interface.
"""
