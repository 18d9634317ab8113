"""Files and datasets through the collect flow: their documents land in the raw table with
provenance, their bad records in the quarantine table with reasons, and the rest of each
source is kept."""

from __future__ import annotations

import json

import deeplake
import pytest
from datasets import Dataset

from lmkiln.flows.collect import collect
from lmkiln.flows.report import source_rows
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from tests.helpers.holdings import ROWS, write_knowledge_base

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_files_and_datasets_are_collected_and_their_bad_records_quarantined(tmp_path):
    kb = write_knowledge_base(tmp_path)
    Dataset.from_dict(ROWS).save_to_disk(str(tmp_path / "held"))
    lake_path = str(tmp_path / "deeplake")
    held_lake = deeplake.create(lake_path)
    for column in ("body", "headline"):
        held_lake.add_column(column, deeplake.types.Text())
    held_lake.append({"body": ROWS["body"], "headline": ROWS["headline"]})
    held_lake.commit("held rows")
    fields = {"text_field": "body", "meta_fields": ["topic"]}
    config = PipelineConfig.model_validate(
        {
            "storage": {"data_root": str(tmp_path / "data")},
            "collect": {
                "files": [{"name": "kb", "paths": [str(kb)], "max_file_bytes": 1000, **fields}],
                "datasets": [
                    {"name": "held", "format": "hf_disk", "path": str(tmp_path / "held")} | fields,
                    {"name": "lake", "format": "deeplake", "path": lake_path} | fields,
                ],
            },
        }
    )
    report = collect(config)

    assert not report.failures
    raw = lake.head(config.storage.lake("raw"))
    rows = list(lake.read(raw, ("kind", "source", "meta")))
    names = ("kb", "held", "lake")
    by_source = {name: [r for r in rows if r["source"] == name] for name in names}
    assert [len(by_source[name]) for name in names] == [6, 3, 3]
    assert {r["kind"] for r in by_source["kb"]} == {"file"}
    assert all("file_sha256" in json.loads(r["meta"]) for r in by_source["kb"])
    assert {r["kind"] for r in by_source["held"]} == {"dataset"}

    quarantine = lake.head(config.storage.lake("quarantine"))
    kept = list(lake.read(quarantine, ("source", "kind", "reason")))
    assert sum(r["source"] == "kb" for r in kept) == 11
    assert [r["reason"] for r in kept if r["source"] == "held"] == ["empty_text"]
    assert [r["reason"] for r in kept if r["source"] == "lake"] == ["empty_text"]
    reported = {row["source"]: row for row in source_rows(report)}
    assert json.loads(reported["kb"]["detail"])["quarantined_unreadable"] == 1
    assert reported["held"]["documents"] == 3

    again = collect(config)  # the same bucket: cached, nothing appended
    assert set(again.cached) == {"kb", "held", "lake"}
    assert lake.head(config.storage.lake("raw")).rows == raw.rows
