"""Public corpora as sources: the contract between a file format's reader and the collect
task that commits what it reads.

A reader streams one file and yields `(ordinal, item)` pairs: the record's position among
the file's records (counted from 0, bad records included), and either an `Entry` (a
document) or a `Damaged` record (quarantined with its named reason). Ordinals let a night
resume a file where the last committed batch ended, and they never depend on what was kept.
A reader never holds more than one record in memory, whatever the file's size.
"""

from __future__ import annotations

import bz2
import gzip
import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any


@dataclass(frozen=True)
class Entry:
    """One document of a corpus file, with its provenance in `meta` (record id, date, ...)."""

    text: str
    title: str = ""
    url: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Damaged:
    """A record that cannot become a document. `reason` is a name (truncated_archive,
    broken_record, undecodable, ...); `payload` is what is kept in the quarantine table."""

    reason: str
    detail: str
    payload: str = ""


Item = Entry | Damaged
# read(stream, name, start) -> (ordinal, item) for every record at or after `start`; the
# stream is the file as stored (compressed or not), `name` its path or URL.
Reader = Callable[[IO[bytes], str, int], Iterator[tuple[int, Item]]]


def decompressed(stream: IO[bytes], name: str) -> IO[bytes]:
    """The stream decompressed by its name's suffix: .gz, .bz2 or .zst; else as it is."""
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    if name.endswith(".bz2"):
        return bz2.BZ2File(stream)  # type: ignore[return-value]
    if name.endswith(".zst"):
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
        return io.BufferedReader(reader)  # type: ignore[arg-type]
    return stream


# The collection: files in a stable order, read from where the last committed batch ended.

READERS = {
    "warc": ("tasks.corpus_warc", "read_warc"),
    "wet": ("tasks.corpus_warc", "read_wet"),
    "wikipedia": ("tasks.corpus_wiki", "read_wikipedia"),
}
# Records that are fine but are no documents, by design: counted, not quarantined (a full
# English Wikipedia dump holds over ten million redirects; a Common Crawl segment, as many
# redirects and errors as an http_<status>).
SKIPS = frozenset({"redirect", "skipped_namespace", "skipped_type"})


def skipped(reason: str) -> bool:
    return reason in SKIPS or reason.startswith("http_")


POSITION = " @ "  # a raw commit's message ends with where the source's reading stands


@dataclass(frozen=True)
class Position:
    """The next record to read: ordinal `ordinal` of file `file` (a path or URL)."""

    file: str = ""
    ordinal: int = 0


@dataclass
class Batch:
    documents: list[Any]  # tasks.records.Document
    quarantined: list[dict[str, str]]
    then: Position  # where the reading stands once this batch is committed
    counters: Counter[str]


def reader_for(source: Any) -> Reader:
    if source.format == "jsonl":
        from tasks.corpus_jsonl import jsonl_reader

        return jsonl_reader(source)
    import importlib

    module, name = READERS[source.format]
    return getattr(importlib.import_module(module), name)


def locations(source: Any) -> list[str]:
    """The source's files in reading order: its paths (globs expanded, sorted), then the
    entries of its paths file (relative ones joined to base_url)."""
    import glob
    from pathlib import Path

    found: list[str] = []
    for path in source.paths:
        if "://" in path:
            found.append(path)
            continue
        matches = sorted(glob.glob(str(Path(path).expanduser()), recursive=True))
        if not matches:
            raise FileNotFoundError(
                f"corpus source '{source.name}': nothing matches {path!r}; check the path "
                "(globs are relative to the current folder)"
            )
        found.extend(m for m in matches if Path(m).is_file())
    if source.paths_file:
        with open_location(source.paths_file) as raw:
            for line in decompressed(raw, source.paths_file):
                entry = line.decode("utf-8").strip()
                if not entry or entry.startswith("#"):
                    continue
                if "://" in entry or entry.startswith("/"):
                    found.append(entry)
                elif source.base_url:
                    found.append(source.base_url.rstrip("/") + "/" + entry)
                else:
                    raise ValueError(
                        f"corpus source '{source.name}': {source.paths_file} lists the relative "
                        f"path {entry!r}; set base_url (e.g. https://data.commoncrawl.org/)"
                    )
    return found


class _Closing:
    """A binary stream that closes what it came from (a response, a file system)."""

    def __init__(self, stream: IO[bytes], *owners: Any) -> None:
        self.stream, self.owners = stream, owners

    def __enter__(self) -> IO[bytes]:
        return self.stream

    def __exit__(self, *_: object) -> None:
        self.stream.close()
        for owner in self.owners:
            owner.close()


def open_location(location: str) -> _Closing:
    """A file, an https:// URL (streamed, as stored) or an s3:// object (credentials from
    the environment), opened for reading as bytes."""
    if location.startswith(("http://", "https://")):
        import requests

        from tasks.config_base import USER_AGENT

        response = requests.get(
            location, stream=True, timeout=30, headers={"User-Agent": USER_AGENT}
        )
        response.raise_for_status()
        response.raw.decode_content = False  # the file as stored: its own gzip stays
        return _Closing(response.raw, response)
    if location.startswith("s3://"):
        import s3fs

        handle = s3fs.S3FileSystem().open(location, "rb")
        return _Closing(handle)
    return _Closing(open(location, "rb"))  # noqa: SIM115


def batches(source: Any, files: list[str], start: Position) -> Iterator[Batch]:
    """The source's documents from `start` on, `batch_documents` at a time (a file's end
    also ends a batch), at most `max_documents` in all. Each batch says where the reading
    stands once it is committed."""
    from tasks.quarantine import row as quarantine_row
    from tasks.records import Document

    reader = reader_for(source)
    resumed = start.file in files
    first, skip = (files.index(start.file), start.ordinal) if resumed else (0, 0)
    taken = 0
    for number, location in enumerate(files[first:], start=first):
        batch = Batch([], [], Position(location, skip), Counter())
        with open_location(location) as stream:
            for ordinal, item in reader(stream, location, skip):
                batch.then = Position(location, ordinal + 1)
                batch.counters["records"] += 1
                if isinstance(item, Damaged) and skipped(item.reason):
                    batch.counters[f"skipped_{item.reason.removeprefix('skipped_')}"] += 1
                    continue
                if isinstance(item, Damaged):
                    batch.counters[f"quarantined_{item.reason}"] += 1
                    record = {"file": location, "record": ordinal, "detail": item.detail}
                    record |= {"payload": item.payload} if item.payload else {}
                    where = f"{location}#{ordinal}"
                    batch.quarantined.append(
                        quarantine_row(source.name, item.reason, where, record, str, "corpus")
                    )
                    if item.reason == "truncated_archive":
                        break  # nothing after the damage can be read
                    continue
                meta = item.meta | {"corpus_file": location, "corpus_record": ordinal}
                url = item.url or f"{location}#{ordinal}"
                document = Document(item.text, "corpus", source.name, url, item.title, meta=meta)
                batch.documents.append(document)
                batch.counters["documents"] += 1
                taken += 1
                if taken == source.max_documents:
                    yield batch
                    return
                if len(batch.documents) >= source.batch_documents:
                    yield batch
                    batch = Batch([], [], batch.then, Counter())
        batch.counters["files_done"] += 1
        if number + 1 < len(files):  # a finished file hands over to the next
            batch.then = Position(files[number + 1], 0)
        yield batch
        skip = 0


def last_position(messages: Iterator[str], name: str) -> Position:
    """Where the source's reading stands, from the raw table's commit messages (newest
    first): the position its latest commit recorded, or the start."""
    import json

    prefix = f"collect corpus source '{name}':"
    for message in messages:
        if message.startswith(prefix) and POSITION in message:
            saved = json.loads(message.rpartition(POSITION)[2])
            return Position(saved["file"], saved["ordinal"])
    return Position()


def commit_message(name: str, documents: int, position: Position) -> str:
    import json

    where = json.dumps({"file": position.file, "ordinal": position.ordinal})
    return f"collect corpus source '{name}': {documents} documents{POSITION}{where}"


def collect(source: Any, storage: Any) -> tuple[Any, dict[str, int], int]:
    """Read the source on from where its last commit left it, committing each batch to the
    raw table with the position it reached (quarantined records first: they are kept once
    each, so a batch redone after a crash adds none twice). Returns the raw table's head,
    the night's counters and the documents added."""
    from tasks import lake, quarantine

    raw, state = storage.lake("raw"), storage.lake_state("raw")
    with lake.exclusive(raw, state):
        start = last_position(lake.messages(raw), source.name)
    files = locations(source)
    counters: Counter[str] = Counter()
    added = 0
    head = lake.head(raw)
    for batch in batches(source, files, start):
        quarantine.store(storage, source.name, batch.quarantined)
        rows = [document.to_row() for document in batch.documents]
        message = commit_message(source.name, len(rows), batch.then)
        head = lake.append(raw, rows, lake.DOCUMENT_TABLE, message, state)
        counters.update(batch.counters)
        added += len(rows)
    return head, dict(counters), added
