from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from tasks.api import fetch_api, page_url
from tasks.config import ApiSource
from tasks.http import SourceUnavailable
from tests.helpers import JSON, Response, serve_routes, unused_port


def paged(pages: dict[int, object], past_end: object = None) -> object:
    """A route answering `?page=N` with pages[N] as JSON, then `past_end` (no items)."""

    def route(path: str) -> Response:
        page = int(parse_qs(urlsplit(path).query)["page"][0])
        return 200, JSON, json.dumps(pages.get(page, past_end or {"items": []}))

    return route


def record(n: int, text: str = "") -> dict[str, object]:
    return {
        "id": f"r{n}",
        "title": f"Record {n}",
        "text": text or f"text of record {n}",
        "url": f"https://api.test/r/{n}",
        "updated_at": f"2024-01-0{n}",
    }


def api_source(base: str, **overrides: object) -> ApiSource:
    return ApiSource.model_validate(
        {"name": "things", "url": base + "/things", "retries": 0, "timeout_s": 5, **overrides}
    )


def test_pages_are_read_until_an_empty_page() -> None:
    pages = {
        1: {"items": [record(1), record(2)]},
        2: {"items": [record(3)]},
        3: {"items": [record(4)]},
    }
    log: list[str] = []
    with serve_routes({"/things": paged(pages)}, log) as base:
        docs, counters = fetch_api(api_source(base), {})

    assert [doc.title for doc in docs] == ["Record 1", "Record 2", "Record 3", "Record 4"]
    assert log == [f"/things?page={n}" for n in (1, 2, 3, 4)]
    assert counters == {"pages": 3, "records": 4, "records_without_text": 0}
    first = docs[0]
    assert first.kind == "api" and first.source == "things"
    assert first.text == "text of record 1" and first.url == "https://api.test/r/1"
    assert first.meta == {"page": 1, "id": "r1", "updated_at": "2024-01-01"}


def test_next_page_null_stops_without_asking_again() -> None:
    pages = {
        1: {"items": [record(1)], "next_page": 2},
        2: {"items": [record(2)], "next_page": None},
    }
    log: list[str] = []
    with serve_routes({"/things": paged(pages)}, log) as base:
        docs, counters = fetch_api(api_source(base), {})

    assert len(docs) == 2 and counters["pages"] == 2
    assert len(log) == 2


def test_max_pages_bounds_the_read_and_other_query_parameters_are_kept() -> None:
    pages = {n: {"items": [record(n)]} for n in range(1, 9)}
    log: list[str] = []
    with serve_routes({"/things": paged(pages)}, log) as base:
        source = api_source(base, url=base + "/things?per_page=1&page=7", first_page=2, max_pages=2)
        docs, _ = fetch_api(source, {})

    assert log == ["/things?per_page=1&page=2", "/things?per_page=1&page=3"]
    assert [doc.meta["page"] for doc in docs] == [2, 3]


def test_records_without_text_are_counted_and_skipped() -> None:
    items = [record(1), {"id": "r2", "title": "empty", "text": "  "}, {"id": "r3", "body": "x"}]
    with serve_routes({"/things": paged({1: {"items": items}})}) as base:
        docs, counters = fetch_api(api_source(base), {})

    assert [doc.meta["id"] for doc in docs] == ["r1"]
    assert counters["records_without_text"] == 2 and counters["records"] == 3


def test_text_fields_are_joined_and_records_path_is_dotted() -> None:
    items = [{"name": "n", "summary": "Short.", "body": "Long body.", "link": "u"}]
    with serve_routes(
        {"/things": paged({1: {"data": {"rows": items}}}, {"data": {"rows": []}})}
    ) as base:
        source = api_source(
            base,
            records_path="data.rows",
            text_fields=["summary", "missing", "body"],
            title_field="name",
            url_field=None,
        )
        docs, _ = fetch_api(source, {})

    assert docs[0].text == "Short.\n\nLong body."
    assert docs[0].title == "n" and docs[0].url == ""


def test_a_page_that_is_not_json_is_a_clear_value_error() -> None:
    with serve_routes({"/things": (200, {"Content-Type": "text/html"}, "<html>oops")}) as base:
        with pytest.raises(
            ValueError, match=r"source 'things': .*/things\?page=1 did not return JSON"
        ):
            fetch_api(api_source(base), {})


def test_a_page_of_the_wrong_shape_names_the_records_path() -> None:
    with serve_routes({"/things": paged({1: {"results": [record(1)]}})}) as base:
        with pytest.raises(ValueError, match=r"records_path 'items' \(found \['results'\]\)"):
            fetch_api(api_source(base), {})


def test_an_unreachable_api_raises_source_unavailable() -> None:
    source = ApiSource(name="gone", url=f"http://127.0.0.1:{unused_port()}/x", retries=0)
    match = "source 'gone': first page .* failed.*the task retries on this error"
    with pytest.raises(SourceUnavailable, match=match):
        fetch_api(source, {})


def test_a_later_page_failing_fails_the_source() -> None:
    def route(path: str) -> Response:
        if path.endswith("page=1"):
            return 200, JSON, json.dumps({"items": [record(1)]})
        return 404, JSON, "{}"

    with serve_routes({"/things": route}) as base:
        with pytest.raises(SourceUnavailable, match="HTTP 404") as err:
            fetch_api(api_source(base), {})
    assert err.value.status == 404 and not err.value.retryable


def test_page_url_replaces_the_page_parameter() -> None:
    assert page_url("http://a.test/x?q=1&page=9", "page", 2) == "http://a.test/x?q=1&page=2"
    assert page_url("http://a.test/x", "p", 1) == "http://a.test/x?p=1"
