"""Local files as a source: .txt, .md, .html, .jsonl and .parquet under folders or globs.

Each file gives documents (one per text, Markdown or HTML file; one per JSON line or Parquet
row) or quarantine rows with a reason, so a bad file, line or row never stops the source:

| reason | what |
| --- | --- |
| `undecodable` | not in the source's encoding (a file, a JSON line), or a lone surrogate |
| `binary` | a .txt, .md or .html file whose first bytes are no text (NUL, control bytes) |
| `too_large` | a .txt, .md or .html file above `max_file_bytes` |
| `unreadable` | a file that cannot be opened or parsed as a whole (a truncated Parquet file) |
| `bad_json` | a JSON line that does not parse, or is not an object |
| `missing_field` | a record without the text field (a Parquet file without the column) |
| `bad_value` | a text field that is not a string |
| `empty_text` | a text that is empty or white space (an HTML page without main text) |

Change detection: the source's state file keeps each file's size, modification time and
SHA-256. A file with the same size and time is not opened; one with a new time but the same
digest is not parsed. The state is saved only after the raw table's commit (`save_marks`), so
a crash in between reads those files again, and clean's exact dedup drops what was kept.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmkiln.tasks.config.collect import FieldMap, FileSource
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.quarantine import row as quarantine_row
from lmkiln.tasks.core.records import Document, is_storable

logger = logging.getLogger(__name__)

KINDS = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".jsonl": "jsonl",
    ".parquet": "parquet",
}
CHUNK = 1 << 20


class Quarantined(Exception):
    """A file, line or row that gives no document: `reason` names why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class FilesRead:
    documents: list[Document] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)  # quarantine table rows
    counters: Counter[str] = field(default_factory=Counter)
    marks: dict[str, dict[str, Any]] = field(default_factory=dict)  # to save after the commit


def read_files(source: FileSource, marks: Mapping[str, Mapping[str, Any]]) -> FilesRead:
    """Every matched file that changed since `marks` (the last saved state), read."""
    read = FilesRead()
    for path in matched_files(source.paths):
        kind = KINDS.get(path.suffix.lower())
        if kind is None:
            read.counters["files_skipped_type"] += 1
            continue
        read.counters["files"] += 1
        try:
            stat = path.stat()
        except OSError as exc:
            read.counters["records"] += 1  # the file as one record, quarantined
            _quarantine(read, source, path, {}, Quarantined("unreadable", str(exc)))
            continue
        key, previous = str(path), marks.get(str(path), {})
        if previous.get("size") == stat.st_size and previous.get("mtime_ns") == stat.st_mtime_ns:
            read.marks[key] = dict(previous)
            read.counters["files_unchanged"] += 1
            continue
        try:
            digest = file_digest(path)
        except OSError as exc:
            read.counters["records"] += 1
            _quarantine(read, source, path, {}, Quarantined("unreadable", str(exc)))
            continue
        read.marks[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
        if previous.get("sha256") == digest:
            read.counters["files_unchanged"] += 1
            continue
        read.counters["files_read"] += 1
        provenance = {
            "path": key,
            "file_sha256": digest,
            "modified": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
        }
        for where, item in _records(path, kind, source, stat.st_size):
            read.counters["records"] += 1
            if isinstance(item, Quarantined):
                _quarantine(read, source, path, where, item)
            else:
                read.documents.append(_document(source, path, provenance | where, *item))
                read.counters["documents"] += 1
    return read


def matched_files(patterns: list[str]) -> list[Path]:
    """The files that folders (recursively) and glob patterns name, sorted, each once."""
    found: set[Path] = set()
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        if os.path.isdir(expanded):
            found.update(p for p in Path(expanded).rglob("*") if p.is_file())
        else:
            found.update(Path(p) for p in glob.glob(expanded, recursive=True) if os.path.isfile(p))
    return sorted(p.resolve() for p in found)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


Record = tuple[dict[str, Any], tuple[str, str, str, dict[str, Any]] | Quarantined]


def _records(path: Path, kind: str, source: FileSource, size: int) -> Iterator[Record]:
    """(where in the file, (text, title, url, meta) or Quarantined) per record."""
    try:
        if kind in ("text", "markdown", "html"):
            if size > source.max_file_bytes:
                raise Quarantined("too_large", f"{size} bytes > max_file_bytes")
            yield {}, _whole_file(path, kind, source.encoding)
        elif kind == "jsonl":
            yield from _json_lines(path, source)
        else:
            yield from _parquet_rows(path, source)
    except Quarantined as exc:
        yield {}, exc
    except OSError as exc:
        yield {}, Quarantined("unreadable", str(exc))


def _whole_file(path: Path, kind: str, encoding: str) -> tuple[str, str, str, dict] | Quarantined:
    from lmkiln.tasks.collect.extract.main_text import extract
    from lmkiln.tasks.collect.extract.markup import decode, looks_binary

    body = path.read_bytes()
    if looks_binary(body) and not encoding.lower().startswith("utf-16"):
        return Quarantined("binary", "control bytes in the first 1445 bytes: not a text file")
    if kind == "html":
        page = extract(decode(body, ""), path.as_uri())
        text, title = page.text, page.title
    else:
        try:
            text = body.decode("utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding)
        except UnicodeDecodeError as exc:
            return Quarantined("undecodable", f"not {encoding} at byte {exc.start}")
        title = _markdown_title(text) if kind == "markdown" else ""
    if not text.strip():
        return Quarantined("empty_text", "no text")
    return text, title or path.stem, "", {}


def _markdown_title(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
        if line.strip():
            return ""
    return ""


def _json_lines(path: Path, source: FileSource) -> Iterator[Record]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = {"line": number}
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode(source.encoding))
            except UnicodeDecodeError as exc:
                yield where, Quarantined("undecodable", f"not {source.encoding} at {exc.start}")
                continue
            except ValueError as exc:
                yield where, Quarantined("bad_json", str(exc)[:200])
                continue
            yield where, mapped(record, source)


def _parquet_rows(path: Path, source: FileSource) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except (pa.ArrowException, ValueError) as exc:
        raise Quarantined("unreadable", f"not a readable Parquet file: {exc}") from None
    names = table.schema_arrow.names
    wanted = [f for f in _fields(source) if f in names]
    if source.text_field not in names:
        raise Quarantined(
            "missing_field", f"no column {source.text_field!r} (columns: {', '.join(names)})"
        )
    number = 0
    try:
        for batch in table.iter_batches(batch_size=1024, columns=wanted):
            for record in batch.to_pylist():
                yield {"row": number}, mapped(record, source)
                number += 1
    except (pa.ArrowException, OSError) as exc:
        yield {"row": number}, Quarantined("unreadable", f"from row {number} on: {exc}")


def _fields(fields: FieldMap) -> list[str]:
    named = [fields.text_field, fields.title_field, fields.url_field, fields.id_field]
    return list(dict.fromkeys(f for f in [*named, *fields.meta_fields] if f))


def mapped(record: Any, fields: FieldMap) -> tuple[str, str, str, dict[str, Any]] | Quarantined:
    """(text, title, url, meta) of a record by the field map, or why it gives no document."""
    if not isinstance(record, dict):
        return Quarantined("bad_json", f"a JSON {type(record).__name__}, not an object")
    if fields.text_field not in record or record[fields.text_field] is None:
        return Quarantined("missing_field", f"no {fields.text_field!r}")
    text = record[fields.text_field]
    if not isinstance(text, str):
        return Quarantined("bad_value", f"{fields.text_field!r} is a {type(text).__name__}")
    if not text.strip():
        return Quarantined("empty_text", f"{fields.text_field!r} is empty")
    meta = {f: record[f] for f in fields.meta_fields if f in record}
    if fields.id_field and record.get(fields.id_field) is not None:
        meta["record_id"] = record[fields.id_field]
    title = _string(record.get(fields.title_field)) if fields.title_field else ""
    url = _string(record.get(fields.url_field)) if fields.url_field else ""
    if not is_storable(text, title, url):
        return Quarantined(
            "undecodable", "a lone surrogate (such as the escape \\ud800) in a field"
        )
    return text, title, url, meta


def _string(value: Any) -> str:
    return "" if value is None else str(value)


def _document(
    source: FileSource,
    path: Path,
    provenance: dict[str, Any],
    text: str,
    title: str,
    url: str,
    meta: dict[str, Any],
) -> Document:
    anchor = next((f"#{k}={v}" for k, v in provenance.items() if k in ("line", "row")), "")
    return Document(
        text=text,
        kind="file",
        source=source.name,
        url=url or f"{path.as_uri()}{anchor}",
        title=title,
        meta=meta | provenance,
    )


def _quarantine(
    read: FilesRead, source: FileSource, path: Path, where: dict[str, Any], why: Quarantined
) -> None:
    record = {"path": str(path), **where, "detail": why.detail}
    read.quarantined.append(
        quarantine_row(source.name, why.reason, path.as_uri(), record, str, kind="file")
    )
    read.counters[f"quarantined_{why.reason}"] += 1


# The state file: the marks of the files as of the last commit.


def state_path(storage: StorageConfig, source_name: str) -> Path:
    return storage.root / "state" / "files" / f"{source_name}.json"


def settings_digest(source: FileSource) -> str:
    """What the documents of a file depend on besides its bytes: the field map, the encoding
    and the size cap. Marks saved under other settings do not count."""
    kept = source.model_dump(
        include={
            "text_field",
            "title_field",
            "url_field",
            "id_field",
            "meta_fields",
            "encoding",
            "max_file_bytes",
        }
    )
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def load_marks(storage: StorageConfig, source: FileSource) -> dict[str, dict[str, Any]]:
    path = state_path(storage, source.name)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        logger.warning("%s is damaged: every file of source '%s' is read again", path, source.name)
        return {}
    if not isinstance(state, dict) or state.get("settings") != settings_digest(source):
        logger.info("source '%s': its settings changed, so every file is read again", source.name)
        return {}
    return state.get("files") or {}


def save_marks(storage: StorageConfig, source: FileSource, marks: Mapping[str, Any]) -> None:
    """After the raw commit: the next night opens only the files that changed since."""
    state = {"settings": settings_digest(source), "files": dict(marks)}
    lake.write_json_atomic(state_path(storage, source.name), state)


def locked(storage: StorageConfig, source_name: str) -> Any:
    """Held from loading the marks to saving them: a second run waits for the first."""
    return lake.file_lock(state_path(storage, source_name).with_suffix(".lock"))
