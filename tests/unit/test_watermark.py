"""The watermark: comparison rules, the state file, rebuilding it from the raw table after a
crash between the lake commit and the state write, a replaced raw table, a reset, and the
per-source lock."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable

import pytest

from lmkiln.tasks.collect.api import watermark
from lmkiln.tasks.collect.api.client import read_api
from lmkiln.tasks.collect.api.reader import ApiRead
from lmkiln.tasks.collect.api.watermark import Watermark, mark_key
from lmkiln.tasks.config.collect import ApiSource
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import Document, LakeRef
from tests.helpers.routes import JSON, Response, serve_routes


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2024-01-02T03:04:05Z", 1704164645.0),
        ("2024-01-02T04:04:05+01:00", 1704164645.0),
        ("2024-01-02T03:04:05", 1704164645.0),  # no zone: UTC
        ("2024-01-02", 1704153600.0),
        (1704164645, 1704164645.0),
        ("1704164645", 1704164645.0),
        (1704164645.5, 1704164645.5),
    ],
)
def test_times_compare_as_epoch_seconds(value: object, seconds: float) -> None:
    assert mark_key(value) == seconds


@pytest.mark.parametrize("value", ["yesterday", True, None, {"t": 1}, [1], float("nan")])
def test_anything_else_is_not_a_time(value: object) -> None:
    with pytest.raises(ValueError):
        mark_key(value)


def test_records_at_the_watermark_are_told_apart_by_id() -> None:
    mark = Watermark("updated_at", "2024-01-02T00:00:00Z", frozenset({"a"}))
    assert not mark.is_new("2024-01-01T00:00:00Z", "z")  # older
    assert not mark.is_new("2024-01-02T00:00:00+00:00", "a")  # committed at the same time
    assert mark.is_new("2024-01-02T00:00:00Z", "b")  # same time, not committed yet
    assert mark.is_new("2024-01-03T00:00:00Z", "a")  # changed since

    tie = mark.advance("2024-01-02T00:00:00Z", "b")
    assert tie == Watermark("updated_at", "2024-01-02T00:00:00Z", frozenset({"a", "b"}))
    assert tie.advance("2024-01-01T00:00:00Z", "c") == tie
    later = tie.advance("2024-01-05T00:00:00Z", "c")
    assert later == Watermark("updated_at", "2024-01-05T00:00:00Z", frozenset({"c"}))
    unset = Watermark(None)  # a source without a watermark reads everything
    assert unset.is_new("1970-01-01", "a") and unset.advance(1, "a") == unset


def test_a_cursor_watermark_is_the_last_page_and_its_ids() -> None:
    mark = Watermark("cursor").advance(None, "a").advance("t1", "b").advance("t1", "c")
    assert mark == Watermark("cursor", "t1", frozenset({"b", "c"}))
    assert not mark.is_new("t1", "b") and mark.is_new("t1", "d") and mark.is_new("t2", "b")


def test_the_state_file_is_written_whole_and_read_back(tmp_path) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    mark = Watermark("updated_at", 1704164645, frozenset({"b", "a"}))
    watermark.save(storage, "things", mark, raw_rows=0)

    path = tmp_path / "state" / "api" / "things.json"
    assert [p.name for p in path.parent.iterdir()] == ["things.json"]  # no temporary left
    state = json.loads(path.read_text())
    assert state["value"] == 1704164645 and state["ids"] == ["a", "b"]
    assert watermark.load(storage, "things", "updated_at") == mark
    assert watermark.load(storage, "things", None) == Watermark(None)


def test_an_unreadable_or_other_kind_of_state_is_explained(tmp_path, caplog) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    watermark.save(storage, "things", Watermark("cursor", "t1"), raw_rows=0)
    with caplog.at_level(logging.WARNING, logger="lmkiln.tasks.collect.api.watermark"):
        assert watermark.load(storage, "things", "updated_at") == Watermark("updated_at")
    assert "is a cursor watermark but the source now uses updated_at" in caplog.text

    watermark.state_path(storage, "things").write_text("{not json")
    with pytest.raises(ValueError, match=r"things.json is unreadable .*delete it to rebuild"):
        watermark.load(storage, "things", "updated_at")


# A source whose records the test edits between runs, served 3 to a page, newest last.
def records_route(records: list[dict[str, object]]) -> Callable[[str], Response]:
    def route(path: str) -> Response:
        page = int(path.rpartition("page=")[2])
        return 200, JSON, json.dumps({"items": records[(page - 1) * 3 : page * 3]})

    return route


def item(n: int, day: int, text: str = "") -> dict[str, object]:
    return {"id": f"r{n}", "text": text or f"text {n}", "updated_at": f"2024-02-{day:02d}"}


def source(base: str) -> ApiSource:
    return ApiSource(name="things", url=base + "/things", updated_at_field="updated_at", retries=0)


def commit(storage: StorageConfig, read: ApiRead, name: str = "things") -> LakeRef:
    """What the fetch task's `_store` does: append the documents to raw in one commit."""
    rows = [doc.to_row() for doc in read.documents]
    return lake.append(storage.lake("raw"), rows, lake.DOCUMENT_TABLE, f"collect {name}")


def collect(storage: StorageConfig, base: str, crash: bool = False) -> ApiRead:
    """The fetch task's sequence; `crash` dies after the lake commit, before the state write."""
    start = watermark.load(storage, "things", "updated_at")
    read = read_api(source(base), start)
    ref = commit(storage, read)
    if not crash:
        watermark.save(storage, "things", read.watermark, raw_rows=ref.rows)
    return read


def texts(read: ApiRead) -> list[str]:
    return [doc.text for doc in read.documents]


def test_a_crash_after_the_commit_re_reads_nothing_and_skips_nothing(tmp_path) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    records = [item(1, 1), item(2, 2), item(3, 3), item(4, 3)]
    with serve_routes({"/things": records_route(records)}) as base:
        first = collect(storage, base)
        # Another source commits in between: its rows must not move this one's watermark.
        other = Document(text="x", kind="api", source="other", meta={"watermark": "updated_at"})
        lake.append(storage.lake("raw"), [other.to_row()], lake.DOCUMENT_TABLE, "other")

        records += [item(5, 3), item(6, 4)]  # one at the watermark's very time, one later
        records[0] = item(1, 5, "text 1, edited")
        crashed = collect(storage, base, crash=True)
        assert watermark.load(storage, "things", "updated_at") == Watermark(
            "updated_at", "2024-02-05", frozenset({"r1"})
        )

        records.append(item(7, 5))  # the same time as the committed edit, another record
        rerun = collect(storage, base)
        after = collect(storage, base)

    assert texts(first) == ["text 1", "text 2", "text 3", "text 4"]
    assert texts(crashed) == ["text 1, edited", "text 5", "text 6"]
    assert texts(rerun) == ["text 7"]
    assert texts(after) == [] and after.counters["skipped_by_watermark"] == 7
    raw = lake.head(storage.lake("raw"))
    assert raw is not None and raw.rows == 4 + 1 + 3 + 1
    state = json.loads(watermark.state_path(storage, "things").read_text())
    assert state == state | {"value": "2024-02-05", "ids": ["r1", "r7"], "raw_rows": raw.rows}


def test_a_replaced_raw_table_is_read_from_the_start(tmp_path, caplog) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    watermark.save(storage, "things", Watermark("updated_at", "2024-02-09"), raw_rows=50)
    with caplog.at_level(logging.WARNING, logger="lmkiln.tasks.collect.api.watermark"):
        assert watermark.load(storage, "things", "updated_at") == Watermark("updated_at")
    assert "covers 50 raw rows but the raw table has 0" in caplog.text


def test_a_raw_table_replaced_by_a_larger_one_is_noticed_by_its_id(tmp_path, caplog) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    records = [item(1, 1), item(2, 2)]
    with serve_routes({"/things": records_route(records)}) as base:
        collect(storage, base)
    assert watermark.load(storage, "things", "updated_at").value == "2024-02-02"

    # Moved aside and made anew, with more rows than the state covers, none of this source's.
    shutil.rmtree(storage.lake("raw"))
    others = [Document(text=f"x{n}", kind="web", source="site").to_row() for n in range(5)]
    lake.append(storage.lake("raw"), others, lake.DOCUMENT_TABLE, "other")
    with caplog.at_level(logging.WARNING, logger="lmkiln.tasks.collect.api.watermark"):
        assert watermark.load(storage, "things", "updated_at") == Watermark("updated_at")
    assert "that table has been replaced; the source is read from the start" in caplog.text


def test_reset_forgets_a_cursor_that_the_raw_table_would_rebuild(tmp_path) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    meta = {"watermark": "cursor", "cursor": "after-10", "record_id": "r1"}
    row = Document(text="a", kind="api", source="things", meta=meta).to_row()
    lake.append(storage.lake("raw"), [row], lake.DOCUMENT_TABLE, "things")
    # No state file at all: the cursor comes back from the raw rows' meta.
    assert watermark.load(storage, "things", "cursor").value == "after-10"

    watermark.reset(storage, "things")
    assert watermark.load(storage, "things", "cursor") == Watermark("cursor")
    later = Document(text="b", kind="api", source="things", meta=meta | {"cursor": "after-5"})
    lake.append(storage.lake("raw"), [later.to_row()], lake.DOCUMENT_TABLE, "things")
    assert watermark.load(storage, "things", "cursor").value == "after-5"  # rows since count
    assert "watermark.reset(load_config('CONFIG').storage, 'x')" in watermark.reset_command("x")


def test_two_runs_of_one_source_at_once_commit_each_record_once(tmp_path) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    records = [item(n, n) for n in range(1, 8)]
    slow = records_route(records)

    def route(path: str) -> Response:
        time.sleep(0.2)  # both runs would be reading at once without the lock
        return slow(path)

    def run() -> None:
        with watermark.locked(storage, "things"):  # as the fetch task holds it
            collect(storage, base)

    with serve_routes({"/things": route}) as base:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    raw = lake.head(storage.lake("raw"))
    assert raw is not None and raw.rows == len(records)
