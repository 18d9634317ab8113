"""The whole nightly flow, for real: demo servers on 127.0.0.1, Deep Lake on disk, MLflow
with a SQLite store, Prefect's own (ephemeral) server. Then a rerun that is all cache."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from lmkiln.cli import app
from lmkiln.flows.nightly import nightly
from lmkiln.flows.report import mix_rows
from lmkiln.tasks.collect.synth.generate import choose_generator
from lmkiln.tasks.collect.tasks import synthesize
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.caching import bucket_start
from lmkiln.tasks.core.records import Document
from tests.helpers.pipelines import TINY_PIPELINE
from tests.helpers.prefect_api import task_states

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    root = tmp_path_factory.mktemp("nightly")
    return PipelineConfig.model_validate(TINY_PIPELINE | {"storage": {"data_root": str(root)}})


@pytest.fixture(scope="module")
def first(config: PipelineConfig):
    state = nightly(config, return_state=True)
    return state.result(), state.state_details.flow_run_id


def test_first_night_fills_every_table_and_registers_a_champion(config, first):
    report, _ = first
    collected = report.collected
    assert not collected.failures
    by_source = {s.source: s for s in collected.sources}
    assert by_source["pydoc"].added > 0 and by_source["packages"].added > 0
    assert "no champion" in by_source["samples"].skipped
    assert collected.raw.rows == sum(s.added for s in collected.sources)

    counters = report.cleaned.counters
    assert counters["seen"] == collected.raw.rows
    dropped = sum(v for k, v in counters.items() if k.startswith("dropped_"))
    assert counters["kept"] + dropped == counters["seen"]
    assert report.corpus.lake.rows == counters["kept"]
    assert report.corpus.counters["train"] + report.corpus.counters["validation"] == (
        report.corpus.lake.rows
    )
    assert lake.head(config.storage.lake("corpus")) == report.corpus.lake
    mix = {row["source"]: row for row in mix_rows(report.corpus.lake)}
    assert sum(row["documents"] for row in mix.values()) == report.corpus.lake.rows
    assert mix["pydoc"]["kind"] == "web" and "- corpus mix: api " in report.summary

    assert report.model.version == "1"
    assert report.model.aliases == ("champion",)
    assert report.run.metrics["bits_per_byte"] > 0
    version = MlflowClient(
        config.storage.mlflow_uri, registry_uri=config.storage.mlflow_uri
    ).get_model_version("lmkiln", "1")
    assert version.tags["flow_run_id"] == str(first[1])
    assert version.tags["corpus_commit"] == report.corpus.lake.commit
    client = MlflowClient(config.storage.mlflow_uri, registry_uri=config.storage.mlflow_uri)
    saved = client.download_artifacts(report.run.run_id, "data_quality.json")
    quality = json.loads(Path(saved).read_text())
    rules = {(r["source"], r["counter"]): r["documents"] for r in quality["rules_by_source"]}
    assert sum(n for (_, c), n in rules.items() if c == "seen") == counters["seen"]


def test_the_run_shows_its_report_links_and_training_progress(config, first):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    report, flow_run_id = first
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        # The train task runs in the nightly flow run: its progress artifact belongs to it.
        artifacts = {a.key: a for a in found}
    assert {"sources", "data-quality", "corpus-mix", "nightly-summary"} <= set(artifacts)
    assert artifacts["training-progress"].data == 100.0
    experiment = MlflowClient(
        config.storage.mlflow_uri, registry_uri=config.storage.mlflow_uri
    ).get_experiment_by_name("lmkiln")
    run_link = f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs/"
    assert f"[{report.run.run_id}]({run_link}{report.run.run_id})" in report.summary
    assert "[lmkiln v1](http://127.0.0.1:5000/#/models/lmkiln/versions/1)" in report.summary
    assert artifacts["nightly-summary"].data == report.summary


def test_a_consumer_loads_the_champion_through_the_cli(config, first, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", config.storage.mlflow_uri)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    runner = CliRunner()

    shown = runner.invoke(app, ["champion", "--json", "--config", str(path)])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.stdout)
    assert info["version"] == "1"
    assert info["corpus_commit"] == first[0].corpus.lake.commit

    generated = runner.invoke(app, ["generate", "The", "--max-new-tokens", "8", "-c", str(path)])
    assert generated.exit_code == 0, generated.output
    assert generated.stdout.startswith("The") and len(generated.stdout.strip()) > len("The")


def test_second_night_in_the_same_bucket_is_all_cache(config, first):
    state = nightly(config, return_state=True)
    report = state.result()
    states = task_states(state.state_details.flow_run_id)
    for name in ("scrape-pydoc", "api-packages", "synth-samples", "clean", "split", "train"):
        assert states[name] == ["Cached"], (name, states)
    assert states["register"] == ["Completed"]
    assert report.model.version == "1"
    assert report.model.aliases == ("champion",)
    assert report.corpus.lake == first[0].corpus.lake


def test_next_bucket_generates_synthetic_text_with_the_champion(config, first):
    spec = config.collect.synthetic[0]
    model_name = config.registry.model_name
    tonight = bucket_start(config.collect.bucket_hours)
    assert choose_generator(spec, config.storage, model_name, tonight).uri is None

    tomorrow = tonight + timedelta(hours=config.collect.bucket_hours)
    choice = choose_generator(spec, config.storage, model_name, tomorrow)
    assert choice.uri == f"models:/{model_name}/1"  # pinned, so the cache key is exact
    raw_before = lake.head(config.storage.lake("raw"))
    result = synthesize(spec, choice, config.storage, tomorrow)  # the task, outside a flow
    assert result.added == len(spec.prompts) * spec.samples_per_prompt
    (doc,) = [Document.from_row(r) for r in lake.read(result.lake, lake.DOCUMENT_TABLE)][-1:]
    assert result.lake.rows == raw_before.rows + result.added
    assert doc.kind == "synthetic" and doc.text.startswith(spec.prompts[0])
    assert doc.meta["generator"] == choice.uri


def test_a_wider_night_reads_only_new_raw_rows_and_keeps_old_splits(config, first):
    before = first[0]
    pydoc = config.collect.web[0].model_copy(update={"max_pages": 16})
    wider = config.model_copy(
        update={"collect": config.collect.model_copy(update={"web": [pydoc]})}
    )
    report = nightly(wider)

    assert "pydoc" not in report.collected.cached  # its config changed: fetched again
    assert "packages" in report.collected.cached
    counters = report.cleaned.counters
    # Every raw row since the first night, the synthetic ones of the test above included.
    assert counters["seen"] == report.collected.raw.rows - before.collected.raw.rows
    # The first night's 12 pages come back; most are byte-identical (a few pydoc pages are
    # not: they show object addresses), so exact dedup drops them.
    assert counters["dropped_exact_duplicate"] > 0
    assert report.corpus.lake.rows == before.corpus.lake.rows + counters["kept"]

    old_splits = {r["id"]: r["split"] for r in lake.read(before.corpus.lake, lake.CORPUS_TABLE)}
    new_splits = {r["id"]: r["split"] for r in lake.read(report.corpus.lake, lake.CORPUS_TABLE)}
    assert {i: new_splits[i] for i in old_splits} == old_splits
    assert report.model.version == "2"


def test_a_corpus_commit_is_announced_as_a_prefect_event(config, first):
    import time

    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    from lmkiln.tasks.split import CORPUS_COMMITTED, corpus_resource

    report, _ = first
    # Commit ids count up per table: other tests' corpora have the same ones.
    resource = corpus_resource(report.corpus.lake.path)["prefect.resource.id"]
    wanted = EventFilter(
        event=EventNameFilter(name=[CORPUS_COMMITTED]),
        resource=EventResourceFilter(id=[resource]),
    )
    deadline = time.monotonic() + 30  # the server stores events a moment after they arrive
    while True:
        with get_client(sync_client=True) as client:
            events = client.read_events(wanted, limit=50).events
        commits = {e.payload["commit"]: e for e in events}
        if report.corpus.lake.commit in commits or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    event = commits[report.corpus.lake.commit]
    assert event.payload["rows"] == report.corpus.lake.rows == event.payload["added"]
    assert event.payload["data_root"] == str(config.storage.root)
