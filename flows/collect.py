"""The `collect` flow: every configured source fetched concurrently into the raw table."""

from __future__ import annotations

from dataclasses import dataclass, field

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from flows.naming import dated
from tasks import lake, s3
from tasks.caching import bucket_start
from tasks.config import PipelineConfig
from tasks.demo import demo_names, demo_servers
from tasks.records import LakeRef, SourceResult
from tasks.sources import fetch_api, read_dataset, read_files, scrape_site, synthesize
from tasks.synth import choose_generator


@dataclass(frozen=True)
class CollectReport:
    raw: LakeRef
    sources: tuple[SourceResult, ...]
    failures: dict[str, str] = field(default_factory=dict)
    cached: tuple[str, ...] = ()  # sources whose result was reused from earlier in the bucket


def _demo_urls(config: PipelineConfig) -> list[str]:
    c = config.collect
    return [u for s in c.web for u in (*s.start_urls, *s.scope)] + [s.url for s in c.api]


@flow(
    name="collect",
    flow_run_name=dated("collect"),
    task_runner=ThreadPoolTaskRunner(max_workers=4),
)
def collect(config: PipelineConfig) -> CollectReport:
    """Fetch every source of `config.collect`; a source that fails after retries fails alone."""
    logger = get_run_logger()
    c, storage = config.collect, config.storage
    s3.check(storage)
    since = bucket_start(c.bucket_hours)
    generators = {
        s.name: choose_generator(s, storage, config.registry.model_name, since) for s in c.synthetic
    }
    corpus = lake.head(storage.lake("corpus"))  # grounds synthetic sources' templates
    with demo_servers(demo_names(_demo_urls(config))) as base_urls:
        fetch = dict(storage=storage, bucket_hours=c.bucket_hours, base_urls=base_urls)
        futures = {
            **{s.name: scrape_site.submit(s, **fetch) for s in c.web},
            **{s.name: fetch_api.submit(s, **fetch) for s in c.api},
            **{
                s.name: synthesize.submit(
                    s,
                    generators[s.name],
                    storage,
                    c.bucket_hours,
                    corpus if s.grounded else None,
                    base_urls,
                )
                for s in c.synthetic
            },
            **{s.name: read_files.submit(s, storage, c.bucket_hours) for s in c.files},
            **{s.name: read_dataset.submit(s, storage, c.bucket_hours) for s in c.datasets},
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
