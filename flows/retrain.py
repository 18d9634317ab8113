"""The `retrain` flow: train on a corpus version and register the result, gated."""

from __future__ import annotations

import logging
import time

from prefect import flow, get_run_logger, runtime, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from lmkiln.flows.naming import dated
from lmkiln.flows.report import model_lines
from lmkiln.tasks.config.base import Strict
from lmkiln.tasks.config.registry import RegisterConfig
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.config.train import TrainConfig, TuneConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core import storage as s3
from lmkiln.tasks.core.records import LakeRef, ModelRef, RunRef
from lmkiln.tasks.registry.register import register
from lmkiln.tasks.registry.tracking import ui_links
from lmkiln.tasks.train.tasks import train
from lmkiln.tasks.train.tune import best, trial_configs

logger = logging.getLogger(__name__)


class RetrainParams(Strict):
    """The retrain deployment's form in the Prefect UI."""

    corpus_commit: str = ""
    """A commit of the corpus table to train on; empty: its latest."""
    train: TrainConfig = TrainConfig()
    """The model and its training."""
    tune: TuneConfig = TuneConfig()
    """A sweep around `train`; trials 0 trains `train` alone."""
    registry: RegisterConfig = RegisterConfig()
    """The MLflow model and the promotion gate."""
    storage: StorageConfig = StorageConfig()
    """Where the corpus, MLflow and checkpoints live: the nightly's, to train on its corpus."""


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


@task(name="trial", task_run_name="trial-{number}", cache_policy=NO_CACHE)
def trial(
    number: int,
    corpus: LakeRef,
    config: TrainConfig,
    storage: StorageConfig,
    experiment: str,
    lineage: dict[str, str],
    deadline: float | None,
) -> RunRef | None:
    """One sweep trial, trained by the train task (cached, retried, resumable like any
    training); None when the sweep's time budget was spent before it began (never the
    first trial)."""
    if number > 1 and deadline is not None and time.time() > deadline:
        get_run_logger().info("trial %d skipped: the sweep's time budget is spent", number)
        return None
    tags = lineage | {"sweep.trial": str(number)}
    named = train.with_options(task_run_name=f"train-trial-{number}")
    return named(corpus, config, storage, experiment, tags)


# One trial at a time: trainings in threads of one process would share torch's global RNG
# (so no trial would be reproducible) and the machine's cores. Prefect's types refuse its own
# runners as task_runner (PrefectHQ/prefect#16938).
@flow(
    name="sweep",
    flow_run_name=dated("sweep"),
    task_runner=ThreadPoolTaskRunner(max_workers=1),  # type: ignore[arg-type]
)
def sweep(
    corpus: LakeRef,
    base: TrainConfig,
    tune: TuneConfig,
    storage: StorageConfig,
    experiment: str,
    lineage: dict[str, str],
) -> RunRef:
    """The trials as mapped `trial` tasks, in order; every trial's MLflow run is tagged with
    its place in the sweep; returns the best."""
    from mlflow.tracking import MlflowClient

    configs = trial_configs(base, tune)
    deadline = time.time() + tune.time_budget_s if tune.time_budget_s else None
    futures = trial.map(
        range(1, len(configs) + 1),
        unmapped(corpus),
        configs,
        unmapped(storage),
        unmapped(experiment),
        unmapped(lineage),
        unmapped(deadline),
    )
    runs = [run for run in futures.result() if run is not None]
    if len(runs) < len(configs):
        logger.info("sweep: time budget spent after %d of %d trials", len(runs), len(configs))
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
    s3.check(params.storage)
    corpus = corpus_at(params.storage, params.corpus_commit)
    run, model = train_and_register(
        corpus, params.train, params.registry, params.storage, params.tune
    )
    registry = params.registry
    links = ui_links(params.storage, registry.ui_url, run.run_id, model.name, model.version)
    lines = [f"- corpus: {corpus.rows} rows at `{corpus.commit}` ({corpus.path})"]
    summary = "\n".join(["# lmkiln retrain", *lines, *model_lines(run, model, links)])
    create_markdown_artifact(summary, key="retrain-summary", description="What this run did")
    return model
