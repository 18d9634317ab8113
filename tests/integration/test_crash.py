"""A nightly run killed mid-training: the lake stays at its last commit, and the rerun
resumes the training from its last checkpoint, into the same MLflow run."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from lmkiln.flows.nightly import nightly
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from tests.helpers.pipelines import DEMO_CLEAN, TINY_MODEL
from tests.helpers.routes import unused_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = {
    "collect": {"api": [{"name": "packages", "url": "demo://packages/packages?per_page=50"}]},
    "clean": DEMO_CLEAN,
    "train": TINY_MODEL | {"max_steps": 200, "save_steps": 20},
}


def saved_checkpoint(root: Path) -> Path | None:
    """A checkpoint the Trainer finished writing (its trainer state is written last)."""
    state = next(root.glob("checkpoints/*/checkpoint-*/trainer_state.json"), None)
    return state.parent if state else None


def test_killed_run_resumes_where_it_stopped(tmp_path, caplog):
    config = PipelineConfig.model_validate(CONFIG | {"storage": {"data_root": str(tmp_path)}})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    # Its own Prefect database (two servers on one SQLite file lock each other out), but the
    # same result storage, where the task cache lives.
    results = Path(os.environ["PREFECT_HOME"]) / "storage"
    env = os.environ | {
        "PREFECT_HOME": str(tmp_path / "prefect-killed"),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(results),
    }
    process = subprocess.Popen(
        # An unused port: never attach to a Prefect server a developer has running.
        [sys.executable, "-m", "lmkiln.cli", "run", "-c", str(path), "--port", str(unused_port())],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the run's temporary Prefect server dies with it
    )
    try:
        deadline = time.monotonic() + 240
        while saved_checkpoint(tmp_path) is None:
            assert process.poll() is None, "the run ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    folder = saved_checkpoint(tmp_path).parent
    assert not (folder / "final").exists(), "killed too late: the training had finished"
    killed_run_id = json.loads((folder / "run.json").read_text())["run_id"]
    corpus = lake.head(config.storage.lake("corpus"))
    assert corpus is not None and corpus.rows > 0
    client = MlflowClient(tracking_uri=config.storage.mlflow_uri)
    logged = [m.step for m in client.get_metric_history(killed_run_id, "train_loss")]
    reached = max(logged, default=0)  # the last step the killed run reported

    with caplog.at_level(logging.INFO, logger="lmkiln.tasks.train"):
        report = nightly(config)

    assert report.collected.cached == ("packages",)  # the killed run's fetch is reused
    assert report.corpus.lake == corpus  # nothing collected twice, nothing lost
    assert f"resuming from {folder}/checkpoint-" in caplog.text
    resumed_at = int(re.search(r"resuming from \S*/checkpoint-(\d+)", caplog.text)[1])
    interval = CONFIG["train"]["save_steps"]
    assert reached - interval <= resumed_at <= reached + interval  # at most one interval lost
    assert report.run.run_id == killed_run_id
    runs = client.search_runs([client.get_experiment_by_name("lmkiln").experiment_id])
    assert [r.info.run_id for r in runs] == [killed_run_id]
    assert runs[0].info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(killed_run_id, "train_loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 200
    assert report.model.aliases == ("champion",)
