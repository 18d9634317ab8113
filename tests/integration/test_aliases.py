"""The demo's sites reach a source only as URL aliases, applied inside the collect task: the
task's cache key names the source as configured, so a demo server on another port the next
run (as it is each night) finds the result cached instead of crawling again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prefect import flow

from lmkiln.tasks.collect.tasks import scrape_site
from lmkiln.tasks.config.collect import WebSource
from lmkiln.tasks.config.storage import StorageConfig
from tests.helpers.routes import html_page, serve_routes

pytestmark = pytest.mark.integration

SITE = {
    "/": html_page(
        "home", '<main><p>Fire the kiln slowly, then let it cool.</p><a href="/b">b</a></main>'
    ),
    "/b": html_page("b", "<main><p>Glaze the bisque before the second firing.</p></main>"),
}


@flow
def scrape_twice(source: WebSource, storage: StorageConfig, first: str, second: str) -> list:
    tonight = datetime(2026, 12, 7, tzinfo=UTC)
    return [
        scrape_site(source, storage, tonight, {"demo://site": base}, return_state=True)
        for base in (first, second)
    ]


def test_a_demo_site_on_another_port_finds_the_task_cached(tmp_path) -> None:
    source = WebSource(name="site", start_urls=["demo://site/"], allow_private_addresses=True)
    storage = StorageConfig(data_root=str(tmp_path))
    first_log: list[str] = []
    second_log: list[str] = []
    with serve_routes(SITE, first_log) as first, serve_routes(SITE, second_log) as second:
        assert first != second
        one, two = scrape_twice(source, storage, first, second)

    assert one.is_completed() and one.result().added == 2
    assert two.name == "Cached" and two.result().added == 2
    assert first_log and not second_log  # the second port was never asked
