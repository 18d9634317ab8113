"""Data-parallel training: `torchrun` in a subprocess, its workers meeting at its rendezvous
on this machine and training into one MLflow run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lmkiln.tasks.config.train import TrainConfig
from lmkiln.tasks.train.tasks import train_model
from tests.helpers.training import TINY, corpus_rows, make_corpus

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_data_parallel_processes_train_into_one_run(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    storage, ref = make_corpus(tmp_path, corpus_rows())
    two = TINY.model_copy(update={"processes": 2})
    run = train_model(ref, two, storage, "unit-ddp", {})
    assert run.metrics["train_steps"] == 6 and math.isfinite(run.metrics["bits_per_byte"])
    assert (Path(run.model_dir) / "model.safetensors").is_file()
    done = json.loads((Path(run.model_dir).parent / "distributed.json").read_text())
    assert done["processes"] == 2 and done["steps"] == 6
    client = MlflowClient(tracking_uri=storage.mlflow_uri)
    steps = [m.step for m in client.get_metric_history(run.run_id, "train_loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 6  # rank 0 alone logged
    with pytest.raises(ValueError, match="processes above 1 needs train.loop: trainer"):
        TrainConfig(processes=2, loop="torch")
