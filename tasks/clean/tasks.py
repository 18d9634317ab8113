"""The clean stage: every raw row added since the last run gets a decision, kept or dropped
with a named reason (decide.py has the rules), appended to the `clean` table.

One row per raw row makes the next night's start this table's row count. The night is
committed every `COMMIT_DOCS` documents, so memory holds one group of decisions however
large the night, and a crash loses at most the group in flight: the next run starts after
the last commit. Dropped documents go to the `quarantine` table with their reason before
their group's commit: a crash in between only repeats rows it already keeps once. The
near-duplicate index is committed after each of the table's commits, and reconciles itself
with the table when it opens (tasks/clean/dedup/index.py); the validation side's n-grams are saved
after the night's last commit, and catch up with the table the same way (decontam.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from contextlib import nullcontext

from prefect import get_run_logger, task

from lmkiln.tasks.clean import decontam
from lmkiln.tasks.clean.decide import Decider, Prepared, chunks, prepare_all
from lmkiln.tasks.clean.dedup.index import NearDupIndex, index_path
from lmkiln.tasks.config.clean import CleanConfig
from lmkiln.tasks.config.split import SplitConfig
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import failpoints, lake, quarantine
from lmkiln.tasks.core.caching import code_version, stage_key
from lmkiln.tasks.core.records import DOCUMENT_COLUMNS, Document, LakeRef, StageResult

BATCH_DOCS = 1024
COMMIT_DOCS = 8 * BATCH_DOCS


def clean_key(_context: object, params: dict) -> str:
    # Not `cluster`: where the work runs changes no decision, so a night cleaned on Dask is
    # found cached by a local run and the other way round.
    parts = (params["raw"], params["config"], params["split"], params["storage"])
    return stage_key("clean", *parts, code_version("lmkiln.tasks.clean"))


@task(
    name="clean_corpus",
    task_run_name="clean",
    cache_key_fn=clean_key,
    persist_result=True,
    retries=1,
)
def clean_corpus(
    raw: LakeRef,
    config: CleanConfig,
    split: SplitConfig,
    storage: StorageConfig,
    cluster: str | None = None,
) -> StageResult:
    """Decide on every raw row added since the last run; append the decisions to `clean`.
    With `cluster`, a Dask scheduler's address, a large night's per-document work runs on
    that cluster's workers; the key leaves it out, as the decisions do not depend on it."""
    result = clean_stage(raw, config, split, storage, cluster)
    get_run_logger().info(
        "clean: raw rows %d:%d at %s: %s",
        raw.rows - result.counters.get("seen", 0),
        raw.rows,
        raw.commit,
        result.counters,
    )
    return result


def clean_stage(
    raw: LakeRef,
    config: CleanConfig,
    split: SplitConfig,
    storage: StorageConfig,
    cluster: str | None = None,
) -> StageResult:
    """The stage without Prefect (bench/cleaning.py times it)."""
    path, state = storage.lake("clean"), storage.lake_state("clean")
    # Held from reading where to start until the last commit: two overlapping runs would
    # otherwise both decide on the same raw rows, and every later night would start too far on.
    with lake.exclusive(path, state):
        previous = lake.head(path)
        start = previous.rows if previous else 0
        near, n = config.near_dedup, config.decontamination.ngram_words
        kept = kept_ids(previous) if near is None else set()  # else the index knows them
        folder = decontam.store_folder(str(state))  # local files, wherever the table is
        validation = decontam.open_validation(folder, n, split, previous) if n else None
        index_file = index_path(str(state))
        index = NearDupIndex.open(index_file, near, previous) if near else nullcontext()
        with index as near_index:
            counts = kept_counts(previous) if config.max_synthetic_share else (0, 0)
            decider = Decider(config, split, kept, validation, near_index, counts)
            docs = (Document.from_row(r) for r in lake.read(raw, DOCUMENT_COLUMNS, start=start))
            prepared = prepare_all(docs, config, total=raw.rows - start, cluster=cluster)
            night = _Night(path, start, storage, near_index)
            for batch in chunks(prepared, BATCH_DOCS):
                night.add(batch, decider.decide(batch, night.next_row))
                if len(night.rows) >= COMMIT_DOCS:
                    night.commit()
            ref = night.commit()
            if validation is not None:
                decontam.save(folder, validation, split, ref)
    per_source = {name: dict(tally) for name, tally in sorted(night.by_source.items())}
    return StageResult(lake=ref, counters=dict(night.counters), by_source=per_source)


class _Night:
    """The night's decisions not yet committed, as clean rows and quarantine rows, and the
    counts of the whole night: `seen`, `kept`, `dropped_<reason>` and `pii_<kind>`, overall
    and per source."""

    def __init__(
        self, path: str, start: int, storage: StorageConfig, index: NearDupIndex | None
    ) -> None:
        self.path, self.storage, self.index = path, storage, index
        self.committed = self.next_row = start  # clean rows committed; the next row's number
        self.rows: list[dict[str, str]] = []
        self.dropped: list[dict[str, str]] = []
        self.counters: Counter[str] = Counter()
        self.by_source: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.head: LakeRef | None = None

    def commit(self) -> LakeRef:
        """Quarantine the dropped rows, append the decisions, then commit the index."""
        if self.head is not None and not self.rows:
            return self.head
        quarantine.store_all(self.storage, self.dropped)
        message = f"clean raw rows {self.committed}:{self.next_row}"
        state = self.storage.lake_state("clean")
        self.head = lake.append(self.path, self.rows, lake.CLEAN_TABLE, message, state)
        failpoints.reached("clean:rows_committed")
        if self.index is not None:
            self.index.commit(self.head)
        self.committed = self.next_row
        self.rows, self.dropped = [], []
        return self.head

    def add(self, batch: list[Prepared], decisions: list[tuple[Document, str]]) -> None:
        self.next_row += len(batch)
        for p, (doc, reason) in zip(batch, decisions, strict=True):
            self.rows.append(doc.to_row() | {"reason": reason})
            if reason:
                row = quarantine.row(doc.source, reason, doc.url, doc.to_row(), str, "clean")
                self.dropped.append(row)
            outcome = f"dropped_{reason}" if reason else "kept"
            for tally in (self.counters, self.by_source[doc.source]):
                tally["seen"] += 1
                tally[outcome] += 1
                tally.update({f"pii_{kind}": n for kind, n in p.pii.items()})


def kept_ids(clean: LakeRef | None) -> set[str]:
    """Ids of every document kept so far: for exact dedup when there is no near-dup index."""
    if clean is None:
        return set()
    return {row["id"] for row in lake.read(clean, ("id", "reason")) if not row["reason"]}


def kept_counts(clean: LakeRef | None) -> tuple[int, int]:
    """(documents kept so far, synthetic ones among them): where the synthetic cap stands."""
    if clean is None:
        return 0, 0
    kinds = [row["kind"] for row in lake.read(clean, ("kind", "reason")) if not row["reason"]]
    return len(kinds), kinds.count("synthetic")
