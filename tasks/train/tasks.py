"""Train a small GPT-2- or Llama-style language model on a corpus commit, tracked in MLflow.

A training is keyed by (corpus path, corpus commit, train config): its checkpoints, its
tokenizer and the id of its one MLflow run live in `storage.checkpoints / <key>`, so a retried
or killed training resumes from the last checkpoint into the same run, and a finished one is
returned as is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from prefect import task

from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.config.train import TrainConfig
from lmkiln.tasks.core.caching import code_version, is_transient, stage_key
from lmkiln.tasks.core.lake import corpus_texts, file_lock
from lmkiln.tasks.core.records import LakeRef, RunRef
from lmkiln.tasks.registry.models import (
    context_length,
    evaluate,
    is_masked,
    load_model_uri,
    quiet_progress,
)
from lmkiln.tasks.registry.tracking import (
    folder_run,
    log_corpus,
    log_loss_curve,
    log_metrics,
    read_state,
    run_alive,
    step_logger,
    use_tracking,
    write_state,
)
from lmkiln.tasks.train import distributed, loop
from lmkiln.tasks.train.data import corpus_dataset, pack_blocks, prune_datasets
from lmkiln.tasks.train.model import build_model, resolve_source
from lmkiln.tasks.train.tokenizer import load_or_train_tokenizer, tokenizer_cache
from lmkiln.tasks.train.trainer import (
    last_complete_checkpoint,
    make_collator,
    make_trainer,
    samples,
)

__all__ = ["train", "train_model"]


logger = logging.getLogger(__name__)


# Training loads and scores models as the registry does, and logs to its tracking store.
STAGES = ("lmkiln.tasks.train", "lmkiln.tasks.registry")


def checkpoint_key(
    corpus: LakeRef, config: TrainConfig, experiment: str, source: str | None = None
) -> str:
    """One training: a finished one is reused and an interrupted one resumed, but only by the
    same code, so an edit to the training code trains afresh. `source` is the warm start's
    resolved origin: a new champion is a new training."""
    code = code_version(*STAGES)
    # keep_checkpoints changes what is kept afterwards, not the training.
    settings = config.model_dump_json(exclude={"keep_checkpoints"})
    parts = [corpus.path, corpus.commit, settings, experiment, code]
    blob = json.dumps([*parts, source] if source else parts)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def train_model(
    corpus: LakeRef,
    config: TrainConfig,
    storage: StorageConfig,
    experiment: str,
    tags: dict[str, str],
    progress: Callable[[int], None] | None = None,
) -> RunRef:
    """Train (or resume, or reuse) the model for this corpus commit and config; one MLflow run.
    `progress(step)` is told of the steps as they are logged (not by distributed trainings'
    processes), and of max_steps once the training is done."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    source = resolve_source(config.init_from, storage)
    key = checkpoint_key(corpus, config, experiment, source)
    folder = storage.checkpoints / key
    folder.mkdir(parents=True, exist_ok=True)
    experiment_id = use_tracking(storage, experiment)
    client = MlflowClient(tracking_uri=storage.mlflow_uri)
    with file_lock(folder / ".lock"):  # two processes on one key would clobber checkpoints
        state = read_state(folder)
        if (
            "metrics" in state
            and (folder / "final").is_dir()
            and run_alive(client, state["run_id"])
        ):
            logger.info("training %s already finished in MLflow run %s", key, state["run_id"])
            if progress is not None:
                progress(config.max_steps)
            return RunRef(state["run_id"], str(folder / "final"), state["metrics"], corpus)

        # Everything that can reject the corpus runs before an MLflow run exists.
        where = f"corpus {corpus.path} at commit {corpus.commit}"
        cache = storage.root / "datasets"
        # One training at a time prunes, and loads (which marks its split used): a split
        # another training has just loaded is then never pruned under it.
        with file_lock(cache / ".lock"):
            prune_datasets(cache)
            train_texts = corpus_dataset(corpus, "train", cache)
        val_texts = corpus_texts(corpus, "validation")  # a tenth: scored text by text
        if train_texts is None:
            raise ValueError(f"{where} has no train rows: add sources or relax the clean filters")
        if not val_texts:
            raise ValueError(
                f"{where} has no validation rows, so bits per byte cannot be measured: "
                "raise split.validation_fraction or add sources"
            )
        initial = load_model_uri(source, storage) if source else None
        if initial is not None and is_masked(initial.model.config) != (
            config.objective == "masked"
        ):
            raise ValueError(
                f"train.init_from {source} is a model of the other objective than "
                f"train.objective {config.objective}: warm-start from a model of the same kind"
            )
        if initial is not None and config.block_size > context_length(initial.model):
            raise ValueError(
                f"train.block_size {config.block_size} is longer than the context of "
                f"{source} ({context_length(initial.model)} tokens): lower block_size"
            )
        tokenizer = load_or_train_tokenizer(
            folder,
            train_texts,
            config.vocab_size,
            initial.tokenizer if initial else None,
            tokenizer_cache(storage, corpus, config),
            masked=config.objective == "masked",
        )
        train_blocks = pack_blocks(tokenizer, train_texts, config.block_size, cached=True)
        if len(train_blocks) < 1:
            raise ValueError(
                f"{where}: its {len(train_texts)} train texts give less than one block of "
                f"train.block_size={config.block_size} tokens; add sources or lower block_size"
            )
        val_blocks = pack_blocks(tokenizer, val_texts, config.block_size)

        run_tags = {
            **tags,
            "corpus_path": corpus.path,
            "corpus_commit": corpus.commit,
            "checkpoint_dir": str(folder),
            "code_version": code_version(*STAGES),
            **({"init_source": source} if source else {}),
        }
        run_id = folder_run(client, experiment_id, folder, f"train-{key}", run_tags)
        params = {
            **config.model_dump(),
            **dict(zip(("n_layer", "n_head", "n_embd"), config.shape, strict=True)),
            "corpus_path": corpus.path,
            "corpus_commit": corpus.commit,
            "corpus_rows": corpus.rows,
            "train_texts": len(train_texts),
            "validation_texts": len(val_texts),
            "train_blocks": len(train_blocks),
            "tokenizer_vocab": len(tokenizer),
        }
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
        profile = {"train_texts": len(train_texts), "validation_texts": len(val_texts)}
        log_corpus(client, run_id, corpus, profile | {"rows": corpus.rows})
        try:
            model = initial.model.train() if initial else None
            metrics = fit(
                folder,
                config,
                tokenizer,
                train_blocks,
                val_blocks,
                val_texts,
                client,
                run_id,
                model,
                progress,
            )
        except BaseException as exc:
            client.set_terminated(
                run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            )
            raise
        client.set_terminated(run_id, "FINISHED")
        write_state(folder, {"run_id": run_id, "metrics": metrics})
        if not config.keep_checkpoints:  # only now: a crash before this resumes from them
            for checkpoint in folder.glob("checkpoint-*"):
                shutil.rmtree(checkpoint, ignore_errors=True)
        logger.info("trained %s in run %s: %s", key, run_id, metrics)
        if progress is not None:
            progress(config.max_steps)
        return RunRef(run_id, str(folder / "final"), metrics, corpus)


def train_key(_context: object, params: dict) -> str:
    parts = (params["corpus"], params["config"], params["storage"], params["experiment"])
    # A warm start's alias pinned to the version it names now: a new champion, a new key.
    source = resolve_source(params["config"].init_from, params["storage"])
    return stage_key("train", *parts, source or "", code_version(*STAGES))


@task(
    name="train",
    task_run_name="train",
    cache_key_fn=train_key,
    persist_result=True,
    retries=2,  # each retry resumes from the last checkpoint, into the same MLflow run
    retry_delay_seconds=10,
    retry_condition_fn=is_transient,  # a corpus too small stays too small
)
def train(
    corpus: LakeRef, config: TrainConfig, storage: StorageConfig, experiment: str, tags: dict
) -> RunRef:
    """Train on the corpus commit; cached by corpus, config and code, not by run lineage.
    Its progress is a Prefect progress artifact of the task run."""
    return train_model(corpus, config, storage, experiment, tags, progress_artifact(config))


def progress_artifact(config: TrainConfig) -> Callable[[int], None]:
    """report(step): the share of max_steps done, as the task run's progress artifact."""
    from prefect.artifacts import create_progress_artifact, update_progress_artifact

    created = create_progress_artifact(
        0.0, key="training-progress", description=f"Steps done of {config.max_steps}"
    )
    # Called from sync code, it returns the id; its type admits an async caller's coroutine.
    artifact = cast(UUID, created)
    shown = [0.0]

    def report(step: int) -> None:
        percent = round(100.0 * min(step, config.max_steps) / config.max_steps, 1)
        if percent != shown[0]:  # a resumed training replays steps it had reported
            update_progress_artifact(artifact, percent)
            shown[0] = percent

    return report


def fit(
    folder: Path,
    config: TrainConfig,
    tokenizer: Any,
    train_blocks: Any,
    val_blocks: Any,
    val_texts: list[str],
    client: Any,
    run_id: str,
    initial: Any = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    import torch
    from transformers import set_seed

    set_seed(config.seed)
    model = initial or build_model(config, tokenizer)
    # Unset, transformers 5 warns that it falls back to this very loss.
    masked = config.objective == "masked"
    model.loss_type = "ForMaskedLM" if masked else "ForCausalLM"
    collator = make_collator(tokenizer, config)
    val_blocks = collator.fixed(val_blocks)  # a masked LM's validation masks, drawn once
    if config.precision != "fp32" and not torch.cuda.is_available():
        logger.warning("train.precision %s needs a GPU: training in fp32", config.precision)
    if config.early_stopping_patience is not None and not len(val_blocks):
        logger.warning("early stopping is off: the validation split is shorter than one block")
    last_checkpoint = last_complete_checkpoint(folder)
    if last_checkpoint:
        logger.info("resuming from %s", last_checkpoint)
    final, staging = folder / "final", folder / "final.partial"
    with quiet_progress():
        if config.loop == "torch":
            log = step_logger(client, run_id, progress)
            done = loop.run(
                folder, config, model, train_blocks, val_blocks, log, last_checkpoint, collator
            )
            model, steps, runtime = done.model, done.global_step, done.runtime_s
            train_loss = done.training_loss
        elif config.processes > 1:
            model, steps, train_loss, runtime = distributed.launch(
                folder, config, model, tokenizer, train_blocks, val_blocks, client, run_id
            )
        else:
            trainer = make_trainer(
                folder, config, model, tokenizer, train_blocks, val_blocks, client, run_id,
                progress=progress,
            )  # fmt: skip
            result = trainer.train(resume_from_checkpoint=last_checkpoint)
            model, steps, train_loss = trainer.model, result.global_step, result.training_loss
            runtime = result.metrics.get("train_runtime", 0.0)
        shutil.rmtree(staging, ignore_errors=True)
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
    # A crash after this rename but before run.json records the metrics leaves an old final.
    shutil.rmtree(final, ignore_errors=True)
    staging.replace(final)
    scores = evaluate(model, tokenizer, val_texts, config.block_size)
    metrics = {
        "eval_loss": scores["loss"],
        "perplexity": scores["perplexity"],
        "bits_per_byte": scores["bits_per_byte"],
        "train_loss_mean": float(train_loss),  # over this attempt's steps only
        "train_runtime_s": float(runtime),
        "train_steps": float(steps),  # below max_steps when stopped early
        "validation_tokens": float(scores["tokens"]),
        "validation_bytes": float(scores["bytes"]),
        "masked": float(masked),  # 1: a masked LM, whose bits per byte are of masked tokens
    }
    log_metrics(client, run_id, metrics, step=config.max_steps)
    log_loss_curve(client, run_id)
    if not masked:
        client.log_text(run_id, samples(model, tokenizer, val_texts), "samples.txt")
    return metrics
