"""Train: a corpus commit becomes a trained model, tracked as one MLflow run.

In: the kept corpus at a commit and the train config. Out: a TrainedModel (its run, path
and scores). tasks.py holds the Prefect task with the tokenizer, model and Trainer setup;
collate batches packed blocks, loop is the plain PyTorch alternative to the Trainer,
distributed launches torchrun, tune expands and judges sweeps.
"""
