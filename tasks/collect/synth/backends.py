"""Generators of synthetic text behind one interface: an OpenAI-compatible endpoint (OpenAI,
vLLM, llama.cpp, Ollama, TGI, `transformers serve`), chat or plain completions, or a local
transformers model (a folder or a pinned models:/ URI).

`complete(prompt, sampling)` returns the text with its finish reason and token usage. The endpoint
backend retries 408, 429, 5xx, resets and timeouts per request with backoff (Retry-After honoured up
to a minute, lmkiln.tasks.collect.http); a final failure of that kind raises `SourceUnavailable`
(the task retries the source), a refusal of the request itself (400, 401, 403, 404: a wrong model
name or key) a `GenerationRefused` that stops the source.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import requests

from lmkiln.tasks.collect.credentials import Credentials, credentials
from lmkiln.tasks.collect.http import (
    PERMANENT_STATUSES,
    SourceUnavailable,
    describe_failure,
    make_session,
)
from lmkiln.tasks.config.collect import Endpoint
from lmkiln.tasks.config.storage import StorageConfig

logger = logging.getLogger(__name__)

USER_AGENT = "lmkiln-synth/0.1"


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # "stop", "length" (cut at max_new_tokens), or what the server says
    prompt_tokens: int
    completion_tokens: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Backend(Protocol):
    identity: str  # names the generator in cache keys and provenance
    continues: bool  # True: the output continues the prompt (a base model), not answers it

    def complete(self, prompt: str, sampling: Sampling) -> Completion: ...


def endpoint_identity(endpoint: Endpoint, model: str | None = None) -> str:
    """An endpoint generator as cache keys and provenance name it: the configured URL (not
    where a demo server happens to listen), the API and the model."""
    return f"openai:{endpoint.base_url.rstrip('/')}:{endpoint.api}:{model or endpoint.model}"


class GenerationRefused(ValueError):
    """The endpoint refused the request itself: retrying the same request cannot help."""


class EndpointBackend:
    """An OpenAI-compatible HTTP endpoint; thread-safe (one session per thread). With the
    plain completions API the model continues the prompt, as a local one does."""

    def __init__(
        self,
        endpoint: Endpoint,
        source_name: str,
        url: str | None = None,
        served: tuple[str, str] | None = None,
    ) -> None:
        """`url` is where requests go, the configured base URL resolved (a demo server's
        port); `served` is (pinned URI, the folder the server was started on) for
        demo://champion, whose server answers to that folder."""
        self.endpoint, self.source_name = endpoint, source_name
        self.continues = endpoint.api == "completions"
        self.auth: Credentials = credentials(source_name, endpoint.auth)
        self.url = (url or endpoint.base_url).rstrip("/")
        self.model = served[1] if served else endpoint.model
        self.identity = endpoint_identity(endpoint, served[0] if served else None)
        self._local = threading.local()
        # A model we serve ourselves fails (HTTP 500) past its positions, where a hosted
        # one would refuse or cut: its requests are fitted to its context instead.
        self._fit = _context_fitter(Path(served[1])) if served else None

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = make_session(USER_AGENT, self.endpoint.retries, methods=("POST",))
            self._local.session = session
        return session

    def complete(self, prompt: str, sampling: Sampling) -> Completion:
        endpoint = self.endpoint
        max_tokens = sampling.max_new_tokens
        if self._fit is not None:
            max_tokens = self._fit(prompt, max_tokens)
            if max_tokens < 1:
                return Completion("", "length", 0, 0)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
        }
        if endpoint.api == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        route = "chat/completions" if endpoint.api == "chat" else "completions"
        url = f"{self.url}/{route}"
        where = f"synthetic source '{self.source_name}': POST {url}"
        try:
            with self.auth.masking_transport_logs():
                response = self._session().post(
                    url,
                    json=body,
                    headers=self.auth.headers,
                    params=self.auth.params or None,
                    timeout=endpoint.timeout_s,
                )
        except requests.RequestException as exc:
            failure = self.auth.redact(describe_failure(exc))
            raise SourceUnavailable(f"{where} failed: {failure}") from None
        with response:
            text = self.auth.redact(response.text)  # bounded by max_tokens
        if response.status_code in PERMANENT_STATUSES:
            raise GenerationRefused(
                f"{where} was refused: HTTP {response.status_code} {text[:300]!r}; check "
                "endpoint.model, endpoint.base_url and the API key"
            )
        if not 200 <= response.status_code < 300:
            raise SourceUnavailable(
                f"{where} failed: HTTP {response.status_code} {text[:300]!r}", response.status_code
            )
        try:
            data = json.loads(text)
            choice = data["choices"][0]
            output = choice["message"]["content"] if endpoint.api == "chat" else choice["text"]
        except (ValueError, KeyError, IndexError, TypeError):
            answer = f"{where}: not an OpenAI-style answer: {text[:300]!r}"
            raise SourceUnavailable(answer) from None
        usage = data.get("usage") or {}
        return Completion(
            text=output or "",
            finish_reason=str(choice.get("finish_reason") or ""),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )


def _context_fitter(folder: Path) -> Any:
    """(prompt, max new tokens) -> the most new tokens that fit the saved model's context."""
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    config = AutoConfig.from_pretrained(str(folder))
    context = getattr(config, "n_positions", None) or config.max_position_embeddings
    lock = threading.Lock()  # a fast tokenizer is not meant to be shared across threads

    def fit(prompt: str, wanted: int) -> int:
        with lock:
            used = len(tokenizer(prompt, add_special_tokens=True)["input_ids"])
        return min(wanted, context - used - 1)

    return fit


class LocalBackend:
    """A transformers causal LM in this process: a folder or a (pinned) models:/ URI. It
    continues the prompt; generation is serialised (one model, one forward at a time)."""

    continues = True

    def __init__(self, uri: str, storage: StorageConfig) -> None:
        from lmkiln.tasks.registry.models import load_model_uri

        self.identity = uri
        self.generator = load_model_uri(uri, storage)
        self._lock = threading.Lock()

    def complete(self, prompt: str, sampling: Sampling) -> Completion:
        from lmkiln.tasks.registry.models import generate

        tokenizer = self.generator.tokenizer
        with self._lock:
            text = generate(
                self.generator,
                prompt,
                sampling.max_new_tokens,
                sampling.temperature,
                sampling.seed,
                sampling.top_p,
            )
        prompt_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        completion_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        cut = completion_tokens >= sampling.max_new_tokens
        return Completion(text, "length" if cut else "stop", prompt_tokens, completion_tokens)
