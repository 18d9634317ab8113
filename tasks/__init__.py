"""lmkiln's stages, as packages; the flows (lmkiln.flows) call their tasks in order.

    collect/   sources -> rows of the raw table
    clean/     raw rows -> kept documents (and dropped ones, with reasons)
    split.py   kept documents -> train and validation sides
    train/     a corpus commit -> a trained model (a RunRef), tracked in MLflow
    registry/  a trained model -> a registered version, promoted if it beats the champion

collect, clean, split and train do not import one another. registry sits below them: synth
(in collect) loads the champion through it, and train logs to its tracking store and scores
with its models. Below all: core/ (records, the lake, caching, quarantine, storage, the
clock) and config/ (the pydantic models of the config file). demo/ holds the demo's local
sites; the collect flow starts them and each collect task points a source's demo:// URLs at
them before any stage code runs, so no stage knows of the demo. `make lint` checks that
imports point down these layers and that no package's modules import in a circle; that a
stage uses only another's public names is a convention, not a checked contract.
"""
