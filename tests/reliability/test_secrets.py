"""Secrets given to sources never land anywhere: a whole nightly run with an API token and an
LLM endpoint key, then every file under the data root and Prefect's home, every text column
of every lake table, and everything the run printed or logged are searched for them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import deeplake
import pytest

from lmkiln.flows.nightly import nightly
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from tests.helpers.openai_fake import FakeOpenAI, serve_openai
from tests.helpers.pipelines import TINY_PIPELINE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

API_TOKEN = "tok-3f9d2c7a41e8"
LLM_KEY = "sk-live-8b1e5a0c77d2"
SECRETS = (API_TOKEN, LLM_KEY)


def files_holding(root: Path, secret: str) -> list[str]:
    needle = secret.encode("utf-8")
    found = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            found.append(str(path))
    return found


def test_no_secret_reaches_logs_artifacts_mlflow_or_the_lake(
    tmp_path, monkeypatch, caplog, capfd
) -> None:
    monkeypatch.setenv("LMKILN_TEST_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("LMKILN_TEST_LLM_KEY", LLM_KEY)
    caplog.set_level(logging.DEBUG)  # urllib3's request lines included
    fake = FakeOpenAI(api_key=LLM_KEY)
    with serve_openai(fake) as base:
        collect = dict(TINY_PIPELINE["collect"])
        (api,) = collect["api"]
        collect["api"] = [api | {"auth": {"scheme": "bearer", "env": "LMKILN_TEST_API_TOKEN"}}]
        endpoint = {
            "base_url": base,
            "model": "fake-model",
            "auth": {"scheme": "bearer", "env": "LMKILN_TEST_LLM_KEY"},
        }
        collect["synthetic"] = [
            {
                "name": "guides",
                "endpoint": endpoint,
                "templates": [{"id": "explain", "text": "Explain {topic}."}],
                "topics": ["json", "pathlib"],
            }
        ]
        config = PipelineConfig.model_validate(
            TINY_PIPELINE | {"collect": collect, "storage": {"data_root": str(tmp_path)}}
        )
        report = nightly(config)

    assert not report.collected.failures and len(fake.requests) == 2  # the key did its work
    by_source = {s.source: s for s in report.collected.sources}
    assert by_source["packages"].added > 0 and by_source["guides"].added == 2
    printed = capfd.readouterr()
    for secret in SECRETS:
        assert files_holding(tmp_path, secret) == [], secret
        assert files_holding(Path(os.environ["PREFECT_HOME"]), secret) == [], secret
        assert secret not in caplog.text and secret not in printed.out + printed.err
        assert secret not in config.model_dump_json() and secret not in report.summary
    for table in ("raw", "clean", "corpus", "quarantine", "pages"):
        head = lake.head(config.storage.lake(table))
        if head is None:
            continue
        names = [c.name for c in deeplake.open_read_only(head.path).schema.columns]
        columns = [c for c in names if c not in lake.BYTES_COLUMNS]  # bytes: scanned as files
        for row in lake.read(head, columns):
            text = " ".join(str(value) for value in row.values())
            assert not any(secret in text for secret in SECRETS), table
