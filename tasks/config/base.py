"""What every part of the configuration shares: the strict base model, and the types of names,
URLs and regular expressions with their checks."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Strict(BaseModel):
    # Attribute docstrings become field descriptions: the help text of the Prefect UI's forms.
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
# A demo URL names a server that the run starts on 127.0.0.1 and stops afterwards
# (`demo://pydoc/json.html`); see tasks/demo/servers.py for the servers.
DEMO_SCHEME = "demo://"


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://", DEMO_SCHEME)):
        raise ValueError(f"{value!r} is not an http(s):// or demo:// URL")
    return value


Url = Annotated[str, AfterValidator(_url)]


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
    return value


Regex = Annotated[str, AfterValidator(_regex)]
# Query parameter names that carry credentials; in `query` or a URL they would become Prefect
# parameters and show in logs and errors, so they are refused there (see ApiAuth scheme query).
SECRET_PARAMS = frozenset(
    {
        "access_token",
        "api-key",
        "api_key",
        "apikey",
        "auth_token",
        "client_secret",
        "key",
        "password",
        "secret",
        "token",
    }
)


def secret_param_message(name: str) -> str:
    return (
        f"query parameter '{name}' looks like a credential, which would show in logs, errors "
        f"and Prefect parameters; remove it and set auth: {{scheme: query, param: {name}, env: "
        "<variable>}, so that it is read when the source runs and never shown"
    )


def _no_credentials(value: str) -> str:
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise ValueError(
            "carries credentials (user:secret@host), which would show in logs, errors and "
            "Prefect parameters; remove them and set the source's auth (scheme basic with "
            "username and env, or bearer, header or query)"
        )
    secret = next((k for k, _ in parse_qsl(parts.query) if k.lower() in SECRET_PARAMS), None)
    if secret is not None:
        raise ValueError(secret_param_message(secret))
    return value


ApiUrl = Annotated[str, AfterValidator(_url), AfterValidator(_no_credentials)]
