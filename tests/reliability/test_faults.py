"""One night with 20% of requests failing (5xx, 429, resets, stalls past the read timeout):
every page and every API record lands in the raw table exactly once, and the counters say
so. The faults come from real sockets (tests.helpers.Faults)."""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest

from lmkiln.flows.collect import collect
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import DOCUMENT_COLUMNS
from tests.helpers.routes import JSON, Faults, Response, html_page, serve_routes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAGES = 30
RECORDS = 45
PER_PAGE = 10


def site() -> dict[str, Response]:
    """Page n links to pages 2n+1 and 2n+2: a tree four levels deep."""
    routes: dict[str, Response] = {}
    for n in range(PAGES):
        children = [c for c in (2 * n + 1, 2 * n + 2) if c < PAGES]
        links = "".join(f'<a href="/p/{c}">page {c}</a> ' for c in children)
        path = "/" if n == 0 else f"/p/{n}"
        routes[path] = html_page(f"page {n}", f"<main><p>The text of page {n}.</p>{links}</main>")
    return routes


def records(path: str) -> Response:
    page = int(parse_qs(urlsplit(path).query).get("page", ["1"])[0])
    numbers = range((page - 1) * PER_PAGE, min(page * PER_PAGE, RECORDS))
    items = [
        {"id": f"r{n}", "title": f"record {n}", "text": f"text of record {n}"} for n in numbers
    ]
    return 200, JSON, json.dumps({"items": items})


def test_a_night_with_one_request_in_five_failing_loses_and_repeats_nothing(tmp_path) -> None:
    faults = Faults(rate=0.2, seed=7, retry_after_s=0, stall_s=1.5)
    with (
        serve_routes(site(), faults=faults) as web,
        serve_routes({"/records": records}, faults=faults) as api,
    ):
        polite = {"retries": 3, "timeout_s": 0.5}
        config = PipelineConfig.model_validate(
            {
                "storage": {"data_root": str(tmp_path)},
                "collect": {
                    "web": [
                        {
                            "name": "site",
                            "start_urls": [f"{web}/"],
                            "max_depth": 5,
                            "concurrency": 4,
                            "allow_private_addresses": True,
                            **polite,
                        }
                    ],
                    "api": [{"name": "records", "url": f"{api}/records", **polite}],
                },
            }
        )
        report = collect(config)

    assert report.failures == {}
    assert set(faults.injected) == {"500", "503", "429", "reset", "stall"}
    rows = list(lake.read(report.raw, DOCUMENT_COLUMNS))
    by_source = Counter(row["source"] for row in rows)
    assert by_source == {"site": PAGES, "records": RECORDS}
    urls = Counter(row["url"] for row in rows if row["source"] == "site")
    assert set(urls.values()) == {1} and f"{web}/p/{PAGES - 1}" in urls
    titles = Counter(row["title"] for row in rows if row["source"] == "records")
    assert set(titles.values()) == {1}
    counters = {result.source: result.counters for result in report.sources}
    assert counters["site"]["pages_fetched"] == PAGES and counters["site"]["errors"] == 0
    assert counters["site"]["http_200"] == PAGES
