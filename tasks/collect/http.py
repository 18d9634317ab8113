"""HTTP plumbing shared by the fetch stages: one session with polite per-request retries.

Per-request retries (backoff, Retry-After) live here; a whole source that gives nothing
raises `SourceUnavailable`, which the Prefect task retries as a unit.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import random
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import Self
from urllib.parse import parse_qsl, urldefrag, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)


# Transient answers: timeouts, rate limits and overloaded or restarting servers.
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
# Retry n waits backoff_factor * 2**(n - 1) seconds (PoliteRetry), plus up to backoff_jitter
# seconds so that parallel sources do not retry in lockstep.
BACKOFF_FACTOR_S = 0.5
BACKOFF_JITTER_S = 0.25
# A server may ask for hours: past this, the request is not retried and its 429/503 stands;
# the Prefect task retries the source minutes later, or the next night does.
RETRY_AFTER_MAX_S = 60

# The final answer decides: a retry would not change it.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 451})


class SourceUnavailable(RuntimeError):
    """A source that gave nothing at all (connection refused, non-2xx on its first URL).

    `status` is the last HTTP status, or None for a transport error; `retryable` tells the
    task-level retry whether another try could help (not on 401/403/404).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        if self.retryable:
            hint = "check the URL and that the server is up; the task retries on this error"
        else:
            hint = f"HTTP {status} is not retried: check the URL, and the credentials on 401/403"
        super().__init__(f"{message} ({hint})")

    @property
    def retryable(self) -> bool:
        return self.status not in PERMANENT_STATUSES


class PoliteRetry(Retry):
    """urllib3's Retry with two changes: the backoff (with jitter) starts at the first retry,
    where urllib3 retries once at once; and a Retry-After beyond `RETRY_AFTER_MAX_S` ends the
    retries instead of being shortened, since the server asked for more than we will wait."""

    def get_backoff_time(self) -> float:
        errors = len(
            list(itertools.takewhile(lambda e: e.redirect_location is None, reversed(self.history)))
        )
        if errors == 0:
            return 0.0
        wait_s = self.backoff_factor * 2 ** (errors - 1) + random.random() * self.backoff_jitter
        return float(min(self.backoff_max, wait_s))

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        asked_s = _retry_after_s(response) if response is not None else None
        if asked_s is not None and asked_s > RETRY_AFTER_MAX_S:
            reason = ResponseError(f"Retry-After {asked_s:.0f} s is over {RETRY_AFTER_MAX_S} s")
            # urllib3's own increment passes the same optional pool (and ignores the same error).
            raise MaxRetryError(_pool, url or "", reason)  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _retry_after_s(response: BaseHTTPResponse) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return _UNCAPPED.parse_retry_after(value)
    except InvalidHeader:
        return None


_UNCAPPED = Retry(retry_after_max=10**9)


def make_session(
    user_agent: str, retries: int, methods: tuple[str, ...] = ("GET", "HEAD")
) -> requests.Session:
    """A session that retries transient failures of `methods` with backoff and Retry-After
    (POST only where the request is safe to repeat: a generation)."""
    retry = PoliteRetry(
        total=retries,
        backoff_factor=BACKOFF_FACTOR_S,
        backoff_jitter=BACKOFF_JITTER_S,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset(methods),
        respect_retry_after_header=True,
        retry_after_max=RETRY_AFTER_MAX_S,
        # The caller reads the final status itself and counts it, rather than an exception.
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def describe_failure(exc: requests.RequestException) -> str:
    """A one-line reason for a transport error, without urllib3's nested repr noise."""
    reason = exc.args[0] if exc.args else exc
    inner = getattr(reason, "reason", None)
    text = str(inner or reason)
    return f"{type(exc).__name__}: {text}"


# Query parameters that only say where a visitor came from: the same page either way.
TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_ga"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def resolve_aliases(url: str, aliases: Mapping[str, str]) -> str:
    """`url` with an alias's prefix replaced by its target ("demo://pydoc/x.html" ->
    "http://127.0.0.1:5000/x.html" with {"demo://pydoc": "http://127.0.0.1:5000"}). What is
    left must be an http(s) URL: the stage code after this only speaks HTTP."""
    for prefix, target in aliases.items():
        if url == prefix or url.startswith(prefix.rstrip("/") + "/"):
            url = target.rstrip("/") + url[len(prefix.rstrip("/")) :]
            break
    if not url.startswith(("http://", "https://")):
        known = ", ".join(sorted(aliases)) or "none"
        raise ValueError(
            f"{url}: not an http(s) URL and no alias for it (aliases: {known}); demo:// URLs "
            "are served by the collect flow (lmkiln run, lmkiln serve), not by a task alone"
        )
    return url


def canonical_url(url: str) -> str:
    """The form URLs are compared in, so one page is fetched once however it is linked:
    lower-case scheme and host, no default port, "/" for an empty path, no fragment, query
    parameters sorted and tracking ones (utm_*, fbclid, ...) dropped."""
    parts = urlsplit(urldefrag(url).url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = f"{parts.netloc.rpartition('@')[0]}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", canonical_query(parts.query), ""))


def canonical_query(query: str) -> str:
    """A query string as canonical_url writes it: parameters sorted, tracking ones dropped."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(
        sorted(
            (key, value)
            for key, value in pairs
            if not key.lower().startswith("utm_") and key.lower() not in TRACKING_PARAMS
        )
    )


def non_public_address(host: str) -> str | None:
    """An address `host` resolves to that is not on the public internet (loopback, private,
    link-local, reserved), or None. A host that does not resolve is left to fail on request.

    Checked before connecting, so a name that resolves differently a moment later (DNS
    rebinding) is not caught; a proxy that enforces the rule would be."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return None
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if not address.is_global:
            return str(address)
    return None


def origin(url: str) -> str:
    """scheme://host[:port]: the unit that robots.txt and politeness delays apply to."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
