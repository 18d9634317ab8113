"""The API source against real HTTP servers on 127.0.0.1: pagination styles, faults, mapping,
quarantine, rate limits and auth. Watermark persistence is in test_watermark.py."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from lmkiln.tasks.collect.api.client import PageTooLarge, ResumeFailed, read_api
from lmkiln.tasks.collect.api.pagination import with_params
from lmkiln.tasks.collect.api.reader import ApiRead, ReadCutShort, SchemaChanged
from lmkiln.tasks.collect.api.watermark import Watermark
from lmkiln.tasks.collect.http import SourceUnavailable
from lmkiln.tasks.config.collect import ApiSource
from lmkiln.tasks.config.pipeline import ConfigError, parse_config
from lmkiln.tasks.core.quarantine import MAX_PAYLOAD_CHARS
from tests.helpers.routes import (
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
        read = read_api(api_source(base, path, **overrides))

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
        read = read_api(source)

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
        read = read_api(api_source(base, pagination=pagination))

    assert ids(read.documents) == [f"r{n}" for n in range(1, 11)]
    assert read.counters["duplicates"] == 1 and read.counters["records"] == 11


def test_has_more_path_and_max_pages_stop_the_read_and_the_query_is_kept() -> None:
    log: list[str] = []
    routes = {
        "/things": page_route(RECORDS, has_more=True),
        "/last": page_route(RECORDS[:5], has_more=False),
    }
    with serve_routes(routes, log) as base:
        cut = read_api(api_source(base, query={"per_page": 5, "sort": "asc"}, max_pages=2))
        has_more = {"style": "page", "has_more_path": "has_more"}
        one = read_api(api_source(base, "/last", pagination=has_more))

    assert log[:2] == ["/things?per_page=5&sort=asc&page=1", "/things?per_page=5&sort=asc&page=2"]
    assert len(cut.documents) == 10 and not cut.complete
    assert cut.counters["stopped_at_max_pages"] == 1
    assert log[2:] == ["/last?page=1"] and len(one.documents) == 5  # no empty page asked


def test_the_demo_style_next_page_null_stops_without_asking_again() -> None:
    log: list[str] = []
    with serve_routes({"/things": page_route(RECORDS[:5], next_page=None)}, log) as base:
        pagination = {"style": "page", "has_more_path": "next_page"}
        read = read_api(api_source(base, pagination=pagination))
    docs, counters = read.documents, read.counters
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
        (doc,) = read_api(source).documents

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
        read = read_api(source)

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
            read_api(api_source(base))

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
            read_api(source)
        with pytest.raises(ValueError, match=r"first page .*/html\?page=1 did not return JSON"):
            read_api(api_source(base, "/html"))


def test_an_unreachable_api_and_a_failing_later_page_raise_source_unavailable() -> None:
    source = ApiSource(name="gone", url=f"http://127.0.0.1:{unused_port()}/x", retries=0)
    with pytest.raises(SourceUnavailable, match="source 'gone': first page .* failed"):
        read_api(source)

    def route(path: str) -> Response:
        return body({"items": RECORDS[:5]}) if path.endswith("page=1") else (404, JSON, "{}")

    with serve_routes({"/things": route}) as base:
        with pytest.raises(SourceUnavailable, match="HTTP 404") as err:
            read_api(api_source(base))
    assert err.value.status == 404 and not err.value.retryable


def test_pagination_to_another_host_or_back_to_a_read_page_is_refused() -> None:
    def elsewhere(path: str) -> Response:
        return body({"items": RECORDS[:1], "next": "http://other.test/things?page=2"})

    def loop(path: str) -> Response:
        return body({"items": RECORDS[:1], "next": "/loop?from=0"})

    with serve_routes({"/elsewhere": elsewhere, "/loop": loop}) as base:
        pagination = {"style": "next_url", "next_path": "next"}
        with pytest.raises(ValueError, match=r"next page is on another host \(http://other"):
            read_api(api_source(base, "/elsewhere", pagination=pagination))
        with pytest.raises(ValueError, match="pagination loops back to .*/loop"):
            read_api(api_source(base, "/loop?from=0", pagination=pagination))


def test_requests_per_second_spaces_the_requests() -> None:
    times: list[float] = []

    def route(path: str) -> Response:
        times.append(time.monotonic())
        return page_route(RECORDS[:20])(path)

    with serve_routes({"/things": route}) as base:
        read_api(api_source(base, requests_per_second=20))

    # Sent 1/20 s apart at least; arrivals may bunch up when the machine is busy, so the
    # span is checked, with room for the first request's delay (unpaced: about 0.01 s).
    assert len(times) == 5 and times[-1] - times[0] >= 0.15


def test_429_retry_after_is_honoured_and_5xx_is_retried() -> None:
    limited = (429, {"Retry-After": "1"}, "slow down")
    busy = (503, {}, "busy")
    ok = body({"items": RECORDS[:2]})
    log: list[str] = []
    with serve_routes({"/a": [limited, ok, body({"items": []})], "/b": [busy, ok]}, log) as b:
        started = time.monotonic()
        first = read_api(api_source(b, "/a", retries=2, max_pages=1))
        waited = time.monotonic() - started
        second = read_api(api_source(b, "/b", retries=2, max_pages=1))

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
        read = read_api(api_source(base, auth=auth | {"env": "THINGS_TOKEN"}))
    assert ids(read.documents) == ["r1"]


def test_a_missing_variable_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THINGS_TOKEN", raising=False)
    source = api_source("http://127.0.0.1:9", auth={"scheme": "bearer", "env": "THINGS_TOKEN"})
    with pytest.raises(ConfigError, match="environment variable THINGS_TOKEN is not set"):
        read_api(source)
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
        read = read_api(api_source(base, auth=auth))
        with pytest.raises(SourceUnavailable) as err:
            read_api(api_source(base, "/wrong", auth=auth, retries=3))

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
    assert with_params("http://a.test/x?q=1&page=9", {"page": 2}) == "http://a.test/x?q=1&page=2"
    assert with_params("http://a.test/x", {"p": 1}) == "http://a.test/x?p=1"
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
        read = read_api(source, start)

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


def test_a_resumed_cursor_starts_at_the_last_page_and_skips_what_it_committed() -> None:
    records = list(RECORDS[:12])
    log: list[str] = []
    with serve_routes({"/things": cursor_route(records)}, log) as base:
        pagination = {"style": "cursor", "next_path": "meta.next", "param": "cursor"}
        source = api_source(base, records_path="data", pagination=pagination | {"resume": True})
        first = read_api(source, Watermark("cursor"))
        records.extend([record(13), record(14)])
        log.clear()
        second = read_api(source, first.watermark)

    assert first.watermark == Watermark("cursor", "after-10", frozenset({"r11", "r12"}))
    assert log[0] == "/things?cursor=after-10"
    assert ids(second.documents) == ["r13", "r14"]
    assert second.counters["skipped_by_watermark"] == 2


def test_a_secret_a_header_cannot_carry_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THINGS_TOKEN", SECRET + "\r\nX-Injected: 1")
    source = api_source("http://127.0.0.1:9", auth={"scheme": "bearer", "env": "THINGS_TOKEN"})
    with pytest.raises(ConfigError, match="characters a header or URL cannot carry") as err:
        read_api(source)
    assert SECRET not in str(err.value)


def test_redirects_are_followed_only_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINGS_TOKEN", SECRET)

    def moved(path: str) -> Response:
        return 301, {"Location": "/things?" + urlsplit(path).query}, ""

    with serve_routes({"/old": moved, "/things": page_route(RECORDS[:3])}) as base:
        assert len(read_api(api_source(base, "/old")).documents) == 3
        auth = {"scheme": "bearer", "env": "THINGS_TOKEN"}
        with pytest.raises(ValueError, match=r"/old\?page=1 redirects to /things\?page=1; set the"):
            read_api(api_source(base, "/old", auth=auth))


# Records whose updated_at is epoch seconds, so any number of them has valid, ordered times.
def timed(n: int, **fields: object) -> dict[str, object]:
    return record(n, **({"updated_at": 1_700_000_000 + 60 * n} | fields))


def filtered_route(
    records: list[dict[str, object]], newest_first: bool = False
) -> Callable[[str], Response]:
    """`?page=N` over `records` sorted by updated_at, honouring `since` (>=) like a real API."""

    def route(path: str) -> Response:
        query = args(path)
        since = float(query.get("since", "-inf"))
        live = sorted(records, key=lambda r: float(str(r["updated_at"])), reverse=newest_first)
        live = [r for r in live if float(str(r["updated_at"])) >= since]
        start = (int(query["page"]) - 1) * PAGE_SIZE
        return body({"items": live[start : start + PAGE_SIZE]})

    return route


def texts_by_id(*reads: ApiRead) -> list[tuple[str, str]]:
    return sorted((doc.meta["record_id"], doc.text) for read in reads for doc in read.documents)


def accounted(counters: Mapping[str, int]) -> bool:
    """Every record read is in exactly one of these counters (docs/api-sources.md says so)."""
    parts = ("documents", "duplicates", "superseded", "deferred", "skipped_by_watermark")
    quarantined = sum(v for k, v in counters.items() if k.startswith("quarantined_"))
    return counters["records"] == sum(counters[p] for p in parts) + quarantined


def test_an_edit_between_offset_pages_commits_only_what_is_known_complete() -> None:
    """Oldest first, offset 5 a page: between page 1 and page 2, r2 is edited (it moves to the
    end) and r99 arrives. r6 shifts back onto page 1, already read: a read that moved the
    watermark to r99 would never read r6, nor keep r2's edit, which id-only dedup dropped."""
    records = [timed(n) for n in range(1, 11)]
    log: list[str] = []

    def route(path: str) -> Response:
        query = args(path)
        offset, since = int(query["offset"]), float(query.get("since", 0))
        if offset == PAGE_SIZE and records[1]["id"] == "r2":
            records.pop(1)
            records.extend([timed(2, updated_at=1_700_009_000, text="r2, edited"), timed(99)])
        live = [r for r in records if float(str(r["updated_at"])) >= since]
        return body({"items": live[offset : offset + PAGE_SIZE]})

    with serve_routes({"/things": route}, log) as base:
        source = api_source(
            base,
            pagination={"style": "offset", "limit": PAGE_SIZE},
            updated_at_field="updated_at",
            updated_at_ascending=True,
            since_param="since",
        )
        first = read_api(source, Watermark("updated_at"))
        second = read_api(source, first.watermark)

    assert ids(first.documents) == ["r1", "r3", "r4", "r5"]
    assert first.counters["changed_during_read"] == 1 and first.counters["superseded"] == 1
    # r7..r10 and r2's edit were read after the data moved; r99 too: all wait.
    assert first.counters["deferred"] == 6 and first.counters["records"] == 11
    assert all(accounted(read.counters) for read in (first, second))
    assert first.watermark == Watermark("updated_at", 1_700_000_300, frozenset({"r5"}))
    assert ids(second.documents) == ["r6", "r7", "r8", "r9", "r10", "r2", "r99"]
    everything = texts_by_id(first, second)
    assert len(everything) == len({i for i, _ in everything}) == 11  # each record once
    assert ("r2", "r2, edited") in everything and ("r6", "text of record 6") in everything


def test_an_edit_during_a_read_in_no_known_order_defers_the_whole_read(caplog) -> None:
    records = [timed(n) for n in range(1, 8)]

    def route(path: str) -> Response:
        page = int(args(path)["page"])
        if page == 2 and records[0]["id"] == "r1":
            records.append(records.pop(0) | {"updated_at": 1_700_009_000})
        return body({"items": records[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]})

    with caplog.at_level(logging.WARNING), serve_routes({"/things": route}) as base:
        source = api_source(base, updated_at_field="updated_at")
        moved = read_api(source, Watermark("updated_at"))
        calm = read_api(source, moved.watermark)

    assert moved.documents == [] and moved.watermark == Watermark("updated_at")
    assert accounted(moved.counters) and accounted(calm.counters)
    # r6 slipped back onto page 1 when r1 moved, and was never read: no document is committed.
    assert moved.counters["deferred"] == 6 and "1 records changed while the pages" in caplog.text
    assert sorted(ids(calm.documents)) == sorted(f"r{n}" for n in range(1, 8))


def test_a_cut_short_read_in_no_declared_order_fails_naming_max_pages_and_the_fix() -> None:
    records = [timed(n) for n in range(1, 21)]
    with serve_routes({"/things": filtered_route(records)}) as base:
        source = api_source(base, updated_at_field="updated_at", max_pages=2)
        with pytest.raises(ReadCutShort) as err:
            read_api(source, Watermark("updated_at"))
        without_watermark = read_api(api_source(base, max_pages=2))

    message = str(err.value)
    assert "stopped at max_pages=2 before the last page" in message
    assert "updated_at_ascending: true with since_param" in message
    assert "Nothing was committed and the watermark did not move" in message
    assert len(without_watermark.documents) == 10  # no watermark: nothing to skip for good


def test_oldest_first_with_since_param_goes_on_where_a_cut_short_run_stopped() -> None:
    records = [timed(n) for n in range(1, 24)]
    with serve_routes({"/things": filtered_route(records)}) as base:
        source = api_source(
            base,
            updated_at_field="updated_at",
            updated_at_ascending=True,
            since_param="since",
            max_pages=2,
        )
        reads = [read_api(source, Watermark("updated_at"))]
        while not reads[-1].complete:
            reads.append(read_api(source, reads[-1].watermark))

    assert [len(read.documents) for read in reads] == [10, 9, 4]  # each later run re-reads 1
    assert [i for read in reads for i in ids(read.documents)] == [f"r{n}" for n in range(1, 24)]
    assert reads[0].counters["stopped_at_max_pages"] == 1


def test_updated_at_ascending_needs_since_param_and_a_watermark_needs_an_id() -> None:
    with pytest.raises(ValueError, match="updated_at_ascending needs since_param: without"):
        api_source("http://a.test", updated_at_field="t", updated_at_ascending=True)
    with pytest.raises(ValueError, match="updated_at_field needs id_field: records at exactly"):
        api_source("http://a.test", updated_at_field="t", id_field=None)
    with pytest.raises(ValueError, match="at most one of updated_at_ascending and"):
        api_source(
            "http://a.test",
            updated_at_field="t",
            since_param="s",
            updated_at_ascending=True,
            updated_at_descending=True,
        )


def test_newest_first_backfills_once_then_stops_at_the_watermark(caplog) -> None:
    records = [timed(n) for n in range(1, 21)]
    log: list[str] = []
    with (
        caplog.at_level(logging.WARNING),
        serve_routes({"/things": filtered_route(records, newest_first=True)}, log) as base,
    ):
        source = api_source(
            base, updated_at_field="updated_at", updated_at_descending=True, max_pages=2
        )
        backfill = read_api(source, Watermark("updated_at"))
        records.extend([timed(21), timed(22)])
        records[2] = timed(3, updated_at=1_700_009_000, text="r3, edited")
        log.clear()
        later = read_api(source, backfill.watermark)
        requests_later = len(log)
        records.extend(timed(n, updated_at=1_700_010_000 + n) for n in range(30, 45))
        with pytest.raises(ReadCutShort, match=r"more records changed since the watermark"):
            read_api(source, later.watermark)

    assert ids(backfill.documents) == [f"r{n}" for n in range(20, 10, -1)]
    assert not backfill.complete and "a backfill limit" in caplog.text
    assert backfill.watermark == Watermark("updated_at", 1_700_001_200, frozenset({"r20"}))
    # Page 1: r3's edit, r22, r21, then r20 and r19, committed before; page 2 is all older.
    assert ids(later.documents) == ["r3", "r22", "r21"] and later.complete
    assert later.counters["stopped_at_watermark"] == 1 and requests_later == 2


def test_a_server_that_ignores_the_page_parameter_is_stopped_at_the_second_page() -> None:
    log: list[str] = []
    same = body({"items": [timed(n) for n in range(1, 6)]})
    with serve_routes({"/things": same}, log) as base:
        read = read_api(api_source(base))
        with pytest.raises(ReadCutShort, match=r"page 2 repeated only records already read"):
            read_api(api_source(base, updated_at_field="updated_at"), Watermark("updated_at"))

    assert len(read.documents) == 5 and read.counters["stopped_at_repeated_page"] == 1
    assert read.counters["duplicates"] == 5 and log[:2] == ["/things?page=1", "/things?page=2"]


def test_a_page_past_max_page_bytes_fails_naming_the_setting() -> None:
    big = [record(n, text="x" * 500) for n in range(5)]
    with serve_routes({"/things": page_route(big)}) as base:
        with pytest.raises(PageTooLarge, match=r"larger than max_page_bytes \(1024 bytes\)"):
            read_api(api_source(base, max_page_bytes=1024))


def test_a_huge_quarantined_record_is_stored_as_json_with_a_truncated_marker() -> None:
    items = [record(1, text=None, extra="y" * (MAX_PAYLOAD_CHARS + 10)), record(2)]
    with serve_routes({"/things": page_route(items)}) as base:
        read = read_api(api_source(base))

    (row,) = read.quarantined
    payload = json.loads(row["payload"])
    assert payload["truncated"] is True and payload["chars"] > MAX_PAYLOAD_CHARS
    assert payload["head"].startswith('{"extra": "yyy') and len(row["payload_sha256"]) == 64


def test_a_resumed_cursor_that_the_api_refuses_names_the_reset() -> None:
    def route(path: str) -> Response:
        if args(path).get("cursor", "after-0") != "after-0":
            return 400, JSON, json.dumps({"error": "unknown cursor"})
        return cursor_route(RECORDS[:3])(path)

    with serve_routes({"/things": route}) as base:
        pagination = {"style": "cursor", "next_path": "meta.next", "param": "cursor"}
        source = api_source(base, records_path="data", pagination=pagination | {"resume": True})
        with pytest.raises(ResumeFailed) as err:
            read_api(source, Watermark("cursor", "after-10", frozenset({"r10"})))

    message = str(err.value)
    assert "resumed at the stored cursor 'after-10', failed" in message and "HTTP 400" in message
    assert "deleting the state file does not help" in message
    assert "watermark.reset(load_config('CONFIG').storage, 'things')" in message


QUERY_SECRET = "q-s3cr3t/key+value"


def test_userinfo_and_credential_parameters_are_refused_in_the_config_without_showing_them() -> (
    None
):
    api = {"name": "x", "url": "https://ann:pa55word@api.test/v1"}
    with pytest.raises(ConfigError, match=r"carries credentials \(user:secret@host\)") as err:
        parse_config({"collect": {"api": [api]}})
    assert "pa55word" not in str(err.value) and "https://***@api.test/v1" in str(err.value)
    keyed = {"name": "x", "url": "https://api.test", "query": {"api_key": QUERY_SECRET}}
    with pytest.raises(ConfigError, match="set auth: {scheme: query, param: api_key") as err:
        parse_config({"collect": {"api": [keyed]}})
    assert QUERY_SECRET not in str(err.value)
    in_url = {"name": "x", "url": f"https://api.test/v1?token={QUERY_SECRET}"}
    with pytest.raises(ConfigError, match="query parameter 'token' looks like a credential"):
        parse_config({"collect": {"api": [in_url]}})
    with pytest.raises(ValueError, match="scheme query needs param"):
        api_source("http://a.test", auth={"scheme": "query", "env": "X"})


def test_a_query_secret_is_sent_and_never_shown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("THINGS_KEY", QUERY_SECRET)
    served: list[str] = []
    busy = {"n": 0}

    def route(path: str) -> Response:
        query = args(path)
        served.append(query.get("api_key", ""))
        if query.get("api_key") != QUERY_SECRET:
            return 401, JSON, "{}"
        busy["n"] += 1
        if busy["n"] == 1:  # one retry, so that urllib3 logs the URL it retries
            return 503, JSON, "{}"
        page = int(query.get("page", "1"))
        echo = f"/things?api_key={QUERY_SECRET}&page={page + 1}"  # servers echo their query
        items = [
            record(page, url=f"https://api.test/r?api_key={QUERY_SECRET}", text=QUERY_SECRET),
            record(page + 10, text=None, note=QUERY_SECRET),
        ]
        return body({"items": items if page < 3 else [], "next": echo if page < 3 else None})

    auth = {"scheme": "query", "param": "api_key", "env": "THINGS_KEY"}
    pagination = {"style": "next_url", "next_path": "next"}
    with caplog.at_level(logging.DEBUG), serve_routes({"/things": route}) as base:
        source = api_source(base, auth=auth, pagination=pagination, retries=1)
        read = read_api(source)
        with pytest.raises(SourceUnavailable) as err:
            read_api(api_source(f"http://127.0.0.1:{unused_port()}", auth=auth))

    assert set(served) == {QUERY_SECRET} and len(read.documents) == 2
    assert "/things?page=2" in read.quarantined[1]["url"]
    assert read.documents[0].url == "https://api.test/r"
    assert "urllib3" in caplog.text and "**********" in caplog.text
    assert err.value.__cause__ is None and err.value.__context__ is None  # requests' has the URL
    shown = [
        caplog.text,
        repr(err.value),
        json.dumps(read.counters),
        json.dumps([doc.to_row() for doc in read.documents]),
        json.dumps(read.quarantined),
        repr(source),
    ]
    encoded = quote(QUERY_SECRET, safe="")
    assert not any(QUERY_SECRET in text or encoded in text for text in shown)


def test_a_record_with_bytes_that_are_not_utf8_or_a_lone_surrogate_is_quarantined() -> None:
    """One bad record, not the page: the rest of the page and the next pages are kept."""
    items = [record(1), record(2, text="PLACEHOLDER"), record(3, title="half \ud800 pair")]
    page = json.dumps({"items": items}).encode().replace(b"PLACEHOLDER", b"caf\xe9 latin-1")
    routes = {
        "/things": lambda path: (
            (200, JSON, page)
            if "page=1" in path
            else body({"items": [record(4)]})
            if "page=2" in path
            else body({"items": []})
        )
    }
    with serve_routes(routes) as base:
        read = read_api(api_source(base))

    assert ids(read.documents) == ["r1", "r4"]
    assert [row["reason"] for row in read.quarantined] == ["undecodable", "undecodable"]
    assert read.counters["quarantined_undecodable"] == 2 and read.counters["records"] == 4
    stored = [json.loads(row["payload"]) for row in read.quarantined]
    assert stored[0]["text"] == "caf\udce9 latin-1" and stored[1]["id"] == "r3"


def test_undecodable_records_are_not_a_schema_change() -> None:
    """Most records undecodable is the server's charset, which no setting fixes."""
    items = [record(n, text="bad \udc80 byte") for n in range(11)] + [record(11)]
    with serve_routes({"/things": page_route(items)}) as base:
        read = read_api(api_source(base))

    assert read.counters["quarantined_undecodable"] == 11 and ids(read.documents) == ["r11"]
