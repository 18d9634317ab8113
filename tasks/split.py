"""Train/validation split by a hash of the document id, so a document never changes side."""

from __future__ import annotations

import hashlib
from collections import Counter

from prefect import get_run_logger, task

from lmkiln.tasks.config.split import SplitConfig
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import failpoints, lake
from lmkiln.tasks.core.caching import code_version, stage_key
from lmkiln.tasks.core.records import LakeRef, StageResult, assign_split


def split_key(_context: object, params: dict) -> str:
    parts = (params["clean"], params["config"], params["storage"])
    return stage_key("split", *parts, code_version("lmkiln.tasks.split"))


@task(
    name="split_corpus",
    task_run_name="split",
    cache_key_fn=split_key,
    persist_result=True,
    retries=1,
)
def split_corpus(clean: LakeRef, config: SplitConfig, storage: StorageConfig) -> StageResult:
    """Append the kept clean rows not yet in the `corpus` table, each with its split; commit."""
    logger = get_run_logger()
    path, state = storage.lake("corpus"), storage.lake_state("corpus")
    with lake.exclusive(path, state):  # from reading the head to the commit, as in clean_corpus
        previous = lake.head(path)
        # The corpus is the kept clean rows in order, so its size is how many were taken.
        reasons = lake.column(clean, "reason")
        kept_at = [i for i, reason in enumerate(reasons) if not reason]
        already = previous.rows if previous else 0
        start = kept_at[already] if already < len(kept_at) else len(reasons)
        rows = []
        for row in lake.read(clean, lake.CLEAN_TABLE, start=start):
            if not row["reason"]:
                split = assign_split(row["id"], config.validation_fraction, config.salt)
                rows.append({c: row[c] for c in lake.DOCUMENT_TABLE} | {"split": split})
        message = f"split clean rows at {clean.commit}"
        ref = lake.append(path, rows, lake.CORPUS_TABLE, message, state)
        failpoints.reached("split:corpus_committed")
    totals = Counter(lake.column(ref, "split"))
    logger.info("split: added %d; corpus now %s at %s", len(rows), dict(totals), ref.commit)
    if rows:
        announce(ref, len(rows), storage)
    return StageResult(lake=ref, counters={"added": len(rows), **dict(totals)})


CORPUS_COMMITTED = "lmkiln.corpus.committed"


def corpus_resource(path: str) -> dict[str, str]:
    """The corpus table as a Prefect event resource: one id per table, whatever the commit."""
    digest = hashlib.sha256(path.encode("utf-8")).hexdigest()[:12]
    return {"prefect.resource.id": f"lmkiln.corpus.{digest}", "prefect.resource.name": path}


def announce(ref: LakeRef, added: int, storage: StorageConfig) -> None:
    """A Prefect event for a corpus commit that landed, which an automation can answer by
    running `retrain` on it (deployments/serve.py, `schedule.retrain_on_corpus`)."""
    from prefect.events import emit_event

    payload = {
        "path": ref.path,
        "commit": ref.commit,
        "rows": ref.rows,
        "added": added,
        "data_root": str(storage.root),  # what a retrain needs to find this corpus
    }
    emit_event(event=CORPUS_COMMITTED, resource=corpus_resource(ref.path), payload=payload)
