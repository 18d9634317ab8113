"""`lmkiln serve` against a real `prefect server start`: a retrain run triggered through the
API, with a parameter changed as a person would in the UI form, executes for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import mlflow
import pytest
import yaml

from tasks import lake
from tasks.config import PipelineConfig
from tests.helpers import unused_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORDS = "the quick brown fox jumps over the lazy dog while a model learns to write".split()
TRAIN = {
    "vocab_size": 300,
    "block_size": 16,
    "n_layer": 1,
    "n_head": 1,
    "n_embd": 16,
    "max_steps": 2,
    "batch_size": 4,
    "save_steps": 2,
    "warmup_steps": 0,
}


def make_corpus(config: PipelineConfig, first: int = 0, count: int = 60):
    rows = []
    for i in range(first, first + count):
        text = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(80))
        rows.append({"id": str(i), "text": text, "split": "validation" if i % 6 == 0 else "train"})
    return lake.append(config.storage.lake("corpus"), rows, lake.CORPUS_TABLE, "test corpus")


def wait_for(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def test_served_retrain_runs_with_a_parameter_changed_through_the_api(tmp_path):
    config = PipelineConfig.model_validate(
        {
            "storage": {"data_root": str(tmp_path / "data")},
            "train": TRAIN,
            "schedule": {"retrain_on_corpus": True},
        }
    )
    make_corpus(config)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    port = unused_port()
    api_url = f"http://127.0.0.1:{port}/api"
    # Like a fresh shell: no MLflow store left over from other tests in this process.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") or "URI" not in k}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api_url}
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        env=env | {"PREFECT_API_URL": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    serving = None
    try:
        from flows.servers import healthy

        wait_for(lambda: healthy(f"{api_url}/health"), 120, "the Prefect server")
        serving = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", "--config", str(config_path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.environ["PREFECT_API_URL"] = api_url
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as c:
            deployment = wait_for(
                lambda: _deployment(c, "retrain/retrain"), 90, "the retrain deployment"
            )
            params = deployment.parameters["params"]
            assert params["train"]["max_steps"] == 2  # the config file's value
            params["train"]["max_steps"] = 3  # what a person edits in the form
            run = c.create_flow_run_from_deployment(deployment.id, parameters={"params": params})
            final = wait_for(
                lambda: (r := c.read_flow_run(run.id)).state.is_final() and r, 240, "the run"
            )
            assert final.state.is_completed(), final.state

            nightly = _deployment(c, "nightly/nightly")
            assert nightly.schedules[0].schedule.cron == "0 2 * * *"
            assert nightly.global_concurrency_limit.limit == 1

            # A corpus commit lands and is announced: the automation runs retrain on it.
            from tasks.split import announce

            landed = make_corpus(config, first=60, count=12)
            announce(landed, 12)

            def retrained():
                runs = c.read_flow_runs(limit=20)
                found = [
                    r
                    for r in runs
                    if r.parameters.get("params", {}).get("corpus_commit") == landed.commit
                ]
                return found and found[0].state.is_final() and found[0]

            triggered = wait_for(retrained, 240, "the retrain the automation starts")
            assert triggered.state.is_completed(), triggered.state
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        for process in (serving, server):
            if process is not None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()

    mlflow.set_tracking_uri(config.storage.mlflow_uri)
    runs = mlflow.search_runs(experiment_names=["lmkiln"], output_format="list")
    by_commit = {run.data.params["corpus_commit"]: run for run in runs}
    assert len(runs) == 2 and by_commit[landed.commit].data.params["max_steps"] == "2"
    assert {run.data.params["max_steps"] for run in runs} == {"2", "3"}


def _deployment(client, name: str):
    try:
        return client.read_deployment_by_name(name)
    except Exception:  # ObjectNotFound until the serving process has registered it
        return None
