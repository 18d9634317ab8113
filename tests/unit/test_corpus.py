"""Public corpora: the JSON Lines reader, reading order, batches and resumption."""

from __future__ import annotations

import gzip
import io
import json

import pytest
import zstandard

from lmkiln.tasks.collect.corpora.base import Damaged, Entry
from lmkiln.tasks.collect.corpora.collection import (
    Position,
    Progress,
    commit_message,
    newest_commit,
)
from lmkiln.tasks.collect.corpora.jsonl import jsonl_reader
from lmkiln.tasks.config.collect import FieldMap

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
    def commit(name, file, ordinal, path_note=""):
        return commit_message(name, 1, Progress(Position(file + path_note, ordinal), "b", 9))

    older = ("v1", commit("cc", "a.warc.gz", 1200))
    newer = ("v3", commit("cc", "b @ {odd}.warc.gz", 7))
    other = ("v4", commit("wiki", "w.xml.bz2", 3))
    commits = [other, newer, ("v2", "collect api source 'x': 3 documents"), older]
    found = newest_commit(iter(commits), "cc")
    assert found == ("v3", Progress(Position("b @ {odd}.warc.gz", 7), "b", 9))
    assert newest_commit(iter(commits), "none") == ("", Progress())


def test_a_cut_last_line_is_a_truncated_archive_even_where_no_error_says_so() -> None:
    # Large enough for several zstd blocks, so a cut frame still decodes its first ones.
    records = ({"text": f"record {n} " + "x" * (n % 97)} for n in range(20_000))
    data = zstandard.ZstdCompressor().compress(lines(*records))
    items = read(data[: len(data) // 2], "cut.jsonl.zst")
    *good, (_, last) = items
    assert all(isinstance(item, Entry) for _, item in good)
    assert isinstance(last, Damaged) and last.reason == "truncated_archive"
    whole = read(lines({"text": "no newline at the end"})[:-1], "fine.jsonl")
    assert whole == [(0, Entry("no newline at the end"))]


def test_a_paths_file_lists_files_in_order(tmp_path) -> None:
    from lmkiln.tasks.collect.corpora.collection import locations
    from lmkiln.tasks.config.collect import CorpusSource

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
    from lmkiln.tasks.collect.corpora.collection import open_location
    from tests.helpers.routes import serve_routes

    data = gzip.compress(lines(*({"text": f"record {n}"} for n in range(20))))
    headers = {"Content-Type": "application/gzip"}
    with serve_routes({"/part.jsonl.gz": (200, headers, data)}) as base:
        url = f"{base}/part.jsonl.gz"
        with open_location(url) as stream:
            items = list(jsonl_reader(PILE)(stream, url, 5))
    assert [o for o, _ in items] == list(range(5, 20))
    assert items[0][1].text == "record 5"


def test_a_broken_download_is_raised_for_a_retry_not_taken_for_damage() -> None:
    from urllib3.exceptions import HTTPError

    from lmkiln.tasks.collect.corpora.collection import batches
    from lmkiln.tasks.config.collect import CorpusSource
    from tests.helpers.routes import serve_routes

    data = gzip.compress(lines(*({"text": f"record {n}"} for n in range(2000))))
    # The server promises the whole file and closes the connection halfway.
    cut = (200, {"Content-Length": str(len(data))}, data[: len(data) // 2])
    with serve_routes({"/part.jsonl.gz": cut}) as base:
        url = f"{base}/part.jsonl.gz"
        source = CorpusSource(name="pile", format="jsonl", paths=[url])
        with pytest.raises(HTTPError):
            list(batches(source, [url], Position()))


def test_a_finished_file_is_not_opened_again(tmp_path, monkeypatch) -> None:
    from lmkiln.tasks.collect.corpora import collection as corpus
    from lmkiln.tasks.config.pipeline import PipelineConfig

    (tmp_path / "a.jsonl").write_bytes(lines(*({"text": f"a {n}"} for n in range(5))))
    (tmp_path / "b.jsonl").write_bytes(lines({"text": "only bad"}, b"{oops"))
    config = PipelineConfig.model_validate(
        {
            "storage": {"data_root": str(tmp_path / "data")},
            "collect": {
                "corpora": [{"name": "c", "format": "jsonl", "paths": [str(tmp_path / "*.jsonl")]}]
            },
        }
    )
    source = config.collect.corpora[0]
    assert corpus.collect(source, config.storage, "night 1")[2] == 6
    opened = []
    monkeypatch.setattr(corpus, "open_location", lambda where: opened.append(where))
    assert corpus.collect(source, config.storage, "night 2")[2] == 0
    assert opened == []  # b.jsonl ended in a batch with no document: its end is still known
