"""A plain PyTorch training loop, the Trainer's alternative behind `train.loop: torch`.

Same inputs (packed blocks), same optimisation as the Trainer's defaults (AdamW with weight decay on
matrices only, linear warmup then linear decay, gradients clipped at 1.0, gradient accumulation),
same outputs: a checkpoint every `save_steps` in `checkpoint-<step>/`, with the weights, the
optimizer, the schedule, the fp16 loss scale, every RNG state and the data position, and
`trainer_state.json` written last so that `trainer.last_complete_checkpoint` tells
a torn one; `train_loss` every logging interval and `eval_packed_loss` at each checkpoint; early
stopping on that loss, keeping the best weights. Batches are a seeded permutation per epoch, and a
masked LM's masks a function of seed, epoch and block (lmkiln.tasks.train.collate), so a resumed run
sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch

from lmkiln.tasks.config.train import TrainConfig
from lmkiln.tasks.core import failpoints
from lmkiln.tasks.train.collate import IGNORE, Collator

logger = logging.getLogger(__name__)

STATE = "trainer_state.json"  # written last: a checkpoint without it did not finish
LOOP_STATE = "loop_state.pt"
KEEP = 2  # checkpoints kept, as the Trainer's save_total_limit (plus the best one)


@dataclass(frozen=True)
class Parts:
    """What a checkpoint holds besides the data position and the RNGs."""

    model: Any
    optimizer: Any
    schedule: Any
    scaler: Any  # fp16's loss scale


class Progress(TypedDict):
    """Where the loop stands: saved with each checkpoint, and in trainer_state.json."""

    step: int
    best_loss: float | None  # eval_packed_loss at best_step
    best_step: int | None
    bad_evals: int  # evaluations since the best one, for early stopping


@dataclass(frozen=True)
class LoopResult:
    model: Any
    global_step: int
    training_loss: float  # mean over this attempt's steps
    runtime_s: float


def run(
    folder: Path,
    config: TrainConfig,
    model: Any,
    train_blocks: Any,
    val_blocks: Any,
    log: Callable[[dict[str, float], int], None],
    resume_from: str | None,
    collator: Collator | None = None,
    checkpoints: bool = True,
) -> LoopResult:
    """Train to max_steps (or an early stop). `collator` makes the batches of the objective
    (None: a causal LM's); a masked LM's `val_blocks` carry their fixed masks (a `labels`
    column). `checkpoints=False` saves nothing (benchmarks)."""
    started = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    collator = collator or Collator()
    held_out = collator(list(val_blocks)) if len(val_blocks) else None
    optimizer = torch.optim.AdamW(
        _groups(model, config.weight_decay), lr=config.learning_rate, betas=(0.9, 0.999)
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear(config))
    # As the Trainer: mixed precision on a GPU only; fp16 scales the loss, bf16 needs not.
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)
    gpu = device.type == "cuda"
    autocast = torch.autocast(device.type, dtype=half, enabled=gpu and half is not None)
    scaler = torch.amp.GradScaler(device.type, enabled=gpu and config.precision == "fp16")
    parts = Parts(model, optimizer, schedule, scaler)
    state: Progress = {"step": 0, "best_loss": None, "best_step": None, "bad_evals": 0}
    if resume_from:
        state = _load(Path(resume_from), parts)
    forward = torch.compile(model) if config.compile else model  # shares model's weights
    batches = _Batches(train_blocks, config)
    stopping = config.early_stopping_patience is not None and held_out is not None
    log_every = max(1, config.max_steps // 20)
    losses: list[float] = []
    window: list[float] = []
    model.train()
    stopped = stopping and state["bad_evals"] >= (config.early_stopping_patience or 0)
    while state["step"] < config.max_steps and not stopped:  # resumed after an early stop
        step_loss = 0.0
        for micro in range(config.gradient_accumulation_steps):
            rows = batches.at(state["step"], micro)
            collator.epoch = batches.epoch  # a masked LM's masks are drawn per epoch
            inputs, labels = (t.to(device) for t in collator.batch(rows).values())
            with autocast:
                loss = forward(input_ids=inputs, labels=labels).loss
            scaler.scale(loss / config.gradient_accumulation_steps).backward()
            step_loss += loss.item() / config.gradient_accumulation_steps
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] += 1
        step = state["step"]
        losses.append(step_loss)
        window.append(step_loss)
        if step % log_every == 0:
            rate = float(schedule.get_last_lr()[0])
            log({"train_loss": sum(window) / len(window), "learning_rate": rate}, step)
            window = []
        if step % config.save_steps == 0 or step == config.max_steps:
            stop = False
            if held_out is not None:
                eval_loss = _evaluate(model, held_out, config.batch_size, device)
                log({"eval_packed_loss": eval_loss}, step)
                if state["best_loss"] is None or eval_loss < state["best_loss"]:
                    state.update({"best_loss": eval_loss, "best_step": step, "bad_evals": 0})
                else:
                    state["bad_evals"] += 1
                    patience = config.early_stopping_patience or 0  # set, when stopping
                    stop = stopping and state["bad_evals"] >= patience
            if checkpoints:
                _save(folder, step, parts, state, keep=state["best_step"])
            if stop:
                logger.info("early stop at step %d: best step %d", step, state["best_step"])
                break
    if stopping and state["best_step"] is not None:
        best = folder / f"checkpoint-{state['best_step']}"
        model.load_state_dict(torch.load(best / "model.pt", map_location=device))
    mean = sum(losses) / len(losses) if losses else 0.0
    return LoopResult(model, state["step"], mean, time.perf_counter() - started)


def _groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only, not on biases and norms (the Trainer's rule)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0}]


def _linear(config: TrainConfig) -> Callable[[int], float]:
    """Linear warmup over warmup_steps, then linear decay to zero at max_steps."""

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return step / config.warmup_steps  # the Trainer's: the first step has rate 0
        return max(0.0, (config.max_steps - step) / max(1, config.max_steps - config.warmup_steps))

    return factor


class _Batches:
    """The batch at each position: epoch e's order is a permutation seeded by seed + e, so
    any position can be found again after a restart."""

    def __init__(self, blocks: Any, config: TrainConfig) -> None:
        self.blocks, self.config = blocks, config  # a Dataset: rows are read per batch
        self.per_epoch = -(-len(blocks) // config.batch_size)  # an epoch's last batch is short
        self.epoch, self.order = -1, torch.empty(0, dtype=torch.long)

    def at(self, step: int, micro: int) -> np.ndarray:
        size = self.config.batch_size
        position = step * self.config.gradient_accumulation_steps + micro
        epoch, index = divmod(position, self.per_epoch)
        if epoch != self.epoch:
            seeded = torch.Generator().manual_seed(self.config.seed + epoch)
            self.epoch, self.order = epoch, torch.randperm(len(self.blocks), generator=seeded)
        rows = self.order[index * size : (index + 1) * size].tolist()
        return np.array(self.blocks[rows]["input_ids"], dtype=np.int64)


def _evaluate(
    model: Any, held_out: dict[str, torch.Tensor], batch_size: int, device: torch.device
) -> float:
    """Mean loss per scored token over the validation blocks: a causal LM scores every token
    but a block's first, a masked LM the masked ones."""
    model.eval()
    inputs, labels = held_out["input_ids"], held_out["labels"]
    causal = inputs is labels
    total, count = 0.0, 0
    with torch.no_grad():
        for lo in range(0, len(inputs), batch_size):
            ids, scored = inputs[lo : lo + batch_size], labels[lo : lo + batch_size]
            predicted = scored.numel() - len(scored) if causal else int((scored != IGNORE).sum())
            if not predicted:  # no mask drawn in these blocks: nothing to score
                continue
            loss = model(input_ids=ids.to(device), labels=scored.to(device)).loss
            total += loss.item() * predicted
            count += predicted
    model.train()
    return total / max(1, count)


def _save(folder: Path, step: int, parts: Parts, state: Progress, keep: int | None) -> None:
    target = folder / f"checkpoint-{step}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    torch.save(parts.model.state_dict(), target / "model.pt")
    rng = {
        "python": random.getstate(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    loop = {
        "optimizer": parts.optimizer.state_dict(),
        "schedule": parts.schedule.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "rng": rng,
    }
    torch.save(loop | {"state": dict(state)}, target / LOOP_STATE)
    (target / STATE).write_text(json.dumps({"global_step": step, **state}), encoding="utf-8")
    steps = sorted(int(p.name.rpartition("-")[2]) for p in folder.glob("checkpoint-*"))
    for old in steps[:-KEEP]:
        if old != keep:
            shutil.rmtree(folder / f"checkpoint-{old}", ignore_errors=True)
    failpoints.reached("train:checkpoint_saved")


def _load(path: Path, parts: Parts) -> Progress:
    parts.model.load_state_dict(torch.load(path / "model.pt", map_location="cpu"))
    loop = torch.load(path / LOOP_STATE, map_location="cpu", weights_only=False)
    parts.optimizer.load_state_dict(loop["optimizer"])
    parts.schedule.load_state_dict(loop["schedule"])
    if loop.get("scaler"):  # empty when the scaler is off (fp32, bf16, a CPU)
        parts.scaler.load_state_dict(loop["scaler"])
    random.setstate(loop["rng"]["python"])
    torch.set_rng_state(loop["rng"]["torch"])
    if loop["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(loop["rng"]["cuda"])
    return loop["state"]
