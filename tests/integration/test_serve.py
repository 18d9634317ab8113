"""`lmkiln serve` against a real `prefect server start`: a retrain run triggered through the
API, with a parameter changed as a person would in the UI form, executes for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import ExitStack
from functools import partial

import mlflow
import pytest
import yaml

from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from tests.helpers.prefect_api import prefect_server, wait_for

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
    servers = ExitStack()
    server = servers.enter_context(prefect_server(tmp_path / "prefect"))
    api_url, env = server.api_url, server.env
    serving = None
    try:
        serve_command = [sys.executable, "-m", "lmkiln.cli", "serve", "-c", str(config_path)]
        serving = subprocess.Popen(serve_command, env=env, preexec_fn=_default_sigint)
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
            assert nightly.concurrency_options.collision_strategy == "CANCEL_NEW"
            assert deployment.concurrency_options.collision_strategy == "ENQUEUE"

            # A corpus commit lands and is announced: the automation runs retrain on it.
            from prefect.events.clients import PrefectEventsClient
            from prefect.events.worker import EventsWorker

            from lmkiln.tasks.split import announce

            landed = make_corpus(config, first=60, count=12)
            # Prefect keeps one events worker per process, whatever server an earlier test
            # in this process sent its events to: this event goes to this test's server.
            EventsWorker.set_client_override(PrefectEventsClient, api_url=api_url)
            try:
                announce(landed, 12, config.storage)
            finally:
                EventsWorker.set_client_override(None)

            def retrained():
                runs = c.read_flow_runs(limit=20)
                found = [
                    r
                    for r in runs
                    if r.parameters.get("params", {}).get("corpus_commit") == landed.commit
                ]
                return found and found[0].state.is_final() and found[0]

            triggered = wait_for(retrained, 480, "the retrain the automation starts")
            assert triggered.state.is_completed(), triggered.state

            # Stopping serving (a service manager's SIGTERM, then a person's Ctrl-C) exits
            # cleanly and leaves every deployment and schedule active.
            for stop in (signal.SIGTERM, signal.SIGINT):
                serving.send_signal(stop)
                assert serving.wait(timeout=60) == 0, stop
                for name in DEPLOYMENTS:
                    served = c.read_deployment_by_name(name)
                    assert not served.paused and all(s.active for s in served.schedules), name
                if stop == signal.SIGTERM:
                    stopped = c.read_deployment_by_name("nightly/nightly").last_polled
                    serving = subprocess.Popen(serve_command, env=env, preexec_fn=_default_sigint)
                    wait_for(partial(_polled_since, c, stopped), 90, "serving again")
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        if serving is not None:
            serving.send_signal(signal.SIGINT)
            try:
                serving.wait(timeout=30)
            except subprocess.TimeoutExpired:
                serving.kill()
        servers.close()

    mlflow.set_tracking_uri(config.storage.mlflow_uri)
    runs = mlflow.search_runs(experiment_names=["lmkiln"], output_format="list")
    by_commit = {run.data.params["corpus_commit"]: run for run in runs}
    assert len(runs) == 2 and by_commit[landed.commit].data.params["max_steps"] == "2"
    assert {run.data.params["max_steps"] for run in runs} == {"2", "3"}


DEPLOYMENTS = ("nightly/nightly", "retrain/retrain", "collect/collect")


def _default_sigint() -> None:
    """Ctrl-C as a person's terminal delivers it: a shell without job control (`pytest &`
    in a script) starts its background jobs with SIGINT ignored, and a child inherits that,
    so `lmkiln serve` would never hear the test's SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _polled_since(client, last) -> bool:
    """A serving process has asked the server for the nightly's runs since its `last` poll:
    both times are the server's, so no other clock is compared with them."""
    polled = client.read_deployment_by_name("nightly/nightly").last_polled
    return polled is not None and (last is None or polled > last)


def _deployment(client, name: str):
    try:
        return client.read_deployment_by_name(name)
    except Exception:  # ObjectNotFound until the serving process has registered it
        return None
