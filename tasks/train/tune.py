"""Hyper-parameter sweeps: which trainings a `TuneConfig` asks for, and which one won.

Each trial is a `TrainConfig` (the base with the trial's values), trained by the train task
like any other, so it is cached, retried and resumable on its own. They run one after
another: trainings in threads of one process would share torch's global RNG and both cores.
"""

from __future__ import annotations

import itertools
import math
import random

from pydantic import ValidationError

from lmkiln.tasks.config.train import TrainConfig, TuneConfig
from lmkiln.tasks.core.records import RunRef


def trial_configs(base: TrainConfig, tune: TuneConfig) -> list[TrainConfig]:
    """The trials' train configs, in the order they run."""
    names = list(tune.space)
    combos = list(itertools.product(*tune.space.values()))
    if tune.search == "random":
        combos = random.Random(tune.seed).sample(combos, min(tune.trials, len(combos)))
    else:
        combos = combos[: tune.trials]
    configs = []
    for number, combo in enumerate(combos, start=1):
        values = dict(zip(names, combo, strict=True))
        try:
            configs.append(TrainConfig.model_validate(base.model_dump() | values))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) + ': ' if e['loc'] else ''}{e['msg']}"
                for e in exc.errors()
            )
            raise ValueError(f"tune trial {number} {values}: {problems}") from None
    return configs


def best(runs: list[RunRef]) -> RunRef:
    """The trial with the lowest validation bits per byte (the first among equals)."""
    return min(runs, key=lambda run: _score(run.metrics["bits_per_byte"]))


def _score(bits_per_byte: float) -> tuple[bool, float]:
    """Finite scores first: a diverged trial (NaN) never wins."""
    return not math.isfinite(bits_per_byte), bits_per_byte
