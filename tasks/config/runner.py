"""The `runner` section: where collect's sources and clean's per-document work run, on threads
of the run's process or on a Dask cluster."""

from __future__ import annotations

import importlib.util
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lmkiln.tasks.config.base import Strict

# A Dask scheduler's address as `dask scheduler` prints it: tcp://host:port, where host may
# be a name, an IPv4 address or a bracketed IPv6 one.
_DASK_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}$")


class RunnerConfig(Strict):
    """Where collect's sources and clean's per-document work run. The results and every
    cache key are the same whichever runs them: a night cleaned on Dask gives the same
    corpus as one cleaned locally."""

    kind: Literal["threads", "dask"] = "threads"
    """threads: the sources on 4 threads of the run's process and clean's work on local
    processes (clean.workers). dask: both on a Dask cluster (install lmkiln[dask])."""
    address: str | None = None
    """A running Dask scheduler, e.g. "tcp://10.0.0.5:8786": the run attaches to it and
    leaves it running. Its workers write the lake, lock files and watermarks under
    storage.data_root themselves, so data_root must be an absolute path to a folder that
    every worker's machine shares at that same path (NFS or similar); the run checks this
    before any work. demo:// servers and an ephemeral Prefect server listen on the run's own
    127.0.0.1, out of reach of workers on other machines: use real URLs and a Prefect server
    they can reach (PREFECT_API_URL). null: a temporary cluster on 127.0.0.1 for the run,
    shut down when collect and clean are done."""
    n_workers: int | None = Field(None, ge=1, le=64)
    """Worker processes of the temporary cluster; null: one per core. Not used with an
    address: that cluster has its own."""
    threads_per_worker: int = Field(1, ge=1, le=64)
    """Threads in each worker process of the temporary cluster. Clean's work holds the GIL,
    so more than one speeds up only the fetching; not used with an address."""
    connect_timeout_s: float = Field(30.0, gt=0)
    """How long the run waits for the scheduler at address to answer and to have a worker."""

    @field_validator("address")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is not None and not _DASK_ADDRESS.match(value):
            raise ValueError(
                f"{value!r} is not a Dask scheduler address: write it as `dask scheduler` "
                "prints it, e.g. tcp://127.0.0.1:8786, or null for a temporary local cluster"
            )
        return value

    @model_validator(mode="after")
    def _dask_settings_need_dask(self) -> RunnerConfig:
        if self.kind == "threads" and self.address is not None:
            raise ValueError(
                "runner.address is set but runner.kind is threads: set kind: dask to run on "
                "that cluster, or remove address"
            )
        if self.kind == "dask" and not all(
            importlib.util.find_spec(name) for name in ("distributed", "prefect_dask")
        ):
            raise ValueError(
                "runner.kind dask needs prefect-dask and distributed, which are not "
                "installed: pip install 'lmkiln[dask]', or set kind: threads"
            )
        return self
