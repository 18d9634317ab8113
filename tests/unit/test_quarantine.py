"""The quarantine table keeps a bad record once, however often a retry, a schema-change night
or a re-read after a crash quarantines it again."""

from __future__ import annotations

import json

import pytest

from lmkiln.tasks.collect.api import watermark
from lmkiln.tasks.collect.api.client import read_api
from lmkiln.tasks.collect.api.reader import SchemaChanged
from lmkiln.tasks.config.collect import ApiSource
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import lake, quarantine
from tests.helpers.routes import JSON, Response, serve_routes


def items(records: list[dict[str, object]]):
    def route(path: str) -> Response:
        page = int(path.rpartition("page=")[2])
        return 200, JSON, json.dumps({"items": records[(page - 1) * 5 : page * 5]})

    return route


def good(n: int) -> dict[str, object]:
    return {"id": f"r{n}", "text": f"text {n}", "updated_at": f"2024-02-{n:02d}"}


def source(base: str, name: str = "things") -> ApiSource:
    return ApiSource(name=name, url=base + "/things", updated_at_field="updated_at", retries=0)


def fetch(storage: StorageConfig, src: ApiSource, fail_commit: bool = False) -> None:
    """The fetch task's sequence; `fail_commit` dies on the documents' commit, as a full disk
    would, after the quarantine rows of the old order were already written."""
    with watermark.locked(storage, src.name):
        start = watermark.load(storage, src.name, src.watermark_kind)
        try:
            read = read_api(src, start)
        except SchemaChanged as exc:
            quarantine.store(storage, src.name, exc.quarantined)
            raise
        quarantine.store(storage, src.name, read.quarantined)
        if fail_commit:
            raise OSError("no space left on device")
        rows = [doc.to_row() for doc in read.documents]
        ref = lake.append(storage.lake("raw"), rows, lake.DOCUMENT_TABLE, "collect")
        watermark.save(storage, src.name, read.watermark, raw_rows=ref.rows)


def quarantined(storage: StorageConfig) -> list[tuple[str, str, str]]:
    head = lake.head(storage.lake("quarantine"))
    if head is None:
        return []
    rows = lake.read(head, ("source", "reason", "payload"))
    return sorted((r["source"], r["reason"], json.loads(r["payload"])["id"]) for r in rows)


def test_a_retry_after_a_failed_commit_quarantines_nothing_twice(tmp_path) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    records = [good(1), good(2) | {"text": None}, good(3)]
    with serve_routes({"/things": items(records)}) as base:
        with pytest.raises(OSError):
            fetch(storage, source(base), fail_commit=True)
        fetch(storage, source(base))  # the Prefect retry
        fetch(storage, source(base, "copy"))  # another source's identical record: its own row

    assert quarantined(storage) == [
        ("copy", "missing_text", "r2"),
        ("things", "missing_text", "r2"),
    ]


def test_nights_that_fail_on_a_schema_change_quarantine_each_record_once(tmp_path) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    records = [good(n) | {"body": "moved", "text": None} for n in range(1, 13)]
    with serve_routes({"/things": items(records)}) as base:
        for _night in range(2):
            with pytest.raises(SchemaChanged):
                fetch(storage, source(base))
        records[0]["updated_at"] = 5  # the same record, changed: a new row
        with pytest.raises(SchemaChanged):
            fetch(storage, source(base))

    rows = quarantined(storage)
    assert len(rows) == 11 and rows.count(("things", "missing_text", "r1")) == 2


def test_the_stored_payload_hash_is_of_the_whole_record() -> None:
    row = quarantine.row("s", "bad_text", "http://a.test/x", {"b": 1, "a": "x"}, str)
    assert json.loads(row["payload"]) == {"a": "x", "b": 1}
    again = quarantine.row("s", "bad_text", "http://a.test/y", {"a": "x", "b": 1}, str)
    assert row["payload_sha256"] == again["payload_sha256"] and set(row) == set(
        lake.QUARANTINE_TABLE
    )
