"""Real HTTP servers on 127.0.0.1 for tests, started in a thread and stopped on exit."""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# (status, headers, body); a str body is sent as UTF-8.
Response = tuple[int, Mapping[str, str], str | bytes]


@dataclass(frozen=True)
class WithHeaders:
    """A route that answers from the path and the request headers (conditional GETs, auth)."""

    respond: Callable[[str, Mapping[str, str]], Response]


# A fixed response, responses served in turn (the last one repeats), a function of the
# request's path with its query string, or one that also reads the request's headers.
Route = Response | Sequence[Response] | Callable[[str], Response] | WithHeaders

HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/json"}


FAULT_KINDS = ("500", "503", "429", "reset", "stall")


@dataclass
class Faults:
    """A fault plan for `serve_routes`: some requests fail before their route is asked.

    Whether a request fails, and how, is a hash of (`seed`, its path with query, how often
    that same target was requested before): reproducible whatever the thread timing, and a
    retried request draws again. A target never fails more than `max_consecutive` times in
    a row, so a client with more retries than that always gets its answer. Kinds:

    - "500", "503": that status, no Retry-After (the client backs off on its own);
    - "429": Too Many Requests with `Retry-After: retry_after_s` (0 makes a client that
      honours it fall back to its own backoff: fast tests);
    - "reset": the connection is closed with a TCP reset, no response at all;
    - "stall": nothing for `stall_s`, then the same reset; set it above the client's read
      timeout, and it costs a test that timeout once per stall.

    `injected` counts the faults served by kind, so a test can check that they happened.
    One plan may serve several servers; its counts add up. Usage:

        faults = Faults(rate=0.2, seed=1, retry_after_s=0)
        with serve_routes(routes, faults=faults) as base: ...
        assert faults.total > 0
    """

    rate: float = 0.2
    seed: int = 0
    kinds: Sequence[str] = FAULT_KINDS
    retry_after_s: int = 1
    stall_s: float = 1.0
    max_consecutive: int = 2
    injected: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _asked: Counter[str] = field(default_factory=Counter, repr=False)
    _streak: Counter[str] = field(default_factory=Counter, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"fault kinds must be some of {FAULT_KINDS}, got {self.kinds}")

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    def draw(self, target: str) -> str | None:
        """The fault for this request to `target` (path with query), or None to serve it."""
        with self._lock:
            turn = self._asked[target]
            self._asked[target] += 1
            digest = hashlib.sha256(f"{self.seed}:{target}:{turn}".encode()).digest()
            chance = int.from_bytes(digest[:8], "big") / 2**64
            if self._streak[target] >= self.max_consecutive or chance >= self.rate:
                self._streak[target] = 0
                return None
            self._streak[target] += 1
            kind = self.kinds[int.from_bytes(digest[8:16], "big") % len(self.kinds)]
            self.injected[kind] += 1
            return kind

    def serve(self, kind: str, handler: BaseHTTPRequestHandler) -> None:
        """Answer (or not) the way `kind` says."""
        if kind in ("reset", "stall"):
            if kind == "stall":
                time.sleep(self.stall_s)
            # Linger 0: close() sends a reset instead of an orderly end of stream.
            linger = struct.pack("ii", 1, 0)
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            handler.connection.close()
            handler.close_connection = True
            return
        body = f"injected fault {kind}".encode()
        handler.send_response(int(kind))
        handler.send_header("Content-Type", "text/plain")
        if kind == "429":
            handler.send_header("Retry-After", str(self.retry_after_s))
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@contextmanager
def serve_routes(
    routes: Mapping[str, Route], log: list[str] | None = None, faults: Faults | None = None
) -> Iterator[str]:
    """Serve `routes` (keyed by path, without query) and yield the base URL.

    Each request's path with query is appended to `log` when one is given, faulted or not;
    unknown paths answer 404. A route that sets Content-Length keeps it, so a body can end
    before the length it promised. With `faults`, some requests fail first (see `Faults`).
    """
    lock = threading.Lock()
    served: dict[str, int] = {}

    def respond(path_with_query: str, headers: Mapping[str, str]) -> Response:
        path = urlsplit(path_with_query).path
        route = routes.get(path)
        if route is None:
            return 404, {"Content-Type": "text/plain"}, f"no route {path}"
        if isinstance(route, WithHeaders):
            return route.respond(path_with_query, headers)
        if callable(route):
            return route(path_with_query)
        if _is_response(route):
            return route  # type: ignore[return-value]
        with lock:
            turn = served.get(path, 0)
            served[path] = turn + 1
        return route[min(turn, len(route) - 1)]  # type: ignore[return-value]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if log is not None:
                with lock:
                    log.append(self.path)
            fault = faults.draw(self.path) if faults is not None else None
            if fault is not None:
                faults.serve(fault, self)
                return
            status, headers, body = respond(self.path, self.headers)
            data = body.encode("utf-8") if isinstance(body, str) else body
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:  # a route may promise more than it sends
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _is_response(route: object) -> bool:
    return isinstance(route, tuple) and len(route) == 3 and isinstance(route[0], int)


def unused_port() -> int:
    """A port nothing listens on (free when asked; good enough for a refused connection)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def html_page(title: str, body: str) -> Response:
    return (
        200,
        HTML,
        f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>",
    )
