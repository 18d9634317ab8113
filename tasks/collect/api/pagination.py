"""Pagination of JSON APIs: the first page's URL, and where each page says the next one is.

Four styles cover most APIs: a page number or an offset in the query; a token or a full
URL in the body; the `Link: <...>; rel="next"` header. Each is a pure function of the page
just read, so the fetch loop in client.py stays the same for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lmkiln.tasks.config.collect import (
    ApiSource,
    Cursor,
    LinkHeader,
    NextUrl,
    OffsetLimit,
    PageNumber,
    QueryValue,
)


@dataclass(frozen=True)
class Page:
    """What the next-page rules need of a page that was read."""

    url: str
    data: Any  # the parsed JSON body
    links: Mapping[str, Mapping[str, str]]  # requests' parsed Link header: rel -> {"url": ...}
    records: int  # how many records it held


def with_params(url: str, params: Mapping[str, QueryValue]) -> str:
    """`url` with `params` set, replacing same-named ones and keeping the others in order."""
    if not params:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(key, _query_text(value)) for key, value in params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def first_url(source: ApiSource, base_url: str, since: str | None, token: str | None) -> str:
    """The first request: configured query, the pagination's start, the watermark filter.

    `since` is the watermark as `since_param` sends it; `token` a stored cursor to resume at.
    """
    params: dict[str, QueryValue] = dict(source.query)
    p = source.pagination
    if isinstance(p, PageNumber):
        params[p.param] = p.first
    elif isinstance(p, OffsetLimit):
        params |= {p.offset_param: 0, p.limit_param: p.limit}
    elif isinstance(p, Cursor) and token is not None:
        params[p.param] = token
    if source.since_param and since is not None:
        params[source.since_param] = since
    return with_params(base_url, params)


def next_url(source: ApiSource, page: Page) -> str | None:
    """The URL of the page after `page`, or None when `page` was the last one."""
    p = source.pagination
    if isinstance(p, PageNumber | OffsetLimit | Cursor) and p.has_more_path:
        if not dig(page.data, p.has_more_path):
            return None
    if isinstance(p, PageNumber):
        if not page.records:
            return None
        return with_params(page.url, {p.param: _int_param(page.url, p.param, p.first) + 1})
    if isinstance(p, OffsetLimit):
        if not page.records:
            return None
        offset = _int_param(page.url, p.offset_param, 0) + page.records
        return with_params(page.url, {p.offset_param: offset})
    if isinstance(p, Cursor):
        token = dig(page.data, p.next_path)
        if token is None or token == "" or isinstance(token, dict | list | bool):
            return None
        return with_params(page.url, {p.param: str(token)})
    if isinstance(p, NextUrl):
        target = dig(page.data, p.next_path)
        return urljoin(page.url, target) if isinstance(target, str) and target else None
    if isinstance(p, LinkHeader):
        target = page.links.get("next", {}).get("url")
        return urljoin(page.url, target) if target else None
    raise TypeError(f"unknown pagination {p!r}")  # the config's union is exhaustive


def token_of(source: ApiSource, url: str) -> str | None:
    """The cursor token a page's URL carries (None on a first page without one)."""
    p = source.pagination
    if not isinstance(p, Cursor):
        return None
    return dict(parse_qsl(urlsplit(url).query)).get(p.param)


def dig(data: Any, dotted: str | None) -> Any:
    """The value at a dotted path ("data.items"); None where any step is missing."""
    value = data
    for key in dotted.split(".") if dotted else ():
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def same_origin(a: str, b: str) -> bool:
    left, right = urlsplit(a), urlsplit(b)
    return (left.scheme, left.netloc.lower()) == (right.scheme, right.netloc.lower())


def _int_param(url: str, name: str, default: int) -> int:
    value = dict(parse_qsl(urlsplit(url).query)).get(name)
    return int(value) if value is not None and value.lstrip("-").isdigit() else default


def _query_text(value: QueryValue) -> str:
    if isinstance(value, bool):  # YAML's true/false, as query strings spell them
        return "true" if value else "false"
    return str(value)
