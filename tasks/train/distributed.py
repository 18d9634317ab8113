"""Data-parallel training: the train task launches `torchrun` with `train.processes` workers,
each running the Trainer on its share of every batch (DistributedDataParallel), and waits.

The parent puts everything the workers need in the training folder first: the packed blocks
(`blocks/`), the starting weights and tokenizer (`initial/`) and a spec naming them and the
MLflow run. Rank 0 logs the run's step metrics, writes the Trainer's checkpoints, then the
final weights to `final.partial/` and `distributed.json` (steps, loss, runtime), which the
parent reads back. A failed worker fails the task with the tail of `distributed.log`; a
retry resumes from the last checkpoint, as a one-process training does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SPEC, RESULT, LOG = "distributed-spec.json", "distributed.json", "distributed.log"


def launch(
    folder: Path,
    config: Any,
    model: Any,
    tokenizer: Any,
    train_blocks: Any,
    val_blocks: Any,
    client: Any,
    run_id: str,
) -> tuple[Any, int, float, float]:
    """Train with `config.processes` workers; (model, steps, mean train loss, runtime s)."""
    import mlflow

    from lmkiln.tasks.registry.models import load_pretrained
    from lmkiln.tasks.train.trainer import last_complete_checkpoint

    blocks = folder / "blocks"
    shutil.rmtree(blocks, ignore_errors=True)
    train_blocks.save_to_disk(str(blocks / "train"))
    if len(val_blocks):
        val_blocks.save_to_disk(str(blocks / "validation"))
    initial = folder / "initial"
    shutil.rmtree(initial, ignore_errors=True)
    model.save_pretrained(str(initial))
    tokenizer.save_pretrained(str(initial))
    spec = {
        "folder": str(folder),
        "config": config.model_dump(mode="json"),
        "run_id": run_id,
        "tracking_uri": mlflow.get_tracking_uri(),
        "resume": last_complete_checkpoint(folder),
    }
    (folder / SPEC).write_text(json.dumps(spec), encoding="utf-8")
    (folder / RESULT).unlink(missing_ok=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc_per_node={config.processes}", "-m", "lmkiln.tasks.train.distributed"]
    command.append(str(folder / SPEC))
    logger.info("training on %d processes: %s", config.processes, " ".join(command))
    with (folder / LOG).open("w", encoding="utf-8") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    if done.returncode or not (folder / RESULT).is_file():
        tail = (folder / LOG).read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(
            f"distributed training failed (exit {done.returncode}); the end of "
            f"{folder / LOG}:\n{tail}"
        )
    result = json.loads((folder / RESULT).read_text(encoding="utf-8"))
    trained, _ = load_pretrained(folder / "final.partial")
    for scratch in (blocks, initial):  # the workers' copies: the checkpoints hold the rest
        shutil.rmtree(scratch, ignore_errors=True)
    return trained, result["steps"], result["train_loss"], result["runtime_s"]


def work(spec_path: str) -> None:
    """One worker (torchrun starts one per process)."""
    import torch
    from datasets import load_from_disk
    from mlflow.tracking import MlflowClient
    from transformers import set_seed

    from lmkiln.tasks.config.train import TrainConfig
    from lmkiln.tasks.registry.models import load_pretrained
    from lmkiln.tasks.train.trainer import make_trainer

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    folder, config = Path(spec["folder"]), TrainConfig.model_validate(spec["config"])
    set_seed(config.seed)
    model, tokenizer = load_pretrained(folder / "initial")
    masked = config.objective == "masked"
    model.loss_type = "ForMaskedLM" if masked else "ForCausalLM"
    train = load_from_disk(str(folder / "blocks" / "train"))
    held_out = folder / "blocks" / "validation"
    val = load_from_disk(str(held_out)) if held_out.is_dir() else None
    client = MlflowClient(tracking_uri=spec["tracking_uri"])
    trainer = make_trainer(
        folder,
        config,
        model,
        tokenizer,
        train,
        val,
        client,
        spec["run_id"],
        ddp_backend="nccl" if torch.cuda.is_available() else "gloo",
        ddp_find_unused_parameters=False,  # every weight takes part in each step
    )
    result = trainer.train(resume_from_checkpoint=spec["resume"])
    if trainer.is_world_process_zero():
        staging = folder / "final.partial"
        shutil.rmtree(staging, ignore_errors=True)
        trainer.model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        summary = {
            "steps": result.global_step,
            "train_loss": float(result.training_loss),
            "runtime_s": float(result.metrics.get("train_runtime", 0.0)),
            "processes": trainer.args.world_size,
        }
        (folder / RESULT).write_text(json.dumps(summary), encoding="utf-8")
    # Leave together, and close the process group: a rank that exits with it open can abort
    # in gloo's teardown ("terminate called without an active exception") and fail the run.
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    work(sys.argv[1])
