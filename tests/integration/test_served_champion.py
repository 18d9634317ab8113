"""demo://champion: the registry's champion served with `transformers serve` for the night,
and a synthetic source generating through it as through any OpenAI-compatible server."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from lmkiln.flows.nightly import nightly
from lmkiln.tasks.collect.synth.generate import GeneratorChoice
from lmkiln.tasks.collect.tasks import synthesize
from lmkiln.tasks.config.collect import SynthBudget
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.caching import bucket_start
from lmkiln.tasks.core.records import Document
from tests.helpers.pipelines import TINY_PIPELINE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The shipped demo's synthetic source, as it is.
DEMO = yaml.safe_load((Path(__file__).parents[2] / "configs" / "demo.yaml").read_text())
(SERVED,) = DEMO["collect"]["synthetic"]
ASKED = len(SERVED["prompts"]) * SERVED["samples_per_prompt"]


def registered_days_ago(config: PipelineConfig, days: int) -> None:
    """Move the registration of every model version back in time in the MLflow store: a
    champion counts for synthetic text only from the collection bucket after its own."""
    database = config.storage.root / "mlflow" / "mlflow.db"
    shift_ms = int(timedelta(days=days).total_seconds() * 1000)
    with sqlite3.connect(database) as db:
        db.execute("UPDATE model_versions SET creation_time = creation_time - ?", (shift_ms,))


def test_the_next_night_generates_through_the_served_champion(tmp_path) -> None:
    settings = TINY_PIPELINE | {"storage": {"data_root": str(tmp_path)}}
    settings["collect"] = TINY_PIPELINE["collect"] | {"synthetic": [SERVED]}
    config = PipelineConfig.model_validate(settings)
    first = nightly(config)
    (skipped,) = [s for s in first.collected.sources if s.source == SERVED["name"]]
    assert "no champion" in skipped.skipped

    registered_days_ago(config, 2)  # as if the first night were two nights ago
    second = nightly(config)
    (samples,) = [s for s in second.collected.sources if s.source == SERVED["name"]]
    log = config.storage.root / "demo" / "champion-server.log"
    assert samples.added == ASKED and log.read_text().count("POST /v1/completions") == ASKED
    rows = lake.read(samples.lake, lake.DOCUMENT_TABLE, start=samples.lake.rows - ASKED)
    doc = Document.from_row(next(rows))
    assert doc.kind == "synthetic" and doc.text.startswith(SERVED["prompts"][0])
    uri = "openai:demo://champion/v1:completions:models:/lmkiln/1"
    assert doc.meta["generator"] == uri and doc.meta["template_id"] == "prompt-0"
    assert doc.meta["usage"]["prompt_tokens"] > 0 and doc.meta["finish_reason"] == "length"

    third = nightly(config)  # a rerun in the same night: no server started, nothing asked
    assert third.collected.raw == second.collected.raw
    # The task under another key (a budget set): every generation from the cache.
    budgeted = config.collect.synthetic[0].model_copy(
        update={"budget": SynthBudget(max_requests=100)}
    )
    choice = GeneratorChoice(uri=uri, served="models:/lmkiln/1")
    tonight = bucket_start(config.collect.bucket_hours)
    again = synthesize(budgeted, choice, config.storage, tonight)
    assert again.added == 0 and again.counters["collected_before"] == ASKED
    assert log.read_text().count("POST /v1/completions") == ASKED
