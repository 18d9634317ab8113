"""The registry's champion served to synthetic sources: `endpoint.base_url: demo://champion/v1`
asks for the model pinned for tonight (GeneratorChoice.served) behind an OpenAI-compatible API,
started by `transformers serve` on 127.0.0.1 for as long as the source's task runs. Its requests
name the folder the model was saved to, which is what the server answers to.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lmkiln.tasks.config.base import DEMO_SCHEME
from lmkiln.tasks.config.storage import StorageConfig

logger = logging.getLogger(__name__)

CHAMPION = f"{DEMO_SCHEME}champion"  # the alias its requests go to
STOP_TIMEOUT_S = 5.0

MODEL_SERVER_START_TIMEOUT_S = 180.0  # a loaded CI machine can take minutes to import torch


@contextmanager
def champion_server(pinned: set[str], storage: StorageConfig) -> Iterator[dict[str, str]]:
    """`demo://champion`: the pinned champion served by `transformers serve` on a free port
    of 127.0.0.1 while the block runs; yields its alias, {"demo://champion": base URL}, or {}
    when no source asks for it. Requests are logged to `<data_root>/demo/champion-server.log`."""
    if not pinned:
        yield {}
        return
    if len(pinned) > 1:
        raise ValueError(
            f"demo://champion can serve one model a night, asked for {', '.join(sorted(pinned))}"
        )
    (uri,) = pinned
    folder = served_folder(storage, uri)
    log = storage.root / "demo" / "champion-server.log"
    with model_server(folder, log) as base_url:
        logger.info("demo://champion serves %s at %s", uri, base_url)
        yield {CHAMPION: base_url}


SERVED_KEPT = 2  # saved champions kept for serving: tonight's and the one before


def served_folder(storage: StorageConfig, uri: str) -> Path:
    """The pinned model saved as a transformers folder, once: what the server loads, and the
    name its requests must use. Older saved champions than the last SERVED_KEPT go."""
    folder = storage.root / "served" / hashlib.sha256(uri.encode("utf-8")).hexdigest()[:16]
    if (folder / "config.json").is_file():
        return folder
    saved = sorted(
        (p for p in folder.parent.glob("*") if (p / "config.json").is_file()),
        key=lambda p: p.stat().st_mtime,
    )
    for old in saved[: max(0, len(saved) - SERVED_KEPT + 1)]:
        shutil.rmtree(old, ignore_errors=True)
    from lmkiln.tasks.registry.models import load_model_uri

    generator = load_model_uri(uri, storage)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", dir=folder.parent))
    try:
        generator.model.save_pretrained(str(staging))
        generator.tokenizer.save_pretrained(str(staging))
        staging.rename(folder)
    except OSError:
        if not (folder / "config.json").is_file():  # not another run's copy: a failure
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


@contextmanager
def model_server(folder: Path, log_path: Path) -> Iterator[str]:
    """`transformers serve` pinned to `folder`, on a free port; stopped on exit."""
    import requests

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(folder)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + MODEL_SERVER_START_TIMEOUT_S
        while True:
            try:
                if requests.get(f"{base_url}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(
                    f"transformers serve did not start for {folder} (needs the transformers"
                    f"[serving] extra); the end of {log_path}:\n{tail}"
                )
            time.sleep(0.5)
        yield base_url
    finally:
        terminate(process)


def terminate(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_S."""
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
