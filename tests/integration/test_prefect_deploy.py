"""deployments/prefect.yaml through `prefect deploy` to a process work pool, as an operator
would: the declarations land as written (schedule with its timezone, concurrency limits with
their collision strategies, the retrain automation, off), and a worker runs a `collect`
started with a person's parameters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from tests.helpers.prefect_api import prefect_server, wait_for
from tests.helpers.routes import JSON, serve_routes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def prefect(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_prefect_deploy_to_a_process_pool_and_a_worker_runs_it(tmp_path) -> None:
    records = {"items": [{"id": f"r{n}", "title": f"r{n}", "text": f"text {n}"} for n in range(7)]}
    with (
        prefect_server(tmp_path / "prefect") as server,
        serve_routes({"/records": (200, JSON, json.dumps(records))}) as api,
    ):
        env = server.env
        prefect("work-pool", "create", "lmkiln", "--type", "process", env=env)
        prefect(
            "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml", env=env
        )

        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with (
            temporary_settings({PREFECT_API_URL: server.api_url}),
            get_client(sync_client=True) as c,
        ):
            nightly = c.read_deployment_by_name("nightly/nightly")
            schedule = nightly.schedules[0]
            assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "UTC")
            assert schedule.active and not nightly.paused
            strategies = {
                name: c.read_deployment_by_name(f"{name}/{name}").concurrency_options
                for name in ("nightly", "retrain", "collect")
            }
            assert {n: o.collision_strategy for n, o in strategies.items()} == {
                "nightly": "CANCEL_NEW",
                "retrain": "ENQUEUE",
                "collect": "ENQUEUE",
            }
            assert nightly.work_pool_name == "lmkiln"
            (automation,) = c.read_automations()
            assert not automation.enabled and automation.trigger.expect == {
                "lmkiln.corpus.committed"
            }

            config = PipelineConfig.model_validate(
                {
                    "storage": {"data_root": str(tmp_path / "data")},
                    "collect": {"api": [{"name": "records", "url": f"{api}/records"}]},
                }
            )
            collect = c.read_deployment_by_name("collect/collect")
            run = c.create_flow_run_from_deployment(
                collect.id, parameters={"config": config.model_dump(mode="json")}
            )
            worker = [sys.executable, "-m", "prefect", "worker", "start", "--pool", "lmkiln"]
            subprocess.run(
                [*worker, "--run-once"], cwd=tmp_path, env=env, capture_output=True, timeout=300
            )
            final = wait_for(
                lambda: (r := c.read_flow_run(run.id)).state.is_final() and r, 60, "run"
            )
            assert final.state.is_completed(), final.state

    raw = lake.head(config.storage.lake("raw"))
    assert raw is not None and raw.rows == 7
