"""Named points between two writes where the reliability suite kills a real run.

With `LMKILN_KILL_AT=<name>` in its environment, a run that reaches that point sends SIGKILL
to its whole process group (its temporary Prefect server and worker processes included), as
a power cut or an OOM kill would: no `finally`, no task retry, no state written after. Unset,
`reached` is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "LMKILN_KILL_AT"

POINTS = (
    "collect:raw_committed",  # a source's documents committed, its watermark or state not yet
    "clean:rows_committed",  # a group of decisions committed, the near-dup index not yet
    "split:corpus_committed",  # the corpus committed, the split task's result not yet stored
    "train:checkpoint_saved",  # a checkpoint written, the training far from done
)


def reached(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)
