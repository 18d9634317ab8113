"""API credentials, read when a source runs from where its config says they are.

The secret travels as a `SecretStr` until it becomes a request header: its repr is masked,
so a stray log line or exception shows `**********`. Messages name where the secret comes
from (the variable, the block), never the secret.
"""

from __future__ import annotations

import base64
import os

from pydantic import SecretStr

from tasks.config import ApiAuth, ConfigError


def auth_headers(source_name: str, auth: ApiAuth | None) -> dict[str, str]:
    """The headers that authenticate a source's requests; empty without `auth`."""
    if auth is None:
        return {}
    secret = read_secret(source_name, auth).get_secret_value()
    if not (secret.isascii() and secret.isprintable()):
        # HTTP libraries quote a header value they refuse in their error: stop before that.
        raise ConfigError(
            f"source '{source_name}': the secret in {auth.where} has characters a header "
            "cannot carry (control or non-ASCII characters); check how it was stored"
        )
    if auth.scheme == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    if auth.scheme == "header":
        return {auth.header: secret}
    pair = f"{auth.username}:{secret}".encode()
    return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}


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
        value = Secret.load(block_name).get()
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
