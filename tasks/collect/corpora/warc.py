"""Common Crawl's WARC and WET files as corpus readers (the contract is in
base.py).

`read_warc` turns each HTML `response` record into a document through the extraction a web source
would use (tasks/collect/extract/extractors.py, the source's `extractor`); `read_wet` takes each
`conversion` record's plain text as it is. Records are parsed with FastWARC, chosen over warcio by
bench/warc_memory.py (see bench/results/warc.md): several times faster, and flat in memory like
warcio.

Ordinals are the positions of the file's WARC records, every type counted, from 0: the
ordinal of a record is its index in the file, whatever a tool lists it with, and it does not
change when the reader learns to keep another type. Records that are no document and no
damage (warcinfo, request, metadata, revisit, resource) take their ordinal and yield
nothing, so the yielded ordinals have gaps; a resumed read starts at the last committed
ordinal + 1. A response that is not an HTML page with status 200 is reported, not dropped in
silence: `Damaged("http_<status>")` (redirects, errors) or `Damaged("skipped_type")` (PDF,
images, ...), so the night's counters show what the file held.

Damage, as named reasons: `truncated_archive` (a gzip member or a record cut short: the
records before it are yielded, then this, then the read stops), `broken_record` (WARC
headers that do not parse; when even the record's start is lost the read stops there too),
`binary_body`, `undecodable` (a WET text that is not UTF-8) and `empty_text`.

Neither library reports a cut file by itself: FastWARC and warcio both end the iteration
quietly, with the last record short. So the reader decompresses the stream itself and
watches its end: a gzip member cut short, or a stream that does not end where a record does
(with the blank line after its block), means the last record is incomplete. That is why
a record is handed on only once the next one has begun or the stream has ended cleanly.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

from lmkiln.tasks.collect.corpora.base import Damaged, Entry, Item, decompressed

# A record's block ends with two CRLFs (WARC 1.1, section 4); a stream that stops elsewhere
# was cut in the middle of a record.
RECORD_END = b"\r\n\r\n"
# What the quarantine keeps of a damaged record: enough to see what it was, not a whole
# video that was archived as a response.
PAYLOAD_CHARS = 4096
# Content types extracted as HTML, as the crawler's default `content_types`.
HTML_TYPES = ("text/html", "application/xhtml+xml")


class _Watched:
    """The decompressed stream, read by the WARC parser, which notes how it ended: whether a
    gzip member was cut (`cut`) and the stream's last bytes (`tail`)."""

    def __init__(self, stream: IO[bytes]) -> None:
        # read1: one read of the layer below at a time. A buffered read(size) that meets the
        # cut after several reads raises and drops the bytes it had, the last good records'.
        self._read = getattr(stream, "read1", stream.read)
        self.cut = ""  # why the stream ended early; empty when it did not
        self.tail = b""
        self.position = 0
        self.failed: OSError | None = None  # the file's own read error, raised as it is

    def read(self, size: int = -1) -> bytes:
        if self.cut:
            return b""
        try:
            data = self._read(size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            # gzip raises EOFError for a member cut short, BadGzipFile or zlib.error for bytes
            # that are no gzip: nothing more is usable. A failing read of the file itself (a
            # network stream's OSError) is not damage and propagates, for the task to retry.
            self.cut = f"{type(exc).__name__}: {exc}"
            return b""
        except OSError as exc:
            self.failed = exc
            raise
        if data:
            self.tail = (self.tail + data)[-len(RECORD_END) :]
            self.position += len(data)
        return data

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        raise OSError("a corpus stream is read once, front to back")

    def close(self) -> None:
        pass


@dataclass
class _Record:
    """What the reader keeps of one record until it knows the record was whole."""

    kind: str  # WARC-Type, lower case; "" when the headers did not parse
    headers: dict[str, str]
    offset: int  # where the record starts in the decompressed stream
    status: int | None = None
    content_type: str = ""
    body: bytes | None = None  # the payload, read only when it may become a document


def read_warc(
    stream: IO[bytes], name: str, start: int = 0, extractor: str = "auto"
) -> Iterator[tuple[int, Item]]:
    """Documents from the HTML responses of a WARC file (.warc.gz or plain), their text
    taken by `extractor` (tasks/collect/extract/extractors.py)."""
    return _read(stream, name, start, _capture_response, partial(_warc_item, extractor=extractor))


def read_wet(stream: IO[bytes], name: str, start: int = 0) -> Iterator[tuple[int, Item]]:
    """Documents from the `conversion` records of a WET file (.warc.wet.gz or plain)."""
    return _read(stream, name, start, _capture_conversion, _wet_item)


def _read(stream, name, start, capture, to_item) -> Iterator[tuple[int, Item]]:
    from fastwarc.warc import ArchiveIterator

    watched = _Watched(decompressed(stream, name))
    # auto_decode: a payload archived as sent (chunked, gzip) reaches the extractor as HTML;
    # Common Crawl has removed both already, other crawlers' WARCs (wget) have not.
    records = ArchiveIterator(watched, auto_decode="all", stream_detect=False)
    pending: tuple[int, _Record] | None = None
    ordinal = -1
    try:
        for record in records:
            ordinal += 1
            if pending is not None:
                yield from _items(pending, name, to_item)
                pending = None
            if ordinal >= start:
                pending = (ordinal, capture(record))
    except OSError as exc:
        if watched.failed is not None:
            raise watched.failed from exc
        # No record where one should start. The record before it was whole: the parser
        # had read past its end. After a cut, what failed to parse is the cut record;
        # otherwise the stream is lost from here, since nothing marks where the next begins.
        if pending is not None:
            yield from _items(pending, name, to_item)
        if ordinal + 1 >= start:
            if watched.cut:
                yield ordinal + 1, _truncated(name, watched.cut)
            else:
                yield ordinal + 1, Damaged("broken_record", f"{name}: {exc}; the rest is unread")
        return
    # The last record is whole when the stream ends where a record does; a gzip member cut
    # right after that record's end cuts the next record, which the parser never saw.
    last_is_whole = ordinal < 0 or watched.tail == RECORD_END
    if not last_is_whole:
        if ordinal >= start:
            yield ordinal, _truncated(name, watched.cut, pending[1] if pending else None)
        return
    if pending is not None:
        yield from _items(pending, name, to_item)
    if watched.cut and ordinal + 1 >= start:
        yield ordinal + 1, _truncated(name, watched.cut)


def _items(pending: tuple[int, _Record], name: str, to_item) -> Iterator[tuple[int, Item]]:
    """The pending record's item, if it has one (quiet record types have none)."""
    if (item := to_item(pending[1], name)) is not None:
        yield pending[0], item


def _truncated(name: str, cause: str, record: _Record | None = None) -> Damaged:
    where = record.headers.get("WARC-Target-URI", "") if record else ""
    detail = f"{name}: the file ends inside a record{' (' + where + ')' if where else ''}"
    detail += f"; {cause}" if cause else ""
    return Damaged("truncated_archive", detail + "; the file needs downloading again", where)


def _start(record: Any) -> _Record:
    """The record's headers and type; its type is "" when its headers did not parse (the
    parser then keeps none of them)."""
    headers = dict(record.headers.items())
    kind = headers.get("WARC-Type", "").strip().lower()
    kind = kind if kind and "WARC-Record-ID" in headers else ""
    return _Record(kind=kind, headers=headers, offset=record.stream_pos)


def _capture_response(record: Any) -> _Record:
    captured = _start(record)
    if captured.kind == "response":
        http = record.http_headers if record.is_http else None
        captured.status = http.status_code if http is not None else None
        captured.content_type = (http.get("Content-Type") if http is not None else None) or ""
        captured.body = record.reader.read()
    return captured


def _capture_conversion(record: Any) -> _Record:
    captured = _start(record)
    if captured.kind == "conversion":
        captured.body = record.reader.read()
    return captured


def _provenance(record: _Record, name: str) -> dict[str, Any]:
    return {
        "warc_record_id": record.headers.get("WARC-Record-ID", ""),
        "warc_date": record.headers.get("WARC-Date", ""),
        "warc_target_uri": record.headers.get("WARC-Target-URI", ""),
        "warc_file": name,
    }


def _broken(record: _Record, name: str) -> Damaged:
    shown = "; ".join(f"{k}: {v}" for k, v in record.headers.items())[:PAYLOAD_CHARS]
    return Damaged(
        "broken_record",
        f"{name}: the record at byte {record.offset} (decompressed) has no WARC-Type and "
        "WARC-Record-ID headers that parse",
        shown,
    )


def _warc_item(record: _Record, name: str, extractor: str) -> Item | None:
    if not record.kind:
        return _broken(record, name)
    if record.kind != "response":
        return None
    url = record.headers.get("WARC-Target-URI", "")
    body = record.body or b""
    if record.status is None:
        return Damaged("broken_record", f"{name}: {url}: no HTTP status line", _shown(body))
    if not 200 <= record.status < 300:
        return Damaged(f"http_{record.status}", f"{name}: {url}: HTTP {record.status}", url)
    mime = record.content_type.split(";")[0].strip().lower()
    if mime and mime not in HTML_TYPES:
        return Damaged("skipped_type", f"{name}: {url}: {mime} is not HTML", url)
    from lmkiln.tasks.collect.extract.extractors import extract, identity
    from lmkiln.tasks.collect.extract.markup import decode, looks_binary

    if looks_binary(body):
        return Damaged("binary_body", f"{name}: {url}: a binary body served as {mime}", url)
    try:
        page = extract(decode(body, record.content_type), url, extractor, links=False)
    except Exception as exc:  # an extractor's bug costs this record, not the file
        return Damaged("extract_failed", f"{name}: {url}: {type(exc).__name__}: {exc}", url)
    if not page.text.strip():
        return Damaged("empty_text", f"{name}: {url}: no text after extraction", url)
    meta = _provenance(record, name)
    meta.update(
        status=record.status, content_type=record.content_type, extractor=identity(extractor)
    )
    return Entry(text=page.text, title=page.title, url=url, meta=meta)


def _wet_item(record: _Record, name: str) -> Item | None:
    if not record.kind:
        return _broken(record, name)
    if record.kind != "conversion":
        return None
    url = record.headers.get("WARC-Target-URI", "")
    try:
        text = (record.body or b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"{name}: {url}: not UTF-8 at byte {exc.start}, as WET text must be"
        return Damaged("undecodable", detail, _shown(record.body or b""))
    if not text.strip():
        return Damaged("empty_text", f"{name}: {url}: an empty conversion record", url)
    meta = _provenance(record, name)
    if language := record.headers.get("WARC-Identified-Content-Language"):
        meta["warc_identified_language"] = language
    return Entry(text=text, url=url, meta=meta)


def _shown(body: bytes) -> str:
    return body[:PAYLOAD_CHARS].decode("utf-8", "replace")
