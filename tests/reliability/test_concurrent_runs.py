"""Two nightly runs started at once on one data root: one runs, the other waits for it and
then finds its work done; nothing is collected, trained or registered twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import deeplake
import pytest
import yaml
from mlflow.tracking import MlflowClient

from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from tests.helpers.pipelines import TINY_PIPELINE
from tests.helpers.routes import unused_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_second_run_waits_for_the_first_and_the_lake_stays_whole(tmp_path) -> None:
    config = PipelineConfig.model_validate(
        TINY_PIPELINE | {"storage": {"data_root": str(tmp_path)}}
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    results = tmp_path / "results"  # one task cache, as two runs on one machine share

    def start(name: str) -> subprocess.Popen:
        env = os.environ | {
            "PREFECT_HOME": str(tmp_path / f"prefect-{name}"),  # a Prefect database each
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(results),
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
        command = [sys.executable, "-m", "lmkiln.cli", "run", "-c", str(path)]
        command += ["--port", str(unused_port())]
        with (tmp_path / f"{name}.log").open("w") as log:
            return subprocess.Popen(command, env=env, stdout=log, stderr=log)

    runs = [start("a"), start("b")]
    codes = [run.wait(timeout=600) for run in runs]
    logs = [Path(tmp_path / f"{name}.log").read_text() for name in "ab"]
    assert codes == [0, 0], logs
    assert sum("waiting for" in log for log in logs) == 1  # exactly one of them waited

    # Each source appended to the raw table once, each stage committed once.
    messages = [
        version.message
        for version in deeplake.open_read_only(lake.head(config.storage.lake("raw")).path).history
    ]
    collected = [m for m in messages if m.startswith("collect ")]
    assert len(collected) == len(set(collected)) == 2  # pydoc and packages
    # The registry named too: without it MLflow takes the process-wide registry URI, which
    # an earlier test in this process may have pointed at its own store.
    client = MlflowClient(config.storage.mlflow_uri, registry_uri=config.storage.mlflow_uri)
    experiment = client.get_experiment_by_name(config.registry.experiment)
    assert len(client.search_runs([experiment.experiment_id])) == 1  # trained once
    assert len(client.search_model_versions("name = 'lmkiln'")) == 1  # registered once
