"""lmkiln's stages, as packages; the flows (lmkiln.flows) call their tasks in order.

    collect/   sources -> rows of the raw table
    clean/     raw rows -> kept documents (and dropped ones, with reasons)
    split.py   kept documents -> train and validation sides
    train/     a corpus commit -> a trained model, tracked in MLflow
    registry/  a trained model -> a registered version, promoted if it beats the champion

Below them all: core/ (records, the lake, caching, quarantine, storage, the clock) and
config/ (the pydantic models of the config file). demo/ holds the demo's local servers,
resolved at the edge (the flows); no stage knows of it. A stage imports core, config and the
public names of the stages before it, never their internals (`make lint` checks it).
"""
