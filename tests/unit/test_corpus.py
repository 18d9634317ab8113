"""Public corpora: the JSON Lines reader, reading order, batches and resumption."""

from __future__ import annotations

import gzip
import io
import json

import pytest
import zstandard

from tasks.config import FieldMap
from tasks.corpus import Damaged, Entry, Position, commit_message, last_position
from tasks.corpus_jsonl import jsonl_reader

PILE = FieldMap(text_field="text", meta_fields=["meta"])


def lines(*records: object) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records
    )


def read(data: bytes, name: str, start: int = 0, fields: FieldMap = PILE) -> list:
    return list(jsonl_reader(fields)(io.BytesIO(data), name, start))


RECORDS = lines(
    {"text": "first document", "meta": {"pile_set_name": "Pile-CC"}},
    b"{not json",
    {"text": "", "meta": {}},
    b"\xff\xfe not utf-8",
    {"title": "no text"},
    {"text": "second document", "meta": {"pile_set_name": "Wikipedia (en)"}},
)


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("part.jsonl", lambda b: b),
        ("part.jsonl.gz", gzip.compress),
        ("part.jsonl.zst", lambda b: zstandard.ZstdCompressor().compress(b)),
    ],
)
def test_each_record_is_a_document_or_a_named_reason(name, compress) -> None:
    items = read(compress(RECORDS), name)
    assert [o for o, _ in items] == [0, 1, 2, 3, 4, 5]
    first, last = items[0][1], items[5][1]
    assert first == Entry("first document", meta={"meta": {"pile_set_name": "Pile-CC"}})
    assert isinstance(last, Entry) and last.text == "second document"
    reasons = [item.reason for _, item in items[1:5]]
    assert reasons == ["bad_json", "empty_text", "undecodable", "missing_field"]


def test_reading_from_an_ordinal_gives_exactly_the_tail() -> None:
    data = zstandard.ZstdCompressor().compress(RECORDS)
    whole = read(data, "x.jsonl.zst")
    for start in range(7):
        assert read(data, "x.jsonl.zst", start) == whole[start:]


def test_a_cut_archive_yields_what_came_before_then_its_damage() -> None:
    data = gzip.compress(lines(*({"text": f"document {n}"} for n in range(500))))
    items = read(data[: len(data) // 2], "cut.jsonl.gz")
    *good, (ordinal, damage) = items
    assert all(isinstance(item, Entry) for _, item in good) and len(good) > 10
    assert [o for o, _ in good] == list(range(len(good)))
    assert isinstance(damage, Damaged) and damage.reason == "truncated_archive"
    assert ordinal == len(good)


def test_the_position_is_read_back_from_the_newest_commit_message() -> None:
    older = commit_message("cc", 1000, Position("a.warc.gz", 1200))
    newer = commit_message("cc", 10, Position("b.warc.gz", 7))
    other = commit_message("wiki", 5, Position("w.xml.bz2", 3))
    messages = [other, newer, "collect api source 'x': 3 documents", older]
    assert last_position(iter(messages), "cc") == Position("b.warc.gz", 7)
    assert last_position(iter(messages), "none") == Position()


def test_a_paths_file_lists_files_in_order(tmp_path) -> None:
    from tasks.config import CorpusSource
    from tasks.corpus import locations

    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress(b"crawl-data/a.warc.gz\n\n/data/b.warc.gz\n"))
    source = CorpusSource(
        name="cc", format="warc", paths_file=str(listing), base_url="https://cc.example/"
    )
    assert locations(source) == ["https://cc.example/crawl-data/a.warc.gz", "/data/b.warc.gz"]
    bare = source.model_copy(update={"base_url": None})
    with pytest.raises(ValueError, match="set base_url"):
        locations(bare)


def test_a_file_is_streamed_from_a_url_as_stored() -> None:
    from tasks.corpus import open_location
    from tests.helpers import serve_routes

    data = gzip.compress(lines(*({"text": f"record {n}"} for n in range(20))))
    headers = {"Content-Type": "application/gzip"}
    with serve_routes({"/part.jsonl.gz": (200, headers, data)}) as base:
        url = f"{base}/part.jsonl.gz"
        with open_location(url) as stream:
            items = list(jsonl_reader(PILE)(stream, url, 5))
    assert [o for o, _ in items] == list(range(5, 20))
    assert items[0][1].text == "record 5"
