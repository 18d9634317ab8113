"""Fitting with Hugging Face's Trainer: its arguments from the config, the collator, resuming
from the last complete checkpoint, and the samples each training logs."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lmkiln.tasks.config.train import TrainConfig
from lmkiln.tasks.registry.models import (
    Generator,
    generate,
)
from lmkiln.tasks.registry.tracking import (
    trainer_callback,
)
from lmkiln.tasks.train.collate import Collator, epoch_callback

logger = logging.getLogger(__name__)


def training_arguments(
    folder: Path, config: TrainConfig, evaluate: bool, stopping: bool, **overrides: Any
) -> Any:
    """The Trainer's arguments for `config` (bench/training.py times the same loop)."""
    import torch
    from transformers import TrainingArguments

    gpu = torch.cuda.is_available()
    settings: dict[str, Any] = {
        "output_dir": str(folder),
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "warmup_steps": config.warmup_steps,
        "weight_decay": config.weight_decay,
        "logging_steps": max(1, config.max_steps // 20),
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,  # the last one to resume from, plus one in case it is torn
        "eval_strategy": "steps" if evaluate else "no",
        "eval_steps": config.save_steps,
        "load_best_model_at_end": stopping,
        "metric_for_best_model": "eval_loss" if stopping else None,
        "greater_is_better": False if stopping else None,
        "seed": config.seed,
        "data_seed": config.seed,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "bf16": gpu and config.precision == "bf16",
        "fp16": gpu and config.precision == "fp16",
        "torch_compile": config.compile,
        "use_cpu": not gpu,
        "dataloader_num_workers": 0,
        "report_to": [],
        "disable_tqdm": True,
    }
    return TrainingArguments(**(settings | overrides))


def make_trainer(
    folder: Path,
    config: TrainConfig,
    model: Any,
    tokenizer: Any,
    train_blocks: Any,
    val_blocks: Any,
    client: Any,
    run_id: str,
    progress: Callable[[int], None] | None = None,
    **overrides: Any,
) -> Any:
    """The Trainer for `config`: its arguments (with `overrides`), the collator of the
    objective, step metrics to the MLflow run, early stopping. A masked LM's `val_blocks`
    carry their fixed masks (`Collator.fixed`)."""
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer

    evaluating = val_blocks is not None and len(val_blocks) > 0
    patience = config.early_stopping_patience
    stopping = patience is not None and evaluating
    collator = make_collator(tokenizer, config)
    trainer = Trainer(
        model=model,
        args=training_arguments(
            folder, config, evaluate=evaluating, stopping=stopping, **overrides
        ),
        train_dataset=train_blocks,
        eval_dataset=val_blocks if evaluating else None,
        processing_class=tokenizer,
        data_collator=collator,
        callbacks=[
            trainer_callback(client, run_id, progress),
            epoch_callback(collator),
            *([EarlyStoppingCallback(patience)] if patience is not None and evaluating else []),
        ],
    )
    trainer.remove_callback(PrinterCallback)  # it prints each log dict to stdout
    return trainer


def make_collator(tokenizer: Any, config: TrainConfig) -> Collator:
    """Batches for the config's objective: masks of mlm_probability for a masked LM."""
    masked = config.objective == "masked"
    return Collator(tokenizer, config.mlm_probability if masked else 0.0, config.seed)


SAMPLE_PROMPTS = 3


def samples(model: Any, tokenizer: Any, texts: Sequence[str]) -> str:
    """A few continuations of the first words of validation texts, seeded: what a reader
    of the run sees the model do."""
    gen = Generator(model.eval(), tokenizer, "training")
    lines = []
    for i, text in enumerate(texts[:SAMPLE_PROMPTS]):
        prompt = " ".join(text.split()[:6])
        lines.append(f"{prompt} >>> {generate(gen, prompt, 40, temperature=0.8, seed=i)}")
    return "\n\n".join(lines) + "\n"


def last_complete_checkpoint(folder: Path) -> str | None:
    """The newest checkpoint the Trainer finished writing; torn ones are removed.

    A process killed while saving leaves a `checkpoint-N` folder without its trainer state
    (written last), which the Trainer would refuse to resume from.
    """
    steps = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.rpartition("-")[2]))
    for path in reversed(steps):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("removing %s: a save that did not finish", path)
            shutil.rmtree(path)
            continue
        return str(path)
    return None
