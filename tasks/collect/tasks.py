"""The collection tasks: fetch one source, append its documents to the raw table, report.

Each source is its own task, so one that fails after its retries fails alone. Results are cached per
source config and collection bucket: a rerun within the night costs nothing and tomorrow's run
fetches again. The bucket (`bucket`, its start) is read from the clock once, by the collect flow,
and handed to every task: a night that runs past midnight, or a task retried after it, stays in the
night it began in. Synthetic sources also cache each generation on its own
(tasks/collect/synth/generate.py), so tomorrow's run pays only for what is new.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.tasks import exponential_backoff

from lmkiln.tasks.collect.extract.extractors import identity
from lmkiln.tasks.collect.http import resolve_aliases
from lmkiln.tasks.collect.synth.generate import GeneratorChoice
from lmkiln.tasks.config.collect import (
    ApiSource,
    CorpusSource,
    DatasetSource,
    FileSource,
    SynthSpec,
    WebSource,
)
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import failpoints, lake
from lmkiln.tasks.core.caching import code_version, is_transient, stage_key
from lmkiln.tasks.core.records import Document, DocumentKind, LakeRef, SourceResult


def _store(
    name: str,
    kind: DocumentKind,
    docs: list[Document],
    counters: Mapping[str, int],
    storage: StorageConfig,
    key: str,
) -> SourceResult:
    """Append the source's documents in one commit marked with the task's cache `key`
    (source, settings, bucket). A run killed after that commit, before its result was
    stored, is rerun: what its marked commit holds is then not appended again."""
    raw, state = storage.lake("raw"), storage.lake_state("raw")
    marker = f"[{key}]"
    # No other task's commit lands between the check and the append.
    with lake.exclusive(raw, state):
        landed = lake.ids_committed_with(raw, marker)
        new = [doc for doc in docs if doc.id not in landed]
        message = f"collect {kind} source '{name}': {len(new)} documents {marker}"
        rows = [doc.to_row() for doc in new]
        ref = lake.append(raw, rows, lake.DOCUMENT_TABLE, message, state)
    failpoints.reached("collect:raw_committed")
    counters = dict(counters) | ({"already_committed": len(docs) - len(new)} if landed else {})
    get_run_logger().info("%s source '%s': %d documents %s", kind, name, len(new), counters)
    return SourceResult(source=name, kind=kind, lake=ref, added=len(new), counters=counters)


def resolved(source: Any, aliases: Mapping[str, str]) -> Any:
    """The source with its URLs through `aliases`: what the crawler, the API client and the
    endpoint see. The task's cache key names the source as configured, so a demo server's
    port, new each night, costs no cached result."""

    def at(url: str) -> str:
        return resolve_aliases(url, aliases)

    if isinstance(source, WebSource):
        return source.model_copy(
            update={
                "start_urls": list(map(at, source.start_urls)),
                "scope": list(map(at, source.scope)),
            }
        )
    if isinstance(source, ApiSource):
        return source.model_copy(update={"url": at(source.url)})
    if isinstance(source, SynthSpec) and source.endpoint is not None:
        endpoint = source.endpoint.model_copy(update={"base_url": at(source.endpoint.base_url)})
        return source.model_copy(update={"endpoint": endpoint})
    return source


def fetch_key(_context: object, params: dict) -> str:
    bucket = params["bucket"].isoformat()
    code = code_version("lmkiln.tasks.collect")
    source = params["source"]
    # The extractor's version too: upgrading trafilatura changes what a page gives.
    extractor = identity(source.extractor) if hasattr(source, "extractor") else None
    return stage_key("fetch", source, params["storage"], bucket, code, extractor)


_FETCH_RETRIES: dict[str, Any] = dict(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    retry_condition_fn=is_transient,
    cache_key_fn=fetch_key,
    persist_result=True,
)


@task(name="scrape_site", task_run_name="scrape-{source.name}", **_FETCH_RETRIES)
def scrape_site(
    source: WebSource,
    storage: StorageConfig,
    bucket: datetime,
    aliases: Mapping[str, str] | None = None,
) -> SourceResult:
    """Crawl the source; or, the first night after its extractor changed, re-extract its
    stored pages instead, with no request to the site (tasks/collect/web/pages.py).
    `aliases` point URL prefixes elsewhere (the demo's servers: "demo://pydoc" -> its URL)."""
    from lmkiln.tasks.collect.web import pages
    from lmkiln.tasks.collect.web.crawl import crawl

    pages_path = storage.lake("pages")
    key = fetch_key(None, {"source": source, "storage": storage, "bucket": bucket})
    made_by = identity(source.extractor)
    if pages.extractor_changed(pages_path, source.name, made_by):
        get_run_logger().info(
            "web source '%s': extractor now %s: re-extracting its stored pages, no crawl tonight",
            source.name,
            made_by,
        )
        again = pages.reextract(pages_path, source.name, source.extractor)
        result = _store(source.name, "web", again.documents, again.counters, storage, key)
        message = f"re-extract '{source.name}' with {made_by}: {len(again.pages)} pages"
        pages.store(pages_path, again.pages, message, storage.lake_state("pages"))
        return result
    known = pages.known_pages(pages_path, source.name)
    crawled = crawl(resolved(source, aliases or {}), known=known)
    result = _store(source.name, "web", crawled.documents, crawled.counters, storage, key)
    # After the documents: see tasks/collect/web/pages.py for why this order loses nothing.
    message = f"crawl '{source.name}': {len(crawled.pages)} pages"
    pages.store(pages_path, crawled.pages, message, storage.lake_state("pages"))
    return result


@task(name="fetch_api", task_run_name="api-{source.name}", **_FETCH_RETRIES)
def fetch_api(
    source: ApiSource,
    storage: StorageConfig,
    bucket: datetime,
    aliases: Mapping[str, str] | None = None,
) -> SourceResult:
    """Read the API's records past its watermark; `aliases` as for scrape_site."""
    from lmkiln.tasks.collect.api import watermark
    from lmkiln.tasks.collect.api.client import read_api
    from lmkiln.tasks.collect.api.reader import SchemaChanged
    from lmkiln.tasks.core import quarantine

    # From load to save: a second run of this source waits, then starts where this one ended.
    with watermark.locked(storage, source.name):
        start = watermark.load(storage, source.name, source.watermark_kind)
        get_run_logger().info("api source '%s': watermark %s", source.name, start.describe())
        try:
            read = read_api(resolved(source, aliases or {}), start)
        except SchemaChanged as exc:
            quarantine.store(storage, source.name, exc.quarantined)
            raise
        key = fetch_key(None, {"source": source, "storage": storage, "bucket": bucket})
        result = _store(source.name, "api", read.documents, read.counters, storage, key)
        # Kept once per record whatever the retries (tasks/core/quarantine.py), so order is free.
        quarantine.store(storage, source.name, read.quarantined)
        # Only after the commit, so the watermark never passes a row that is not in the lake;
        # a crash before this line is caught up from the rows' meta
        # (tasks/collect/api/watermark.py).
        assert result.lake is not None  # _store always returns the raw table's head
        watermark.save(storage, source.name, read.watermark, raw_rows=result.lake.rows)
    return result


@task(name="read_files", task_run_name="files-{source.name}", **_FETCH_RETRIES)
def read_files(source: FileSource, storage: StorageConfig, bucket: datetime) -> SourceResult:
    from lmkiln.tasks.collect import files
    from lmkiln.tasks.core import quarantine

    # From load to save: a second run of this source waits, then sees the files as read.
    with files.locked(storage, source.name):
        read = files.read_files(source, files.load_marks(storage, source))
        key = fetch_key(None, {"source": source, "storage": storage, "bucket": bucket})
        result = _store(source.name, "file", read.documents, read.counters, storage, key)
        quarantine.store(storage, source.name, read.quarantined)
        files.save_marks(storage, source, read.marks)  # only after the commit
    return result


@task(name="read_dataset", task_run_name="dataset-{source.name}", **_FETCH_RETRIES)
def read_dataset(source: DatasetSource, storage: StorageConfig, bucket: datetime) -> SourceResult:
    from lmkiln.tasks.collect import datasets as dataset_source
    from lmkiln.tasks.core import quarantine

    with dataset_source.locked(storage, source.name):
        last = dataset_source.load_version(storage, source.name)
        read = dataset_source.read_dataset(source, last)
        key = fetch_key(None, {"source": source, "storage": storage, "bucket": bucket})
        result = _store(source.name, "dataset", read.documents, read.counters, storage, key)
        quarantine.store(storage, source.name, read.quarantined)
        dataset_source.save_version(storage, source.name, read.version)  # after the commit
    return result


@task(name="read_corpus", task_run_name="corpus-{source.name}", **_FETCH_RETRIES)
def read_corpus(source: CorpusSource, storage: StorageConfig, bucket: datetime) -> SourceResult:
    """Read a public corpus's files on from where the source's last raw commit stopped, one
    commit per batch, up to the night's max_documents."""
    from lmkiln.tasks.collect.corpora import collection as corpus

    # A second run of this source waits, then reads on from where this one stopped.
    with lake.file_lock(storage.root / "state" / "corpus" / f"{source.name}.lock"):
        head, counters, added = corpus.collect(source, storage, bucket.isoformat())
    get_run_logger().info("corpus source '%s': %d documents %s", source.name, added, counters)
    return SourceResult(source.name, "corpus", head, added, counters)


def synth_key(_context: object, params: dict) -> str:
    # The local-model backend loads its model as the registry does.
    code = code_version("lmkiln.tasks.collect", "lmkiln.tasks.registry")
    bucket = params["bucket"].isoformat()
    # The pinned generator, not the skip reason: its wording changes while nothing else does.
    generator = params["generator"].uri
    parts = (params["spec"], generator, params["corpus"], params["storage"], bucket, code)
    return stage_key("synth", *parts)


@task(
    name="synthesize",
    task_run_name="synth-{spec.name}",
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_condition_fn=is_transient,
    cache_key_fn=synth_key,
    persist_result=True,
)
def synthesize(
    spec: SynthSpec,
    generator: GeneratorChoice,
    storage: StorageConfig,
    bucket: datetime,
    corpus: LakeRef | None = None,
    aliases: Mapping[str, str] | None = None,
) -> SourceResult:
    """Generate the source's plan for tonight; `corpus` (its latest commit) grounds
    `grounded` templates; `aliases` as for scrape_site, and demo://champion is served here,
    so that a server that does not start fails this source alone. A retry pays
    only for what no earlier try generated."""
    if generator.uri is None:
        get_run_logger().warning("synthetic source '%s' skipped: %s", spec.name, generator.skipped)
        return SourceResult(spec.name, "synthetic", None, 0, skipped=generator.skipped)
    from lmkiln.tasks.collect.synth import generate as synth
    from lmkiln.tasks.collect.synth.backends import EndpointBackend, LocalBackend
    from lmkiln.tasks.collect.synth.budget import GenerationCache
    from lmkiln.tasks.collect.synth.serving import champion_server, served_folder
    from lmkiln.tasks.core import quarantine

    with ExitStack() as stack:
        if spec.endpoint is not None:
            served = generator.served
            urls = dict(aliases or {})
            pinned = None
            if served:
                urls |= stack.enter_context(champion_server({served}, storage))
                pinned = (served, str(served_folder(storage, served)))
            url = resolved(spec, urls).endpoint.base_url
            backend: Any = EndpointBackend(spec.endpoint, spec.name, url, pinned)
        else:
            backend = LocalBackend(generator.uri, storage)
        requests = synth.plan(spec, synth.seed_documents(spec, corpus))
        cache = GenerationCache.of(storage)
        stack.callback(cache.close)
        read = synth.generate_all(spec, backend, requests, cache, bucket)
        params = dict(spec=spec, generator=generator, corpus=corpus, storage=storage)
        key = synth_key(None, params | {"bucket": bucket})
        result = _store(spec.name, "synthetic", read.documents, read.counters, storage, key)
        quarantine.store(storage, spec.name, read.quarantined)
        cache.mark_collected(read.keys)  # after the commit: a crash before it appends again
    if read.counters["over_budget"]:
        get_run_logger().warning(
            "synthetic source '%s': budget spent; %d requests wait for the next night",
            spec.name,
            read.counters["over_budget"],
        )
    return result
