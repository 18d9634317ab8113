"""Every storage location on s3://, against moto's S3 server on 127.0.0.1: `lmkiln run` twice
with the lake, MLflow's artifacts and Prefect's task results in one bucket, then the bucket
read back; and the checks that stop a run before any work when the bucket or the
credentials are missing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core import storage as s3
from tests.helpers.pipelines import TINY_PIPELINE
from tests.helpers.routes import unused_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "lmkiln-night"
KEY_ID = "AKIALMKILNTEST0001"
SECRET = "lmkiln-s3-secret-7c41d9e2b8"
# The demo sources alone: a synthetic source would serve the champion on the second night.
COLLECT = {"web": TINY_PIPELINE["collect"]["web"], "api": TINY_PIPELINE["collect"]["api"]}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = unused_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Credentials in the environment, as a user would export them; every variable that
    `s3.export` writes is set here first, so the test leaves the environment as it found it."""
    monkeypatch.setenv(s3.KEY_ID, KEY_ID)
    monkeypatch.setenv(s3.SECRET, SECRET)
    monkeypatch.delenv(s3.TOKEN, raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name in s3.ENDPOINT_VARS:
        monkeypatch.setenv(name, endpoint)
    for name in s3.REGION_VARS:
        monkeypatch.setenv(name, "eu-west-1")
    return endpoint


def s3_config(root: Path, endpoint: str, bucket: str = BUCKET) -> PipelineConfig:
    return PipelineConfig.model_validate(
        TINY_PIPELINE
        | {
            "collect": COLLECT,
            "storage": {
                "data_root": str(root),
                "lake_root": f"s3://{bucket}/lake",
                "artifact_root": f"s3://{bucket}/mlflow",
                "result_root": f"s3://{bucket}/prefect",
                "s3": {"endpoint_url": endpoint, "region": "eu-west-1"},
            },
        }
    )


def lmkiln_run(config: PipelineConfig, folder: Path, name: str) -> tuple[int, str]:
    """`lmkiln run` in its own process, as a user starts it; returns its exit code and output."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    env = os.environ | {
        "PREFECT_HOME": str(folder / "prefect-home"),  # its own Prefect server and database
        "PREFECT_LOGGING_LEVEL": "INFO",  # the task states and the stages' progress
    }
    command = [sys.executable, "-m", "lmkiln.cli", "run", "-c", str(path)]
    command += ["--port", str(unused_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    output = " ".join((done.stdout + done.stderr).split())  # rich wraps at 80 columns
    (folder / f"{name}.log").write_text(output)
    return done.returncode, output


def bucket_objects(endpoint: str) -> dict[str, bytes]:
    client = boto3.client("s3", endpoint_url=endpoint)
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return {key: client.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


def cached_tasks(output: str) -> set[str]:
    """Task runs that Prefect's log says ended Cached."""
    found = re.findall(r"Task run '([^']+)' - Finished in state Cached", output)
    return {re.sub(r"-[0-9a-f]{3}$", "", name) for name in found}


def test_a_night_with_every_location_on_s3_then_a_cached_rerun(aws, tmp_path) -> None:
    boto3.client("s3", endpoint_url=aws).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    config = s3_config(tmp_path / "root", aws)
    storage = config.storage
    code, first = lmkiln_run(config, tmp_path, "first")
    assert code == 0, first[-4000:]

    objects = bucket_objects(aws)
    for table in ("raw", "clean", "corpus", "pages"):
        assert any(key.startswith(f"lake/{table}/") for key in objects), table
    assert any(key.startswith("prefect/") for key in objects)  # task results, and not on disk
    assert not (tmp_path / "prefect-home" / "storage").exists()
    assert any(re.match(r"mlflow/lmkiln/.*/MLmodel$", key) for key in objects)
    # Only local state is under the data root: no table there, but the tables' locks are.
    local = tmp_path / "root" / "lake"
    assert sorted(p.name for p in local.iterdir() if p.is_dir()) == [
        "clean.decontam",
        "clean.neardup",
    ]
    assert (local / "raw.lock").exists() and (local / "corpus.lock").exists()
    assert not any(tmp_path.rglob("s3:*")) and not Path("s3:").exists()

    # The tables read back from the bucket: the corpus is exactly the clean table's kept rows.
    raw = lake.head(storage.lake("raw"))
    clean = lake.head(storage.lake("clean"))
    corpus = lake.head(storage.lake("corpus"))
    assert raw is not None and clean is not None and corpus is not None
    assert raw.path == f"s3://{BUCKET}/lake/raw" and clean.rows == raw.rows > 0
    assert {row["source"] for row in lake.read(raw, ("source",))} == {"pydoc", "packages"}
    kept = [r["id"] for r in lake.read(clean, ("id", "reason")) if not r["reason"]]
    rows = list(lake.read(corpus, ("id", "text", "split")))
    assert [r["id"] for r in rows] == kept and corpus.rows == len(kept) > 0
    assert all(r["text"] for r in rows) and {r["split"] for r in rows} <= {"train", "validation"}

    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(storage.mlflow_uri, registry_uri=storage.mlflow_uri)
    experiment = client.get_experiment_by_name(config.registry.experiment)
    assert experiment.artifact_location == f"s3://{BUCKET}/mlflow/lmkiln"
    (run,) = client.search_runs([experiment.experiment_id])
    champion = client.get_model_version_by_alias(config.registry.model_name, "champion")
    # Both, as a service would: otherwise MLflow opens ./mlflow.db to look up the run.
    mlflow.set_tracking_uri(storage.mlflow_uri)
    mlflow.set_registry_uri(storage.mlflow_uri)
    model = mlflow.pyfunc.load_model(f"models:/{config.registry.model_name}@champion")
    assert model.metadata.run_id == champion.run_id == run.info.run_id

    code, second = lmkiln_run(config, tmp_path, "second")
    assert code == 0, second[-4000:]
    assert {"clean", "split", "train"} <= cached_tasks(second), second[-4000:]
    assert len(client.search_model_versions(f"name = '{config.registry.model_name}'")) == 1

    # The secret was used on every request, and is nowhere to be read back.
    for text in (first, second, config.model_dump_json(), str(run.data.params)):
        assert SECRET not in text and KEY_ID not in text
    for key, body in bucket_objects(aws).items():
        assert SECRET.encode() not in body, key
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path
    for table in (raw, clean, corpus):
        names = [c.name for c in lake.open_read_only(table.path).schema.columns]
        for row in lake.read(lake.head(table.path), [n for n in names if n != "html_gz"]):
            assert SECRET not in "".join(row.values()), table.path


def test_a_missing_bucket_stops_the_run_before_any_work(aws, tmp_path) -> None:
    config = s3_config(tmp_path / "root", aws, bucket="no-such-bucket")
    code, output = lmkiln_run(config, tmp_path, "run")
    assert code == 2, output
    assert "storage.lake_root: bucket 'no-such-bucket' does not exist" in output
    assert not (tmp_path / "root" / "lake").exists()


def test_missing_credentials_stop_the_run_before_any_work(aws, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(s3.KEY_ID)
    monkeypatch.delenv(s3.SECRET)
    config = s3_config(tmp_path / "root", aws)
    code, output = lmkiln_run(config, tmp_path, "run")
    assert code == 2, output
    assert "storage.lake_root is s3://lmkiln-night/lake" in output
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set" in output
    assert not (tmp_path / "root" / "lake").exists()


@pytest.mark.parametrize(
    ("location", "complaint"),
    [
        ("s3://KEY:secret@bucket/lake", "carries credentials"),
        ("s3://x/lake", "does not name an S3 bucket"),
    ],
)
def test_a_bad_s3_location_is_a_config_error(location: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        PipelineConfig.model_validate({"storage": {"lake_root": location}})


def test_a_corpus_file_is_streamed_from_s3(aws: str) -> None:
    import gzip

    from lmkiln.tasks.collect.corpora.base import Entry
    from lmkiln.tasks.collect.corpora.collection import locations, open_location, reader_for
    from lmkiln.tasks.config.collect import CorpusSource

    client = boto3.client("s3", endpoint_url=aws)
    client.create_bucket(
        Bucket="corpora", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    lines = b"".join(json.dumps({"text": f"record {n}"}).encode() + b"\n" for n in range(30))
    client.put_object(Bucket="corpora", Key="pile/part-00.jsonl.gz", Body=gzip.compress(lines))
    client.put_object(Bucket="corpora", Key="pile.paths", Body=b"pile/part-00.jsonl.gz\n")
    source = CorpusSource(
        name="pile", format="jsonl", paths_file="s3://corpora/pile.paths", base_url="s3://corpora"
    )
    (location,) = locations(source)
    assert location == "s3://corpora/pile/part-00.jsonl.gz"
    with open_location(location) as stream:
        items = list(reader_for(source)(stream, location, 10))
    assert [o for o, _ in items] == list(range(10, 30))
    assert items[0][1] == Entry("record 10")
