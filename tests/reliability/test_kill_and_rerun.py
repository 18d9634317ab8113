"""Runs killed with SIGKILL during collect, clean, split and train, one after another on the
same data root, as a machine that keeps crashing would: after each kill every lake table is
whole at its last commit, and the run that finally completes holds the same raw documents,
the same corpus (content hash) and the same model lineage as one uninterrupted run.

The kills land at named points between two writes (tasks/core/failpoints.py), in real
`lmkiln run` processes, which take their temporary Prefect server down with them."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from lmkiln.flows.nightly import nightly
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import failpoints, lake
from tests.helpers.pipelines import TINY_MODEL
from tests.helpers.routes import JSON, html_page, serve_routes, unused_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORDS = "kiln glaze clay bowl fire ash wood heat shelf potter wheel slip cone kick".split()
TABLES = ("raw", "pages", "quarantine", "clean", "corpus")
# Where the stages call failpoints.reached, in the order a night reaches them.
KILL_POINTS = (
    "collect:raw_committed",  # a source's documents committed, its watermark or state not yet
    "clean:rows_committed",  # a group of decisions committed, the near-dup index not yet
    "split:corpus_committed",  # the corpus committed, the split task's result not yet stored
    "train:checkpoint_saved",  # a checkpoint written, the training far from done
)


def paragraph(n: int) -> str:
    """Text of its own for each n: no two share many word 3-grams."""
    return f"Entry {n}. " + " ".join(random.Random(n).choices(WORDS, k=60)) + "."


def site() -> dict:
    routes = {}
    for n in range(12):
        links = "".join(f'<a href="/p/{c}">{c}</a> ' for c in (2 * n + 1, 2 * n + 2) if c < 12)
        path = "/" if n == 0 else f"/p/{n}"
        routes[path] = html_page(f"page {n}", f"<main><p>{paragraph(n)}</p>{links}</main>")
    return routes


RECORDS = {"items": [{"id": f"r{n}", "text": paragraph(100 + n)} for n in range(40)]}


def config_at(root: Path, web: str, api: str) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "storage": {"data_root": str(root)},
            "collect": {
                "web": [
                    {
                        "name": "site",
                        "start_urls": [f"{web}/"],
                        "max_depth": 4,
                        "allow_private_addresses": True,
                        "sitemaps": False,
                    }
                ],
                "api": [{"name": "records", "url": f"{api}/records"}],
            },
            "clean": {
                "min_chars": 20,
                "min_words": 5,
                "quality": None,
                "language": {"allowed": None, "min_score": None},
            },
            "split": {"validation_fraction": 0.2},
            "train": TINY_MODEL | {"max_steps": 30, "save_steps": 10},
        }
    )


def killed_run(config: PipelineConfig, point: str, home: Path) -> int:
    path = home / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    env = os.environ | {
        failpoints.ENV: point,
        # Its own Prefect database, the tests' result storage: what it cached, a rerun finds.
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(Path(os.environ["PREFECT_HOME"]) / "storage"),
    }
    # An unused port: never attach to a Prefect server a developer has running.
    command = [sys.executable, "-m", "lmkiln.cli", "run", "-c", str(path)]
    process = subprocess.run(
        [*command, "--port", str(unused_port())],
        env=env,
        capture_output=True,
        timeout=600,
        start_new_session=True,  # the kill takes this run's process group, nothing else
    )
    return process.returncode


def table_state(config: PipelineConfig) -> dict[str, tuple[str, int]]:
    """Each table's head, after checking that every row up to it reads back."""
    state = {}
    for name in TABLES:
        ref = lake.head(config.storage.lake(name))
        if ref is not None:
            first = "id" if name != "quarantine" else "payload_sha256"
            first = "url" if name == "pages" else first
            assert len(lake.column(ref, first)) == ref.rows, name
            state[name] = (ref.commit, ref.rows)
    return state


def fingerprint(ref) -> str:
    pairs = sorted(zip(lake.column(ref, "id"), lake.column(ref, "split"), strict=True))
    return hashlib.sha256(repr(pairs).encode()).hexdigest()


def lineage(config: PipelineConfig) -> dict:
    client = MlflowClient(config.storage.mlflow_uri, registry_uri=config.storage.mlflow_uri)
    versions = client.search_model_versions("name = 'lmkiln'")
    runs = client.search_runs([client.get_experiment_by_name("lmkiln").experiment_id])
    (version,) = versions
    (run,) = runs
    corpus = lake.head(config.storage.lake("corpus"))
    assert run.data.params["corpus_commit"] == corpus.commit == version.tags["corpus_commit"]
    keys = ("corpus_rows", "train_texts", "validation_texts", "max_steps", "seed")
    return {
        "aliases": client.get_model_version("lmkiln", version.version).aliases,
        "run": {k: run.data.params[k] for k in keys},
        "status": run.info.status,
        "steps": max(m.step for m in client.get_metric_history(run.info.run_id, "train_loss")),
    }


def test_runs_killed_at_each_stage_end_as_an_uninterrupted_run(tmp_path) -> None:
    with (
        serve_routes(site()) as web,
        serve_routes({"/records": (200, JSON, json.dumps(RECORDS))}) as api,
    ):
        reference = config_at(tmp_path / "reference", web, api)
        expected = nightly(reference)

        crashed = config_at(tmp_path / "crashed", web, api)
        for point in KILL_POINTS:
            home = tmp_path / point.replace(":", "-")
            home.mkdir()
            before = table_state(crashed)
            assert killed_run(crashed, point, home) == -signal.SIGKILL, point
            after = table_state(crashed)  # every table whole at its last commit
            assert all(after[t][1] >= rows for t, (_, rows) in before.items()), point
        report = nightly(crashed)

    def raw_ids(config: PipelineConfig) -> Counter:
        return Counter(lake.column(lake.head(config.storage.lake("raw")), "id"))

    assert raw_ids(crashed) == raw_ids(reference)  # every page and record exactly once
    assert set(raw_ids(crashed).values()) == {1}
    assert fingerprint(report.corpus.lake) == fingerprint(expected.corpus.lake)
    assert lineage(crashed) == lineage(reference)
    assert lineage(crashed)["aliases"] == ["champion"] and lineage(crashed)["steps"] == 30
