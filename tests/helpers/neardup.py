"""Texts and a clean night for the near-duplicate index's tests, importable by the process
that a test kills halfway through a night."""

from __future__ import annotations

import os
import random
import string

from lmkiln.tasks.clean.dedup.index import NearDupIndex, index_path
from lmkiln.tasks.config.clean import NearDedupConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import text_id

CONFIG = NearDedupConfig()
_RNG = random.Random(7)
VOCABULARY = [
    "".join(_RNG.choices(string.ascii_lowercase, k=_RNG.randint(2, 9))) for _ in range(5000)
]


def text(seed: int, words: int = 300) -> str:
    rng = random.Random(seed)
    chosen = rng.choices(VOCABULARY, k=words)
    return "\n".join(" ".join(chosen[i : i + 12]) + "." for i in range(0, words, 12))


def batch(texts: list[str], start: int = 0) -> list[tuple[int, str, str]]:
    return [(start + i, text_id(t), t) for i, t in enumerate(texts)]


def duplicate_of(results) -> list[str | None]:
    return [found.of if found else None for found in results]


def night(
    table: str,
    texts: list[str],
    config: NearDedupConfig = CONFIG,
    commit: bool = True,
    die: bool = False,
):
    """What the clean stage does: decide, append every decision, commit the index after."""
    head = lake.head(table)
    start = head.rows if head else 0
    with NearDupIndex.open(index_path(table), config, head) as index:
        results = index.check(batch(texts, start))
        rows = [
            {"id": text_id(t), "text": t, "reason": "near_duplicate" if found else ""}
            for t, found in zip(texts, results, strict=True)
        ]
        ref = lake.append(table, rows, lake.CLEAN_TABLE, "night")
        if die:
            os._exit(9)  # killed between the table's commit and the index's
        if commit:
            index.commit(ref)
    return duplicate_of(results), ref
