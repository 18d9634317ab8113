"""The clean stage commits a large night in groups: memory holds one group, and a crash
loses only the group in flight, which the rerun decides once."""

from __future__ import annotations

import random

import pytest
from prefect import flow
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

from lmkiln.tasks.clean import tasks as clean
from lmkiln.tasks.clean.dedup.index import NearDupIndex, index_path
from lmkiln.tasks.clean.tasks import clean_corpus
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import Document, LakeRef, StageResult

pytestmark = [pytest.mark.integration]

WORDS = "kiln glaze clay bowl fire ash wood heat shelf potter wheel slip".split()


def page(n: int) -> str:
    """A paragraph of its own for each n: no two share many word 3-grams."""
    picked = random.Random(n).choices(WORDS, k=40)
    return f"Firing log {n}. " + " ".join(picked) + f". Entry number {n} ends here."


@flow(name="clean-only")
def clean_night(raw: LakeRef, config: PipelineConfig) -> StageResult:
    return clean_corpus(raw, config.clean, config.split, config.storage)


def test_a_night_commits_in_groups_and_a_crash_repeats_only_the_group_in_flight(
    tmp_path, monkeypatch
) -> None:
    config = PipelineConfig.model_validate(
        {
            "storage": {"data_root": str(tmp_path)},
            "clean": {
                "min_chars": 20,
                "min_words": 5,
                "quality": None,
                "language": {"allowed": None, "min_score": None},
            },
        }
    )
    texts = [page(n) for n in range(22)] + [page(3), page(21)]  # two exact copies at the end
    docs = [
        Document(text=t, kind="file", source="log", url=f"file:///{i}") for i, t in enumerate(texts)
    ]
    rows = [doc.to_row() for doc in docs]
    raw = lake.append(config.storage.lake("raw"), rows, lake.DOCUMENT_TABLE, "raw")
    monkeypatch.setattr(clean, "BATCH_DOCS", 3)
    monkeypatch.setattr(clean, "COMMIT_DOCS", 6)

    decide = clean.Decider.decide
    calls = {"n": 0}

    def crash_from_the_fifth_batch(self, batch, first_row):  # the task's retry too
        calls["n"] += 1
        if calls["n"] >= 5:
            raise RuntimeError("power cut")
        return decide(self, batch, first_row)

    monkeypatch.setattr(clean.Decider, "decide", crash_from_the_fifth_batch)
    with pytest.raises(RuntimeError, match="power cut"):
        clean_night(raw, config)
    path = config.storage.lake("clean")
    after_crash = lake.head(path)
    assert after_crash.rows == 12  # two groups of two batches committed, the third lost

    monkeypatch.setattr(clean.Decider, "decide", decide)
    with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: True}):
        result = clean_night(raw, config)

    assert result.lake.rows == len(texts)
    assert result.counters["seen"] == len(texts) - 12  # the rerun starts after the commits
    decided = list(lake.read(result.lake, ("id", "reason")))
    assert [r["reason"] for r in decided] == [""] * 22 + ["exact_duplicate"] * 2
    with NearDupIndex.open(index_path(path), config.clean.near_dedup, result.lake) as index:
        assert index.covered == (len(texts), result.lake.commit) and len(index) == 22
