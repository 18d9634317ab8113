"""Flow run names that say which night a run belongs to."""

from __future__ import annotations

from collections.abc import Callable

from lmkiln.tasks.core import clock


def dated(flow_name: str) -> Callable[[], str]:
    """`nightly-2026-11-26-0200`: Prefect calls this when it creates the run."""
    return lambda: f"{flow_name}-{clock.now():%Y-%m-%d-%H%M}"
