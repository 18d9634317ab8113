"""API records to document fields: the configured mapping, and why a record fails it.

A record that fails is quarantined with the first reason that applies; the reasons are
fixed names, counted as `quarantined_<reason>` in the source's counters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from lmkiln.tasks.collect.api.pagination import dig
from lmkiln.tasks.collect.api.watermark import Mark, mark_key
from lmkiln.tasks.config.collect import ApiSource
from lmkiln.tasks.core.records import is_storable

QUARANTINE_REASONS = (
    "not_an_object",
    "missing_id",
    "bad_id",
    "missing_text",
    "bad_text",
    "undecodable",
    "missing_updated_at",
    "bad_updated_at",
)
# The setting to fix when most records fail for a reason: what the schema-change error names.
# `undecodable` has none: bytes that are not UTF-8 are the server's fault, not the mapping's.
REASON_FIELDS = {
    "not_an_object": "records_path",
    "missing_id": "id_field",
    "bad_id": "id_field",
    "missing_text": "text_fields",
    "bad_text": "text_fields",
    "missing_updated_at": "updated_at_field",
    "bad_updated_at": "updated_at_field",
}


@dataclass(frozen=True)
class Mapped:
    """A record's mapped fields; `reason` is empty when it makes a document."""

    reason: str = ""
    record_id: str | None = None
    updated_at: Mark | None = None
    text: str = ""
    title: str = ""
    url: str = ""


def map_record(record: object, source: ApiSource) -> Mapped:
    """The mapped fields of one record, or the first reason it cannot become a document."""
    if not isinstance(record, dict):
        return Mapped("not_an_object")
    record_id = None
    if source.id_field:
        raw_id = dig(record, source.id_field)
        if raw_id is None or raw_id == "":
            return Mapped("missing_id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            return Mapped("bad_id")
        record_id = str(raw_id)
    updated_at = None
    if source.updated_at_field:
        updated_at = dig(record, source.updated_at_field)
        if updated_at is None or updated_at == "":
            return Mapped("missing_updated_at", record_id)
        try:
            mark_key(updated_at)
        except ValueError:
            return Mapped("bad_updated_at", record_id)
    values = [dig(record, name) for name in source.text_fields]
    if any(value is not None and not isinstance(value, str) for value in values):
        return Mapped("bad_text", record_id, updated_at)
    text = "\n\n".join(value.strip() for value in values if value and value.strip())
    if not text:
        return Mapped("missing_text", record_id, updated_at)
    if source.url_template:
        url = _fill(source.url_template, record, record_id)
    else:
        url = _text(dig(record, source.url_field)) if source.url_field else ""
    title = _text(dig(record, source.title_field)) if source.title_field else ""
    if not is_storable(text, title, url, record_id or ""):
        return Mapped("undecodable", record_id, updated_at)
    return Mapped("", record_id, updated_at, text, title, url)


_PLACEHOLDER = re.compile(r"\{([\w.]+)\}")


def _fill(template: str, record: Mapping[str, Any], record_id: str | None) -> str:
    """url_template with `{id}` as the mapped id and `{a.b}` as record fields."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = record_id if name == "id" and record_id is not None else dig(record, name)
        return quote(_text(found), safe="/")

    return _PLACEHOLDER.sub(value, template)


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()
