"""Named points between two writes where the reliability suite kills a real run.

With `LMKILN_KILL_AT=<name>` in its environment, a run that reaches that point sends SIGKILL
to its whole process group (its temporary Prefect server and worker processes included), as
a power cut or an OOM kill would: no `finally`, no task retry, no state written after. Unset,
`reached` is one dictionary lookup. The reliability suite's kill test (test_kill_and_rerun)
lists the points and kills a run at each.
"""

from __future__ import annotations

import os
import signal

ENV = "LMKILN_KILL_AT"


def reached(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)
