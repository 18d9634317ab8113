"""Local files as a source: every format, every bad file quarantined with its reason, and
files that did not change not read again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lmkiln.tasks.collect.files import matched_files, read_files
from lmkiln.tasks.config.collect import FileSource
from tests.helpers.holdings import write_knowledge_base


def source(kb: Path, **overrides) -> FileSource:
    fields = {"text_field": "body", "id_field": "id", "url_field": "link", "meta_fields": ["topic"]}
    settings = {"name": "kb", "paths": [str(kb)], "max_file_bytes": 1000} | fields
    return FileSource(**(settings | overrides))


def test_every_format_is_read_and_every_bad_record_quarantined_with_its_reason(
    tmp_path: Path,
) -> None:
    kb = write_knowledge_base(tmp_path)
    read = read_files(source(kb), {})

    texts = [doc.text for doc in read.documents]
    assert len(texts) == 6  # txt, md, html, one JSON line, two Parquet rows
    assert all(doc.kind == "file" and doc.source == "kb" for doc in read.documents)
    html = next(doc for doc in read.documents if doc.title == "Bridges")
    assert "Home | About" not in html.text and html.text.startswith("The river rose")
    assert next(d for d in read.documents if d.meta["path"].endswith("setup.md")).title == (
        "Setting up"
    )
    record = next(d for d in read.documents if "line" in d.meta)
    assert record.url == "https://ex.org/7"
    assert (record.meta["record_id"], record.meta["topic"], record.meta["line"]) == (7, "rivers", 1)
    assert len(record.meta["file_sha256"]) == 64 and record.meta["modified"]
    row = next(d for d in read.documents if d.meta.get("row") == 1)
    assert row.url.endswith("table.parquet#row=1") and row.meta["topic"] == "b"

    reasons = sorted(
        (r["reason"], Path(json.loads(r["payload"])["path"]).name) for r in read.quarantined
    )
    assert reasons == [
        ("bad_json", "records.jsonl"),  # {not json
        ("bad_json", "records.jsonl"),  # an array
        ("bad_value", "records.jsonl"),
        ("empty_text", "empty.md"),
        ("empty_text", "records.jsonl"),
        ("missing_field", "records.jsonl"),
        ("missing_field", "wrong.parquet"),
        ("too_large", "big.txt"),
        ("undecodable", "latin.txt"),
        ("undecodable", "records.jsonl"),
        ("unreadable", "cut.parquet"),
    ]
    assert all(r["kind"] == "file" and r["source"] == "kb" for r in read.quarantined)
    counters = read.counters
    quarantined = sum(v for k, v in counters.items() if k.startswith("quarantined_"))
    assert counters["records"] == counters["documents"] + quarantined == 17
    assert (counters["files"], counters["files_read"], counters["files_skipped_type"]) == (
        10,
        10,
        1,
    )


def test_a_file_in_another_encoding_is_read_with_it(tmp_path: Path) -> None:
    kb = write_knowledge_base(tmp_path)
    read = read_files(source(kb, paths=[str(kb / "latin.txt")], encoding="latin-1"), {})
    assert [doc.text for doc in read.documents] == ["café au lait"]


def test_unchanged_files_are_not_read_again(tmp_path: Path) -> None:
    kb = write_knowledge_base(tmp_path)
    first = read_files(source(kb), {})
    again = read_files(source(kb), first.marks)
    assert again.documents == [] and again.quarantined == []
    assert again.counters["files_unchanged"] == 10 and again.marks == first.marks

    notes = kb / "notes.txt"
    os.utime(notes, ns=(notes.stat().st_atime_ns, notes.stat().st_mtime_ns + 10**9))  # touched
    (kb / "guides" / "setup.md").write_text("# Setting up\n\nNew steps for the setup.", "utf-8")
    third = read_files(source(kb), again.marks)
    assert [doc.text for doc in third.documents] == ["# Setting up\n\nNew steps for the setup."]
    assert third.counters["files_unchanged"] == 9 and third.counters["files_read"] == 1


def test_globs_and_folders_match_each_file_once(tmp_path: Path) -> None:
    kb = write_knowledge_base(tmp_path)
    found = matched_files([str(kb / "**" / "*.md"), str(kb / "guides"), str(tmp_path / "none*")])
    assert [p.name for p in found] == ["empty.md", "page.html", "setup.md"]


def test_an_unknown_encoding_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown encoding 'utf-9'"):
        FileSource(name="kb", paths=["x"], encoding="utf-9")


def test_marks_saved_under_other_settings_do_not_count(tmp_path: Path) -> None:
    from lmkiln.tasks.collect.files import load_marks, save_marks
    from lmkiln.tasks.config.storage import StorageConfig

    kb = write_knowledge_base(tmp_path)
    storage = StorageConfig(data_root=str(tmp_path / "data"))
    first = read_files(source(kb), {})
    save_marks(storage, source(kb), first.marks)
    assert load_marks(storage, source(kb)) == first.marks
    fixed = source(kb, text_field="text")  # the field map changed: the files read again
    assert load_marks(storage, fixed) == {}


def test_binary_files_and_lone_surrogates_are_quarantined_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "zeros.txt").write_bytes(b"\x00" * 600)
    (tmp_path / "page.html").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(64))
    (tmp_path / "wide.txt").write_bytes("Text in UTF-16, with its BOM.".encode("utf-16"))
    lines = ['{"body": "first"}', '{"body": "lone \\ud800 half"}', '{"body": "third"}']
    (tmp_path / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = read_files(FileSource(name="kb", paths=[str(tmp_path)], text_field="body"), {})

    assert sorted(doc.text for doc in read.documents) == ["first", "third"]
    reasons = sorted(
        (row["reason"], json.loads(row["payload"])["path"]) for row in read.quarantined
    )
    assert [(reason, Path(path).name) for reason, path in reasons] == [
        ("binary", "page.html"),
        ("binary", "zeros.txt"),
        ("undecodable", "records.jsonl"),
        ("undecodable", "wide.txt"),  # UTF-16 is not the source's encoding
    ]
    assert read.counters["records"] == read.counters["documents"] + len(reasons)
    wide = FileSource(name="kb", paths=[str(tmp_path / "wide.txt")], encoding="utf-16")
    assert [doc.text for doc in read_files(wide, {}).documents] == ["Text in UTF-16, with its BOM."]
