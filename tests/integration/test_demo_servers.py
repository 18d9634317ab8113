"""The demo servers for real: pydoc in a subprocess and the packages API in a thread, read
by the crawler and the API client through their demo:// aliases."""

from __future__ import annotations

import pytest
import requests

from lmkiln.tasks.collect.api.client import read_api
from lmkiln.tasks.collect.extract.extractors import extract
from lmkiln.tasks.collect.tasks import resolved
from lmkiln.tasks.collect.web.crawl import crawl
from lmkiln.tasks.config.collect import ApiSource, WebSource
from lmkiln.tasks.demo.servers import demo_names, demo_servers

pytestmark = pytest.mark.integration


def test_demo_servers_serve_pages_and_records_and_stop_on_exit() -> None:
    with demo_servers(["pydoc", "packages"]) as aliases:
        base_urls = {name.removeprefix("demo://"): url for name, url in aliases.items()}
        assert set(base_urls) == {"pydoc", "packages"}
        assert all(url.startswith("http://127.0.0.1:") for url in base_urls.values())

        response = requests.get(base_urls["pydoc"] + "/json.html", timeout=10)
        assert response.status_code == 200 and "text/html" in response.headers["Content-Type"]
        page = extract(response.text, response.url)
        assert "json" in page.title and "JSON" in page.text
        assert any(link.startswith(base_urls["pydoc"]) for link in page.links)

        packages = base_urls["packages"] + "/packages"
        first = requests.get(packages, params={"page": 1, "per_page": 3}, timeout=10).json()
        assert first["page"] == 1 and first["next_page"] == 2 and len(first["items"]) == 3
        item = first["items"][0]
        assert set(item) >= {"id", "title", "text", "url", "updated_at"}
        assert len(item["text"]) >= 300 and item["url"].startswith("https://pypi.org/project/")
        names = [item["id"] for item in first["items"]]
        assert names == sorted(names)
        past_end = requests.get(packages, params={"page": 1000}, timeout=10).json()
        assert past_end["items"] == [] and past_end["next_page"] is None
        assert requests.get(base_urls["packages"] + "/nope", timeout=10).status_code == 404

    for url in base_urls.values():
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/", timeout=2)


def test_the_demo_sources_collect_through_crawl_and_fetch_api() -> None:
    web = WebSource(
        name="pydoc",
        start_urls=["demo://pydoc/json.html"],
        max_pages=3,
        # pydoc renders a page by importing its module: on a loaded machine that can take
        # longer than the default timeout, the likely cause of two failures seen under load.
        timeout_s=60,
        allow_private_addresses=True,
    )
    api = ApiSource(name="packages", url="demo://packages/packages?per_page=5", max_pages=2)
    with demo_servers(demo_names([*web.start_urls, api.url])) as aliases:
        crawled = crawl(resolved(web, aliases))
        read = read_api(resolved(api, aliases))

    pages, web_counters = crawled.documents, crawled.counters
    assert len(pages) == 3 and web_counters["pages_fetched"] == 3
    assert pages[0].url == aliases["demo://pydoc"] + "/json.html"
    assert len(read.documents) == 10 and read.counters["pages"] == 2
