"""The Prefect and MLflow UIs in a real browser, as a person sees them after `lmkiln serve` and
`lmkiln ui`: Debian's headless Chromium, driven by Playwright, opens the nightly deployment's
page and the registered model's page. One screenshot per page goes to $LMKILN_TEST_OUTPUT,
else test-output/ at the repository root."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmkiln.deployments.serve import declared
from lmkiln.servers import healthy
from lmkiln.tasks.config.pipeline import PipelineConfig, ScheduleConfig
from lmkiln.tasks.core.records import ModelRef
from tests.helpers.routes import unused_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Known to work on this machine. Without the background-networking ones, Chromium keeps
# dialling Google's services, and those refused connections come many at a time.
CHROMIUM_FLAGS = [
    "--no-sandbox",  # as root, Chromium refuses to start with its sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_TIMEOUT_MS = 60_000  # both UIs render after their scripts run; this machine is shared
START_TIMEOUT_S = 180.0  # a first Prefect start runs its migrations, beside a training

# Not the defaults (0 2 * * *, UTC), so what the page shows can only come from the config.
# Tokyo keeps no daylight saving time: its 04:30 is 19:30 UTC all year.
CRON = "30 4 * * 1-5"
TIMEZONE = "Asia/Tokyo"
CRON_IN_WORDS = "At 04:30 AM, Monday through Friday"  # Prefect's rendering of CRON
NEXT_RUN_UTC = "07:30:00 PM"
TIMEZONE_HELP = ScheduleConfig.model_fields["timezone"].description  # its docstring


def output_dir() -> Path:
    folder = Path(os.environ.get("LMKILN_TEST_OUTPUT") or REPO / "test-output")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class UIs:
    prefect_url: str
    mlflow_url: str
    deployment_id: str
    model: ModelRef


@pytest.fixture(scope="module")
def uis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIs]:
    """`lmkiln serve` (which starts a Prefect server), a champion registered by the project's
    own training and registration code, then `lmkiln ui` beside them (which starts MLflow)."""
    root = tmp_path_factory.mktemp("ui")
    config = PipelineConfig.model_validate(
        {
            "storage": {"data_root": str(root / "data")},
            "schedule": {"cron": CRON, "timezone": TIMEZONE},
        }
    )
    config_path = root / "config.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    prefect_port, mlflow_port = unused_port(), unused_port()
    api = f"http://127.0.0.1:{prefect_port}/api"
    lmkiln = [sys.executable, "-m", "lmkiln.cli"]
    with contextlib.ExitStack() as stack:
        serve = [*lmkiln, "serve", "--config", str(config_path), "--port", str(prefect_port)]
        serving = stack.enter_context(_running(serve, root, "serve", signal.SIGINT))
        model = _register_champion(config)  # while the Prefect server starts
        deployment = _wait_for(
            lambda: _get_json(f"{api}/deployments/name/nightly/nightly"),
            "the nightly deployment that `lmkiln serve` registers",
            [serving],
        )
        scheduled = {
            "deployments": {"id": {"any_": [deployment["id"]]}},
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
        }
        _wait_for(
            lambda: _get_json(f"{api}/flow_runs/filter", scheduled),
            "scheduled run of the nightly deployment",
            [serving],
        )
        ui = [*lmkiln, "ui", "--config", str(config_path)]
        ui += ["--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port)]
        showing = stack.enter_context(_running(ui, root, "ui", signal.SIGTERM))
        mlflow_url = f"http://127.0.0.1:{mlflow_port}"
        _wait_for(lambda: healthy(f"{mlflow_url}/health"), "the MLflow server", [showing])
        yield UIs(api.removesuffix("/api"), mlflow_url, deployment["id"], model)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A Chromium context with a fresh profile, in UTC and US English, so dates and times
    render the same on every machine."""
    if not CHROMIUM.is_file():
        raise RuntimeError(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
            timezone_id="UTC",
            locale="en-US",
        )
        try:
            yield context
        finally:
            context.close()


def test_the_prefect_ui_shows_the_nightly_deployment_and_its_schedule(browser, uis: UIs) -> None:
    from playwright.sync_api import expect

    # /v2 is the default UI of Prefect 3.9's server: its root redirects there.
    deployment_url = f"{uis.prefect_url}/v2/deployments/deployment/{uis.deployment_id}"
    with _page(browser, "prefect-deployment") as page:
        page.goto(deployment_url)
        schedule = page.get_by_text(CRON_IN_WORDS, exact=True)
        expect(schedule).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(page.get_by_role("navigation", name="breadcrumb")).to_contain_text("nightly")
        expect(page.get_by_text("Ready", exact=True)).to_be_visible()  # a process serves it
        # The next run, 04:30 in Tokyo, in the browser's UTC: the timezone reached the
        # scheduler.
        next_run = page.get_by_text(re.compile(rf"\d{{4}}/\d\d/\d\d {NEXT_RUN_UTC}"))
        expect(next_run.first).to_be_visible()
        page.screenshot(path=output_dir() / "prefect-deployment.png")

        page.get_by_role("tab", name="Description").click()
        expect(page.get_by_text(_declared("nightly")["description"])).to_be_visible()

    with _page(browser, "prefect-schedule") as page:
        # The schedule's own dialog: the cron line and the timezone as the config set them.
        page.goto(deployment_url)
        schedule = page.get_by_text(CRON_IN_WORDS, exact=True)
        menu = page.get_by_role("button", name="Open menu")
        card = page.locator("div").filter(has=schedule).filter(has=menu).last
        card.get_by_role("button", name="Open menu").click(timeout=UI_TIMEOUT_MS)
        page.get_by_role("menuitem", name="Edit").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_label("Value")).to_have_value(CRON)
        expect(dialog).to_contain_text(re.compile(r"Asia\s*/\s*Tokyo"))
        page.screenshot(path=output_dir() / "prefect-schedule.png")
        # Closed unsaved with the page: the test changes nothing.

    with _page(browser, "prefect-run-form") as page:
        # The custom-run form: the config's fields with their docstrings, filled in from it.
        page.goto(f"{deployment_url}/run")
        help_text = page.get_by_text(TIMEZONE_HELP, exact=True)
        expect(help_text).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(page.get_by_label(re.compile(r"^Timezone"))).to_have_value(TIMEZONE)
        help_text.scroll_into_view_if_needed()
        page.screenshot(path=output_dir() / "prefect-run-form.png")


def test_the_mlflow_ui_shows_the_registered_model_and_its_champion(browser, uis: UIs) -> None:
    from playwright.sync_api import expect

    model = uis.model
    assert "champion" in model.aliases  # what the registry says, before asking the page
    with _page(browser, "mlflow-registered-model") as page:
        page.goto(f"{uis.mlflow_url}/#/models/{model.name}")
        version = page.get_by_role("row").filter(has_text=f"Version {model.version}")
        expect(version).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(page.get_by_role("heading", name=model.name, exact=True)).to_be_visible()
        expect(version).to_contain_text("@ champion")
        page.screenshot(path=output_dir() / "mlflow-registered-model.png")


@contextlib.contextmanager
def _page(browser: Any, name: str) -> Iterator[Any]:
    """A new tab, closed at the end; if the block fails, what the tab showed is kept as
    `<name>-failed.png` beside the other screenshots."""
    page = browser.new_page()
    try:
        yield page
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=output_dir() / f"{name}-failed.png", full_page=True)
        raise
    finally:
        page.close()


def _register_champion(config: PipelineConfig) -> ModelRef:
    """The first version of the model, trained for two steps on a tiny corpus: champion."""
    from lmkiln.tasks.core import lake
    from lmkiln.tasks.registry.register import register_model
    from lmkiln.tasks.train.tasks import train_model
    from tests.helpers.training import TINY, corpus_rows

    path = config.storage.lake("corpus")
    corpus = lake.append(path, corpus_rows(), lake.CORPUS_TABLE, "browser test corpus")
    train = TINY.model_copy(update={"max_steps": 2, "save_steps": 2})
    run = train_model(corpus, train, config.storage, config.registry.experiment, {})
    return register_model(run, config.registry, config.storage)


def _declared(name: str) -> dict[str, Any]:
    return next(spec for spec in declared() if spec["name"] == name)


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]


@contextlib.contextmanager
def _running(
    command: Sequence[str], root: Path, name: str, stop: signal.Signals
) -> Iterator[_Process]:
    """Run an lmkiln command in its own process group; `stop` ends it as Ctrl-C or a
    service manager would, and the whole group is killed if that takes too long."""
    # Like a fresh shell: the tests' Prefect API and MLflow store are not the command's.
    env = {k: v for k, v in os.environ.items() if not (k.startswith("MLFLOW_") and "URI" in k)}
    env.pop("PREFECT_API_URL", None)
    env["PREFECT_HOME"] = str(root / "prefect")
    # The scheduler's first pass after the deployment lands, in seconds rather than a minute.
    env["PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"] = "2"
    log = root / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = _Process(popen, log)
    try:
        yield process
    finally:
        if popen.poll() is None:
            popen.send_signal(stop)
            try:
                popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        # Whatever it started and left behind goes with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=30)


def _wait_for(check: Callable[[], Any], what: str, processes: Sequence[_Process]) -> Any:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        result = check()
        if result:
            return result
        for process in processes:
            if process.popen.poll() is not None:
                raise AssertionError(
                    f"{' '.join(process.popen.args[2:4])} exited with code "
                    f"{process.popen.returncode} before {what} was up:\n{process.tail()}"
                )
        if time.monotonic() > deadline:
            logs = "\n".join(process.tail() for process in processes)
            raise AssertionError(f"no {what} after {START_TIMEOUT_S:.0f}s:\n{logs}")
        time.sleep(0.5)


def _get_json(url: str, filters: dict[str, Any] | None = None) -> Any:
    """GET `url`, or POST `filters` to it; None while the server is not up or answers 404."""
    data = None if filters is None else json.dumps(filters).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return json.load(response)
    except OSError:
        return None
