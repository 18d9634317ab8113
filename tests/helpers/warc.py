"""WARC and WET files written record by record with warcio, for corpus tests."""

from __future__ import annotations

import gzip
import io

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def http_headers(status: str, content_type: str) -> StatusAndHeaders:
    return StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")


class Archive:
    """A WARC or WET file written record by record, with each record's start offset."""

    def __init__(self, compressed: bool = True) -> None:
        self.buffer = io.BytesIO()
        self.writer = WARCWriter(self.buffer, gzip=compressed)
        self.compressed = compressed
        self.offsets: list[int] = []

    def add(self, record) -> None:
        self.offsets.append(self.buffer.tell())
        self.writer.write_record(record)
        # warcio spools a payload of unstated length to a temporary file to digest it.
        record.raw_stream.close()

    def add_raw(self, block: bytes) -> None:
        self.offsets.append(self.buffer.tell())
        self.buffer.write(gzip.compress(block) if self.compressed else block)

    def response(self, url: str, body: bytes, content_type: str, status: str = "200 OK"):
        http = http_headers(status, content_type)
        self.add(
            self.writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http
            )
        )

    @property
    def data(self) -> bytes:
        return self.buffer.getvalue()
