"""The API source against third-party servers: Datasette (a real JSON API with next tokens
over a SQLite file the test edits) and Prefect's own API for Secret blocks."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from lmkiln.tasks.collect.api import watermark
from lmkiln.tasks.collect.api.client import read_api
from lmkiln.tasks.collect.api.reader import ApiRead
from lmkiln.tasks.config.collect import ApiSource
from lmkiln.tasks.config.pipeline import ConfigError
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.caching import bucket_start
from tests.helpers.routes import JSON, WithHeaders, serve_routes, unused_port

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 30.0  # measured: about 0.5 s


@dataclass(frozen=True)
class Datasette:
    base_url: str
    db: Path

    def execute(self, sql: str, rows: list[tuple] | None = None) -> None:
        with sqlite3.connect(self.db) as connection:
            connection.executemany(sql, rows or [()])


@pytest.fixture
def datasette(tmp_path: Path) -> Iterator[Datasette]:
    db = tmp_path / "db.sqlite"
    with sqlite3.connect(db) as connection:
        connection.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT, body TEXT, updated_at TEXT)"
        )
        connection.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?)",
            # Several rows share each time: the watermark's ties are the point.
            [
                (n, f"Item {n}", f"body of item {n}", f"2024-03-{1 + n % 4:02d}")
                for n in range(1, 24)
            ],
        )
    port = unused_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "datasette", "serve", str(db), "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, base_url)
        yield Datasette(base_url, db)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _wait_until_up(process: subprocess.Popen[str], base_url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read() if process.stderr else ""
            pytest.fail(f"datasette exited with {process.returncode}: {error[-2000:]}")
        try:
            if requests.get(f"{base_url}/-/versions.json", timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.05)
    pytest.fail(f"datasette did not answer at {base_url} within {START_TIMEOUT_S:.0f} s")


def items_source(base_url: str, **overrides: object) -> ApiSource:
    return ApiSource.model_validate(
        {
            "name": "items",
            "url": base_url,
            "path": "/db/items.json",
            # Datasette sorts by updated_at, then by primary key, so its tokens are keyset
            # tokens: stable while rows change.
            "query": {"_shape": "objects", "_size": 5, "_sort": "updated_at"},
            "pagination": {"style": "cursor", "next_path": "next", "param": "_next"},
            "records_path": "rows",
            "text_fields": ["title", "body"],
            "url_template": base_url + "/db/items/{id}",
            "updated_at_field": "updated_at",
            "since_param": "updated_at__gte",  # Datasette's column filter: >=
            "retries": 1,
            **overrides,
        }
    )


def collect(source: ApiSource, storage: StorageConfig) -> ApiRead:
    """The fetch task's sequence: load the watermark, read, commit, then save it."""
    start = watermark.load(storage, source.name, source.watermark_kind)
    read = read_api(source, start)
    rows = [doc.to_row() for doc in read.documents]
    ref = lake.append(storage.lake("raw"), rows, lake.DOCUMENT_TABLE, "collect items")
    watermark.save(storage, source.name, read.watermark, raw_rows=ref.rows)
    return read


def record_ids(read: ApiRead) -> list[int]:
    return sorted(int(doc.meta["record_id"]) for doc in read.documents)


def test_datasette_is_read_once_then_only_what_changed(datasette: Datasette, tmp_path) -> None:
    storage = StorageConfig(data_root=str(tmp_path / "data"))
    source = items_source(datasette.base_url)

    first = collect(source, storage)
    assert record_ids(first) == list(range(1, 24))
    assert first.counters["pages"] == 5 and first.counters["duplicates"] == 0
    doc = next(d for d in first.documents if d.meta["record_id"] == "7")
    assert doc.text == "Item 7\n\nbody of item 7" and doc.url.endswith("/db/items/7")
    assert first.watermark.value == "2024-03-04"

    datasette.execute(
        "INSERT INTO items VALUES (?, ?, ?, ?)",
        [
            (24, "Item 24", "new, at the watermark's time", "2024-03-04"),
            (25, "Item 25", "newer", "2024-03-09"),
        ],
    )
    datasette.execute("UPDATE items SET body = 'edited', updated_at = '2024-03-08' WHERE id = 2")
    datasette.execute("UPDATE items SET body = 'edited, same time' WHERE id = 3")  # not seen
    second = collect(source, storage)
    assert record_ids(second) == [2, 24, 25]
    # The server filtered with >= the watermark: only the six rows at it came back, skipped.
    assert second.counters["skipped_by_watermark"] == 6
    assert collect(source, storage).documents == []


def test_datasette_next_url_without_a_watermark_reads_every_row(datasette: Datasette) -> None:
    source = items_source(
        datasette.base_url,
        pagination={"style": "next_url", "next_path": "next_url"},
        query={"_shape": "objects", "_size": 4},
        updated_at_field=None,
        since_param=None,
    )
    read = read_api(source)
    assert record_ids(read) == list(range(1, 24)) and read.counters["pages"] == 6


@pytest.mark.slow
def test_a_prefect_secret_block_authenticates_and_stays_secret(caplog) -> None:
    from prefect.blocks.system import Secret

    secret = "bl0ck-s3cret-value"
    Secret(value=secret).save("lmkiln-test-api-token", overwrite=True)

    def respond(path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], str]:
        if headers.get("X-Api-Key") != secret:
            return 401, JSON, "{}"
        items = [{"id": 1, "text": "hello"}] if path.endswith("page=1") else []
        return 200, JSON, json.dumps({"items": items})

    auth = {"scheme": "header", "header": "X-Api-Key", "secret_block": "lmkiln-test-api-token"}
    with serve_routes({"/things": WithHeaders(respond)}) as base:
        source = ApiSource(name="things", url=base + "/things", auth=auth, retries=0)
        read = read_api(source)
        missing = ApiSource(
            name="things", url=base + "/things", auth=auth | {"secret_block": "nope"}, retries=0
        )
        with pytest.raises(ConfigError, match="no Prefect Secret block named 'nope'"):
            read_api(missing)

    assert [doc.text for doc in read.documents] == ["hello"]
    assert secret not in caplog.text and secret not in repr(read)


@pytest.mark.slow
def test_the_fetch_task_quarantines_commits_and_then_moves_the_watermark(
    datasette: Datasette, tmp_path
) -> None:
    from lmkiln.tasks.collect.tasks import fetch_api

    storage = StorageConfig(data_root=str(tmp_path / "data"))
    datasette.execute("UPDATE items SET title = NULL, body = NULL WHERE id = 5")
    source = items_source(datasette.base_url)
    fetch = fetch_api.with_options(refresh_cache=True)  # each call a new night

    first = fetch(source, storage, bucket_start(24), {})
    datasette.execute("UPDATE items SET body = 'fixed', updated_at = '2024-03-10' WHERE id = 5")
    second = fetch(source, storage, bucket_start(24), {})

    assert first.added == 22 and first.counters["quarantined_missing_text"] == 1
    quarantine = lake.head(storage.lake("quarantine"))
    assert quarantine is not None
    (row,) = lake.read(quarantine, lake.QUARANTINE_TABLE)
    assert row["reason"] == "missing_text" and json.loads(row["payload"])["id"] == 5
    assert second.added == 1 and second.lake is not None and second.lake.rows == 23
    state = json.loads(watermark.state_path(storage, "items").read_text())
    assert state["value"] == "2024-03-10" and state["raw_rows"] == 23


@pytest.mark.slow
def test_two_fetch_tasks_of_one_source_at_once_commit_each_record_once(tmp_path) -> None:
    from lmkiln.tasks.collect.tasks import fetch_api

    def route(path: str) -> tuple[int, dict[str, str], str]:
        time.sleep(0.2)  # both tasks would be reading at once without the source's lock
        page = int(path.rpartition("page=")[2])
        numbers = range((page - 1) * 5, min(page * 5, 12))
        items = [{"id": n, "text": f"text {n}", "updated_at": 1_700_000_000 + n} for n in numbers]
        return 200, JSON, json.dumps({"items": items})

    storage = StorageConfig(data_root=str(tmp_path / "data"))
    fetch = fetch_api.with_options(refresh_cache=True, retries=0)
    tonight = bucket_start(24)
    results = []
    with serve_routes({"/things": route}) as base:
        source = ApiSource(
            name="things", url=base + "/things", updated_at_field="updated_at", retries=0
        )
        threads = [
            threading.Thread(target=lambda: results.append(fetch(source, storage, tonight, {})))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(result.added for result in results) == [0, 12]
    raw = lake.head(storage.lake("raw"))
    assert raw is not None and raw.rows == 12
