"""s3:// storage locations: credentials from the environment, the endpoint and region from
config, a check before any work, and the Prefect block that stores task results there.

Credentials come only from the standard variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN): they are handed to Deep Lake per call, and boto3 (MLflow's artifacts)
and s3fs (Prefect's results) read them themselves, so no config, block, lake row, log line
or MLflow parameter ever holds them. The endpoint and region are exported to the variables
those libraries read (`export`), because MLflow takes its endpoint from nowhere else.
"""

from __future__ import annotations

import hashlib
import os
from urllib.parse import urlsplit

from lmkiln.tasks.config.storage import StorageConfig, is_s3

KEY_ID, SECRET, TOKEN = "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"
# botocore reads AWS_ENDPOINT_URL_S3 for S3 alone (other AWS services keep their own);
# MLflow's artifact store reads only MLFLOW_S3_ENDPOINT_URL.
ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL")
REGION_VARS = ("AWS_DEFAULT_REGION", "AWS_REGION")
DEFAULT_REGION = "us-east-1"
EXTRA_HINT = "install the s3 extra (pip install -e '.[s3]')"


class StorageError(ValueError):
    """An s3:// location that cannot work as configured; raised before any work starts."""


def export(storage: StorageConfig) -> None:
    """Put the configured endpoint and region where boto3, s3fs and MLflow look for them."""
    if storage.s3.endpoint_url is not None:
        for name in ENDPOINT_VARS:
            os.environ[name] = storage.s3.endpoint_url
    if storage.s3.region is not None:
        for name in REGION_VARS:
            os.environ[name] = storage.s3.region


def endpoint_url() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def region() -> str:
    return next((os.environ[n] for n in REGION_VARS if os.environ.get(n)), DEFAULT_REGION)


def lake_creds(path: str) -> dict[str, str] | None:
    """Deep Lake's `creds` for a table: None for a local one."""
    if not is_s3(path):
        return None
    creds = {"aws_region": region()}
    if os.environ.get(KEY_ID) and os.environ.get(SECRET):
        creds |= {
            "aws_access_key_id": os.environ[KEY_ID],
            "aws_secret_access_key": os.environ[SECRET],
        }
        if os.environ.get(TOKEN):
            creds["aws_session_token"] = os.environ[TOKEN]
    if endpoint := endpoint_url():
        creds["endpoint_url"] = endpoint
    return creds


def check(storage: StorageConfig) -> None:
    """Fail before any work when an s3:// location cannot be used: no credentials in the
    environment, no S3 client installed, an endpoint that does not answer, or no bucket."""
    locations = storage.s3_locations
    if not locations:
        return
    export(storage)
    setting, url = next(iter(locations.items()))
    if not (os.environ.get(KEY_ID) and os.environ.get(SECRET)):
        raise StorageError(
            f"{setting} is {url}, but {KEY_ID} and {SECRET} are not set: export them (and "
            f"{TOKEN} for temporary credentials) in the environment that runs lmkiln; they "
            "are never read from the config"
        )
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise StorageError(
            f"{setting} is {url}, but boto3 is not installed: {EXTRA_HINT}"
        ) from None
    client = boto3.client("s3", endpoint_url=endpoint_url(), region_name=region())
    where = endpoint_url() or "AWS"
    checked: set[str] = set()
    for setting, url in locations.items():
        bucket = urlsplit(url).netloc
        if bucket in checked:
            continue
        checked.add(bucket)
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                raise StorageError(
                    f"{setting}: bucket '{bucket}' does not exist at {where}; create it, or "
                    "point the setting at an existing bucket (and storage.s3.endpoint_url at "
                    "its store)"
                ) from None
            raise StorageError(
                f"{setting}: bucket '{bucket}' at {where} refused the credentials in {KEY_ID} "
                f"(HTTP {status}); give them access to the bucket or export other ones"
            ) from None
        except BotoCoreError as exc:
            raise StorageError(
                f"{setting}: cannot reach S3 at {where} ({exc}); check storage.s3.endpoint_url "
                "and the network"
            ) from None


def result_block_name(storage: StorageConfig) -> str:
    """The name of the Prefect block for storage.result_root: one per location and endpoint."""
    blob = f"{storage.result_root}|{storage.s3.endpoint_url}|{storage.s3.region}"
    return f"lmkiln-results-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def result_block_slug(storage: StorageConfig) -> str | None:
    """What PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK names when results go to S3, else None."""
    if storage.result_root is None or not is_s3(storage.result_root):
        return None
    return f"remote-file-system/{result_block_name(storage)}"


def save_result_block(storage: StorageConfig) -> str | None:
    """Save (or refresh) the block behind `result_block_slug`: Prefect loads the default result
    storage by name, so it must exist on the server before a flow starts."""
    slug = result_block_slug(storage)
    if slug is None or storage.result_root is None:
        return None
    try:
        import s3fs  # noqa: F401  # RemoteFileSystem finds it through fsspec
    except ImportError:
        raise StorageError(
            f"storage.result_root is {storage.result_root}, but s3fs is not installed: {EXTRA_HINT}"
        ) from None
    from prefect.filesystems import RemoteFileSystem

    client_kwargs = {"region_name": region()}
    if endpoint := endpoint_url():
        client_kwargs["endpoint_url"] = endpoint
    # No key or secret here: a saved block lives in Prefect's database, so s3fs must find
    # the credentials in the environment of whichever process reads or writes a result.
    block = RemoteFileSystem(
        basepath=storage.result_root, settings={"client_kwargs": client_kwargs}
    )
    block.save(result_block_name(storage), overwrite=True)
    return slug
