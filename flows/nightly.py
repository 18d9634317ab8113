"""The `nightly` flow: collect, clean, split, train, register. Each line is one stage."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow, get_run_logger, task

from lmkiln.flows.collect import CollectReport, api_for_workers, collect, source_runner
from lmkiln.flows.naming import dated
from lmkiln.flows.report import counter_rows, filter_rows, publish, rule_rows, source_rows
from lmkiln.flows.retrain import train_and_register
from lmkiln.tasks.clean.tasks import clean_corpus
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core import storage as s3
from lmkiln.tasks.core.records import ModelRef, RunRef, StageResult
from lmkiln.tasks.core.runner import fan_out
from lmkiln.tasks.registry.tracking import log_data_quality, ui_links
from lmkiln.tasks.split import split_corpus


@dataclass(frozen=True)
class NightlyReport:
    collected: CollectReport
    cleaned: StageResult
    corpus: StageResult
    run: RunRef
    model: ModelRef
    summary: str


@task(name="record_data_quality", task_run_name="data-quality-to-mlflow", retries=2)
def record_data_quality(
    collected: CollectReport, stages: dict[str, StageResult], run: RunRef, config: PipelineConfig
) -> None:
    """The same tables as the run's Prefect artifacts, logged with the MLflow run."""
    tables = {
        "sources": source_rows(collected),
        "collection": counter_rows(collected),
        "stages": filter_rows(stages),
        "rules_by_source": rule_rows(stages),
    }
    log_data_quality(config.storage, config.registry.experiment, run.run_id, tables)


def collect_and_clean(config: PipelineConfig) -> tuple[CollectReport, StageResult]:
    """The two fanned-out stages, on the runner the config names (config.runner): for Dask,
    one cluster serves both and, if the run started it, is shut down before training."""
    with fan_out(config.runner, config.storage) as cluster, api_for_workers(cluster):
        collected = collect.with_options(task_runner=source_runner(cluster))(config)
        cleaned = clean_corpus(collected.raw, config.clean, config.split, config.storage, cluster)
    return collected, cleaned


NO_SOURCES = PipelineConfig()  # the UI form starts from this; `lmkiln serve` fills in a config


@flow(name="nightly", flow_run_name=dated("nightly"))
def nightly(config: PipelineConfig = NO_SOURCES) -> NightlyReport:
    """Collect every source, clean, split, train, and register the model (gated).

    One night at a time per data root: a run started while another holds the data root
    waits for it (the deployment's concurrency limit does the same between deployments'
    runs; this covers `lmkiln run` and runs started any other way), then finds its work
    cached."""
    s3.check(config.storage)  # a missing bucket or credentials: fail before any work
    lock = config.storage.root / "nightly.lock"
    with lake.file_lock(lock, waiting=lambda: get_run_logger().info("waiting for %s", lock)):
        collected, cleaned = collect_and_clean(config)
        corpus = split_corpus(cleaned.lake, config.split, config.storage)
        run, model = train_and_register(
            corpus.lake, config.train, config.registry, config.storage, config.tune
        )
        stages = {"clean": cleaned, "split": corpus}
        record_data_quality(collected, stages, run, config)
        links = ui_links(
            config.storage, config.registry.ui_url, run.run_id, model.name, model.version
        )
        summary = publish(collected, stages, run, model, links)
    get_run_logger().info("%s", summary)
    return NightlyReport(collected, cleaned, corpus, run, model, summary)
