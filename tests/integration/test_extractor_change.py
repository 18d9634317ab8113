"""A web source's extractor changes between nights: the next night re-extracts the stored
pages with no request to the site, the changed texts become new documents that name the new
extractor, and the night after crawls again (all 304s)."""

from __future__ import annotations

import json

import pytest
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

from lmkiln.flows.collect import collect
from lmkiln.tasks.collect.extract import extractors
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from tests.helpers.routes import serve_routes
from tests.helpers.sites import ChangingSite

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _config(root: str, base: str, extractor: str) -> PipelineConfig:
    web = {
        "name": "site",
        "start_urls": [f"{base}/"],
        "max_depth": 3,
        "allow_private_addresses": True,
        "extractor": extractor,
    }
    return PipelineConfig.model_validate(
        {"storage": {"data_root": root}, "collect": {"web": [web]}}
    )


def test_a_changed_extractor_reextracts_the_stored_pages_without_a_request(tmp_path) -> None:
    site, log = ChangingSite(), []
    # The pages whose text trafilatura gives differently: those become new documents.
    differing = {
        path
        for path in site.versions
        if extractors.extract_text(site.body(path), "", "auto")
        != extractors.extract_text(site.body(path), "", "trafilatura")
    }
    assert differing  # else the night would have nothing to show
    with serve_routes(site.routes(), log) as base:
        first = collect(_config(str(tmp_path), base, "auto"))
        crawled = list(log)
        log.clear()
        # The next nights: the day's cached results are ignored, as a new bucket would.
        with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: True}):
            second = collect(_config(str(tmp_path), base, "trafilatura"))
            requests_second = list(log)
            third = collect(_config(str(tmp_path), base, "trafilatura"))

    assert set(site.versions) < set(crawled)  # and robots.txt, sitemap.xml
    assert requests_second == []
    (night1,), (night2,), (night3,) = first.sources, second.sources, third.sources
    assert night1.added == 4
    assert night2.added == len(differing) and night2.counters["reextracted"] == len(differing)
    assert night2.counters["unchanged_text"] == 4 - len(differing)
    assert night3.added == 0 and night3.counters["not_modified"] == 4

    made_by = [
        (row["url"].removeprefix(base), json.loads(row["meta"])["extractor"])
        for row in lake.read(second.raw, ["url", "meta"])
    ]
    assert len(made_by) == 4 + len(differing)  # nothing appended twice
    assert {made for _, made in made_by[:4]} == {extractors.identity("auto")}
    assert sorted(url for url, _ in made_by[4:]) == sorted(differing)
    assert {made for _, made in made_by[4:]} == {extractors.identity("trafilatura")}
    pages = lake.head(str(tmp_path / "lake" / "pages"))
    assert pages is not None
    rows = list(lake.read(pages, ("extractor", "html_gz")))
    # A row per page fetched, then a row per page re-extracted, without its HTML again.
    assert [row["extractor"] for row in rows] == [extractors.identity("auto")] * 4 + [
        extractors.identity("trafilatura")
    ] * 4
    assert all(row["html_gz"] for row in rows[:4]) and not any(row["html_gz"] for row in rows[4:])
