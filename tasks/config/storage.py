"""The `storage` section: where every store lives, a folder under data_root or s3://, and the
MLflow tracking URI. Credentials never go here: they come from the environment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from pydantic import AfterValidator

from lmkiln.tasks.config.base import SECRET_PARAMS, Strict, Url

# What MLflow can track to: a tracking server, or a database it opens itself (SQLAlchemy URIs,
# a driver may follow the dialect: postgresql+psycopg2://).
TRACKING_SCHEMES = ("http", "https", "postgresql", "mysql", "mssql", "sqlite")


def _tracking_uri(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.split("+")[0] not in TRACKING_SCHEMES or "://" not in value:
        raise ValueError(
            f"{value!r} is not an MLflow tracking URI: use a server URL (http://host:5000) or a "
            "database URI (postgresql+psycopg2://user@host:5432/mlflow)"
        )
    # The storage config is a flow parameter: Prefect stores and shows it.
    secret_param = any(key.lower() in SECRET_PARAMS for key, _ in parse_qsl(parts.query))
    if parts.password is not None or secret_param:
        raise ValueError(
            "carries a password, which would show in Prefect parameters and logs; remove it "
            "and give it in the environment: MLFLOW_TRACKING_PASSWORD (with "
            "MLFLOW_TRACKING_USERNAME) for a server, PGPASSWORD or ~/.pgpass for PostgreSQL"
        )
    return value


TrackingUri = Annotated[str, AfterValidator(_tracking_uri)]

S3_SCHEME = "s3://"


def is_s3(location: str) -> bool:
    return location.startswith(S3_SCHEME)


def _location(value: str | None) -> str | None:
    """A folder, or an s3://bucket/prefix URL without credentials in it."""
    if value is None or not is_s3(value):
        return value
    bucket = urlsplit(value).netloc
    if "@" in bucket:
        raise ValueError(
            "carries credentials (s3://key:secret@bucket), which would show in logs and Prefect "
            "parameters; remove them and set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
            "environment instead"
        )
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ValueError(f"{value!r} does not name an S3 bucket (s3://bucket/prefix)")
    return value.rstrip("/")


Location = Annotated[str | None, AfterValidator(_location)]


class S3Config(Strict):
    """How to reach the s3:// locations. Credentials are never set here: they come from
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN in the environment."""

    endpoint_url: Url | None = None
    """An S3-compatible store (MinIO, Ceph, moto), e.g. http://127.0.0.1:9000; unset for AWS."""
    region: str | None = None
    """The buckets' region, e.g. eu-west-1; unset: AWS_DEFAULT_REGION, else us-east-1."""


class StorageConfig(Strict):
    data_root: str = ".lmkiln"
    """Every store lives here; a relative path is from the cwd."""
    tracking_uri: TrackingUri | None = None
    """MLflow tracking and registry: a server (http://127.0.0.1:5000) or a database
    (postgresql+psycopg2://mlflow@db:5432/mlflow); unset, a SQLite store under the data root."""
    # Remote locations: each one unset stays under data_root. Local-only state (watermarks,
    # SQLite caches and indexes, checkpoints, tokenizers, file locks) always stays there.
    lake_root: Location = None
    """Deep Lake tables (raw, clean, corpus, quarantine, pages): a folder or s3://bucket/prefix;
    default data_root/lake. Their locks and indexes stay in data_root/lake."""
    artifact_root: Location = None
    """MLflow artifacts of new experiments (models, plots): a folder or s3://bucket/prefix;
    default data_root/mlflow/artifacts. The tracking store stays in data_root/mlflow."""
    result_root: Location = None
    """Prefect task results, which are the task cache: s3://bucket/prefix or a folder; default
    data_root/prefect/storage."""
    s3: S3Config = S3Config()
    """Endpoint and region of the s3:// locations above."""

    @property
    def root(self) -> Path:
        return Path(self.data_root).expanduser().resolve()

    def lake(self, name: str) -> str:
        if self.lake_root is None:
            return str(self.root / "lake" / name)
        if is_s3(self.lake_root):
            return f"{self.lake_root}/{name}"
        return str(Path(self.lake_root).expanduser().resolve() / name)

    def lake_state(self, name: str) -> Path:
        """Where a lake table's local companions go (lock, near-dup index, n-grams): beside the
        table when it is in data_root/lake, which keeps them there when the table is not."""
        return self.root / "lake" / name

    @property
    def mlflow_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{self.root / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> str:
        if self.artifact_root is None:
            return str(self.root / "mlflow" / "artifacts")
        if is_s3(self.artifact_root):
            return self.artifact_root
        return str(Path(self.artifact_root).expanduser().resolve())

    @property
    def s3_locations(self) -> dict[str, str]:
        """The settings that point at S3, by name (storage.lake_root: s3://...)."""
        named = {
            "lake_root": self.lake_root,
            "artifact_root": self.artifact_root,
            "result_root": self.result_root,
        }
        return {f"storage.{k}": v for k, v in named.items() if v is not None and is_s3(v)}

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"
