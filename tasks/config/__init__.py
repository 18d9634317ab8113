"""The config file as pydantic models: base (the strict base model, names, URLs,
storage), sources (the `collect` section, one model per source kind) and pipeline (one model
per stage, gathered in PipelineConfig, and load_config with its error messages).

A new setting goes into its stage's model, with a field docstring: it becomes the help text
of the Prefect UI's form. Imports nothing from the stages.
"""
