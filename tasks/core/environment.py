"""Process environment for lmkiln: every store under the data root, no telemetry, no hub.

Prefect, MLflow and Hugging Face read their settings from the environment when first
imported, so the CLI calls `configure` before importing any of them. Values already set
win, so a test (or a user) can point one store elsewhere.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import storage as s3

# The loggers Prefect routes to the run logs: every module of lmkiln logs under its name.
LOGGERS = "lmkiln"


def configure(storage: StorageConfig) -> dict[str, str]:
    root = storage.root
    wanted = {
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        # The stage modules log with the standard library; this routes them to the run logs.
        "PREFECT_LOGGING_EXTRA_LOGGERS": LOGGERS,
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "DO_NOT_TRACK": "1",
        "MLFLOW_TRACKING_URI": storage.mlflow_uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "HF_HOME": str(root / "hf"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if storage.result_root is not None:
        # An s3:// root is a block that `s3.save_result_block` saves before a flow starts.
        slug = s3.result_block_slug(storage)
        if slug is not None:
            wanted["PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"] = slug
        else:
            local = Path(storage.result_root).expanduser().resolve()
            wanted["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(local)
    s3.export(storage)
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    # Prefect attaches its handlers to the `lmkiln` loggers but leaves their level to the root's
    # WARNING; stage progress (training steps, counters) is INFO.
    logging.getLogger(LOGGERS).setLevel(logging.INFO)
    (root / "prefect").mkdir(parents=True, exist_ok=True)
    (root / "mlflow").mkdir(parents=True, exist_ok=True)
    return {key: os.environ[key] for key in wanted}
