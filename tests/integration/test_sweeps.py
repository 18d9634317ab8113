"""A sweep inside a flow, on Prefect's engine: the best trial registered, and no trial
started after the time budget."""

from __future__ import annotations

import pytest
from prefect import flow

from lmkiln.flows.retrain import train_and_register
from lmkiln.tasks.config.registry import RegisterConfig
from lmkiln.tasks.config.train import TuneConfig
from tests.helpers.training import TINY, corpus_rows, make_corpus

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_best_trial_is_registered(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    storage, corpus = make_corpus(tmp_path, corpus_rows())
    tune = TuneConfig(trials=2, search="grid", space={"max_steps": [1, 12]})

    @flow(name="sweep-test")
    def sweep_and_register():
        return train_and_register(corpus, TINY, RegisterConfig(experiment="tune"), storage, tune)

    run, model = sweep_and_register()
    client = MlflowClient(tracking_uri=storage.mlflow_uri)
    trials = client.search_runs([client.get_experiment_by_name("tune").experiment_id])
    tags = {r.data.tags["sweep.trial"]: r.data.tags for r in trials}
    assert sorted(tags) == ["1", "2"]
    assert tags["2"]["sweep.best"] == "true" and tags["1"]["sweep.best"] == "false"
    assert run.run_id == next(r.info.run_id for r in trials if r.data.tags["sweep.trial"] == "2")
    assert model.version == "1" and model.aliases == ("champion",)


def test_no_trial_starts_after_the_time_budget(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    storage, corpus = make_corpus(tmp_path, corpus_rows())
    tune = TuneConfig(trials=3, search="grid", space={"max_steps": [1, 2, 3]}, time_budget_s=1e-3)

    @flow(name="sweep-budget-test")
    def sweep_and_register():
        return train_and_register(corpus, TINY, RegisterConfig(experiment="budget"), storage, tune)

    run, _ = sweep_and_register()
    client = MlflowClient(tracking_uri=storage.mlflow_uri)
    (only,) = client.search_runs([client.get_experiment_by_name("budget").experiment_id])
    assert only.info.run_id == run.run_id and run.metrics["train_steps"] == 1
    assert (only.data.tags["sweep.trial"], only.data.tags["sweep.trials"]) == ("1", "1")
