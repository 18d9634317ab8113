"""Test environment: Prefect, MLflow and Hugging Face state in a temporary folder.

Set at import time, before any test module imports Prefect, which reads its settings once.

Tests that touch the calendar are marked `calendar`, and `make test` runs them a second time
with the whole process tree's clock a year ahead (faketime): a test that fixes a date while
the code reads the real clock then fails on the day it is written, not on a later one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.helpers.imports import helper_sources

_STATE = Path(tempfile.mkdtemp(prefix="lmkiln-tests-"))
os.environ.update(
    {
        "PREFECT_HOME": str(_STATE / "prefect"),
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "lmkiln",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "HF_HOME": str(_STATE / "hf"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
)
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("MLFLOW_REGISTRY_URI", None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_STATE, ignore_errors=True)


# What marks a test module as one that touches the calendar: dates written out, date
# arithmetic, lmkiln's clock, file times, HTTP date validators, in its own source or in the
# definitions it imports from tests/helpers (a site that answers If-Modified-Since).
CALENDAR = re.compile(
    r"\bdatetime\b|\btimedelta\b|\bbucket_start\b|\bclock\b|\btime\.time\(|\butime\b|mtime"
    r"|\b(?:19|20)\d\d-[01]\d-[0-3]\d|Last-Modified|If-Modified-Since|Retry-After"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    touches: dict[Path, bool] = {}
    for item in items:
        path = Path(item.path)
        if path not in touches:
            sources = [path.read_text(encoding="utf-8"), *helper_sources(path)]
            touches[path] = any(CALENDAR.search(source) for source in sources)
        if touches[path] and not item.get_closest_marker("moves_the_clock"):
            item.add_marker(pytest.mark.calendar)
