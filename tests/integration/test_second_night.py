"""The next night over an unchanged site: the collect flow's crawl is answered by 304s,
nothing is extracted or appended again, and the counters reach the run's artifact."""

from __future__ import annotations

import pytest
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

from lmkiln.flows.collect import collect
from lmkiln.flows.report import counter_rows
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from tests.helpers.prefect_api import task_states
from tests.helpers.routes import serve_routes
from tests.helpers.sites import ChangingSite

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_second_night_over_an_unchanged_site_is_all_304s(tmp_path) -> None:
    site = ChangingSite()
    with serve_routes(site.routes()) as base:
        config = PipelineConfig.model_validate(
            {
                "storage": {"data_root": str(tmp_path)},
                "collect": {
                    "web": [
                        {
                            "name": "site",
                            "start_urls": [f"{base}/"],
                            "max_depth": 3,
                            "allow_private_addresses": True,
                        }
                    ]
                },
            }
        )
        first = collect(config)
        # The next night: the day's cached result is ignored, as a new bucket would.
        with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: True}):
            state = collect(config, return_state=True)
    second = state.result()

    assert task_states(state.state_details.flow_run_id)["scrape-site"] == ["Completed"]
    (night1,), (night2,) = first.sources, second.sources
    assert night1.added == 4 and night1.counters["extracted"] == 4
    assert night2.added == 0
    assert night2.counters["not_modified"] == 4 and night2.counters["extracted"] == 0
    assert second.raw.rows == first.raw.rows == 4
    pages = lake.head(config.storage.lake("pages"))
    assert pages is not None and pages.rows == 4  # a 304 adds no page row
    counters = {(r["source"], r["counter"]): r["value"] for r in counter_rows(second)}
    assert counters[("site", "not_modified")] == 4 and counters[("site", "http_304")] == 4
