"""The flows: nightly (collect, clean, split, train, register), collect and retrain, and
the report they publish. Each reads like a table of contents: one line per stage, passing
refs from one to the next. Imported as lmkiln.flows; the deployments name them by module.
"""
