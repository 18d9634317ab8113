"""tasks/collect/corpora/warc.py on small WARC and WET files written with warcio, whole and
damaged."""

from __future__ import annotations

import gzip
import io

import pytest
from warcio.statusandheaders import StatusAndHeaders

from lmkiln.tasks.collect.corpora.base import Damaged, Entry
from lmkiln.tasks.collect.corpora.collection import reader_for
from lmkiln.tasks.collect.corpora.warc import read_warc, read_wet
from lmkiln.tasks.collect.extract.extractors import identity
from lmkiln.tasks.config.collect import CorpusSource
from tests.helpers.warc import Archive, http_headers

PAGE = (
    "<html><head><title>{title}</title></head><body><nav>Home | About | Blog</nav>"
    "<main><h1>{title}</h1><p>{text}</p></main></body></html>"
)
# A record whose WARC headers do not parse: no type, no id, a line that is no header.
BROKEN_RECORD = b"WARC/1.0\r\nthis line is no header\r\n\r\n"


def _warc(compressed: bool = True) -> Archive:
    archive = Archive(compressed)
    w = archive.writer
    archive.add(w.create_warcinfo_record("crawl.warc.gz", {"software": "lmkiln tests"}))
    request = StatusAndHeaders(
        "GET /a HTTP/1.1", [("Host", "example.org")], protocol="HTTP/1.1", is_http_request=True
    )
    archive.add(w.create_warc_record("https://example.org/a", "request", http_headers=request))
    page_a = PAGE.format(title="Kilns", text="A kiln fires clay into ceramics at high heat.")
    archive.response("https://example.org/a", page_a.encode(), "text/html; charset=utf-8")
    archive.add(
        w.create_warc_record(
            "https://example.org/a",
            "metadata",
            payload=io.BytesIO(b"fetchTimeMs: 12\r\n"),
            warc_content_type="application/warc-fields",
        )
    )
    latin = PAGE.format(title="Céramique", text="Le four à bois cuit la poterie émaillée.")
    archive.response(
        "https://example.fr/b", latin.encode("iso-8859-1"), "text/html; charset=iso-8859-1"
    )
    archive.response("https://example.org/c.pdf", b"%PDF-1.7\n...", "application/pdf")
    archive.response("https://example.org/gone", b"<html>gone</html>", "text/html", "404 Not Found")
    archive.response(
        "https://example.org/img", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "text/html"
    )
    archive.response("https://example.org/empty", b"<html><body></body></html>", "text/html")
    archive.add(
        w.create_revisit_record(
            "https://example.org/a",
            digest="sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            refers_to_uri="https://example.org/a",
            refers_to_date="2026-11-01T00:00:00Z",
            http_headers=http_headers("200 OK", "text/html"),
        )
    )
    archive.add_raw(BROKEN_RECORD)
    page_d = PAGE.format(title="Glazes", text="A glaze is a glassy coat fused onto a pot.")
    archive.response("https://example.org/d", page_d.encode(), "text/html")
    return archive


def _read(reader, data: bytes, name: str, start: int = 0):
    return list(reader(io.BytesIO(data), name, start))


def _reasons(items) -> list[tuple[int, str]]:
    return [(o, i.reason if isinstance(i, Damaged) else "entry") for o, i in items]


EXPECTED_WARC = [
    (2, "entry"),
    (4, "entry"),
    (5, "skipped_type"),
    (6, "http_404"),
    (7, "binary_body"),
    (8, "empty_text"),
    (10, "broken_record"),
    (11, "entry"),
]


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
def test_warc_yields_html_pages_and_names_what_it_skips(compressed: bool) -> None:
    name = "crawl.warc.gz" if compressed else "crawl.warc"

    items = _read(read_warc, _warc(compressed).data, name)

    # 0 warcinfo, 1 request, 3 metadata and 9 revisit take their ordinals and yield nothing.
    assert _reasons(items) == EXPECTED_WARC
    first = items[0][1]
    assert isinstance(first, Entry)
    assert first.title == "Kilns"
    assert first.text == "Kilns\n\nA kiln fires clay into ceramics at high heat."
    assert first.url == "https://example.org/a"
    assert first.meta["warc_target_uri"] == "https://example.org/a"
    assert first.meta["warc_record_id"].startswith("<urn:uuid:")
    assert first.meta["warc_date"].startswith("20")
    assert first.meta["warc_file"] == name
    assert first.meta["status"] == 200
    assert first.meta["content_type"] == "text/html; charset=utf-8"
    latin = items[1][1]
    assert isinstance(latin, Entry)
    assert latin.title == "Céramique"
    assert "Le four à bois cuit la poterie émaillée." in latin.text
    assert items[2][1].payload == "https://example.org/c.pdf"
    assert "application/pdf is not HTML" in items[2][1].detail
    assert "at byte" in items[6][1].detail
    assert first.meta["extractor"] == identity("auto")


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_a_warc_sources_extractor_takes_the_text(extractor: str) -> None:
    source = CorpusSource(name="cc", format="warc", paths=["x"], extractor=extractor)
    items = _read(reader_for(source), _warc().data, "crawl.warc.gz")

    assert _reasons(items) == EXPECTED_WARC
    first = items[0][1]
    assert first.title == "Kilns" and first.meta["extractor"] == identity(extractor)
    assert "A kiln fires clay into ceramics at high heat." in first.text


def test_reading_from_start_yields_exactly_the_tail() -> None:
    data = _warc().data
    everything = _read(read_warc, data, "crawl.warc.gz")

    for start in range(14):
        tail = _read(read_warc, data, "crawl.warc.gz", start)
        assert tail == [(o, i) for o, i in everything if o >= start], start


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
def test_a_file_cut_inside_a_record_yields_what_came_before_then_stops(compressed: bool) -> None:
    archive = _warc(compressed)
    record_8, record_9 = archive.offsets[8], archive.offsets[9]
    cut = archive.data[: (record_8 + record_9) // 2]  # in the middle of the empty page
    name = "cut.warc.gz" if compressed else "cut.warc"

    items = _read(read_warc, cut, name)

    assert _reasons(items) == [*EXPECTED_WARC[:5], (8, "truncated_archive")]
    assert "https://example.org/empty" in items[-1][1].detail
    assert _read(read_warc, cut, name, start=8) == items[-1:]
    assert _read(read_warc, cut, name, start=9) == []


def test_a_file_cut_inside_a_gzip_header_names_the_next_ordinal() -> None:
    archive = _warc()
    cut = archive.data[: archive.offsets[11] + 5]  # five bytes of the last member's header

    items = _read(read_warc, cut, "cut.warc.gz")

    assert _reasons(items) == [*EXPECTED_WARC[:-1], (11, "truncated_archive")]


def test_a_lost_record_start_ends_the_read_with_broken_record() -> None:
    archive = _warc()
    garbage = gzip.compress(b"this is no WARC record at all\r\n\r\n")
    data = archive.data[: archive.offsets[2]] + garbage + archive.data[archive.offsets[2] :]

    items = _read(read_warc, data, "crawl.warc.gz")

    assert _reasons(items) == [(2, "broken_record")]
    assert "the rest is unread" in items[0][1].detail


def test_an_empty_file_yields_nothing() -> None:
    assert _read(read_warc, b"", "empty.warc") == []
    assert _read(read_warc, gzip.compress(b""), "empty.warc.gz") == []


def _wet(compressed: bool = True) -> Archive:
    archive = Archive(compressed)
    w = archive.writer
    archive.add(w.create_warcinfo_record("crawl.warc.wet.gz", {"software": "lmkiln tests"}))

    def conversion(url: str, text: bytes) -> None:
        record = w.create_warc_record(
            url, "conversion", payload=io.BytesIO(text), warc_content_type="text/plain"
        )
        record.rec_headers.add_header("WARC-Identified-Content-Language", "eng")
        archive.add(record)

    conversion("https://example.org/a", "Kilns\nA kiln fires clay — hot.".encode())
    conversion("https://example.org/blank", b"  \n ")
    conversion("https://example.org/latin", "caf\xe9".encode("latin-1"))
    conversion("https://example.org/d", b"Glazes\nA glaze is glassy.")
    return archive


@pytest.mark.parametrize("compressed", [True, False], ids=["wet.gz", "wet"])
def test_wet_yields_conversion_text_as_it_is(compressed: bool) -> None:
    name = "crawl.warc.wet.gz" if compressed else "crawl.warc.wet"

    data = _wet(compressed).data

    items = _read(read_wet, data, name)

    assert _reasons(items) == [(1, "entry"), (2, "empty_text"), (3, "undecodable"), (4, "entry")]
    first = items[0][1]
    assert first.text == "Kilns\nA kiln fires clay — hot."
    assert first.url == "https://example.org/a"
    assert first.meta == {
        "warc_record_id": first.meta["warc_record_id"],
        "warc_date": first.meta["warc_date"],
        "warc_target_uri": "https://example.org/a",
        "warc_file": name,
        "warc_identified_language": "eng",
    }
    assert first.meta["warc_record_id"].startswith("<urn:uuid:")
    assert "not UTF-8 at byte 3" in items[2][1].detail
    assert items[2][1].payload == "caf\ufffd"
    assert _read(read_wet, data, name, start=3) == items[2:]


def test_a_cut_wet_file_ends_with_truncated_archive() -> None:
    archive = _wet()
    cut = archive.data[: archive.offsets[4] + 40]

    items = _read(read_wet, cut, "cut.warc.wet.gz")

    assert _reasons(items) == [
        (1, "entry"),
        (2, "empty_text"),
        (3, "undecodable"),
        (4, "truncated_archive"),
    ]


class _FailingStream(io.BytesIO):
    """A download that breaks after its first bytes, as a network stream can."""

    def read1(self, size: int = -1) -> bytes:
        if self.tell() > 0:
            raise ConnectionResetError("connection reset by peer")
        return super().read1(size)


def test_a_failing_read_of_the_file_is_raised_not_quarantined() -> None:
    with pytest.raises(ConnectionResetError):
        list(read_warc(_FailingStream(_warc(compressed=False).data), "crawl.warc", 0))
