"""The config file as pydantic models, a module per section: collect, clean, split, train (with
tune), registry, storage and runner; base holds the strict base model and the types they share
(names, URLs), and pipeline gathers the sections in PipelineConfig, with the schedule, and
load_config with its error messages.

A new setting goes into its section's model, with a field docstring: it becomes the help text
of the Prefect UI's form. Import each model from the module that defines it. Imports nothing
from the stages.
"""
