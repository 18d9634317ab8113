"""The `retrain` flow: train on a corpus version and register the result, gated."""

from __future__ import annotations

import logging
import time

from prefect import flow, runtime

from flows.naming import dated
from tasks import lake
from tasks.config import RegisterConfig, StorageConfig, Strict, TrainConfig, TuneConfig
from tasks.records import LakeRef, ModelRef, RunRef
from tasks.register import register
from tasks.train import train
from tasks.tune import best, trial_configs

logger = logging.getLogger(__name__)


class RetrainParams(Strict):
    """The retrain deployment's form in the Prefect UI."""

    corpus_commit: str = ""
    """A commit of the corpus table to train on; empty: its latest."""
    train: TrainConfig = TrainConfig()
    tune: TuneConfig = TuneConfig()
    """A sweep around `train`; trials 0 trains `train` alone."""
    registry: RegisterConfig = RegisterConfig()
    storage: StorageConfig = StorageConfig()


def corpus_at(storage: StorageConfig, commit: str) -> LakeRef:
    path = storage.lake("corpus")
    latest = lake.head(path)
    if latest is None:
        raise ValueError(f"no corpus at {path}: run the nightly flow first (`lmkiln run`)")
    if not commit or commit == latest.commit:
        return latest
    rows = len(lake.column(LakeRef(path, commit, 0), "id"))
    return LakeRef(path=path, commit=commit, rows=rows)


def lineage_tags() -> dict[str, str]:
    return {
        "flow_run_id": str(runtime.flow_run.id or ""),
        "flow_run_url": str(runtime.flow_run.ui_url or ""),
        "root_flow_run_id": str(runtime.flow_run.root_flow_run_id or ""),
    }


def train_and_register(
    corpus: LakeRef,
    train_config: TrainConfig,
    register_config: RegisterConfig,
    storage: StorageConfig,
    tune: TuneConfig | None = None,
) -> tuple[RunRef, ModelRef]:
    lineage = lineage_tags()
    experiment = register_config.experiment
    if tune is None or not tune.trials:
        run = train(corpus, train_config, storage, experiment, lineage)
    else:
        run = sweep(corpus, train_config, tune, storage, experiment, lineage)
    return run, register(run, register_config, storage, lineage)


def sweep(
    corpus: LakeRef,
    base: TrainConfig,
    tune: TuneConfig,
    storage: StorageConfig,
    experiment: str,
    lineage: dict[str, str],
) -> RunRef:
    """Train each trial (one train task each), tag every trial's MLflow run with its place
    in the sweep, and return the best."""
    from mlflow.tracking import MlflowClient

    configs = trial_configs(base, tune)
    started, runs = time.monotonic(), []
    for number, config in enumerate(configs, start=1):
        if runs and tune.time_budget_s and time.monotonic() - started > tune.time_budget_s:
            logger.info("sweep: time budget spent after %d of %d trials", len(runs), len(configs))
            break
        tags = lineage | {"sweep.trial": str(number)}
        runs.append(
            train.with_options(task_run_name=f"train-trial-{number}")(
                corpus, config, storage, experiment, tags
            )
        )
    winner = best(runs)
    client = MlflowClient(tracking_uri=storage.mlflow_uri)
    for run in runs:
        client.set_tag(run.run_id, "sweep.trials", str(len(runs)))
        client.set_tag(run.run_id, "sweep.best", str(run.run_id == winner.run_id).lower())
    logger.info("sweep: trial %d of %d is best", runs.index(winner) + 1, len(runs))
    return winner


LATEST_DEFAULTS = RetrainParams()


@flow(name="retrain", flow_run_name=dated("retrain"))
def retrain(params: RetrainParams = LATEST_DEFAULTS) -> ModelRef:
    """Train on a corpus commit with these hyper-parameters, then register, gated."""
    corpus = corpus_at(params.storage, params.corpus_commit)
    _run, model = train_and_register(
        corpus, params.train, params.registry, params.storage, params.tune
    )
    return model
