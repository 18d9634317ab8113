"""One HTML page from a file or an http(s) URL, read as the crawler reads a page: its session (user
agent, retries), timeout and size cap are a web source's defaults, and the body is decoded by
lmkiln.tasks.collect.extract.markup.decode. For `lmkiln extract`, which shows what a source would
keep of a page before any crawl."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import requests
from urllib3.exceptions import HTTPError

from lmkiln.tasks.collect.extract.markup import decode, looks_binary
from lmkiln.tasks.collect.http import describe_failure, make_session
from lmkiln.tasks.config.collect import WebSource

_DEFAULTS = WebSource.model_fields
HTML_TYPES = tuple(_DEFAULTS["content_types"].default)


class PageError(ValueError):
    """A file or URL that gives no HTML page; the message names it and the fix."""


@dataclass(frozen=True)
class Loaded:
    html: str
    url: str  # the final URL after redirects, or the file's file:// URL
    truncated: bool = False  # cut at the web source default max_page_bytes


def load(location: str) -> Loaded:
    """The page at `location`: an http(s) URL, or a file (HTML, or gzip-compressed HTML)."""
    if location.startswith(("http://", "https://")):
        return _fetch(location)
    if "://" in location:
        raise PageError(f"{location}: only http:// and https:// URLs are fetched; save the page")
    return _read(Path(location))


def _read(path: Path) -> Loaded:
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise PageError(f"{path}: {what}; pass an HTML file (or .html.gz) or an http(s) URL")
    body = path.read_bytes()
    if body[:2] == b"\x1f\x8b":  # gzip, whatever the file is named
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise PageError(f"{path}: a broken gzip file ({exc}); download it again") from None
    if looks_binary(body):
        raise PageError(f"{path}: not HTML (binary data); pass an HTML page")
    return Loaded(html=decode(body, ""), url=path.resolve().as_uri())


def _fetch(url: str) -> Loaded:
    max_bytes, timeout_s = _DEFAULTS["max_page_bytes"].default, _DEFAULTS["timeout_s"].default
    session = make_session(_DEFAULTS["user_agent"].default, _DEFAULTS["retries"].default)
    try:
        with session, session.get(url, timeout=timeout_s, stream=True) as response:
            if not 200 <= response.status_code < 300:
                raise PageError(
                    f"{url}: HTTP {response.status_code} {response.reason}; check the URL (and "
                    "that the page is public)"
                )
            content_type = response.headers.get("Content-Type", "")
            mime = content_type.split(";")[0].strip().lower()
            if mime and mime not in HTML_TYPES:
                raise PageError(
                    f"{url}: answered {mime}, not HTML; a web source would skip it (content_types)"
                )
            body = response.raw.read(max_bytes + 1, decode_content=True)
            final_url = response.url
    except requests.RequestException as exc:
        raise PageError(f"{url}: {describe_failure(exc)}; check the URL and the network") from None
    except HTTPError as exc:  # urllib3's, from reading the body: a broken gzip, a reset
        raise PageError(f"{url}: {type(exc).__name__} while reading the body; try again") from None
    if looks_binary(body):
        raise PageError(f"{url}: a binary body served as {mime or 'no type'}, not HTML")
    return Loaded(decode(body[:max_bytes], content_type), final_url, len(body) > max_bytes)
