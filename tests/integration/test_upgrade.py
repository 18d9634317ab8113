"""A data root made by the last release of the flat layout (top-level `tasks`, `flows`) runs
on with this one: its tables go on growing, its registered models load, its pages are
re-extracted once (the extractor's code digest changed) with no request to the site, and the
next night promotes as before. docs/guides/upgrading.md says what else an upgrade asks."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from tests.helpers.pipelines import TINY_MODEL
from tests.helpers.routes import html_page, serve_routes, unused_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# The last commit of the flat layout: `python -m flows.cli run` there made the data roots
# that this release must carry on.
FLAT_LAYOUT = "57298dc154b8348148205382a490ae47beddc377"
WORDS = (
    "kiln clay glaze fire slow cool wheel throw trim bisque stoneware porcelain slip "
    "wedge coil slab kick lid foot rim handle spout ash cone reduction oxide crawl craze "
    "shiver pinhole kilnwash shelf post sagger pyrometer damper flue chimney"
).split()


def text(n: int) -> str:
    """Text of its own for each n: no two share many word n-grams (decontamination)."""
    return f"Note {n}. " + " ".join(random.Random(n).choices(WORDS, k=60)) + "."


def site(pages: int) -> dict:
    routes = {}
    for n in range(pages):
        link = f'<a href="/p/{n + 1}">next</a>' if n + 1 < pages else ""
        path = "/" if n == 0 else f"/p/{n}"
        routes[path] = html_page(f"page {n}", f"<main><p>{text(n)}</p>{link}</main>")
    return routes


def flat_checkout(target: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", FLAT_LAYOUT],
        capture_output=True,
        timeout=120,
    )
    if archive.returncode != 0:
        raise AssertionError(
            f"commit {FLAT_LAYOUT[:12]} is not in this clone ({archive.stderr.decode()[-300:]}); "
            "the upgrade test needs the history: git fetch --unshallow"
        )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


def run(command: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PREFECT_HOME": str(home), "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "res")}
    done = subprocess.run(
        [*command, "--port", str(unused_port())],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    return done


def test_a_flat_layout_data_root_runs_on(tmp_path) -> None:
    root, files = tmp_path / "data", tmp_path / "notes"
    files.mkdir()
    for n in range(40):
        (files / f"note-{n}.txt").write_text(text(1000 + n))
    log: list[str] = []
    with serve_routes(site(12), log) as base:
        settings = {
            "storage": {"data_root": str(root)},
            "collect": {
                "web": [
                    {
                        "name": "site",
                        "start_urls": [f"{base}/"],
                        "allow_private_addresses": True,
                        "sitemaps": False,
                        "max_depth": 20,
                    }
                ],
                "files": [{"name": "notes", "paths": [str(files)]}],
            },
            "clean": {
                "min_chars": 20,
                "min_words": 5,
                "quality": None,
                "language": {"allowed": None, "min_score": None},
                "near_dedup": None,
            },
            "split": {"validation_fraction": 0.2},
            "train": TINY_MODEL | {"max_steps": 20, "save_steps": 10},
        }
        config_path = tmp_path / "config.yaml"
        config_path.write_text(yaml.safe_dump(settings))
        old = flat_checkout(tmp_path / "flat")
        run(
            [sys.executable, "-m", "flows.cli", "run", "-c", str(config_path)], old, tmp_path / "p1"
        )
        config = PipelineConfig.model_validate(settings)
        before = {name: lake.head(config.storage.lake(name)) for name in ("raw", "corpus")}
        crawled = len(log)
        assert crawled >= 12 and before["corpus"].rows > 0

        for n in range(40, 60):  # the next night brings new files
            (files / f"note-{n}.txt").write_text(text(1000 + n))
        elsewhere = tmp_path / "elsewhere"  # not the checkout: the installed lmkiln runs
        elsewhere.mkdir()
        run(
            [sys.executable, "-m", "lmkiln", "run", "-c", str(config_path)],
            elsewhere,
            tmp_path / "p2",
        )
        reextracted = len(log) - crawled

    assert reextracted == 0  # the extractor's digest changed: stored pages, no requests
    after = {name: lake.head(config.storage.lake(name)) for name in ("raw", "corpus")}
    for name in ("raw", "corpus"):
        assert after[name].rows > before[name].rows, name
        old_ids = lake.column(before[name], "id")
        assert lake.column(after[name], "id")[: len(old_ids)] == old_ids, name

    from mlflow import MlflowClient

    from lmkiln.tasks.registry.models import load_model_uri

    name, uri = config.registry.model_name, config.storage.mlflow_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    first = load_model_uri(f"models:/{name}/1", config.storage)  # made by the flat layout
    assert first.model.config.n_layer == TINY_MODEL["n_layer"]
    assert int(client.get_model_version_by_alias(name, "champion").version) in {1, 2}
