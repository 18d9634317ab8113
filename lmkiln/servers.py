"""Prefect and MLflow servers on 127.0.0.1, started for the CLI when none is running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from lmkiln.tasks.config.storage import StorageConfig

START_TIMEOUT_S = 120.0  # the first start of a Prefect server runs its database migrations


def healthy(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


@contextmanager
def _process(
    name: str, command: Sequence[str], health_url: str, env: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Run a server until the block ends; reuse one already answering on its port.

    `env` adds to (and overrides) this process's environment for the server."""
    if healthy(health_url):
        yield
        return
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, env=os.environ | dict(env or {}))
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not healthy(health_url):
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode} on start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer {health_url} in {START_TIMEOUT_S:.0f}s")
            time.sleep(0.5)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def prefect_server(port: int) -> Iterator[str]:
    """Yield the API URL of a Prefect server on 127.0.0.1:`port`, started if needed."""
    api_url = f"http://127.0.0.1:{port}/api"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    # `--port` does not reach the UI's settings: on any port but 4200 the UI would ask
    # 127.0.0.1:4200 for its data and show "Unable to connect". A URL the user set wins.
    env = {"PREFECT_UI_API_URL": os.environ.get("PREFECT_UI_API_URL") or api_url}
    with _process("prefect server", [*command, "--port", str(port)], f"{api_url}/health", env):
        yield api_url


@contextmanager
def mlflow_server(storage: StorageConfig, port: int) -> Iterator[str]:
    """Yield the URL of an MLflow UI on the project's store: the configured tracking server
    itself, else one started on 127.0.0.1:`port` over the store's database."""
    if storage.mlflow_uri.startswith(("http://", "https://")):
        yield storage.mlflow_uri
        return
    url = f"http://127.0.0.1:{port}"
    # One worker is plenty for one person's UI. MLflow's default of four, beside its job
    # runner, is 15 processes: on the loaded 2-core machine they took 20 s to answer and
    # were not all gone 30 s after a SIGTERM; these settings, 11 s and 2 s.
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", storage.mlflow_uri,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    # The job runner executes GenAI evaluation jobs, which lmkiln never submits.
    jobs = os.environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION") or "false"
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": jobs}
    with _process("mlflow server", command, f"{url}/health", env):
        yield url
