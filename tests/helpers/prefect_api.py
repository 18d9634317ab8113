"""Prefect for tests: a real `prefect server start` of a test's own, and what Prefect
recorded about a flow run and its sub-flows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)

from lmkiln.servers import healthy
from tests.helpers.routes import unused_port


def task_states(flow_run_id: UUID) -> dict[str, list[str]]:
    """Task name -> final state names, for a flow run and its sub-flows (one level deep)."""
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])
            )
        )
        ids = [flow_run_id, *(run.id for run in children)]
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=ids))
        )
    # Every lmkiln task sets a fixed task_run_name, so names are stable keys.
    states: dict[str, list[str]] = {}
    for run in runs:
        states.setdefault(run.name, []).append(run.state.name if run.state else "unknown")
    return states


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `check` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    env: dict[str, str]  # for processes that talk to this server, as a user's shell would


@contextmanager
def prefect_server(home: Path) -> Iterator[PrefectServer]:
    """A real `prefect server start` on 127.0.0.1 with its own database under `home`
    (the ephemeral server of the other tests has its own), stopped on exit."""
    port = unused_port()
    api_url = f"http://127.0.0.1:{port}/api"
    # Like a fresh shell: no MLflow store left over from other tests in this process.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") or "URI" not in k}
    env |= {"PREFECT_HOME": str(home), "PREFECT_API_URL": api_url}
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env | {"PREFECT_API_URL": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: healthy(f"{api_url}/health"), 120, "the Prefect server")
        yield PrefectServer(api_url, env)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
