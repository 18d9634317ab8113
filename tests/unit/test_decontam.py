"""Validation n-grams kept beside the clean table: merged night after night, caught up after
a crash, made again when the settings change."""

from __future__ import annotations

import json
import shutil

import numpy as np

from lmkiln.tasks.clean import decontam
from lmkiln.tasks.clean.tasks import clean_stage
from lmkiln.tasks.config.clean import CleanConfig
from lmkiln.tasks.config.split import SplitConfig
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import Document, assign_split

SPLIT = SplitConfig(validation_fraction=0.5)
CONFIG = CleanConfig.model_validate(
    {"quality": None, "near_dedup": None, "min_chars": 20, "min_words": 5}
)
ESSAY = (
    "The kiln was fired slowly over the whole night and the potters took turns to watch the "
    "temperature while the glaze melted into a smooth glassy coat on every bowl. "
)


def page(n: int, side: str) -> str:
    """A text of its own whose id lands on `side` of the split."""
    return on_side(f"{ESSAY * 2}Entry {n} of the firing log ends here with a note.", side)


def night(storage: StorageConfig, texts: list[str]):
    docs = [
        Document(text=t, kind="file", source="log", url=f"file:///{i}") for i, t in enumerate(texts)
    ]
    rows = [doc.to_row() for doc in docs]
    raw = lake.append(storage.lake("raw"), rows, lake.DOCUMENT_TABLE, "raw")
    return clean_stage(raw, CONFIG, SPLIT, storage)


def on_side(text: str, side: str) -> str:
    """`text`, with a number added if need be so that its id lands on `side`."""
    for extra in range(1000):
        candidate = f"{text} {extra}" if extra else text
        doc_id = Document(text=candidate, kind="file", source="l", url="u").id
        if assign_split(doc_id, SPLIT.validation_fraction, SPLIT.salt) == side:
            return candidate
    raise AssertionError("no number puts it there")


def test_a_copy_of_last_nights_validation_page_is_contaminated_and_the_file_covers_the_table(
    tmp_path,
) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    validation = page(1, "validation")
    first = night(storage, [validation])
    second = night(storage, [on_side(validation.replace("ends here", "stops here"), "train")])

    assert first.counters == {"seen": 1, "kept": 1}
    assert second.counters == {"seen": 1, "dropped_contaminated": 1}
    folder = decontam.store_folder(storage.lake("clean"))
    assert json.loads((folder / decontam.META).read_text())["rows"] == second.lake.rows == 2
    stored = decontam.open_validation(folder, 13, SPLIT, second.lake).stored
    assert np.array_equal(np.asarray(stored), decontam.ngram_hashes(validation, 13))


def test_rows_committed_after_the_last_save_are_read_back(tmp_path) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    night(storage, [page(1, "validation")])
    folder = decontam.store_folder(storage.lake("clean"))
    before = (folder / decontam.DATA).read_bytes(), (folder / decontam.META).read_text()
    second = night(storage, [page(2, "validation"), page(3, "train")])
    # As if the process died after the table's commit, before the save.
    (folder / decontam.DATA).write_bytes(before[0])
    (folder / decontam.META).write_text(before[1])

    caught_up = decontam.open_validation(folder, 13, SPLIT, second.lake)
    expected = np.union1d(
        decontam.ngram_hashes(page(1, "validation"), 13),
        decontam.ngram_hashes(page(2, "validation"), 13),
    )
    assert np.array_equal(np.asarray(caught_up.stored), expected)
    assert json.loads((folder / decontam.META).read_text())["rows"] == 3


def test_other_settings_or_a_replaced_table_make_the_file_again(tmp_path) -> None:
    storage = StorageConfig(data_root=str(tmp_path))
    first = night(storage, [page(1, "validation")])
    folder = decontam.store_folder(storage.lake("clean"))

    longer = decontam.open_validation(folder, 20, SPLIT, first.lake)
    assert np.array_equal(
        np.asarray(longer.stored), decontam.ngram_hashes(page(1, "validation"), 20)
    )
    assert len(decontam.open_validation(folder, 13, SPLIT, None).stored) == 0

    decontam.open_validation(folder, 13, SPLIT, first.lake)
    shutil.rmtree(storage.lake("clean"))
    other = page(7, "validation")
    rows = [
        Document(text=t, kind="file", source="log", url="file:///r").to_row()
        for t in (other, page(8, "train"))
    ]
    replaced = lake.append(
        storage.lake("clean"), [r | {"reason": ""} for r in rows], lake.CLEAN_TABLE, "new"
    )
    stored = decontam.open_validation(folder, 13, SPLIT, replaced).stored
    assert np.array_equal(np.asarray(stored), decontam.ngram_hashes(other, 13))


def test_save_merges_chunk_by_chunk_into_one_sorted_set(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(decontam, "MERGE_CHUNK", 7)
    rng = np.random.default_rng(0)
    old = np.unique(rng.integers(0, 500, 60, dtype=np.uint64))
    new = rng.integers(0, 600, 80, dtype=np.uint64)
    (tmp_path / decontam.DATA).write_bytes(old.astype("<u8").tobytes())

    merged = decontam._merged_file(tmp_path, decontam._load(tmp_path), np.unique(new))

    values = np.frombuffer(merged.read_bytes(), dtype="<u8")
    assert np.array_equal(values, np.union1d(old, new))


def test_a_validation_page_dropped_as_a_near_duplicate_adds_no_ngrams(tmp_path) -> None:
    from lmkiln.tasks.clean.decide import Decider, prepare
    from lmkiln.tasks.clean.dedup.index import NearDupIndex
    from lmkiln.tasks.config.clean import NearDedupConfig

    config = CONFIG.model_copy(update={"near_dedup": NearDedupConfig()})
    original = on_side(page(1, "validation"), "validation")
    copy = on_side(original.replace("ends here", "ends right here"), "validation")
    batch = [
        prepare(Document(text=t, kind="file", source="log", url="u"), config)
        for t in (original, copy)
    ]
    grams = decontam.ValidationNgrams(13)
    with NearDupIndex.open(tmp_path / "index.sqlite", NearDedupConfig(), None) as index:
        decisions = Decider(config, SPLIT, set(), grams, index).decide(batch, first_row=0)

    assert [reason for _, reason in decisions] == ["", "near_duplicate"]
    assert np.array_equal(grams.added, decontam.ngram_hashes(batch[0].doc.text, 13))
