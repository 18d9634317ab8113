"""The `retrain` flow: train on a corpus version and register the result, gated."""

from __future__ import annotations

from prefect import flow, runtime

from flows.naming import dated
from tasks import lake
from tasks.config import RegisterConfig, StorageConfig, Strict, TrainConfig
from tasks.records import LakeRef, ModelRef, RunRef
from tasks.register import register
from tasks.train import train


class RetrainParams(Strict):
    """The retrain deployment's form in the Prefect UI."""

    corpus_commit: str = ""
    """A commit of the corpus table to train on; empty: its latest."""
    train: TrainConfig = TrainConfig()
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
) -> tuple[RunRef, ModelRef]:
    lineage = lineage_tags()
    run = train(corpus, train_config, storage, register_config.experiment, lineage)
    return run, register(run, register_config, storage, lineage)


LATEST_DEFAULTS = RetrainParams()


@flow(name="retrain", flow_run_name=dated("retrain"))
def retrain(params: RetrainParams = LATEST_DEFAULTS) -> ModelRef:
    """Train on a corpus commit with these hyper-parameters, then register, gated."""
    corpus = corpus_at(params.storage, params.corpus_commit)
    _run, model = train_and_register(corpus, params.train, params.registry, params.storage)
    return model
