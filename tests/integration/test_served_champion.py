"""demo://champion: the registry's champion served with `transformers serve` for the night,
and a synthetic source generating through it as through any OpenAI-compatible server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flows.nightly import nightly
from tasks import lake
from tasks.caching import bucket_start
from tasks.config import PipelineConfig, SynthBudget
from tasks.records import Document
from tasks.sources import synthesize
from tasks.synth import choose_generator
from tests.integration.test_nightly import TINY

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVED = {
    "name": "samples",
    "endpoint": {"base_url": "demo://champion/v1", "model": "champion", "api": "completions"},
    "prompts": ["The json module", "A dictionary is"],
    "samples_per_prompt": 2,
    "max_new_tokens": 8,
}


def test_the_champion_serves_synthetic_text_and_a_rerun_asks_nothing(tmp_path) -> None:
    settings = TINY | {"storage": {"data_root": str(tmp_path)}}
    settings["collect"] = TINY["collect"] | {"synthetic": [SERVED]}
    config = PipelineConfig.model_validate(settings)
    first = nightly(config)
    assert (
        "no champion" in next(s for s in first.collected.sources if s.source == "samples").skipped
    )

    spec, storage = config.collect.synthetic[0], config.storage
    tomorrow = bucket_start(config.collect.bucket_hours) + timedelta(hours=24)
    choice = choose_generator(spec, storage, config.registry.model_name, tomorrow)
    assert choice.served == "models:/lmkiln/1"
    assert choice.uri == "openai:demo://champion/v1:completions:models:/lmkiln/1"
    log = storage.root / "demo" / "champion-server.log"
    result = synthesize(spec, choice, storage, 24)  # the task starts the server, then stops it
    # Another task key (a budget set), the same generations: all from the cache.
    budgeted = spec.model_copy(update={"budget": SynthBudget(max_requests=100)})
    again = synthesize(budgeted, choice, storage, 24)
    assert log.read_text().count("POST /v1/completions") == 4

    assert result.added == 4 and again.added == 0 and again.counters["collected_before"] == 4
    rows = list(lake.read(result.lake, lake.DOCUMENT_TABLE, start=result.lake.rows - 4))
    doc = Document.from_row(rows[0])
    assert doc.kind == "synthetic" and doc.text.startswith("The json module")
    assert doc.meta["generator"] == choice.uri and doc.meta["template_id"] == "prompt-0"
    assert doc.meta["usage"]["prompt_tokens"] > 0 and doc.meta["finish_reason"] == "length"
