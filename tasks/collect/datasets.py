"""Datasets a team already holds as a source: Hugging Face (saved to disk, or parquet and
JSON Lines data files) and Deep Lake (local or s3://), rows mapped to documents by the
source's field map (lmkiln.tasks.collect.files.mapped: the same reasons for a bad row).

Change detection: the dataset's version (a saved Dataset's fingerprint, a Deep Lake commit,
the data files' digests) is kept in the source's state file after the raw commit; a night
that finds the same version reads nothing. A changed dataset is read again from its start,
and clean's exact dedup drops the rows it had kept before.

A configuration that cannot match the data (no such split, no text column) is an error
that names what there is; a bad data file of several (a truncated Parquet file) is
quarantined as `unreadable`, and the rows before the damage and the other files are kept.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lmkiln.tasks.collect.files import Quarantined, file_digest, mapped, matched_files
from lmkiln.tasks.config.collect import DatasetSource
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.quarantine import row as quarantine_row
from lmkiln.tasks.core.records import Document

BATCH_ROWS = 1000


@dataclass
class DatasetRead:
    documents: list[Document] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    version: str = ""  # to save after the commit


def read_dataset(source: DatasetSource, last_version: str | None) -> DatasetRead:
    """The dataset's rows as documents, unless its version is `last_version`."""
    readers: dict[str, Callable[[DatasetSource], _Reader]]
    readers = {"hf_disk": _SavedDataset, "deeplake": _DeepLake}
    dataset = readers.get(source.format, _DataFiles)(source)
    # The mapping is part of the version: the same data read with other settings is new.
    settings = source.model_dump_json(exclude={"name"})
    mapping = hashlib.sha256(settings.encode("utf-8")).hexdigest()[:16]
    read = DatasetRead(version=f"{dataset.version}|settings:{mapping}")
    if read.version == last_version:
        read.counters["unchanged"] += 1
        return read
    base = {"dataset": source.path, "format": source.format, "version": read.version}
    for where, record in dataset.rows():
        if source.max_rows is not None and read.counters["records"] >= source.max_rows:
            read.counters["rows_over_max_rows"] += 1
            break
        read.counters["records"] += 1
        item = record if isinstance(record, Quarantined) else mapped(record, source)
        url = f"{where.get('file', source.path)}#row={where['row']}"
        if isinstance(item, Quarantined):
            payload = {**where, "detail": item.detail}
            read.quarantined.append(
                quarantine_row(source.name, item.reason, url, payload, str, kind="dataset")
            )
            read.counters[f"quarantined_{item.reason}"] += 1
            continue
        text, title, own_url, meta = item
        read.documents.append(
            Document(
                text=text,
                kind="dataset",
                source=source.name,
                url=own_url or url,
                title=title,
                meta=meta | base | where,
            )
        )
        read.counters["documents"] += 1
    return read


Row = tuple[dict[str, Any], dict[str, Any] | Quarantined]


class _Reader(Protocol):
    """A dataset of one format: its version, and its rows as (where, record)."""

    version: str

    def rows(self) -> Iterator[Row]: ...


def _missing_text(source: DatasetSource, columns: list[str]) -> ValueError:
    return ValueError(
        f"dataset source '{source.name}': {source.path} has no column {source.text_field!r} "
        f"(columns: {', '.join(columns)}); set text_field to the column with the text"
    )


def _wanted(source: DatasetSource, columns: list[str]) -> list[str]:
    named = [source.text_field, source.title_field, source.url_field, source.id_field]
    fields = dict.fromkeys(f for f in [*named, *source.meta_fields] if f)
    return [f for f in fields if f in columns]


class _SavedDataset:
    """A folder written by `Dataset.save_to_disk` (or a DatasetDict's, with `split`)."""

    def __init__(self, source: DatasetSource) -> None:
        from datasets import DatasetDict, load_from_disk

        try:
            loaded = load_from_disk(source.path)
        except FileNotFoundError as exc:
            raise ValueError(
                f"dataset source '{source.name}': {source.path} is not a dataset saved with "
                f"save_to_disk ({exc}); check path, or use format parquet or json"
            ) from None
        if isinstance(loaded, DatasetDict):
            splits = list(loaded)
            split = source.split or (splits[0] if len(splits) == 1 else None)
            if split not in loaded:
                raise ValueError(
                    f"dataset source '{source.name}': {source.path} has splits "
                    f"{', '.join(splits)}: set split to one of them"
                )
            loaded = loaded[split]
        elif source.split:
            raise ValueError(
                f"dataset source '{source.name}': {source.path} is a single Dataset, not a "
                f"DatasetDict: remove split {source.split!r}"
            )
        if source.text_field not in loaded.column_names:
            raise _missing_text(source, loaded.column_names)
        self.dataset = loaded.select_columns(_wanted(source, loaded.column_names))
        self.version = f"fingerprint:{loaded._fingerprint}"

    def rows(self) -> Iterator[Row]:
        number = 0
        for batch in self.dataset.iter(batch_size=BATCH_ROWS):
            for values in zip(*batch.values(), strict=True):
                yield {"row": number}, dict(zip(batch, values, strict=True))
                number += 1


class _DataFiles:
    """Parquet or JSON Lines data files (a path or glob), each read by Hugging Face
    datasets' builder of that format, streamed; a file that fails is quarantined."""

    def __init__(self, source: DatasetSource) -> None:
        self.source = source
        self.files = matched_files([source.path])
        if not self.files:
            raise ValueError(
                f"dataset source '{source.name}': no files match {source.path}; check path"
            )
        digests = [f"{path}:{file_digest(path)}" for path in self.files]
        self.version = "files:" + hashlib.sha256("\n".join(digests).encode()).hexdigest()

    def rows(self) -> Iterator[Row]:
        from datasets import load_dataset

        for path in self.files:
            number = 0
            try:
                builder = "json" if self.source.format == "json" else "parquet"
                data = load_dataset(builder, data_files=str(path), split="train", streaming=True)
                columns = list(data.features or {})
                if columns and self.source.text_field not in columns:
                    detail = f"no column {self.source.text_field!r} (columns: {', '.join(columns)})"
                    yield {"file": str(path), "row": 0}, Quarantined("missing_field", detail)
                    continue
                for record in data:
                    yield {"file": str(path), "row": number}, record
                    number += 1
            except Exception as exc:  # pyarrow and datasets raise many types for bad files
                detail = f"from row {number} on: {type(exc).__name__}: {exc}"[:500]
                yield {"file": str(path), "row": number}, Quarantined("unreadable", detail)


class _DeepLake:
    """A Deep Lake dataset at its latest commit."""

    def __init__(self, source: DatasetSource) -> None:
        import deeplake

        # A path with no dataset is the config's error; anything else (a network or S3
        # failure) stays itself, and the task retries it.
        from lmkiln.tasks.core.storage import lake_creds

        creds = lake_creds(source.path)
        if not deeplake.exists(source.path, creds=creds):
            raise ValueError(
                f"dataset source '{source.name}': no Deep Lake dataset at {source.path}; check "
                "path and, for s3://, the AWS credentials in the environment"
            )
        self.dataset = deeplake.open_read_only(source.path, creds=creds)
        columns = [column.name for column in self.dataset.schema.columns]
        if source.text_field not in columns:
            raise _missing_text(source, columns)
        self.columns = _wanted(source, columns)
        self.text_field = source.text_field
        self.version = f"deeplake:{self.dataset.version}"

    def rows(self) -> Iterator[Row]:
        total = len(self.dataset)
        for lo in range(0, total, BATCH_ROWS):
            hi = min(lo + BATCH_ROWS, total)
            batch = {c: _plain(self.dataset[c][lo:hi]) for c in self.columns}
            for i in range(hi - lo):
                record = {c: batch[c][i] for c in self.columns}
                if record[self.text_field] is None:  # Deep Lake reads empty text as None
                    record[self.text_field] = ""
                yield {"row": lo + i}, record


def _plain(values: Any) -> list[Any]:
    """A Deep Lake column slice as Python values."""
    tolist = getattr(values, "tolist", None)
    return tolist() if tolist else list(values)


# The state file: the version read at the last commit.


def state_path(storage: StorageConfig, source_name: str) -> Path:
    return storage.root / "state" / "datasets" / f"{source_name}.json"


def load_version(storage: StorageConfig, source_name: str) -> str | None:
    try:
        return json.loads(state_path(storage, source_name).read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_version(storage: StorageConfig, source_name: str, version: str) -> None:
    lake.write_json_atomic(state_path(storage, source_name), {"version": version})


def locked(storage: StorageConfig, source_name: str) -> Any:
    return lake.file_lock(state_path(storage, source_name).with_suffix(".lock"))
