import subprocess
import sys
from datetime import UTC, datetime

from lmkiln.tasks.config.clean import CleanConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.caching import bucket_start, stage_key
from lmkiln.tasks.core.records import Document, LakeRef


def test_append_and_read_at_a_commit(tmp_path):
    path = str(tmp_path / "t")
    first = lake.append(path, [{"id": "a", "text": "x"}], ("id", "text"), "one")
    second = lake.append(path, [{"id": "b", "text": "y"}], ("id", "text"), "two")
    assert (first.rows, second.rows) == (1, 2)
    assert [r["id"] for r in lake.read(first, ("id",))] == ["a"]
    assert [r["id"] for r in lake.read(second, ("id",), start=1)] == ["b"]
    assert lake.head(path) == second
    assert lake.append(path, [], ("id", "text"), "nothing") == second


def test_uncommitted_rows_are_invisible_after_a_crash(tmp_path):
    path = str(tmp_path / "t")
    committed = lake.append(path, [{"id": "a"}], ("id",), "one")
    crash = (
        "import deeplake, os, sys\n"
        "ds = deeplake.open(sys.argv[1])\n"
        "ds.append({'id': ['half-written']})\n"
        "os._exit(9)  # dies before commit, as a killed run would\n"
    )
    result = subprocess.run([sys.executable, "-c", crash, path], check=False)
    assert result.returncode == 9
    assert lake.head(path) == committed
    assert lake.column(committed, "id") == ["a"]


def test_a_table_whose_creation_was_interrupted_is_created_again(tmp_path):
    path = str(tmp_path / "t")
    (tmp_path / "t.creating").mkdir()  # what a crash during creation leaves
    ref = lake.append(path, [{"id": "a"}], ("id",), "one")
    assert lake.column(ref, "id") == ["a"]
    assert not (tmp_path / "t.creating").exists()


def test_empty_fields_survive_the_lake(tmp_path):
    doc = Document(text="hello", kind="web", source="s", meta={"status": 200})
    ref = lake.append(str(tmp_path / "t"), [doc.to_row()], lake.DOCUMENT_TABLE, "one")
    (row,) = lake.read(ref, lake.DOCUMENT_TABLE)
    assert Document.from_row(row) == doc
    assert row["lang"] == "" and row["url"] == ""


def test_missing_commit_is_explained(tmp_path):
    path = str(tmp_path / "t")
    lake.append(path, [{"id": "a"}], ("id",), "one")
    try:
        lake.column(LakeRef(path, "0000000099m00000000", 1), "id")
    except ValueError as exc:
        assert "has no commit" in str(exc)
    else:
        raise AssertionError("expected a ValueError")


def test_document_round_trips_through_a_row():
    doc = Document(text="hello", kind="api", source="s", meta={"page": 2})
    assert Document.from_row(doc.to_row()) == doc


def test_buckets_are_aligned_and_contain_now():
    now = datetime(2026, 11, 26, 13, 45, tzinfo=UTC)
    assert bucket_start(24, now) == datetime(2026, 11, 26, tzinfo=UTC)
    assert bucket_start(6, now) == datetime(2026, 11, 26, 12, tzinfo=UTC)


def test_stage_key_changes_with_any_part():
    a = stage_key("clean", LakeRef("p", "c1", 3), CleanConfig())
    assert a == stage_key("clean", LakeRef("p", "c1", 3), CleanConfig())
    assert a != stage_key("clean", LakeRef("p", "c2", 3), CleanConfig())
    assert a != stage_key("clean", LakeRef("p", "c1", 3), CleanConfig(min_chars=1))


def test_the_rows_of_marked_commits_are_found_again(tmp_path):
    path = str(tmp_path / "raw")

    def docs(*texts: str) -> list[dict]:
        return [Document(text=t, kind="api", source="s").to_row() for t in texts]

    lake.append(path, docs("a", "b"), lake.DOCUMENT_TABLE, "collect 's' [fetch-1]")
    lake.append(path, docs("c"), lake.DOCUMENT_TABLE, "collect 't' [fetch-2]")
    lake.append(path, docs("d"), lake.DOCUMENT_TABLE, "collect 's' again [fetch-1]")

    found = lake.ids_committed_with(path, "[fetch-1]")
    assert found == {Document(text=t, kind="api", source="s").id for t in "abd"}
    assert lake.ids_committed_with(path, "[fetch-3]") == set()
    assert lake.ids_committed_with(str(tmp_path / "none"), "[fetch-1]") == set()
