"""A service's view of the registry: `mlflow models serve -m models:/<name>@champion`, a real
MLflow scoring server on 127.0.0.1, answers `/invocations` with generated text."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from lmkiln.tasks.config.registry import RegisterConfig
from lmkiln.tasks.registry.register import register_model
from lmkiln.tasks.train.tasks import train_model
from tests.helpers.routes import unused_port
from tests.helpers.training import TINY, corpus_rows, make_corpus

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_served_champion_answers_invocations(tmp_path: Path) -> None:
    storage, corpus = make_corpus(tmp_path, corpus_rows())
    run = train_model(corpus, TINY, storage, "serving", {})
    model = register_model(run, RegisterConfig(model_name="served", experiment="serving"), storage)
    assert model.aliases == ("champion",)

    port = unused_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    # As from an activated virtual environment: the server runs `uvicorn` from PATH.
    path = f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = os.environ | {"MLFLOW_TRACKING_URI": storage.mlflow_uri, "PATH": path}
    command = [str(mlflow), "models", "serve", "-m", "models:/served@champion"]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no /ping answer in 120 s\n" + log.read_text()
            try:
                if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        answer = requests.post(
            f"{url}/invocations",
            json={"inputs": ["The river", "Potters fire"]},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        assert len(predictions) == 2 and all(isinstance(p, str) and p for p in predictions)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
