"""A stand-in for a hosted OpenAI-compatible service, over real HTTP on 127.0.0.1: answers
that a test can steer (refusals, empty or echoed answers, cut answers), injected faults
(429 with Retry-After, 5xx) and a count of the requests it received."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

WORDS = "river bridge valley harbour library orchard meadow lantern quarry ferry".split()


@dataclass
class FakeOpenAI:
    api_key: str | None = None
    api_key_param: str | None = None  # the key in this query parameter, not a header
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # served first
    requests: list[dict[str, Any]] = field(default_factory=list)  # bodies of answered ones
    statuses: list[int] = field(default_factory=list)  # of every request
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, prompt: str, max_tokens: int, seed: int) -> tuple[str, str]:
        """(text, finish_reason) for a prompt; markers in the prompt steer it."""
        if "REFUSE" in prompt:
            return "I'm sorry, but I can't help with that request.", "stop"
        if "EMPTY" in prompt:
            return "  ", "stop"
        if "ECHO" in prompt:
            return prompt, "stop"
        digest = hashlib.sha256(f"{prompt}|{seed}".encode()).digest()
        words = [WORDS[b % len(WORDS)] for b in digest[: min(max_tokens, 24)]]
        text = f"A passage on {prompt[:40]!r}: " + " ".join(words) + "."
        return text, "length" if "LONG" in prompt else "stop"

    def handle(self, path: str, headers: Any, body: dict[str, Any]) -> tuple[int, dict, dict]:
        with self.lock:
            if self.faults:
                status, extra = self.faults.pop(0)
                self.statuses.append(status)
                return status, extra, {"error": {"message": "injected", "code": status}}
            query = dict(parse_qsl(urlsplit(path).query))
            if self.api_key_param:
                given = query.get(self.api_key_param)
            else:
                given = (headers.get("Authorization") or "").removeprefix("Bearer ")
            if self.api_key and given != self.api_key:
                self.statuses.append(401)
                return 401, {}, {"error": {"message": "bad key"}}
            if body.get("model") != "fake-model":
                self.statuses.append(404)
                return 404, {}, {"error": {"message": f"model {body.get('model')} not found"}}
            self.statuses.append(200)
            self.requests.append(body)
        chat = urlsplit(path).path.endswith("/chat/completions")
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        text, finish = self.answer(prompt, body.get("max_tokens", 16), body.get("seed", 0))
        choice = {"index": 0, "finish_reason": finish}
        choice |= {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
        return 200, {}, {"choices": [choice], "usage": usage, "model": body["model"]}


@contextmanager
def serve_openai(fake: FakeOpenAI) -> Iterator[str]:
    """The fake's base URL (up to /v1) while the block runs."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            status, extra, answer = fake.handle(self.path, self.headers, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **extra}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
