"""Datasets a team holds as a source: Hugging Face saved to disk or as data files, and Deep
Lake; rows mapped by config, bad rows and files quarantined, unchanged datasets not reread."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset, DatasetDict

from lmkiln.tasks.collect.datasets import read_dataset
from lmkiln.tasks.config.collect import DatasetSource
from tests.helpers.holdings import ROWS


def source(path: Path | str, fmt: str, **overrides) -> DatasetSource:
    fields = {"text_field": "body", "title_field": "headline", "id_field": "id"}
    return DatasetSource(name="held", format=fmt, path=str(path), **(fields | overrides))


def test_a_saved_dataset_is_mapped_and_read_once_per_version(tmp_path: Path) -> None:
    Dataset.from_dict(ROWS).save_to_disk(str(tmp_path / "ds"))
    read = read_dataset(source(tmp_path / "ds", "hf_disk"), None)

    assert [d.title for d in read.documents] == ["Rivers", "Bridges", "Snow"]
    first = read.documents[0]
    assert (first.kind, first.source, first.meta["record_id"], first.meta["row"]) == (
        "dataset",
        "held",
        1,
        0,
    )
    assert first.url == f"{tmp_path / 'ds'}#row=0" and first.meta["version"] == read.version
    (empty,) = read.quarantined
    assert empty["reason"] == "empty_text" and json.loads(empty["payload"])["row"] == 2
    assert read.counters["records"] == 4 == read.counters["documents"] + 1

    again = read_dataset(source(tmp_path / "ds", "hf_disk"), read.version)
    assert again.documents == [] and again.counters["unchanged"] == 1
    capped = read_dataset(source(tmp_path / "ds", "hf_disk", max_rows=2), None)
    assert len(capped.documents) == 2 and capped.counters["rows_over_max_rows"] == 1


def test_a_dataset_dict_needs_its_split_and_a_text_column(tmp_path: Path) -> None:
    splits = DatasetDict({"train": Dataset.from_dict(ROWS), "test": Dataset.from_dict(ROWS)})
    splits.save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(ValueError, match="has splits train, test: set split"):
        read_dataset(source(tmp_path / "dd", "hf_disk"), None)
    read = read_dataset(source(tmp_path / "dd", "hf_disk", split="test"), None)
    assert len(read.documents) == 3
    with pytest.raises(ValueError, match=r"no column 'text' \(columns: headline, body, id\)"):
        read_dataset(source(tmp_path / "dd", "hf_disk", split="test", text_field="text"), None)
    with pytest.raises(ValueError, match="not a dataset saved with save_to_disk"):
        read_dataset(source(tmp_path / "nowhere", "hf_disk"), None)


def test_data_files_with_a_damaged_one_keep_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table(ROWS), data / "part-0.parquet")
    whole = (data / "part-0.parquet").read_bytes()
    (data / "part-1.parquet").write_bytes(whole[: len(whole) // 2])
    pq.write_table(pa.table({"content": ["x"]}), data / "part-2.parquet")
    read = read_dataset(source(data / "*.parquet", "parquet"), None)

    assert [d.title for d in read.documents] == ["Rivers", "Bridges", "Snow"]
    assert read.documents[0].meta["file"] == str(data / "part-0.parquet")
    reasons = sorted((r["reason"], Path(r["url"].partition("#")[0]).name) for r in read.quarantined)
    assert reasons == [
        ("empty_text", "part-0.parquet"),
        ("missing_field", "part-2.parquet"),
        ("unreadable", "part-1.parquet"),
    ]
    assert read_dataset(source(data / "*.parquet", "parquet"), read.version).documents == []

    lines = data / "rows.jsonl"
    lines.write_text("\n".join(json.dumps({"body": b, "id": i}) for i, b in enumerate("ab")))
    read = read_dataset(source(lines, "json", title_field=None), None)
    assert [d.text for d in read.documents] == ["a", "b"]
    with pytest.raises(ValueError, match="no files match"):
        read_dataset(source(tmp_path / "none-*.parquet", "parquet"), None)


def test_a_deep_lake_dataset_is_read_at_its_commit(tmp_path: Path) -> None:
    import deeplake

    path = str(tmp_path / "lake")
    ds = deeplake.create(path)
    ds.add_column("headline", deeplake.types.Text())
    ds.add_column("body", deeplake.types.Text())
    ds.add_column("id", deeplake.types.Int64())
    ds.append(ROWS)
    ds.commit("four rows")
    read = read_dataset(source(path, "deeplake"), None)

    assert [d.title for d in read.documents] == ["Rivers", "Bridges", "Snow"]
    assert read.documents[2].meta["record_id"] == 4
    assert [r["reason"] for r in read.quarantined] == ["empty_text"]
    assert read_dataset(source(path, "deeplake"), read.version).documents == []

    ds.append({"headline": ["Ferry"], "body": ["The ferry was late."], "id": [5]})
    ds.commit("a fifth")
    assert len(read_dataset(source(path, "deeplake"), read.version).documents) == 4
    with pytest.raises(ValueError, match="no Deep Lake dataset at"):
        read_dataset(source(tmp_path / "missing", "deeplake"), None)


def test_the_same_data_under_another_mapping_is_read_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table(ROWS), data / "part-0.parquet")
    wrong = read_dataset(source(data / "*.parquet", "parquet", text_field="text"), None)
    assert [r["reason"] for r in wrong.quarantined] == ["missing_field"]
    fixed = read_dataset(source(data / "*.parquet", "parquet"), wrong.version)
    assert len(fixed.documents) == 3 and fixed.version != wrong.version
