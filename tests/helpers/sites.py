"""Small sites for crawl tests, served with tests.helpers.serve_routes."""

from __future__ import annotations

from collections.abc import Mapping

from tests.helpers.routes import HTML, Response, WithHeaders


class ChangingSite:
    """Pages whose content can change, answering If-None-Match / If-Modified-Since."""

    def __init__(self) -> None:
        self.versions = {"/": 1, "/a": 1, "/a/deep": 1, "/b": 1}
        self.links = {"/": ["/a", "/b"], "/a": ["/a/deep"], "/a/deep": [], "/b": []}

    def body(self, path: str) -> str:
        links = "".join(f'<a href="{link}">{link}</a> ' for link in self.links[path])
        version = self.versions[path]
        return (
            f"<html><head><title>{path}</title></head><body><main><p>Page {path}, "
            f"version {version}.</p>{links}</main></body></html>"
        )

    def respond(self, path: str, headers: Mapping[str, str]) -> Response:
        version = self.versions[path]
        etag = f'"{path}-v{version}"'
        modified = f"Mon, 0{version} Jan 2024 00:00:00 GMT"
        # /b sends only Last-Modified: both validators must work.
        validators = {"Last-Modified": modified} if path == "/b" else {"ETag": etag}
        if headers.get("If-None-Match") == etag or (
            path == "/b" and headers.get("If-Modified-Since") == modified
        ):
            return 304, validators, ""
        answer = {**HTML, **validators, "Set-Cookie": "session=secret"}
        return 200, answer, self.body(path)

    def routes(self) -> dict[str, WithHeaders]:
        return {path: WithHeaders(self.respond) for path in self.versions}
