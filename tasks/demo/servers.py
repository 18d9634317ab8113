"""Local servers behind `demo://` URLs, so the default config collects text with no set-up.

- `pydoc`: Python's own documentation server (`python -m pydoc -p 0`), a real HTML site
  with links, in a subprocess.
- `packages`: a small paginated JSON API over the long descriptions of the installed
  Python distributions, in a thread.

Both listen on 127.0.0.1 on a free port and stop when the `demo_servers` context exits. The
collect flow starts them and hands their aliases to the collect tasks, which point a source's
demo:// URLs at them before any crawler or API client runs: stage code only sees http(s)
URLs. (`demo://champion`, the registry's champion served to synthetic sources, is no site: it
is lmkiln.tasks.collect.synth.serving.)
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lmkiln.tasks.collect.synth.serving import terminate
from lmkiln.tasks.config.base import DEMO_SCHEME

logger = logging.getLogger(__name__)

PYDOC_START_TIMEOUT_S = 20.0  # measured: about 0.1 s on a laptop; slow CI disks need more
STOP_TIMEOUT_S = 5.0
MIN_DESCRIPTION_CHARS = 300  # shorter ones are mostly "see the README" stubs
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


def demo_names(urls: Iterable[str]) -> set[str]:
    """The demo server names that these URLs (start URLs, scopes, API URLs) refer to."""
    return {_split_demo(url)[0] for url in urls if url.startswith(DEMO_SCHEME)}


def _split_demo(url: str) -> tuple[str, str]:
    name, slash, rest = url[len(DEMO_SCHEME) :].partition("/")
    return name, slash + rest


@contextmanager
def demo_servers(names: Iterable[str]) -> Iterator[dict[str, str]]:
    """Start the named demo servers; yields their aliases, "demo://NAME" -> base URL
    ("http://127.0.0.1:PORT"), which the collect tasks apply to a source's URLs
    (lmkiln.tasks.collect.http.resolve_aliases)."""
    wanted = sorted(set(names))
    unknown = [name for name in wanted if name not in SERVERS]
    if unknown:
        raise ValueError(
            f"unknown demo server(s) {', '.join(unknown)}: use demo://"
            f"{{{', '.join(sorted(SERVERS))}}}/... or a real http(s) URL"
        )
    with ExitStack() as stack:
        yield {f"{DEMO_SCHEME}{name}": stack.enter_context(SERVERS[name]()) for name in wanted}


@contextmanager
def pydoc_server() -> Iterator[str]:
    """`python -m pydoc` on a free port; it quits when its stdin reaches end of file."""
    started = time.monotonic()
    # An empty working directory: pydoc documents the cwd too, and the demo corpus should
    # not depend on where the pipeline was started. A fixed name, since the index page shows
    # it: a random one would change that page on every run.
    cwd = Path(tempfile.gettempdir()) / "lmkiln-pydoc-cwd"
    cwd.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "pydoc", "-n", "127.0.0.1", "-p", "0"],
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    # Reading in a thread gives a timeout, and keeps draining the pipe afterwards so that
    # pydoc never blocks on a full pipe.
    drain = threading.Thread(target=_drain, args=(process, lines), daemon=True)
    drain.start()
    try:
        base_url = _wait_for_pydoc(process, lines)
        logger.info("pydoc demo server at %s (%.2f s)", base_url, time.monotonic() - started)
        yield base_url
    finally:
        _stop_process(process, drain)


def _wait_for_pydoc(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> str:
    deadline = time.monotonic() + PYDOC_START_TIMEOUT_S
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(
                f"pydoc demo server did not start within {PYDOC_START_TIMEOUT_S:.0f} s "
                f"(output: {' | '.join(seen) or 'none'}); check that `{sys.executable} -m "
                "pydoc -p 0` runs, or use real URLs instead of demo://pydoc"
            ) from None
        if line is None:
            raise RuntimeError(
                f"pydoc demo server exited with code {process.wait()} before it was ready "
                f"(output: {' | '.join(seen) or 'none'}); check that `{sys.executable} -m "
                "pydoc -p 0` runs"
            )
        seen.append(line.strip())
        if line.startswith("Server ready at "):
            return line.removeprefix("Server ready at ").strip().rstrip("/")


def _drain(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    try:
        for line in process.stdout or ():
            lines.put(line)
    except (ValueError, OSError):  # the pipe was closed under us while stopping: done
        pass
    lines.put(None)


def _stop_process(process: subprocess.Popen[str], reader: threading.Thread) -> None:
    if process.stdin is not None:
        try:
            process.stdin.close()
        except OSError:  # pydoc already exited: the pipe is broken
            pass
    # pydoc would quit on end of input too, but only at its next 1 s poll; it holds no
    # state worth a clean exit, so terminate now.
    terminate(process)
    # The reader ends at the pipe's end of file, now that pydoc is gone; closing the pipe
    # under it would fail its read.
    reader.join(timeout=STOP_TIMEOUT_S)
    if process.stdout is not None:
        process.stdout.close()


@contextmanager
def packages_server() -> Iterator[str]:
    """The paginated JSON API: GET /packages?page=N&per_page=M."""
    records = package_records()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _packages_handler(records))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    logger.info("packages demo server at %s (%d records)", base_url, len(records))
    try:
        yield base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_TIMEOUT_S)


def package_records() -> list[dict[str, Any]]:
    """One record per installed distribution with a real long description, sorted by name."""
    records: dict[str, dict[str, Any]] = {}
    for dist in importlib.metadata.distributions():
        meta = dist.metadata
        name = _header(meta, "Name") or ""
        key = name.lower().replace("_", "-")
        description = (_header(meta, "Description") or "").strip()
        # The first entry on sys.path wins, as for an import.
        if not name or key in records or description == "UNKNOWN":
            continue
        if len(description) < MIN_DESCRIPTION_CHARS:
            continue
        summary = (_header(meta, "Summary") or "").strip()
        records[key] = {
            "id": key,
            "title": f"{name}: {summary}" if summary and summary != "UNKNOWN" else name,
            "text": description,
            "url": f"https://pypi.org/project/{name}/",
            "version": _header(meta, "Version") or "",
            "updated_at": _installed_at(dist),
        }
    return [records[key] for key in sorted(records)]


def _header(meta: importlib.metadata.PackageMetadata, name: str) -> str | None:
    # PackageMetadata promises get() only from Python 3.12 on; `in` and [] work on each.
    return meta[name] if name in meta else None


def _installed_at(dist: importlib.metadata.Distribution) -> str:
    # The install time stands in for a last-modified date: it changes when a package is
    # upgraded, which is what an incremental watermark needs to see.
    for path in dist.files or []:
        if path.name == "METADATA":
            try:
                mtime = Path(path.locate()).stat().st_mtime
            except OSError:
                break
            return datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds")
    return "1970-01-01T00:00:00+00:00"


def _packages_handler(records: list[dict[str, Any]]) -> type[BaseHTTPRequestHandler]:
    class PackagesHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path.rstrip("/") != "/packages":
                self._send(404, {"error": f"no such path {parts.path}; try /packages?page=1"})
                return
            query = parse_qs(parts.query)
            try:
                page = int(query.get("page", ["1"])[0])
                per_page = int(query.get("per_page", [str(DEFAULT_PER_PAGE)])[0])
            except ValueError:
                self._send(400, {"error": "page and per_page must be integers"})
                return
            if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
                self._send(400, {"error": f"page >= 1 and 1 <= per_page <= {MAX_PER_PAGE}"})
                return
            start = (page - 1) * per_page
            items = records[start : start + per_page]
            more = start + per_page < len(records)
            self._send(200, {"items": items, "page": page, "next_page": page + 1 if more else None})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request on stderr would drown the run's own logs

    return PackagesHandler


SERVERS: dict[str, Callable[[], AbstractContextManager[str]]] = {
    "pydoc": pydoc_server,
    "packages": packages_server,
}
