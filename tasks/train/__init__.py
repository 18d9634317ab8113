"""Train: a corpus commit becomes a trained model, tracked as one MLflow run.

In: the kept corpus at a commit and the train config. Out: a RunRef (its MLflow run, folder
and scores). tasks.py holds the Prefect task and the training's course (key, resume, fit,
evaluation); data.py the splits as memory-mapped datasets and packed blocks; tokenizer.py
the byte-level BPE; model.py what a training starts from (built from the config or loaded by
`init_from`); trainer.py Hugging Face's Trainer with its arguments and checkpoints; loop.py
the plain PyTorch alternative (`train.loop: torch`); collate.py batches for both objectives;
distributed.py torchrun; tune.py sweeps. A new training option goes into TrainConfig
(tasks/config/) and the module of its concern.
"""
