"""The clean stage's work, without Prefect: what each document becomes, and why it is dropped.

Two parts, because they scale differently:
- `prepare` looks at one document alone: normalise, redact PII, then the per-document rules
  (empty, length, language, quality). It is pure, so a large night runs it on every core.
- `Decider` takes the prepared documents in input order and makes the decisions that depend
  on everything kept before: exact duplicates, contamination of the validation split, and
  near duplicates against the persisted MinHash index, last (tasks/clean/dedup/index.py says why).

PII is redacted before any rule, so no copy of a document anywhere in the lake, quarantine
included, holds an address or a key. Every decision is a named reason or "" (kept).
"""

from __future__ import annotations

import math
import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from itertools import islice
from multiprocessing import get_context
from typing import TypeVar

import numpy as np

from lmkiln.tasks.clean import language, pii
from lmkiln.tasks.clean.decontam import ValidationNgrams, ngram_hashes
from lmkiln.tasks.clean.dedup.index import NearDupIndex
from lmkiln.tasks.clean.normalize import normalize
from lmkiln.tasks.clean.quality import rules as quality
from lmkiln.tasks.config.clean import CleanConfig
from lmkiln.tasks.config.split import SplitConfig
from lmkiln.tasks.core.records import Document, assign_split, text_id

# A night smaller than this is prepared in the calling process: starting workers (and
# loading the language model in each) costs more than it saves.
PARALLEL_FROM_DOCS = 2000
CHUNK_DOCS = 256
T = TypeVar("T")


@dataclass(frozen=True)
class Prepared:
    doc: Document  # text normalised and redacted, id recomputed, lang set
    reason: str  # the per-document rule that drops it, or ""
    pii: dict[str, int]  # replacements by kind


def prepare(doc: Document, config: CleanConfig) -> Prepared:
    text = normalize(doc.text, config.normalize)
    text, found = pii.redact(text, config.pii)
    lang, score = language.identify(text)
    meta = dict(doc.meta, language_score=score)
    if found:
        meta["pii"] = dict(found)
    reason = (
        _length_reason(text, config)
        or _pii_reason(text, found, config)
        or language.language_reason(lang, score, config.language)
    )
    if not reason and config.quality is not None:
        text, reason = quality.check(text, config.quality)
    doc = replace(doc, text=text, id=text_id(text), lang=lang, meta=meta)
    return Prepared(doc=doc, reason=reason or "", pii=dict(found))


def _pii_reason(text: str, found: Counter[str], config: CleanConfig) -> str | None:
    limit = config.pii.max_placeholder_share
    if found and limit is not None and pii.placeholder_share(text) > limit:
        return "pii_only"
    return None


def _length_reason(text: str, config: CleanConfig) -> str | None:
    if not text:
        return "empty"
    if config.min_chars is not None and len(text) < config.min_chars:
        return "too_short_chars"
    if config.min_words is not None and len(text.split()) < config.min_words:
        return "too_few_words"
    return None


def prepare_all(
    docs: Iterable[Document], config: CleanConfig, total: int, cluster: str | None = None
) -> Iterator[Prepared]:
    """`prepare` over `docs`, in order; on several processes when there are many: local
    ones, or the workers of the Dask cluster whose scheduler is at `cluster`."""
    if total < PARALLEL_FROM_DOCS:
        yield from (prepare(doc, config) for doc in docs)
        return
    if cluster is not None:
        from lmkiln.tasks.core.runner import executor

        with executor(cluster) as (pool, threads):
            yield from _in_order(pool, docs, config, threads)
        return
    workers = config.workers or os.cpu_count() or 1
    if workers == 1:
        yield from (prepare(doc, config) for doc in docs)
        return
    # forkserver, not fork: the calling process runs Prefect's threads, and a forked copy of
    # a lock one of them holds would never be released.
    context = get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from _in_order(pool, docs, config, workers)


def _in_order(
    pool: Executor, docs: Iterable[Document], config: CleanConfig, workers: int
) -> Iterator[Prepared]:
    # Executor.map would read every document before the first result comes back: chunks are
    # submitted instead, at most `2 * workers` in flight, so memory stays a few chunks.
    pending: deque[Future[list[Prepared]]] = deque()
    for chunk in chunks(docs, CHUNK_DOCS):
        pending.append(pool.submit(_prepare_chunk, chunk, config))
        if len(pending) >= 2 * workers:
            yield from pending.popleft().result()
    while pending:
        yield from pending.popleft().result()


def _prepare_chunk(docs: list[Document], config: CleanConfig) -> list[Prepared]:
    return [prepare(doc, config) for doc in docs]


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of `size` items in order, the last one shorter."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Decider:
    """The decisions that depend on what was kept before, taken in input order.

    `kept_ids` are the ids kept before, for exact dedup when there is no near-dup `index`
    (the index knows them otherwise); `validation` the n-grams of the validation side;
    `kept` the documents kept before, all and synthetic, for the synthetic share's cap.
    """

    def __init__(
        self,
        config: CleanConfig,
        split: SplitConfig,
        kept_ids: set[str],
        validation: ValidationNgrams | None,
        index: NearDupIndex | None,
        kept: tuple[int, int] = (0, 0),
    ) -> None:
        self.config, self.split = config, split
        self.kept_ids, self.validation, self.index = kept_ids, validation, index
        self.min_overlap = config.decontamination.min_overlap
        self.kept_total, self.kept_synthetic = kept

    def decide(self, batch: Sequence[Prepared], first_row: int) -> list[tuple[Document, str]]:
        """Decisions for `batch`, whose first document becomes clean row `first_row`."""
        docs = [p.doc for p in batch]
        reasons = [p.reason for p in batch]
        self._deduplicate(docs, reasons)
        validation_docs = self._decontaminate(docs, reasons)
        self._cap_synthetic(docs, reasons)  # before the index: it records what is kept
        if self.index is not None:
            open_at = [i for i, reason in enumerate(reasons) if not reason]
            found = self.index.check([(first_row + i, docs[i].id, docs[i].text) for i in open_at])
            for i, duplicate in zip(open_at, found, strict=True):
                if duplicate is not None:
                    reasons[i] = "near_duplicate"
                    docs[i] = replace(docs[i], meta=dict(docs[i].meta, duplicate_of=duplicate.of))
        else:
            self.kept_ids.update(
                doc.id for doc, reason in zip(docs, reasons, strict=True) if not reason
            )
        if self.validation is not None:  # only what is kept: as a rebuild from the table
            self.validation.add(docs[i].text for i in validation_docs if not reasons[i])
        kept = [doc for doc, reason in zip(docs, reasons, strict=True) if not reason]
        self.kept_total += len(kept)
        self.kept_synthetic += sum(doc.kind == "synthetic" for doc in kept)
        return list(zip(docs, reasons, strict=True))

    def _cap_synthetic(self, docs: Sequence[Document], reasons: list[str]) -> None:
        """Keep synthetic documents only while they stay within max_synthetic_share of what
        is kept, this batch's open real documents counted first. It runs before near dedup
        (whose index records what it keeps, in row order), so a real document that near
        dedup then drops was counted: the share can end a little above the cap."""
        cap = self.config.max_synthetic_share
        if cap is None or cap >= 1:
            return
        open_at = [i for i, reason in enumerate(reasons) if not reason]
        synthetic = [i for i in open_at if docs[i].kind == "synthetic"]
        total = self.kept_total + len(open_at) - len(synthetic)
        # The most x with (kept synthetic + x) / (total + x) <= cap.
        room = max(0, math.floor((cap * total - self.kept_synthetic) / (1 - cap) + 1e-9))
        for i in synthetic[room:]:
            reasons[i] = "synthetic_over_cap"

    def _deduplicate(self, docs: Sequence[Document], reasons: list[str]) -> None:
        """Exact copies of a document kept before, tonight included: the first one wins.
        With near dedup on, its index holds every kept id (earlier batches' included)."""
        open_ids = [doc.id for doc, reason in zip(docs, reasons, strict=True) if not reason]
        earlier = self.index.known(open_ids) if self.index is not None else self.kept_ids
        tonight: set[str] = set()
        for i, doc in enumerate(docs):
            if reasons[i]:
                continue
            if doc.id in earlier or doc.id in tonight:
                reasons[i] = "exact_duplicate"
            tonight.add(doc.id)

    def _decontaminate(self, docs: Sequence[Document], reasons: list[str]) -> list[int]:
        """A training document sharing n-grams with validation documents, kept before or
        open in this batch, is dropped. Returns the positions of the batch's open
        validation documents: they join the n-grams once near dedup has kept them."""
        if self.validation is None:
            return []
        sides = [self._side(doc.id) for doc in docs]
        open_validation = [
            i for i, side in enumerate(sides) if side == "validation" and not reasons[i]
        ]
        n = self.validation.n
        batch = [ngram_hashes(docs[i].text, n) for i in open_validation]
        extra = np.unique(np.concatenate(batch)) if batch else None
        for i, (doc, side) in enumerate(zip(docs, sides, strict=True)):
            if side == "train" and not reasons[i]:
                if self.validation.overlap(doc.text, extra) >= max(self.min_overlap, 1e-9):
                    reasons[i] = "contaminated"
        return open_validation

    def _side(self, doc_id: str) -> str:
        return assign_split(doc_id, self.split.validation_fraction, self.split.salt)
