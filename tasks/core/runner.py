"""The Dask cluster that collect's sources and clean's chunks run on (runner.kind dask).

`fan_out` gives the run its cluster: the configured one, checked before any work, or a
temporary one on 127.0.0.1 that is shut down on the way out. `executor` lends a
concurrent.futures executor on it to code that does not know about Dask (tasks/clean/decide.py).
distributed is imported inside the functions: it is an optional extra, and slow to import.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lmkiln.tasks.config.runner import RunnerConfig
from lmkiln.tasks.config.storage import StorageConfig

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0  # for a cluster fan_out has already reached once


@contextmanager
def fan_out(runner: RunnerConfig, storage: StorageConfig) -> Iterator[str | None]:
    """The scheduler address the run's fan-out goes to while the context is open: None for
    threads, runner.address once its workers are shown to share the data root, or a
    temporary local cluster's, which is shut down (workers and scheduler) on exit."""
    if runner.kind == "threads":
        yield None
        return
    if runner.address is not None:
        with _connect(runner.address, runner.connect_timeout_s) as client:
            _check_shared_root(client, storage.root)
        yield runner.address
        return
    from distributed import LocalCluster

    n_workers = runner.n_workers or os.cpu_count() or 1
    # The scheduler's web server on a free port: the default 8787 may be another run's.
    with LocalCluster(
        n_workers=n_workers,
        threads_per_worker=runner.threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
    ) as cluster:
        address = cluster.scheduler_address
        logger.info(
            "temporary Dask cluster at %s: %d workers, dashboard %s",
            address,
            n_workers,
            cluster.dashboard_link,
        )
        yield address


@contextmanager
def executor(address: str) -> Iterator[tuple[Executor, int]]:
    """An executor whose calls run on the cluster at `address`, and the cluster's threads.
    Leaving the context waits for the calls still running."""
    with _connect(address, CONNECT_TIMEOUT_S) as client:
        threads = sum(client.nthreads().values())
        # Not pure: no call repeats another, so hashing each chunk's documents for a key
        # that Dask could share between calls would be wasted work.
        with client.get_executor(pure=False) as pool:
            yield pool, threads


@contextmanager
def _connect(address: str, timeout_s: float) -> Iterator[Any]:
    """A client of the scheduler at `address` that has at least one worker."""
    from distributed import Client

    try:
        client = Client(address, timeout=timeout_s, set_as_default=False)
    except OSError as exc:
        raise ConnectionError(
            f"runner.address {address}: no Dask scheduler answered within {timeout_s:g} s "
            f"({exc}); start one there (`dask scheduler`, then `dask worker {address}` on "
            "each machine) or set runner.address to null for a temporary local cluster"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout_s)
        except TimeoutError:
            raise ConnectionError(
                f"runner.address {address}: the scheduler has had no worker for "
                f"{timeout_s:g} s; start some with `dask worker {address}`"
            ) from None
        yield client


def _check_shared_root(client: Any, root: Path) -> None:
    """Every worker reads a file the run writes under the data root, or none starts work."""
    root.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    marker = root / f".dask-check-{token}"
    marker.write_text(token, encoding="utf-8")
    try:
        seen = client.run(read_marker, str(marker))
    finally:
        marker.unlink(missing_ok=True)
    blind = sorted(worker for worker, text in seen.items() if text != token)
    if blind:
        raise RuntimeError(
            f"Dask workers {', '.join(blind)} do not see storage.data_root {root}: they write "
            "the lake and its locks there themselves, so mount the same folder at that path "
            "on every worker's machine, or use runner.address null for a local cluster"
        )


def read_marker(path: str) -> str | None:
    """Runs on a worker: the marker's text, or None where the path does not exist."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return None
