"""Sweeps: the trials a TuneConfig asks for, bad spaces named, the best trial chosen (a sweep
in a flow: tests/integration/test_sweeps.py)."""

from __future__ import annotations

import pytest

from lmkiln.tasks.config.train import TrainConfig, TuneConfig
from lmkiln.tasks.core.records import LakeRef, RunRef
from lmkiln.tasks.train.tune import best, trial_configs
from tests.helpers.training import TINY


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
