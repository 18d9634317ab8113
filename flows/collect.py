"""The `collect` flow: every configured source fetched concurrently into the raw table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from lmkiln.flows.naming import dated
from lmkiln.tasks.collect.synth.generate import choose_generator
from lmkiln.tasks.collect.tasks import (
    fetch_api,
    read_corpus,
    read_dataset,
    read_files,
    scrape_site,
    synthesize,
)
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core import storage as s3
from lmkiln.tasks.core.caching import bucket_start
from lmkiln.tasks.core.records import LakeRef, SourceResult
from lmkiln.tasks.demo.servers import demo_names, demo_servers


@dataclass(frozen=True)
class CollectReport:
    raw: LakeRef
    sources: tuple[SourceResult, ...]
    failures: dict[str, str] = field(default_factory=dict)
    cached: tuple[str, ...] = ()  # sources whose result was reused from earlier in the bucket


def _demo_urls(config: PipelineConfig) -> list[str]:
    c = config.collect
    return [u for s in c.web for u in (*s.start_urls, *s.scope)] + [s.url for s in c.api]


SOURCE_THREADS = 4  # sources fetched at once by default: each is mostly waiting on I/O


def source_runner(cluster: str | None) -> TaskRunner[Any]:
    """The task runner for collect's sources: threads, or the Dask cluster at `cluster`
    (a scheduler address, see tasks/core/runner.py); `collect.with_options(task_runner=...)`."""
    if cluster is None:
        return ThreadPoolTaskRunner(max_workers=SOURCE_THREADS)
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=cluster)


@contextmanager
def api_for_workers(cluster: str | None) -> Iterator[None]:
    """While open, the Prefect settings that tasks sent to `cluster` run with name this
    process's Prefect server. Dask workers run each task with the settings of the flow that
    submitted it; with no PREFECT_API_URL those say "ephemeral", and each worker would start
    a server of its own over the same database (slow, and SQLite does not share well)."""
    if cluster is None or PREFECT_API_URL.value():
        yield
        return
    with get_client(sync_client=True) as client:
        url = str(client.api_url)
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield


@flow(
    name="collect",
    flow_run_name=dated("collect"),
    # Prefect's types refuse its own runners here (PrefectHQ/prefect#16938).
    task_runner=ThreadPoolTaskRunner(max_workers=SOURCE_THREADS),  # type: ignore[arg-type]
)
def collect(config: PipelineConfig) -> CollectReport:
    """Fetch every source of `config.collect`; a source that fails after retries fails alone."""
    logger = get_run_logger()
    c, storage = config.collect, config.storage
    s3.check(storage)
    tonight = bucket_start(c.bucket_hours)  # read once: every source belongs to this night
    generators = {
        s.name: choose_generator(s, storage, config.registry.model_name, tonight)
        for s in c.synthetic
    }
    corpus = lake.head(storage.lake("corpus"))  # grounds synthetic sources' templates
    # The demo's sites, if the config names any: the tasks point demo:// URLs at them.
    with demo_servers(demo_names(_demo_urls(config))) as aliases:
        futures = {
            **{s.name: scrape_site.submit(s, storage, tonight, aliases) for s in c.web},
            **{s.name: fetch_api.submit(s, storage, tonight, aliases) for s in c.api},
            **{
                s.name: synthesize.submit(
                    s,
                    generators[s.name],
                    storage,
                    tonight,
                    corpus if s.grounded else None,
                    aliases,
                )
                for s in c.synthetic
            },
            **{s.name: read_files.submit(s, storage, tonight) for s in c.files},
            **{s.name: read_dataset.submit(s, storage, tonight) for s in c.datasets},
            **{s.name: read_corpus.submit(s, storage, tonight) for s in c.corpora},
        }
        for future in futures.values():
            future.wait()

    results, failures, cached = [], {}, []
    for name, future in futures.items():
        if future.state.is_completed():
            results.append(future.result())
            if future.state.name == "Cached":
                cached.append(name)
        else:
            error = future.result(raise_on_failure=False)
            failures[name] = f"{type(error).__name__}: {error}"
            logger.error("source '%s' failed after its retries: %s", name, failures[name])

    raw = lake.head(storage.lake("raw"))
    if raw is None or raw.rows == 0:
        raise RuntimeError(
            "no source has produced any documents yet "
            f"(failed: {', '.join(failures) or 'none'}); check the sources in the config"
        )
    return CollectReport(raw=raw, sources=tuple(results), failures=failures, cached=tuple(cached))
