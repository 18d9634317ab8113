"""The collection of a corpus source: its files in a stable order, each read by its format's
reader (base.Reader) from where the last committed batch ended, in batches the collect task
commits. A night resumes from the position its last raw commit recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

from lmkiln.tasks.collect.corpora.base import Damaged, Reader, decompressed

# Records that are fine but are no documents, by design: counted, not quarantined (a full
# English Wikipedia dump holds over ten million redirects; a Common Crawl segment, as many
# redirects and errors as an http_<status>).
SKIPS = frozenset({"redirect", "skipped_namespace", "skipped_type"})


def skipped(reason: str) -> bool:
    return reason in SKIPS or reason.startswith("http_")


POSITION = " @ "  # a raw commit's message ends with where the source's reading stands


DONE = -1  # a position's ordinal once its file has been read to its end (or its damage)


@dataclass(frozen=True)
class Position:
    """The next record to read: ordinal `ordinal` of file `file` (a path or URL); with
    ordinal DONE, the file after `file`."""

    file: str = ""
    ordinal: int = 0


@dataclass
class Batch:
    documents: list[Any]  # lmkiln.tasks.core.records.Document
    quarantined: list[dict[str, str]]
    then: Position  # where the reading stands once this batch is committed
    counters: Counter[str]


def reader_for(source: Any) -> Reader:
    """The reader of the source's format; each imports its parser only when asked for."""
    if source.format == "jsonl":
        from lmkiln.tasks.collect.corpora.jsonl import jsonl_reader

        return jsonl_reader(source)
    if source.format == "wikipedia":
        from lmkiln.tasks.collect.corpora.wiki import read_wikipedia

        return read_wikipedia
    from lmkiln.tasks.collect.corpora.warc import read_warc, read_wet

    return partial(read_warc, extractor=source.extractor) if source.format == "warc" else read_wet


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
            # Watched is an IO[bytes] by duck typing: what it does not watch, it forwards.
            for line in decompressed(raw, source.paths_file):  # type: ignore[arg-type]
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


class Watched:
    """A file's stream as stored, remembering a failure of its own reads (a reset
    connection, an S3 error) so that it is not taken for a damaged archive: readers turn
    any read error into `truncated_archive`, and the collection re-raises this one for the
    task to retry."""

    def __init__(self, stream: IO[bytes], *owners: Any) -> None:
        self.stream, self.owners = stream, owners
        self.failure: Exception | None = None

    def _watch(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.stream, method)(*args)
        except Exception as exc:
            self.failure = exc
            raise

    def read(self, size: int = -1) -> bytes:
        return self._watch("read", size)

    def read1(self, size: int = -1) -> bytes:
        return self._watch("read1", size) if hasattr(self.stream, "read1") else self.read(size)

    def readinto(self, buffer: Any) -> int:
        return self._watch("readinto", buffer)

    def readline(self, size: int = -1) -> bytes:
        # s3fs's files take no size.
        return self._watch("readline") if size == -1 else self._watch("readline", size)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def readable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def __enter__(self) -> Watched:
        return self

    def __exit__(self, *_: object) -> None:
        self.stream.close()
        for owner in self.owners:
            owner.close()


def open_location(location: str) -> Watched:
    """A file, an https:// URL (streamed, as stored) or an s3:// object (credentials from
    the environment), opened for reading as bytes."""
    if location.startswith(("http://", "https://")):
        import requests

        from lmkiln.tasks.config.collect import USER_AGENT

        response = requests.get(
            location, stream=True, timeout=30, headers={"User-Agent": USER_AGENT}
        )
        try:
            response.raise_for_status()
        except requests.HTTPError:
            response.close()
            raise
        response.raw.decode_content = False  # the file as stored: its own gzip stays
        return Watched(response.raw, response)
    if location.startswith("s3://"):
        import s3fs

        return Watched(s3fs.S3FileSystem().open(location, "rb"))
    return Watched(open(location, "rb"))  # noqa: SIM115


def batches(source: Any, files: list[str], start: Position, taken: int = 0) -> Iterator[Batch]:
    """The source's documents from `start` on, `batch_documents` at a time (a file's end
    also ends a batch, and so do as many quarantined records), until `max_documents` are
    taken in all, `taken` of them already. Each batch says where the reading stands once
    it is committed."""
    from lmkiln.tasks.core.quarantine import row as quarantine_row
    from lmkiln.tasks.core.records import Document

    reader = reader_for(source)
    if start.file and start.file not in files:
        raise ValueError(
            f"corpus source '{source.name}': its last commit read {start.file}, which its "
            "paths no longer list; list it again, or rename the source to start over"
        )
    first = files.index(start.file) if start.file else 0
    skip = start.ordinal
    if skip == DONE:
        first, skip = first + 1, 0
    limit = source.max_documents
    if limit is not None and taken >= limit:
        return
    for location in files[first:]:
        batch = Batch([], [], Position(location, skip), Counter())
        with open_location(location) as stream:
            # Watched is an IO[bytes] by duck typing, as above.
            for ordinal, item in reader(stream, location, skip):  # type: ignore[arg-type]
                batch.then = Position(location, ordinal + 1)
                batch.counters["records"] += 1
                if isinstance(item, Damaged) and skipped(item.reason):
                    batch.counters[f"skipped_{item.reason.removeprefix('skipped_')}"] += 1
                    continue
                if isinstance(item, Damaged):
                    if item.reason == "truncated_archive" and stream.failure is not None:
                        raise stream.failure  # the read failed, not the archive
                    batch.counters[f"quarantined_{item.reason}"] += 1
                    record = {"file": location, "record": ordinal, "detail": item.detail}
                    record |= {"payload": item.payload} if item.payload else {}
                    where = f"{location}#{ordinal}"
                    batch.quarantined.append(
                        quarantine_row(source.name, item.reason, where, record, str, "corpus")
                    )
                    if item.reason == "truncated_archive":
                        break  # nothing after the damage can be read
                    if len(batch.quarantined) >= source.batch_documents:
                        yield batch
                        batch = Batch([], [], batch.then, Counter())
                    continue
                meta = item.meta | {"corpus_file": location, "corpus_record": ordinal}
                url = item.url or f"{location}#{ordinal}"
                document = Document(item.text, "corpus", source.name, url, item.title, meta=meta)
                batch.documents.append(document)
                batch.counters["documents"] += 1
                taken += 1
                if taken == limit:
                    yield batch
                    return
                if len(batch.documents) >= source.batch_documents:
                    yield batch
                    batch = Batch([], [], batch.then, Counter())
        batch.counters["files_done"] += 1
        batch.then = Position(location, DONE)  # a damaged file is not read again either
        yield batch
        skip = 0


@dataclass(frozen=True)
class Progress:
    """Where a source's reading stands, and what it has taken in the current bucket."""

    position: Position = Position()
    bucket: str = ""
    taken: int = 0


def _progress(saved: dict[str, Any]) -> Progress:
    position = Position(saved["file"], saved["ordinal"])
    return Progress(position, saved.get("bucket", ""), saved.get("taken", 0))


def _saved(progress: Progress) -> str:
    import json

    where = progress.position
    fields = {"file": where.file, "ordinal": where.ordinal}
    return json.dumps(fields | {"bucket": progress.bucket, "taken": progress.taken})


def newest_commit(commits: Iterator[tuple[str, str]], name: str) -> tuple[str, Progress]:
    """The source's newest position commit in the raw table (`commits`: (id, message),
    newest first): its id and what it recorded; ("", start) when there is none."""
    import json

    prefix = f"collect corpus source '{name}':"
    for commit, message in commits:
        if message.startswith(prefix) and POSITION + "{" in message:
            saved = "{" + message.partition(POSITION + "{")[2]
            return commit, _progress(json.loads(saved))
    return "", Progress()


def commit_message(name: str, documents: int, progress: Progress) -> str:
    return f"collect corpus source '{name}': {documents} documents{POSITION}{_saved(progress)}"


def resume(storage: Any, name: str) -> tuple[str, Progress]:
    """Where to read on: the state file, written after every batch, when no position commit
    landed after it; else that commit (a run killed between a commit and its state file).
    The state file also carries batches that committed no document (skips, damage)."""
    import json

    from lmkiln.tasks.core import lake

    commit, committed = newest_commit(lake.commits(storage.lake("raw")), name)
    path = state_file(storage, name)
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved["after"] == commit:
            return commit, _progress(saved)
    return commit, committed


def state_file(storage: Any, name: str) -> Any:
    return storage.root / "state" / "corpus" / f"{name}.json"


def collect(source: Any, storage: Any, bucket: str) -> tuple[Any, dict[str, int], int]:
    """Read the source on from where it stands, committing each batch to the raw table with
    the position it reached (quarantined records first: they are kept once each, so a batch
    redone after a crash adds none twice), then the state file. `bucket` names the night:
    max_documents counts what the source took in it, retries included. Returns the raw
    table's head, the night's counters and the documents added."""
    import json

    from lmkiln.tasks.core import lake, quarantine

    raw, state = storage.lake("raw"), storage.lake_state("raw")
    commit, progress = resume(storage, source.name)
    taken = progress.taken if progress.bucket == bucket else 0
    files = locations(source)
    known = quarantine.known(storage, source.name)
    counters: Counter[str] = Counter()
    added = 0
    head = lake.head(raw)
    for batch in batches(source, files, progress.position, taken):
        quarantine.store(storage, source.name, batch.quarantined, known)
        rows = [document.to_row() for document in batch.documents]
        taken += len(rows)
        progress = Progress(batch.then, bucket, taken)
        if rows:
            message = commit_message(source.name, len(rows), progress)
            head = lake.append(raw, rows, lake.DOCUMENT_TABLE, message, state)
            commit = head.commit
        saved = json.loads(_saved(progress)) | {"after": commit}
        lake.write_json_atomic(state_file(storage, source.name), saved)
        counters.update(batch.counters)
        added += len(rows)
    return head, dict(counters), added
