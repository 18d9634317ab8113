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
        # GzipFile reads as an IO[bytes] does; typeshed leaves IO out of its bases.
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    if name.endswith(".bz2"):
        return bz2.BZ2File(stream)
    if name.endswith(".zst"):
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
        return io.BufferedReader(reader)
    return stream
