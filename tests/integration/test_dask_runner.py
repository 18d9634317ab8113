"""runner.kind dask: collect's sources and clean's chunks run on a real two-worker Dask
cluster on 127.0.0.1, and the night's raw and clean tables equal those of the thread runner."""

from __future__ import annotations

import json
import math
import os
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from distributed import Client, LocalCluster, get_task_stream
from prefect import flow

from lmkiln.flows.nightly import collect_and_clean
from lmkiln.tasks.clean.decide import CHUNK_DOCS, PARALLEL_FROM_DOCS
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.config.runner import RunnerConfig
from lmkiln.tasks.config.storage import StorageConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.runner import executor, fan_out
from tests.helpers.prefect_api import task_states
from tests.helpers.routes import JSON, html_page, serve_routes, unused_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORDS = (
    "kiln glaze clay bowl fire ash wood heat shelf potter wheel slip cone jar lid rim foot "
    "throw trim bisque stoneware porcelain oxide iron copper cobalt salt soda reduction "
    "flame draft chimney brick vent damper pyrometer witness ramp hold soak cool crack"
).split()
RECORDS_PER_API, PAGE_RECORDS, PAGES_PER_SITE = 1000, 100, 20


def text(source: str, n: int) -> str:
    """A document of its own per (source, n); every 97th is too short, every 89th repeats
    the one before it, so the clean table has drops of more than one reason."""
    if n % 97 == 5:
        return f"{source} {n}"
    if n % 89 == 7:
        n -= 1
    words = random.Random(f"{source}:{n}").choices(WORDS, k=60)
    return f"{source} note {n}. " + " ".join(words) + "."


def api_routes(source: str) -> dict:
    def page(query: str) -> tuple[int, dict[str, str], str]:
        number = int(query.rpartition("page=")[2] or 1)
        first = (number - 1) * PAGE_RECORDS
        items = [
            {"id": n, "title": f"{source} {n}", "text": text(source, n)}
            for n in range(first, min(first + PAGE_RECORDS, RECORDS_PER_API))
        ]
        return 200, JSON, json.dumps({"items": items})

    return {f"/{source}": page}


def site_routes(site: str) -> dict:
    """A chain of pages, each linking to the next: depth-first order is the page order."""
    routes = {}
    for n in range(PAGES_PER_SITE):
        link = f'<a href="/{site}/{n + 1}">next</a>' if n + 1 < PAGES_PER_SITE else ""
        routes[f"/{site}/{n}"] = html_page(f"{site} {n}", f"<p>{text(site, n)}</p>{link}")
    return routes


def config_for(base: str, data_root: Path, runner: dict) -> PipelineConfig:
    web = [
        {
            "name": site,
            "start_urls": [f"{base}/{site}/0"],
            "max_pages": PAGES_PER_SITE,
            "max_depth": PAGES_PER_SITE,
            "allow_private_addresses": True,
        }
        for site in ("site-a", "site-b")
    ]
    api = [{"name": name, "url": f"{base}/{name}"} for name in ("api-a", "api-b")]
    return PipelineConfig.model_validate(
        {
            "storage": {"data_root": str(data_root)},
            "collect": {"web": web, "api": api},
            "clean": {
                "min_chars": 40,
                "min_words": 5,
                "quality": None,
                "language": {"allowed": None, "min_score": None},
                "workers": 2,
            },
            "runner": runner,
        }
    )


@flow(name="collect-and-clean")
def night(config: PipelineConfig):
    return collect_and_clean(config)


def tables(config: PipelineConfig) -> tuple[list[tuple], list[tuple]]:
    """The raw and clean tables as sorted rows: the sources append in whichever order they
    finish, under either runner, so the row order is not compared."""
    raw = lake.head(config.storage.lake("raw"))
    clean = lake.head(config.storage.lake("clean"))
    raw_rows = sorted(tuple(r.values()) for r in lake.read(raw, ("source", "url", "id", "text")))
    clean_rows = sorted(
        tuple(r.values()) for r in lake.read(clean, ("source", "url", "id", "reason"))
    )
    return raw_rows, clean_rows


def test_collect_and_clean_on_a_two_worker_cluster_match_the_thread_runner(tmp_path):
    routes = {}
    for name in ("api-a", "api-b"):
        routes |= api_routes(name)
    for site in ("site-a", "site-b"):
        routes |= site_routes(site)
    documents = 2 * RECORDS_PER_API + 2 * PAGES_PER_SITE
    assert documents >= PARALLEL_FROM_DOCS  # else clean would not fan out at all

    with serve_routes(routes) as base:
        local = config_for(base, tmp_path / "threads", {"kind": "threads"})
        local_collected, local_cleaned = night(local)

        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",  # 8787 may be taken
            ) as cluster,
            Client(cluster, set_as_default=False) as client,
        ):
            worker_pids = client.run(os.getpid)
            runner = {"kind": "dask", "address": cluster.scheduler_address}
            on_dask = config_for(base, tmp_path / "dask", runner)
            with get_task_stream(client) as stream:
                state = night(on_dask, return_state=True)
            still_there = client.nthreads()
            # A worker given the flow's ephemeral settings would start a Prefect server of
            # its own (flows/collect.py api_for_workers says why it must not).
            servers = [p.cmdline() for pid in worker_pids.values() for p in _children(pid)]

        # The same night again, in the same bucket, on threads: the keys leave the runner out.
        again = night(on_dask.model_copy(update={"runner": RunnerConfig()}), return_state=True)
    collected, cleaned = state.result()

    assert not collected.failures and not local_collected.failures
    assert collected.raw.rows == local_collected.raw.rows == documents
    raw_rows, clean_rows = tables(on_dask)
    assert (raw_rows, clean_rows) == tables(local)
    assert cleaned.counters == local_cleaned.counters
    assert cleaned.counters["kept"] < cleaned.counters["seen"] == documents
    assert {"dropped_too_short_chars", "dropped_exact_duplicate"} <= set(cleaned.counters)

    def workers_of(task_name: str) -> set[str]:
        return {r["worker"] for r in stream.data if r["key"].startswith(f"{task_name}-")}

    assert len(stream.data) == 4 + math.ceil(documents / CHUNK_DOCS)  # sources, then chunks
    assert workers_of("scrape_site") | workers_of("fetch_api") == set(worker_pids)
    assert workers_of("_prepare_chunk") == set(worker_pids)
    assert still_there.keys() == worker_pids.keys()  # attached, so left running
    assert not any(_alive(pid) for pid in worker_pids.values())  # the cluster's own exit
    assert servers == []
    recorded = task_states(state.state_details.flow_run_id)  # on the flow's own server
    names = ("scrape-site-a", "scrape-site-b", "api-api-a", "api-api-b", "clean")
    assert {name: recorded.get(name) for name in names} == dict.fromkeys(names, ["Completed"])
    reused = task_states(again.state_details.flow_run_id)
    assert {name: reused.get(name) for name in names} == dict.fromkeys(names, ["Cached"])
    assert again.result()[1] == cleaned


def test_a_temporary_cluster_serves_the_run_and_is_shut_down_after_it(tmp_path):
    runner = RunnerConfig(kind="dask", n_workers=2)
    storage = StorageConfig(data_root=str(tmp_path))
    with fan_out(runner, storage) as address:
        assert address.startswith("tcp://127.0.0.1:")
        with Client(address, set_as_default=False) as client:
            worker_pids = client.run(os.getpid)
        with executor(address) as (pool, threads):
            pids = {pool.submit(os.getpid).result() for _ in range(8)}
    assert len(worker_pids) == threads == 2
    assert pids <= set(worker_pids.values())
    assert not any(_alive(pid) for pid in worker_pids.values())
    with pytest.raises(OSError):
        Client(address, timeout=1, set_as_default=False)


def test_no_scheduler_at_the_address_names_the_setting_and_the_fix(tmp_path):
    address = f"tcp://127.0.0.1:{unused_port()}"
    runner = RunnerConfig(kind="dask", address=address, connect_timeout_s=1)
    storage = StorageConfig(data_root=str(tmp_path))
    with pytest.raises(ConnectionError, match=rf"runner.address {address}: no Dask scheduler"):
        with fan_out(runner, storage):
            pass


def test_a_worker_that_does_not_share_the_data_root_stops_the_run_before_any_work(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "lake").mkdir()
    with LocalCluster(
        n_workers=0, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        # The worker runs in a mount namespace of its own, with an empty folder mounted over
        # the data root: a machine of its own, as far as the data root is concerned.
        worker = [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address]
        worker += ["--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]
        hidden = f"mount -t tmpfs lmkiln-test {shlex.quote(str(root))} && exec {shlex.join(worker)}"
        process = subprocess.Popen(["unshare", "--mount", "sh", "-c", hidden])
        try:
            runner = RunnerConfig(
                kind="dask", address=cluster.scheduler_address, connect_timeout_s=120
            )
            with pytest.raises(RuntimeError, match=r"Dask workers tcp://127\.0\.0\.1:\d+ do not"):
                with fan_out(runner, StorageConfig(data_root=str(root))):
                    pytest.fail("the run went on with a worker that cannot see its data root")
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert sorted(p.name for p in root.iterdir()) == ["lake"]  # the check leaves nothing


def _children(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _alive(pid: int, wait_s: float = 10.0) -> bool:
    """Whether process `pid` still runs after up to `wait_s` (a closed cluster's workers
    exit on their own a moment after it returns)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.1)
    return True
