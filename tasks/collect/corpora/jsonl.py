"""JSON Lines collections in the style of The Pile: one JSON object per line, in .jsonl,
.jsonl.gz or .jsonl.zst files, the text and metadata fields named by a field map."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import IO

import zstandard

from lmkiln.tasks.collect.corpora.base import Damaged, Entry, Item, Reader, decompressed
from lmkiln.tasks.collect.files import Quarantined, mapped
from lmkiln.tasks.config.collect import FieldMap

PAYLOAD_CHARS = 2000  # of a bad line, kept in the quarantine table


def jsonl_reader(fields: FieldMap) -> Reader:
    """A reader of JSON Lines files whose records `fields` maps to documents."""

    def read(stream: IO[bytes], name: str, start: int) -> Iterator[tuple[int, Item]]:
        lines = decompressed(stream, name)
        ordinal = -1
        try:
            for raw in lines:
                if not raw.strip():
                    continue  # blank lines are no records: they take no ordinal
                ordinal += 1
                if ordinal < start:
                    continue
                item = _item(raw, fields)
                if not raw.endswith(b"\n") and isinstance(item, Damaged):
                    # A last line that does not parse and has no newline: the file was cut
                    # (a cut .zst frame, or a download that stopped, ends without an error).
                    item = Damaged("truncated_archive", f"record {ordinal} is cut short")
                yield ordinal, item
        except (EOFError, OSError, zlib.error, zstandard.ZstdError) as exc:  # cut or corrupt
            yield ordinal + 1, Damaged("truncated_archive", f"after record {ordinal}: {exc}")

    return read


def _item(raw: bytes, fields: FieldMap) -> Item:
    shown = raw[:PAYLOAD_CHARS].decode("utf-8", "replace")
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Damaged("undecodable", f"not UTF-8 at byte {exc.start}", shown)
    except ValueError as exc:
        return Damaged("bad_json", str(exc)[:200], shown)
    result = mapped(record, fields)
    if isinstance(result, Quarantined):
        return Damaged(result.reason, result.detail, shown)
    text, title, url, meta = result
    return Entry(text, title, url, meta)
