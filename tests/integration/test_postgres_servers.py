"""Prefect and MLflow on PostgreSQL, as a team would run them: a throwaway cluster, a real
`prefect server start` and a real `mlflow server` on it, and `lmkiln run` pointed at both
(PREFECT_API_URL, storage.tracking_uri). The flow runs, the MLflow run and the registered
champion are then read back through both servers' APIs and straight from Postgres."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests
import yaml
from mlflow.tracking import MlflowClient

from lmkiln.servers import healthy
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.registry.models import describe_champion
from tests.helpers.pipelines import TINY_PIPELINE
from tests.helpers.postgres import Cluster, postgres_cluster
from tests.helpers.routes import unused_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START_TIMEOUT_S = 180  # Prefect's first start on an empty database runs every migration
RUN_TIMEOUT_S = 600


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any MLflow store or Prefect server left over."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("MLFLOW_") and k.endswith("_URI")) and k != "PREFECT_API_URL"
    }
    return env | extra


@contextmanager
def _server(command: list[str], env: dict[str, str], health_url: str, log: Path):
    """A server process in its own process group, stopped with its children at the end."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # both servers start worker processes of their own
        )
    try:
        yield process, health_url
    finally:
        # The group's id is the server's pid: only what this test started is signalled.
        # SIGTERM, as a service manager stops them: `mlflow server` ignores SIGINT.
        for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue


def _wait_healthy(servers: list[tuple[subprocess.Popen, str]], logs: list[Path]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = list(zip(servers, logs, strict=True))
    while waiting:
        for (process, url), log in list(waiting):
            if healthy(url):
                waiting.remove(((process, url), log))
            elif process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"{url} did not answer (exit code {process.poll()}); {log}:\n"
                    + log.read_text(errors="replace")[-3000:]
                )
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with postgres_cluster(databases=("prefect", "mlflow")) as pg:
        yield pg


@pytest.fixture(scope="module")
def servers(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Prefect's API URL and MLflow's URL, both servers on the cluster."""
    folder = tmp_path_factory.mktemp("servers")
    prefect_port, mlflow_port = unused_port(), unused_port()
    prefect_api = f"http://127.0.0.1:{prefect_port}/api"
    mlflow_url = f"http://127.0.0.1:{mlflow_port}"
    prefect_env = _clean_env(
        PREFECT_HOME=str(folder / "prefect-server"),
        PREFECT_API_DATABASE_CONNECTION_URL=cluster.url("prefect", "postgresql+asyncpg"),
    )
    prefect_command = [sys.executable, "-m", "prefect", "server", "start"]
    prefect_command += ["--host", "127.0.0.1", "--port", str(prefect_port)]
    mlflow_command = [sys.executable, "-m", "mlflow", "server"]
    mlflow_command += ["--backend-store-uri", cluster.url("mlflow", "postgresql+psycopg2")]
    mlflow_command += ["--artifacts-destination", str(folder / "artifacts")]
    mlflow_command += ["--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1"]
    # lmkiln asks the server for no jobs (GenAI scoring, trace archival); without the job
    # consumers it starts sooner and stops on SIGTERM at once, instead of after ~20 s.
    mlflow_env = _clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    logs = [folder / "prefect.log", folder / "mlflow.log"]
    with ExitStack() as stack:
        started = [
            stack.enter_context(
                _server(prefect_command, prefect_env, f"{prefect_api}/health", logs[0])
            ),
            stack.enter_context(
                _server(mlflow_command, mlflow_env, f"{mlflow_url}/health", logs[1])
            ),
        ]
        _wait_healthy(started, logs)
        yield {"prefect_api": prefect_api, "mlflow": mlflow_url, "artifacts": folder / "artifacts"}


@pytest.fixture(scope="module")
def night(servers: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One tiny nightly, run the way a user runs it: `lmkiln run` with a config file."""
    folder = tmp_path_factory.mktemp("night")
    data = {
        **TINY_PIPELINE,
        "train": TINY_PIPELINE["train"] | {"max_steps": 4, "save_steps": 4},
        "storage": {"data_root": str(folder / "data"), "tracking_uri": servers["mlflow"]},
    }
    config = PipelineConfig.model_validate(data)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    client_home = folder / "prefect-client"
    env = _clean_env(PREFECT_API_URL=servers["prefect_api"], PREFECT_HOME=str(client_home))
    command = [sys.executable, "-m", "lmkiln.cli", "run", "-c", str(path)]
    done = subprocess.run(
        command + ["--port", str(unused_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"config": config, "client_home": client_home, "output": done.stdout}


def test_flow_runs_are_stored_in_postgres(cluster, servers, night) -> None:
    api = servers["prefect_api"]
    runs = requests.post(f"{api}/flow_runs/filter", json={}, timeout=30).json()
    found = requests.post(f"{api}/flows/filter", json={}, timeout=30).json()
    flows = {flow["id"]: flow["name"] for flow in found}
    through_api = {(flows[r["flow_id"]], r["id"], r["state_type"]) for r in runs}
    assert {name for name, _, _ in through_api} >= {"nightly", "collect"}
    assert all(state == "COMPLETED" for _, _, state in through_api), through_api

    rows = cluster.query(
        "prefect",
        "SELECT f.name, r.id, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id",
    )
    assert {tuple(row) for row in rows} == through_api
    # The run used the server: no Prefect database of its own was created.
    assert not list(night["client_home"].glob("*.db"))


def test_run_and_champion_are_stored_in_postgres(cluster, servers, night, tmp_path) -> None:
    config: PipelineConfig = night["config"]
    client = MlflowClient(tracking_uri=servers["mlflow"], registry_uri=servers["mlflow"])
    champion = client.get_model_version_by_alias("lmkiln", "champion")
    assert champion.version == "1"
    run = client.get_run(champion.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["bits_per_byte"] > 0
    nightly_runs = cluster.query(
        "prefect",
        "SELECT r.id FROM flow_run r JOIN flow f ON f.id = r.flow_id WHERE f.name = 'nightly'",
    )
    assert nightly_runs == [[champion.tags["flow_run_id"]]]

    stored = cluster.query("mlflow", "SELECT run_uuid, status, experiment_id FROM runs")
    experiments = cluster.query("mlflow", "SELECT experiment_id, name FROM experiments")
    assert stored == [[run.info.run_id, "FINISHED", run.info.experiment_id]]
    assert [run.info.experiment_id, "lmkiln"] in experiments
    aliases = cluster.query("mlflow", "SELECT name, alias, version FROM registered_model_aliases")
    assert aliases == [["lmkiln", "champion", "1"]]
    versions = cluster.query("mlflow", "SELECT name, version, run_id FROM model_versions")
    assert versions == [["lmkiln", "1", run.info.run_id]]

    # Artifacts went through the server to its artifact store, not into the data root.
    saved = client.download_artifacts(run.info.run_id, "data_quality.json", str(tmp_path))
    assert Path(saved).read_text().startswith("{")
    assert list(servers["artifacts"].rglob("data_quality.json"))
    assert not (config.storage.root / "mlflow" / "mlflow.db").exists()
    assert not (config.storage.root / "mlflow" / "artifacts").exists()

    # What `lmkiln champion` shows, read through storage.tracking_uri.
    shown = describe_champion(config.storage, "lmkiln")
    assert shown is not None and shown["version"] == "1" and shown["run_id"] == run.info.run_id


def test_a_database_tracking_uri_keeps_artifacts_under_the_data_root(cluster, tmp_path) -> None:
    """storage.tracking_uri may name the database itself, without a tracking server: MLflow
    then opens it, and artifacts stay in the data root as with SQLite."""
    storage = {
        "data_root": str(tmp_path / "data"),
        "tracking_uri": cluster.url("mlflow", "postgresql+psycopg2"),
    }
    # A process of its own: use_tracking sets MLflow's process-wide URIs.
    script = (
        "import sys; from lmkiln.tasks.config.storage import StorageConfig; "
        "from lmkiln.tasks.registry.tracking import use_tracking; "
        "print(use_tracking(StorageConfig.model_validate_json(sys.argv[1]), "
        "'direct'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(storage)],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    experiment_id = done.stdout.split()[-1]
    rows = cluster.query(
        "mlflow", "SELECT experiment_id, artifact_location FROM experiments WHERE name = 'direct'"
    )
    artifacts = tmp_path / "data" / "mlflow" / "artifacts" / "direct"
    assert rows == [[experiment_id, artifacts.as_uri()]]
    assert artifacts.is_dir()


def test_lmkiln_ui_shows_the_configured_servers_and_leaves_them_running(servers, tmp_path):
    path = tmp_path / "config.yaml"
    storage = {"data_root": str(tmp_path / "data"), "tracking_uri": servers["mlflow"]}
    path.write_text(yaml.safe_dump({"storage": storage}))
    env = _clean_env(PREFECT_API_URL=servers["prefect_api"], PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "lmkiln.cli", "ui", "-c", str(path)]
    command += ["--prefect-port", str(unused_port()), "--mlflow-port", str(unused_port())]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as ui:
        try:
            shown = [ui.stdout.readline().strip() for _ in range(2)]
        finally:
            ui.terminate()
            ui.wait(timeout=30)
    assert shown == [
        f"Prefect UI: {servers['prefect_api'].removesuffix('/api')}",
        f"MLflow UI:  {servers['mlflow']}",
    ]
    assert healthy(f"{servers['prefect_api']}/health") and healthy(f"{servers['mlflow']}/health")
