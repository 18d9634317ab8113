"""A source that fails fails alone: the others' documents still land, and the report says
what failed. A flaky source is retried by Prefect until it succeeds."""

from __future__ import annotations

import json

import pytest

from lmkiln.flows.collect import collect
from lmkiln.flows.report import source_rows
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from tests.helpers.prefect_api import task_states
from tests.helpers.routes import JSON, serve_routes, unused_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = [{"id": i, "title": f"record {i}", "text": f"text of record {i} " * 20} for i in range(3)]


def page(query: str) -> tuple[int, dict[str, str], str]:
    number = int(query.rpartition("page=")[2] or 1)
    items = RECORDS if number == 1 else []
    return 200, JSON, json.dumps({"items": items})


def test_flaky_source_is_retried_and_broken_ones_fail_alone(tmp_path):
    unavailable = (503, JSON, json.dumps({"error": "try later"}))
    calls = {"n": 0}

    def flaky(query: str):
        calls["n"] += 1
        return unavailable if calls["n"] <= 2 else page(query)

    requests: list[str] = []
    routes = {"/records": flaky, "/gone": (404, JSON, "{}")}
    with serve_routes(routes, log=requests) as base:
        config = PipelineConfig.model_validate(
            {
                "storage": {"data_root": str(tmp_path)},
                "collect": {
                    # retries: 0 turns off per-request retries, so each 503 fails the task.
                    "api": [
                        {"name": "flaky", "url": f"{base}/records", "retries": 0},
                        {"name": "down", "url": f"http://127.0.0.1:{unused_port()}/x"},
                    ],
                    "web": [
                        {
                            "name": "gone",
                            "start_urls": [f"{base}/gone"],
                            "retries": 0,
                            "allow_private_addresses": True,
                        }
                    ],
                },
            }
        )
        state = collect(config, return_state=True)
    report = state.result()

    assert set(report.failures) == {"down", "gone"}
    assert "404" in report.failures["gone"]
    assert [s.source for s in report.sources] == ["flaky"]
    assert report.raw.rows == len(RECORDS) == lake.head(config.storage.lake("raw")).rows

    states = task_states(state.state_details.flow_run_id)
    assert states["api-flaky"] == ["Completed"]
    assert states["api-down"] == ["Failed"]
    assert states["scrape-gone"] == ["Failed"]
    assert calls["n"] == 3 + 1  # two failed tries, then page 1 and the empty page 2
    assert requests.count("/gone") == 1  # a 404 is final: neither urllib3 nor Prefect retries
    reported = {row["source"]: row for row in source_rows(report)}
    assert reported["down"]["status"] == reported["gone"]["status"] == "failed"
    assert "HTTP 404 is not retried" in str(reported["gone"]["detail"])
