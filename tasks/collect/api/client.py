"""JSON REST APIs: pages of records, each mapped to a document or quarantined with a reason.

One read walks the pages (pagination.py) at most `requests_per_second`, with the
session's per-request retries (429/503 Retry-After, 5xx, resets, timeouts), each page at most
`max_page_bytes`. What each record becomes, and how far the watermark may move, is the
bookkeeping in reader.py; this module is the HTTP side and the page loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import requests

from lmkiln.tasks.collect.api.pagination import Page, dig, first_url, next_url, same_origin
from lmkiln.tasks.collect.api.reader import ApiRead, Reader
from lmkiln.tasks.collect.api.watermark import Watermark, reset_command
from lmkiln.tasks.collect.credentials import Credentials, credentials
from lmkiln.tasks.collect.http import SourceUnavailable, describe_failure, make_session
from lmkiln.tasks.config.collect import ApiSource

READ_CHUNK_BYTES = 64 * 1024
# On a resumed first page, these statuses say the request itself was refused, which is what
# an expired or unknown token gets; 401/403 are about credentials, 408/429 about load.
_REFUSED_TOKEN = frozenset(range(400, 500)) - {401, 403, 408, 429}


class ResumeFailed(ValueError):
    """The stored cursor of a resumed source no longer works; retrying would not help."""


class PageTooLarge(ValueError):
    """A response past max_page_bytes."""


def read_api(source: ApiSource, watermark: Watermark | None = None) -> ApiRead:
    """The records of `source` that are newer than `watermark`, page by page."""
    start = watermark or Watermark(source.watermark_kind)
    auth = credentials(source.name, source.auth)
    reader = Reader(source, start, auth)
    base_url = source.url.rstrip("/") + _path(source.path)
    since = None
    if source.since_param and start.value is not None:
        since = source.since_template.replace("{value}", str(start.value))
    token = None
    if start.kind == "cursor" and start.value is not None:
        token = str(start.value)  # the last page read: resume there
    url: str | None = first_url(source, base_url, since, token)
    requested: set[str] = set()
    throttle = Throttle(source.requests_per_second)
    with make_session(source.user_agent, source.retries) as session, auth.masking_transport_logs():
        while url is not None:
            if reader.counters["pages"] == source.max_pages:
                reader.stopped("max_pages")
                break
            requested.add(url)
            throttle.wait()
            first = not reader.counters["pages"]
            try:
                data, links = _get_json(session, source, url, auth, first)
                records = _records(data, source, url)
            except (SourceUnavailable, ValueError) as exc:
                if first and token is not None and _token_refused(exc):
                    raise _resume_failed(source, token, exc) from None
                raise
            if not reader.page(url, records):
                break
            following = next_url(source, Page(url, data, links, len(records)))
            url = _checked_next(source, base_url, following, requested, auth)
    return reader.finish()


class Throttle:
    """At most `per_second` request starts a second: a minimum interval between them.

    urllib3's retries of one request happen inside it, at their own backoff or Retry-After.
    """

    def __init__(self, per_second: float | None) -> None:
        self.interval_s = 1 / per_second if per_second else 0.0
        self._next_at = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next_at:
            time.sleep(self._next_at - now)
            now = self._next_at
        self._next_at = now + self.interval_s


def _get_json(
    session: requests.Session,
    source: ApiSource,
    url: str,
    auth: Credentials,
    first: bool,
) -> tuple[Any, Mapping[str, Mapping[str, str]]]:
    """A page's parsed JSON and its Link header. Failing pages fail the whole source: a
    partial read would be committed as if complete."""
    where = f"source '{source.name}': {'first page' if first else 'page'} {url}"
    failure: requests.RequestException | None = None
    try:
        # With credentials, no redirects: a redirect may lead to another host, and the
        # credentials would follow it there.
        response = session.get(
            url,
            params=auth.params or None,
            headers=auth.headers,
            timeout=source.timeout_s,
            allow_redirects=source.auth is None,
            stream=True,
        )
    except requests.RequestException as exc:
        failure = exc
    if failure is not None:
        raise _unavailable(f"{where} failed", failure, auth)
    with response:
        if response.is_redirect:
            target = auth.redact(str(response.headers.get("Location")))
            raise ValueError(
                f"{where} redirects to {target}; set the source's url to where it points "
                "(credentials are not sent through redirects)"
            )
        if not 200 <= response.status_code < 300:
            reason = _status_reason(source, response)
            raise SourceUnavailable(f"{where} failed: {reason}", response.status_code)
        body = _read_capped(response, source, where, auth)
        links = response.links
    try:
        # Not json.loads(body): one byte that is not UTF-8 would fail the whole page. Kept
        # as a lone surrogate, it spoils only its record, quarantined as undecodable.
        return json.loads(body.decode(json.detect_encoding(body), "surrogateescape")), links
    except ValueError:
        content_type = response.headers.get("Content-Type", "no Content-Type")
        start = auth.redact(body[:80].decode("utf-8", "replace")).replace("\n", " ")
        raise ValueError(
            f"{where} did not return JSON ({content_type}, starts with {start!r}); expected "
            f"records at records_path '{source.records_path}' (check the source's url)"
        ) from None


def _read_capped(
    response: requests.Response, source: ApiSource, where: str, auth: Credentials
) -> bytes:
    """The body, refused past max_page_bytes: a JSON page is parsed whole, in memory."""
    limit = source.max_page_bytes
    too_big = PageTooLarge(
        f"{where} is larger than max_page_bytes ({limit} bytes); ask for fewer records a page "
        "(the pagination's limit, or a page-size query such as per_page), or raise "
        "max_page_bytes"
    )
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:  # compressed or not, it unpacks larger
        raise too_big
    chunks, size, failure = [], 0, None
    try:
        for chunk in response.iter_content(chunk_size=READ_CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
    except requests.RequestException as exc:
        failure = exc
    if failure is not None:
        raise _unavailable(f"{where} failed while reading", failure, auth)
    return b"".join(chunks)


def _unavailable(what: str, exc: requests.RequestException, auth: Credentials) -> SourceUnavailable:
    """Raised outside the `except` block, and chained only without a secret in the query:
    requests' exception text holds the request URL, query included."""
    error = SourceUnavailable(f"{what}: {auth.redact(describe_failure(exc))}")
    if not auth.params:
        error.__cause__ = exc
    return error


def _status_reason(source: ApiSource, response: requests.Response) -> str:
    status = response.status_code
    if response.headers.get("X-RateLimit-Remaining") == "0":
        return (
            f"HTTP {status}: rate limit used up (X-RateLimit-Remaining: 0); lower "
            "requests_per_second, or authenticate for a higher limit"
        )
    if status in (401, 403) and source.auth is not None:
        return (
            f"HTTP {status}: the API refused the credentials from {source.auth.where} (check "
            "that it holds a current secret with access to this API)"
        )
    if status in (401, 403):
        return f"HTTP {status}: the API wants credentials (set the source's auth)"
    return f"HTTP {status}"


def _records(data: Any, source: ApiSource, url: str) -> list[Any]:
    records = dig(data, source.records_path) if source.records_path else data
    if not isinstance(records, list):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"source '{source.name}': {url} has no list at records_path "
            f"'{source.records_path}' (found {found}); if the API changed, set records_path to "
            "the dotted path of the records, or '' when the page itself is the list"
        )
    return records


def _token_refused(exc: Exception) -> bool:
    if isinstance(exc, SourceUnavailable):
        return exc.status in _REFUSED_TOKEN
    return isinstance(exc, ValueError) and not isinstance(exc, PageTooLarge)


def _resume_failed(source: ApiSource, token: str, exc: Exception) -> ResumeFailed:
    return ResumeFailed(
        f"source '{source.name}': the first page, resumed at the stored cursor {token!r}, "
        f"failed ({exc}). A token that no longer works (expired, or the data behind it "
        "rebuilt) cannot be resumed, and deleting the state file does not help: the cursor "
        "is rebuilt from the raw table. Reset the watermark, so that the next run starts at "
        "the first page (it reads again what was committed; clean's exact dedup drops the "
        f"repeats), with CONFIG the config file the flow runs with: {reset_command(source.name)}"
    )


def _checked_next(
    source: ApiSource, base_url: str, url: str | None, requested: set[str], auth: Credentials
) -> str | None:
    if url is None:
        return None
    # A server may echo its request URL, secret parameter included, into the next link.
    url = auth.strip(url)
    if not same_origin(url, base_url):
        # Credentials and the rate limit belong to the source's own host.
        raise ValueError(
            f"source '{source.name}': the next page is on another host ({url}); only "
            f"pagination on {base_url}'s host is followed: point url at the host that serves "
            "the pages"
        )
    if url in requested:
        raise ValueError(
            f"source '{source.name}': pagination loops back to {url}, already read; check "
            f"pagination ({source.pagination.style}) against the API's documentation"
        )
    return url


def _path(path: str) -> str:
    return "/" + path.lstrip("/") if path else ""
