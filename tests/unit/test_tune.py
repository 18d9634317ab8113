"""Sweeps: the trials a TuneConfig asks for, bad spaces named, and the best trial registered."""

from __future__ import annotations

import pytest
from prefect import flow

from lmkiln.flows.retrain import train_and_register
from lmkiln.tasks.config.registry import RegisterConfig
from lmkiln.tasks.config.train import TrainConfig, TuneConfig
from lmkiln.tasks.core.records import LakeRef, RunRef
from lmkiln.tasks.train.tune import best, trial_configs
from tests.helpers.training import TINY, corpus_rows, make_corpus


def test_grid_and_random_trials() -> None:
    space = {"learning_rate": [1e-4, 1e-3], "n_embd": [32, 64]}
    grid = trial_configs(TINY, TuneConfig(trials=3, search="grid", space=space))
    assert [(c.learning_rate, c.n_embd) for c in grid] == [(1e-4, 32), (1e-4, 64), (1e-3, 32)]
    assert all(c.max_steps == TINY.max_steps for c in grid)  # the rest is the base's
    drawn = trial_configs(TINY, TuneConfig(trials=9, space=space, seed=1))
    assert len({(c.learning_rate, c.n_embd) for c in drawn}) == len(drawn) == 4
    assert drawn == trial_configs(TINY, TuneConfig(trials=9, space=space, seed=1))


def test_a_bad_space_is_named() -> None:
    with pytest.raises(ValueError, match="learning_rat: not train settings"):
        TuneConfig(space={"learning_rat": [1e-3]})
    with pytest.raises(ValueError, match="n_embd: give at least one value"):
        TuneConfig(space={"n_embd": []})
    with pytest.raises(ValueError, match=r"tune trial 1 \{'n_embd': 30\}.*divisible by n_head"):
        trial_configs(TrainConfig(n_head=4), TuneConfig(trials=1, space={"n_embd": [30]}))


def test_best_is_the_lowest_bits_per_byte() -> None:
    corpus = LakeRef("lake", "c", 1)
    runs = [RunRef(str(i), "m", {"bits_per_byte": bpb}, corpus) for i, bpb in enumerate([3, 2, 2])]
    assert best(runs).run_id == "1"
    diverged = RunRef("nan", "m", {"bits_per_byte": float("nan")}, corpus)
    assert best([diverged, *runs]).run_id == "1"  # NaN compares false with everything


@pytest.mark.slow
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


@pytest.mark.slow
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
