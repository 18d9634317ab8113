"""API credentials, read when a source runs from where its config says they are.

The secret travels as a `SecretStr` until it becomes a request header or, with scheme
`query`, a query parameter added by requests at request time. Nothing the source shows
carries it: messages name where the secret comes from (the variable, the block), URLs lose
the parameter, and any text that could echo it (an error body, a record, urllib3's own log
lines) has its value masked.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

from lmkiln.tasks.config.collect import ApiAuth
from lmkiln.tasks.config.pipeline import ConfigError

REDACTED = "**********"
# urllib3 logs request URLs, query included, at DEBUG (and retries at WARNING): with a secret
# in the query those lines would carry it.
TRANSPORT_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
)


class Credentials:
    """What authenticates a source's requests, and how to keep its secret out of what is shown.

    Built per read and never logged; its repr names no secret.
    """

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        secret: SecretStr | None = None,
    ) -> None:
        self.headers = dict(headers or {})
        self.params = dict(params or {})  # added by requests at request time, never to `url`
        self._secret = secret

    def __repr__(self) -> str:
        return f"Credentials(headers={sorted(self.headers)}, params={sorted(self.params)})"

    def redact(self, text: str) -> str:
        """`text` with the secret, plain or URL-encoded, masked."""
        if self._secret is None:
            return text
        value = self._secret.get_secret_value()
        for form in {value, quote(value, safe=""), quote_plus(value)}:
            text = text.replace(form, REDACTED)
        return text

    def strip(self, url: str) -> str:
        """`url` without the secret's query parameter: a server that echoes its request URL in
        a next link or a record would otherwise put it in what the read shows."""
        if not self.params:
            return url
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        kept = [(k, v) for k, v in query if k not in self.params]
        if len(kept) == len(query):
            return self.redact(url)
        return self.redact(urlunsplit(parts._replace(query=urlencode(kept))))

    @contextmanager
    def masking_transport_logs(self) -> Iterator[None]:
        """urllib3's log lines with the secret masked, while the read runs."""
        if not self.params:
            yield
            return
        masking = _Masking(self)
        loggers = [logging.getLogger(name) for name in TRANSPORT_LOGGERS]
        for logger in loggers:
            logger.addFilter(masking)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(masking)


class _Masking(logging.Filter):
    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self.credentials = credentials

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.credentials.redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def credentials(source_name: str, auth: ApiAuth | None) -> Credentials:
    """How a source's requests authenticate; nothing without `auth`."""
    if auth is None:
        return Credentials()
    secret = read_secret(source_name, auth)
    value = secret.get_secret_value()
    if not (value.isascii() and value.isprintable()):
        # HTTP libraries quote a value they refuse in their error: stop before that.
        raise ConfigError(
            f"source '{source_name}': the secret in {auth.where} has characters a header or "
            "URL cannot carry (control or non-ASCII characters); check how it was stored"
        )
    if auth.scheme == "bearer":
        return Credentials({"Authorization": f"Bearer {value}"}, secret=secret)
    if auth.scheme == "header":
        return Credentials({auth.header: value}, secret=secret)
    if auth.scheme == "query":
        return Credentials(params={str(auth.param): value}, secret=secret)
    pair = f"{auth.username}:{value}".encode()
    basic = f"Basic {base64.b64encode(pair).decode('ascii')}"
    return Credentials({"Authorization": basic}, secret=secret)


def read_secret(source_name: str, auth: ApiAuth) -> SecretStr:
    if auth.env is not None:
        value = os.environ.get(auth.env, "")
        if not value.strip():
            raise ConfigError(
                f"source '{source_name}': environment variable {auth.env} is not set (or "
                f"empty); export it where the flow runs, or set auth.secret_block to read the "
                "secret from a Prefect Secret block instead"
            )
        return SecretStr(value.strip())
    return _read_block(source_name, str(auth.secret_block))


def _read_block(source_name: str, block_name: str) -> SecretStr:
    # Imported here: the block needs Prefect's API, which only this path uses.
    from prefect.blocks.system import Secret

    try:
        # Called from sync code, load returns the block; its type admits an async caller's
        # coroutine too (Prefect's async_dispatch).
        value = cast("Secret[Any]", Secret.load(block_name)).get()
    except ValueError:
        # The lookup's own error says only that the name is unknown; re-raised without it so
        # no block internals ride along.
        raise ConfigError(
            f"source '{source_name}': no Prefect Secret block named '{block_name}'; create it "
            f"(Prefect UI > Blocks > Secret, or Secret(value=...).save('{block_name}')), or set "
            "auth.env to read the secret from an environment variable instead"
        ) from None
    # Secret.get() parses JSON-looking values; a numeric token comes back as a number.
    text = value if isinstance(value, str) else str(value)
    if not text.strip():
        raise ConfigError(f"source '{source_name}': Prefect Secret block '{block_name}' is empty")
    return SecretStr(text.strip())
