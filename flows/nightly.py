"""The `nightly` flow: collect, clean, split, train, register. Each line is one stage."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow, get_run_logger

from flows.collect import CollectReport, collect
from flows.naming import dated
from flows.report import publish
from flows.retrain import train_and_register
from tasks.clean import clean_corpus
from tasks.config import PipelineConfig
from tasks.records import ModelRef, RunRef, StageResult
from tasks.split import split_corpus


@dataclass(frozen=True)
class NightlyReport:
    collected: CollectReport
    cleaned: StageResult
    corpus: StageResult
    run: RunRef
    model: ModelRef
    summary: str


NO_SOURCES = PipelineConfig()  # the UI form starts from this; `lmkiln serve` fills in a config


@flow(name="nightly", flow_run_name=dated("nightly"))
def nightly(config: PipelineConfig = NO_SOURCES) -> NightlyReport:
    """Collect every source, clean, split, train, and register the model (gated)."""
    collected = collect(config)
    cleaned = clean_corpus(collected.raw, config.clean, config.storage)
    corpus = split_corpus(cleaned.lake, config.split, config.storage)
    run, model = train_and_register(corpus.lake, config.train, config.registry, config.storage)
    summary = publish(collected, {"clean": cleaned, "split": corpus}, run, model)
    get_run_logger().info("%s", summary)
    return NightlyReport(collected, cleaned, corpus, run, model, summary)
