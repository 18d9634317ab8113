"""Real HTTP servers on 127.0.0.1 for tests, started in a thread and stopped on exit."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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

# A model small enough that a nightly flow trains in seconds on a CPU; tests set the steps.
TINY_MODEL = {
    "vocab_size": 400,
    "block_size": 32,
    "n_layer": 1,
    "n_head": 2,
    "n_embd": 32,
    "batch_size": 8,
    "warmup_steps": 0,
}

HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/json"}


@contextmanager
def serve_routes(routes: Mapping[str, Route], log: list[str] | None = None) -> Iterator[str]:
    """Serve `routes` (keyed by path, without query) and yield the base URL.

    Each request's path with query is appended to `log` when one is given; unknown paths
    answer 404.
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
            status, headers, body = respond(self.path, self.headers)
            data = body.encode("utf-8") if isinstance(body, str) else body
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
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
