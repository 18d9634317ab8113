"""The API source against real HTTP servers on 127.0.0.1: pagination styles, faults, mapping,
quarantine, rate limits and auth. Watermark persistence is in test_watermark.py."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import parse_qs, urlsplit

import pytest

from tasks.api import SchemaChanged, fetch_api, read_api
from tasks.config import ApiSource, ConfigError
from tasks.http import SourceUnavailable
from tasks.pagination import page_url, with_params
from tasks.watermark import Watermark
from tests.helpers import (
    FAULT_KINDS,
    JSON,
    Faults,
    Response,
    WithHeaders,
    serve_routes,
    unused_port,
)

PAGE_SIZE = 5


def record(n: int, **fields: object) -> dict[str, object]:
    return {
        "id": f"r{n}",
        "title": f"Record {n}",
        "text": f"text of record {n}",
        "url": f"https://api.test/r/{n}",
        "updated_at": f"2024-01-{n:02d}T00:00:00Z",
        **fields,
    }


RECORDS = [record(n) for n in range(1, 41)]


def args(path: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(path).query).items()}


def body(data: object, headers: dict[str, str] | None = None) -> Response:
    return 200, JSON | (headers or {}), json.dumps(data)


def page_route(records: Sequence[object], **extra: object) -> Callable[[str], Response]:
    """`?page=N` (from 1) over `records`, PAGE_SIZE a page; `extra` goes in every body."""

    def route(path: str) -> Response:
        start = (int(args(path)["page"]) - 1) * PAGE_SIZE
        return body({"items": records[start : start + PAGE_SIZE], **extra})

    return route


def offset_route(records: Sequence[object]) -> Callable[[str], Response]:
    def route(path: str) -> Response:
        offset, limit = int(args(path)["offset"]), int(args(path)["limit"])
        return body({"items": records[offset : offset + limit]})

    return route


def cursor_route(records: Sequence[object]) -> Callable[[str], Response]:
    """A token in the body: `{"data": [...], "meta": {"next": "after-10"}}`."""

    def route(path: str) -> Response:
        start = int(args(path).get("cursor", "after-0").removeprefix("after-"))
        end = start + PAGE_SIZE
        token = f"after-{end}" if end < len(records) else None
        return body({"data": records[start:end], "meta": {"next": token}})

    return route


def next_url_route(records: Sequence[object]) -> Callable[[str], Response]:
    """The next page's URL in the body, relative as some APIs send it."""

    def route(path: str) -> Response:
        start = int(args(path).get("from", "0"))
        end = start + PAGE_SIZE
        following = f"?from={end}" if end < len(records) else None
        return body({"results": records[start:end], "next": following})

    return route


def link_route(records: Sequence[object]) -> Callable[[str], Response]:
    """GitHub's style: a bare list, the next page in a `Link` header."""

    def route(path: str) -> Response:
        page = int(args(path).get("page", "1"))
        start = (page - 1) * PAGE_SIZE
        more = start + PAGE_SIZE < len(records)
        link = {"Link": f'<?page={page + 1}>; rel="next", <?page=1>; rel="first"'}
        return body(records[start : start + PAGE_SIZE], link if more else None)

    return route


# name: (route factory, config overrides)
STYLES: dict[str, tuple[Callable[[Sequence[object]], Callable[[str], Response]], dict]] = {
    "page": (page_route, {"pagination": {"style": "page"}}),
    "offset": (
        offset_route,
        {"pagination": {"style": "offset", "limit": PAGE_SIZE}},
    ),
    "cursor": (
        cursor_route,
        {
            "records_path": "data",
            "pagination": {"style": "cursor", "next_path": "meta.next", "param": "cursor"},
        },
    ),
    "next_url": (
        next_url_route,
        {"records_path": "results", "pagination": {"style": "next_url", "next_path": "next"}},
    ),
    "link_header": (link_route, {"records_path": "", "pagination": {"style": "link_header"}}),
}


def api_source(base: str, path: str = "/things", **overrides: object) -> ApiSource:
    return ApiSource.model_validate(
        {"name": "things", "url": base, "path": path, "retries": 0, "timeout_s": 5, **overrides}
    )


def ids(docs: Sequence[object]) -> list[str]:
    return [doc.meta["record_id"] for doc in docs]  # type: ignore[attr-defined]


@pytest.mark.parametrize("style", STYLES)
def test_every_style_reads_every_record_once(style: str) -> None:
    factory, overrides = STYLES[style]
    path = f"/{style.replace('_', '-')}"
    log: list[str] = []
    with serve_routes({path: factory(RECORDS)}, log) as base:
        read = read_api(api_source(base, path, **overrides), {})

    assert ids(read.documents) == [r["id"] for r in RECORDS]
    assert read.complete and read.counters["records"] == read.counters["documents"] == len(RECORDS)
    assert read.counters["pages"] == len(log)


@pytest.mark.parametrize("style", STYLES)
def test_every_style_survives_twenty_percent_faults(style: str) -> None:
    factory, overrides = STYLES[style]
    path = f"/{style.replace('_', '-')}"
    # Stalls outlast the client's 0.3 s read timeout; Retry-After 0 keeps 429s fast.
    faults = Faults(rate=0.2, seed=6, retry_after_s=0, stall_s=0.6, max_consecutive=2)
    log: list[str] = []
    with serve_routes({path: factory(RECORDS)}, log, faults=faults) as base:
        source = api_source(base, path, retries=3, timeout_s=0.3, **overrides)
        read = read_api(source, {})

    assert faults.total > 0, "the plan injected nothing: pick another seed"
    assert ids(read.documents) == [r["id"] for r in RECORDS]
    assert read.counters["documents"] == read.counters["records"] == len(RECORDS)
    assert len(log) == read.counters["pages"] + faults.total


def test_the_fault_plan_is_reproducible_capped_and_counted() -> None:
    plans = [Faults(rate=0.9, seed=3, max_consecutive=2) for _ in range(2)]
    draws = [[plan.draw("/a?page=1") for _ in range(30)] for plan in plans]
    assert draws[0] == draws[1]
    streak = 0
    for kind in draws[0]:
        streak = streak + 1 if kind else 0
        assert streak <= 2
    assert plans[0].total == sum(kind is not None for kind in draws[0])
    assert set(plans[0].injected) <= set(FAULT_KINDS)
    with pytest.raises(ValueError, match="fault kinds"):
        Faults(kinds=("teapot",))


def test_offset_pages_over_shifting_data_count_a_repeated_record_once() -> None:
    records = list(RECORDS[:10])

    def route(path: str) -> Response:
        offset = int(args(path)["offset"])
        if offset == PAGE_SIZE:  # a record arrives at the front between two pages
            records.insert(0, record(99))
        return body({"items": records[offset : offset + PAGE_SIZE]})

    with serve_routes({"/things": route}) as base:
        pagination = {"style": "offset", "limit": PAGE_SIZE}
        read = read_api(api_source(base, pagination=pagination), {})

    assert ids(read.documents) == [f"r{n}" for n in range(1, 11)]
    assert read.counters["duplicates"] == 1 and read.counters["records"] == 11


def test_has_more_path_and_max_pages_stop_the_read_and_the_query_is_kept() -> None:
    log: list[str] = []
    routes = {
        "/things": page_route(RECORDS, has_more=True),
        "/last": page_route(RECORDS[:5], has_more=False),
    }
    with serve_routes(routes, log) as base:
        cut = read_api(api_source(base, query={"per_page": 5, "sort": "asc"}, max_pages=2), {})
        has_more = {"style": "page", "has_more_path": "has_more"}
        one = read_api(api_source(base, "/last", pagination=has_more), {})

    assert log[:2] == ["/things?per_page=5&sort=asc&page=1", "/things?per_page=5&sort=asc&page=2"]
    assert len(cut.documents) == 10 and not cut.complete
    assert cut.counters["stopped_at_max_pages"] == 1
    assert log[2:] == ["/last?page=1"] and len(one.documents) == 5  # no empty page asked


def test_the_demo_style_next_page_null_stops_without_asking_again() -> None:
    log: list[str] = []
    with serve_routes({"/things": page_route(RECORDS[:5], next_page=None)}, log) as base:
        pagination = {"style": "page", "has_more_path": "next_page"}
        docs, counters = fetch_api(api_source(base, pagination=pagination), {})
    assert len(docs) == 5 and counters["pages"] == 1 and len(log) == 1


def test_fields_are_mapped_from_dotted_paths_and_a_url_template() -> None:
    items = [{"objectID": 7, "story": {"title": "T", "body": "Long."}, "summary": "Short."}]
    with serve_routes({"/things": page_route(items)}) as base:
        source = api_source(
            base,
            id_field="objectID",
            text_fields=["summary", "missing", "story.body"],
            title_field="story.title",
            url_template="https://news.ycombinator.com/item?id={id}&t={story.title}",
        )
        (doc,) = read_api(source, {}).documents

    assert doc.text == "Short.\n\nLong." and doc.title == "T"
    assert doc.url == "https://news.ycombinator.com/item?id=7&t=T"
    assert doc.meta == {"page": 1, "record_id": "7"}


def test_bad_records_are_quarantined_with_their_reason_and_counted() -> None:
    items = [
        record(1),
        "not an object",
        record(2, id=None),
        record(3, id={"nested": 1}),
        record(4, text="   "),
        record(5, text=["a", "list"]),
        record(6, updated_at="last tuesday"),
        record(7, updated_at=None),
        record(8),
    ]
    with serve_routes({"/things": page_route(items)}) as base:
        source = api_source(base, updated_at_field="updated_at", max_bad_fraction=None)
        read = read_api(source, {})

    assert ids(read.documents) == ["r1", "r8"]
    reasons = [row["reason"] for row in read.quarantined]
    assert reasons == [
        "not_an_object",
        "missing_id",
        "bad_id",
        "missing_text",
        "bad_text",
        "bad_updated_at",
        "missing_updated_at",
    ]
    assert all(read.counters[f"quarantined_{reason}"] == 1 for reason in reasons)
    assert read.counters["records"] == 9 and read.counters["documents"] == 2
    row = read.quarantined[3]
    assert row["source"] == "things" and row["kind"] == "api"
    assert row["url"].endswith("/things?page=1") and json.loads(row["payload"])["id"] == "r4"


def test_a_changed_schema_fails_naming_the_field_and_the_fix() -> None:
    items = [{"id": n, "title": "t", "content": "moved here"} for n in range(12)]
    with serve_routes({"/things": page_route(items)}) as base:
        with pytest.raises(SchemaChanged) as err:
            read_api(api_source(base), {})

    message = str(err.value)
    assert "5 of 5 records" not in message  # a page of 5 is too few to judge; 10 are not
    assert "10 of 10 records quarantined as missing_text (text_fields: ['text'])" in message
    assert "keys ['content', 'id', 'title']" in message and "Set text_fields" in message
    assert len(err.value.quarantined) == 10


def test_a_vanished_records_path_and_a_non_json_page_are_clear_errors() -> None:
    routes = {
        "/moved": page_route([]),
        "/html": (200, {"Content-Type": "text/html"}, "<html>oops"),
    }
    with serve_routes(routes) as base:
        source = api_source(base, "/moved", records_path="data.items")
        with pytest.raises(ValueError, match=r"no list at records_path 'data.items' \(found"):
            read_api(source, {})
        with pytest.raises(ValueError, match=r"first page .*/html\?page=1 did not return JSON"):
            read_api(api_source(base, "/html"), {})


def test_an_unreachable_api_and_a_failing_later_page_raise_source_unavailable() -> None:
    source = ApiSource(name="gone", url=f"http://127.0.0.1:{unused_port()}/x", retries=0)
    with pytest.raises(SourceUnavailable, match="source 'gone': first page .* failed"):
        read_api(source, {})

    def route(path: str) -> Response:
        return body({"items": RECORDS[:5]}) if path.endswith("page=1") else (404, JSON, "{}")

    with serve_routes({"/things": route}) as base:
        with pytest.raises(SourceUnavailable, match="HTTP 404") as err:
            read_api(api_source(base), {})
    assert err.value.status == 404 and not err.value.retryable


def test_pagination_to_another_host_or_back_to_a_read_page_is_refused() -> None:
    def elsewhere(path: str) -> Response:
        return body({"items": RECORDS[:1], "next": "http://other.test/things?page=2"})

    def loop(path: str) -> Response:
        return body({"items": RECORDS[:1], "next": "/loop?from=0"})

    with serve_routes({"/elsewhere": elsewhere, "/loop": loop}) as base:
        pagination = {"style": "next_url", "next_path": "next"}
        with pytest.raises(ValueError, match=r"next page is on another host \(http://other"):
            read_api(api_source(base, "/elsewhere", pagination=pagination), {})
        with pytest.raises(ValueError, match="pagination loops back to .*/loop"):
            read_api(api_source(base, "/loop?from=0", pagination=pagination), {})


def test_requests_per_second_spaces_the_requests() -> None:
    times: list[float] = []

    def route(path: str) -> Response:
        times.append(time.monotonic())
        return page_route(RECORDS[:20])(path)

    with serve_routes({"/things": route}) as base:
        read_api(api_source(base, requests_per_second=20), {})

    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert len(times) == 5 and min(gaps) >= 0.045  # 1/20 s, less clock slack


def test_429_retry_after_is_honoured_and_5xx_is_retried() -> None:
    limited = (429, {"Retry-After": "1"}, "slow down")
    busy = (503, {}, "busy")
    ok = body({"items": RECORDS[:2]})
    log: list[str] = []
    with serve_routes({"/a": [limited, ok, body({"items": []})], "/b": [busy, ok]}, log) as b:
        started = time.monotonic()
        first = read_api(api_source(b, "/a", retries=2, max_pages=1), {})
        waited = time.monotonic() - started
        second = read_api(api_source(b, "/b", retries=2, max_pages=1), {})

    assert waited >= 1.0 and len(first.documents) == 2
    assert len(second.documents) == 2 and log.count("/b?page=1") == 2


SECRET = "s3cr3t-T0KEN-value"


def authed(expected: dict[str, str], records: Sequence[object] = (record(1),)) -> WithHeaders:
    """`records` for requests that carry the `expected` headers, 401 for any other."""

    def respond(path: str, headers: Mapping[str, str]) -> Response:
        if any(headers.get(name) != value for name, value in expected.items()):
            return 401, JSON, json.dumps({"message": "Bad credentials"})
        return page_route(records)(path)

    return WithHeaders(respond)


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({"scheme": "bearer"}, {"Authorization": f"Bearer {SECRET}"}),
        ({"scheme": "header", "header": "X-Api-Key"}, {"X-Api-Key": SECRET}),
        (
            {"scheme": "basic", "username": "ann"},
            {"Authorization": "Basic YW5uOnMzY3IzdC1UMEtFTi12YWx1ZQ=="},
        ),
    ],
)
def test_credentials_from_an_environment_variable_are_sent(
    auth: dict, expected: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THINGS_TOKEN", SECRET)
    with serve_routes({"/things": authed(expected)}) as base:
        read = read_api(api_source(base, auth=auth | {"env": "THINGS_TOKEN"}), {})
    assert ids(read.documents) == ["r1"]


def test_a_missing_variable_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THINGS_TOKEN", raising=False)
    source = api_source("http://127.0.0.1:9", auth={"scheme": "bearer", "env": "THINGS_TOKEN"})
    with pytest.raises(ConfigError, match="environment variable THINGS_TOKEN is not set"):
        read_api(source, {})
    with pytest.raises(ValueError, match="exactly one of env"):
        api_source("http://a.test", auth={"scheme": "bearer"})


def test_a_refused_secret_is_not_retried_and_never_shown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("THINGS_TOKEN", SECRET)
    auth = {"scheme": "bearer", "env": "THINGS_TOKEN"}
    log: list[str] = []
    served = [record(1), record(2, text=None)]  # one document, one quarantined record
    routes = {
        "/things": authed({"Authorization": f"Bearer {SECRET}"}, served),
        "/wrong": authed({"Authorization": "Bearer another"}),
    }
    with caplog.at_level(logging.DEBUG), serve_routes(routes, log) as base:
        read = read_api(api_source(base, auth=auth), {})
        with pytest.raises(SourceUnavailable) as err:
            read_api(api_source(base, "/wrong", auth=auth, retries=3), {})

    message = str(err.value)
    assert "HTTP 401: the API refused the credentials from environment variable THINGS_TOKEN" in (
        message
    )
    assert not err.value.retryable and log.count("/wrong?page=1") == 1
    assert len(read.documents) == len(read.quarantined) == 1
    shown = [
        message,
        repr(err.value),
        caplog.text,
        json.dumps(read.counters),
        json.dumps([doc.to_row() for doc in read.documents]),
        json.dumps(read.quarantined),
        repr(api_source(base, auth=auth)),
    ]
    assert not any(SECRET in text for text in shown)


def test_url_helpers_replace_parameters_and_keep_the_rest() -> None:
    assert page_url("http://a.test/x?q=1&page=9", "page", 2) == "http://a.test/x?q=1&page=2"
    assert page_url("http://a.test/x", "p", 1) == "http://a.test/x?p=1"
    assert (
        with_params("http://a.test/x?a=1", {"b": True, "c": 2}) == "http://a.test/x?a=1&b=true&c=2"
    )


def test_since_param_and_the_watermark_filter_records_at_and_after_it() -> None:
    log: list[str] = []
    with serve_routes({"/things": page_route(RECORDS[:6])}, log) as base:
        source = api_source(
            base,
            updated_at_field="updated_at",
            since_param="since",
            since_template=">={value}",
        )
        start = Watermark("updated_at", "2024-01-03T00:00:00Z", frozenset({"r3"}))
        read = read_api(source, {}, start)

    assert log[0] == "/things?page=1&since=%3E%3D2024-01-03T00%3A00%3A00Z"
    # The server ignores `since` here, so the client-side filter does the work.
    assert ids(read.documents) == ["r4", "r5", "r6"]
    assert read.counters["skipped_by_watermark"] == 3
    assert read.watermark == Watermark("updated_at", "2024-01-06T00:00:00Z", frozenset({"r6"}))
    assert read.documents[0].meta == {
        "page": 1,
        "record_id": "r4",
        "updated_at": "2024-01-04T00:00:00Z",
        "watermark": "updated_at",
    }


def test_a_cut_short_read_moves_the_watermark_only_when_records_come_oldest_first() -> None:
    with serve_routes({"/things": page_route(RECORDS)}) as base:
        common = {"updated_at_field": "updated_at", "max_pages": 2}
        unordered = read_api(api_source(base, **common), {})
        ascending = read_api(api_source(base, **common, updated_at_ascending=True), {})

    assert unordered.watermark == Watermark("updated_at")
    assert all("watermark" not in doc.meta for doc in unordered.documents)
    assert ascending.watermark.value == "2024-01-10T00:00:00Z"
    assert all(doc.meta["watermark"] == "updated_at" for doc in ascending.documents)


def test_a_resumed_cursor_starts_at_the_last_page_and_skips_what_it_committed() -> None:
    records = list(RECORDS[:12])
    log: list[str] = []
    with serve_routes({"/things": cursor_route(records)}, log) as base:
        pagination = {"style": "cursor", "next_path": "meta.next", "param": "cursor"}
        source = api_source(base, records_path="data", pagination=pagination | {"resume": True})
        first = read_api(source, {}, Watermark("cursor"))
        records.extend([record(13), record(14)])
        log.clear()
        second = read_api(source, {}, first.watermark)

    assert first.watermark == Watermark("cursor", "after-10", frozenset({"r11", "r12"}))
    assert log[0] == "/things?cursor=after-10"
    assert ids(second.documents) == ["r13", "r14"]
    assert second.counters["skipped_by_watermark"] == 2


def test_a_secret_a_header_cannot_carry_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THINGS_TOKEN", SECRET + "\r\nX-Injected: 1")
    source = api_source("http://127.0.0.1:9", auth={"scheme": "bearer", "env": "THINGS_TOKEN"})
    with pytest.raises(ConfigError, match="characters a header cannot carry") as err:
        read_api(source, {})
    assert SECRET not in str(err.value)


def test_redirects_are_followed_only_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINGS_TOKEN", SECRET)

    def moved(path: str) -> Response:
        return 301, {"Location": "/things?" + urlsplit(path).query}, ""

    with serve_routes({"/old": moved, "/things": page_route(RECORDS[:3])}) as base:
        assert len(read_api(api_source(base, "/old"), {}).documents) == 3
        auth = {"scheme": "bearer", "env": "THINGS_TOKEN"}
        with pytest.raises(ValueError, match=r"/old\?page=1 redirects to /things\?page=1; set the"):
            read_api(api_source(base, "/old", auth=auth), {})
