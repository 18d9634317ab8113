"""MLflow tracking: one SQLite store and artifact folder under the data root (or the store
that `storage.tracking_uri` names), and the one run that a training folder owns across retries.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmkiln.tasks.config.storage import StorageConfig, is_s3
from lmkiln.tasks.core import failpoints
from lmkiln.tasks.core.records import LakeRef

logger = logging.getLogger(__name__)

STATE_FILE = "run.json"  # in a training folder: its MLflow run id, then its final metrics


def use_tracking(storage: StorageConfig, experiment: str) -> str:
    """Point MLflow at the project's store, create `experiment` if missing; returns its id."""
    # Without this, `import mlflow` writes a telemetry id under ~/.config.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow.tracking import MlflowClient

    if storage.mlflow_uri.startswith("sqlite:///"):
        database = Path(storage.mlflow_uri.removeprefix("sqlite:///"))
        database.parent.mkdir(parents=True, exist_ok=True)
    # Both, always: MLflow keeps them in process-wide environment variables, and a registry
    # URI left over from another store would register the model there.
    mlflow.set_tracking_uri(storage.mlflow_uri)
    mlflow.set_registry_uri(storage.mlflow_uri)
    client = MlflowClient(tracking_uri=storage.mlflow_uri)
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
            logger.info("restored deleted MLflow experiment %r", experiment)
        return found.experiment_id
    if storage.mlflow_uri.startswith(("http://", "https://")):
        # A tracking server keeps artifacts where it was told to (--artifacts-destination) and
        # proxies them, so a client on another machine can read them; a folder here would not.
        artifacts, location = "the tracking server's artifact store", None
    elif is_s3(storage.mlflow_artifacts):
        # An experiment keeps the location it was made with: a later storage.artifact_root
        # applies to new experiments only.
        artifacts = location = f"{storage.mlflow_artifacts}/{experiment}"
    else:
        # A relative artifact location would resolve against the current folder (./mlruns).
        folder = Path(storage.mlflow_artifacts) / experiment
        folder.mkdir(parents=True, exist_ok=True)
        artifacts, location = str(folder), folder.as_uri()
    try:
        experiment_id = client.create_experiment(experiment, artifact_location=location)
    except Exception:
        # Another task created it between our lookup and create; use theirs.
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise
        return found.experiment_id
    logger.info("created MLflow experiment %r (artifacts in %s)", experiment, artifacts)
    return experiment_id


def read_state(folder: Path) -> dict[str, Any]:
    path = folder / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def write_state(folder: Path, state: dict[str, Any]) -> None:
    # Write then rename: a kill mid-write must not leave a folder that forgot its run.
    staging = folder / f"{STATE_FILE}.partial"
    staging.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    staging.replace(folder / STATE_FILE)


def run_alive(client: Any, run_id: str | None) -> bool:
    """The run exists in the store and is not deleted (the store may have been wiped)."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        return False
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except MlflowException:
        return False


def folder_run(
    client: Any, experiment_id: str, folder: Path, run_name: str, tags: dict[str, str]
) -> str:
    """The run recorded in `folder` (a retry reopens it), or a new one recorded there."""
    run_id: str | None = read_state(folder).get("run_id")
    if run_id and run_alive(client, run_id):
        client.update_run(run_id, status="RUNNING")
        return run_id
    if run_id:
        logger.warning("MLflow run %s recorded in %s is gone; starting a new run", run_id, folder)
    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    write_state(folder, {"run_id": run.info.run_id})
    return run.info.run_id


def log_metrics(client: Any, run_id: str, metrics: dict[str, float], step: int) -> None:
    from mlflow.entities import Metric

    now_ms = int(time.time() * 1000)
    batch = [
        Metric(key, float(value), now_ms, step)
        for key, value in metrics.items()
        if isinstance(value, int | float) and math.isfinite(value)
    ]
    if batch:
        client.log_batch(run_id, metrics=batch)


def step_logger(
    client: Any, run_id: str, progress: Callable[[int], None] | None = None
) -> Callable[[dict[str, float], int], None]:
    """log(metrics, step) for a training loop: steps the run already has are skipped, as a
    resumed training replays the steps after its checkpoint. `progress(step)` hears of
    every step logged."""
    history = client.get_metric_history(run_id, "train_loss")
    logged_through_step = max((m.step for m in history), default=0)

    def log(metrics: dict[str, float], step: int) -> None:
        if step > logged_through_step:
            log_metrics(client, run_id, metrics, step)
        if progress is not None:
            progress(step)

    return log


def trainer_callback(
    client: Any, run_id: str, progress: Callable[[int], None] | None = None
) -> Any:
    """A transformers TrainerCallback that logs to `run_id` (report_to opens runs of its own)."""
    from transformers import TrainerCallback

    log = step_logger(client, run_id, progress)
    # The periodic eval packs blocks across documents; the final eval_loss comes from
    # bits_per_byte, so the two get different names.
    renamed = {"loss": "train_loss", "eval_loss": "eval_packed_loss"}

    class MlflowMetrics(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
            if not state.is_world_process_zero:  # one process of a distributed training logs
                return
            logs = logs or {}
            shown = ", ".join(f"{k} {v:.4g}" for k, v in logs.items() if isinstance(v, float))
            logger.info("step %d/%d: %s", state.global_step, state.max_steps, shown)
            # The end-of-training summary is logged by the caller, under clearer names.
            if "train_runtime" not in logs:
                log(
                    {renamed.get(key, key): value for key, value in logs.items()}, state.global_step
                )

        def on_save(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            failpoints.reached("train:checkpoint_saved")

    return MlflowMetrics()


def log_data_quality(
    storage: StorageConfig, experiment: str, run_id: str, tables: dict[str, Any]
) -> None:
    """The night's data report (per stage, per source and rule) as `data_quality.json` in
    the training run, next to the model it describes."""
    from mlflow.tracking import MlflowClient

    use_tracking(storage, experiment)
    MlflowClient().log_dict(run_id, tables, "data_quality.json")


def log_corpus(client: Any, run_id: str, corpus: LakeRef, profile: dict[str, int]) -> None:
    """The corpus commit as the run's training dataset input (MLflow's Datasets tab)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    dataset = Dataset(
        name=Path(corpus.path).name,
        digest=corpus.commit[:36],  # the store's limit; Deep Lake commit ids fit
        source_type="deeplake",
        source=json.dumps({"path": corpus.path, "commit": corpus.commit}),
        profile=json.dumps(profile),
    )
    client.log_inputs(
        run_id, [DatasetInput(dataset, [InputTag(MLFLOW_DATASET_CONTEXT, "training")])]
    )


def log_loss_curve(client: Any, run_id: str) -> None:
    """`loss_curve.png`: training loss and the periodic validation loss by step."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must come before pyplot
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for key, label in (("train_loss", "train"), ("eval_packed_loss", "validation")):
        points = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        if points:
            axes.plot(
                *zip(*points, strict=True), label=label, marker="." if len(points) < 30 else ""
            )
    axes.set(xlabel="step", ylabel="loss (nats per token)", title="lmkiln training")
    axes.legend()
    axes.grid(alpha=0.3)
    client.log_figure(run_id, figure, "loss_curve.png")
    plt.close(figure)


def ui_links(storage: StorageConfig, ui_url: str, run_id: str, name: str, version: str) -> dict:
    """Addresses in the MLflow UI of a training run and of a model version: on the tracking
    server when there is one, else at `ui_url` (`lmkiln ui`)."""
    from mlflow.tracking import MlflowClient

    experiment_id = MlflowClient(tracking_uri=storage.mlflow_uri).get_run(run_id).info.experiment_id
    server = storage.mlflow_uri.startswith(("http://", "https://"))
    base = (storage.mlflow_uri if server else ui_url).rstrip("/")
    return {
        "run": f"{base}/#/experiments/{experiment_id}/runs/{run_id}",
        "model": f"{base}/#/models/{name}/versions/{version}",
    }
