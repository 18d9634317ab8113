from __future__ import annotations

import pytest
import requests

from lmkiln.tasks.collect.api.client import read_api
from lmkiln.tasks.collect.extract.extractors import extract
from lmkiln.tasks.collect.http import resolve_aliases
from lmkiln.tasks.collect.tasks import resolved
from lmkiln.tasks.collect.web.crawl import crawl
from lmkiln.tasks.config.collect import ApiSource, WebSource
from lmkiln.tasks.demo.servers import demo_names, demo_servers


def test_demo_names_come_from_demo_urls_only() -> None:
    urls = ["demo://pydoc/json.html", "demo://pydoc", "demo://packages/packages", "http://x/"]
    assert demo_names(urls) == {"pydoc", "packages"}


def test_aliases_replace_the_demo_prefix_and_keep_other_urls() -> None:
    aliases = {"demo://pydoc": "http://127.0.0.1:5000"}
    assert resolve_aliases("demo://pydoc/json.html", aliases) == "http://127.0.0.1:5000/json.html"
    assert resolve_aliases("demo://pydoc", aliases) == "http://127.0.0.1:5000"
    assert resolve_aliases("https://example.org/a", aliases) == "https://example.org/a"
    with pytest.raises(ValueError, match="demo://pydocs/x"):  # a prefix of the name is not it
        resolve_aliases("demo://pydocs/x", aliases)


def test_a_demo_url_without_a_running_server_names_the_url_and_the_fix() -> None:
    with pytest.raises(ValueError, match=r"demo://packages/x: not an http\(s\) URL.*collect flow"):
        resolve_aliases("demo://packages/x", {"demo://pydoc": "http://127.0.0.1:5000"})


def test_unknown_demo_server_names_are_refused_before_starting_anything() -> None:
    with pytest.raises(ValueError, match="unknown demo server.*nope"):
        with demo_servers(["nope", "pydoc"]):
            pass


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


def test_only_the_last_saved_champions_are_kept_for_serving(tmp_path) -> None:
    import os

    from transformers import GPT2Config, GPT2LMHeadModel

    from lmkiln.tasks.collect.synth.serving import served_folder
    from lmkiln.tasks.config.storage import StorageConfig
    from lmkiln.tasks.train.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["a river and a bridge"] * 20, 280)
    storage = StorageConfig(data_root=str(tmp_path / "data"))
    folders = []
    for version in range(3):
        source = tmp_path / f"v{version}"
        config = GPT2Config(
            n_layer=1, n_head=1, n_embd=8, n_positions=16, vocab_size=len(tokenizer)
        )
        GPT2LMHeadModel(config).save_pretrained(source)
        tokenizer.save_pretrained(source)
        folders.append(served_folder(storage, str(source)))
        os.utime(folders[-1], (version, version))  # saved in this order
    assert served_folder(storage, str(tmp_path / "v2")) == folders[2]  # saved once
    assert [f.exists() for f in folders] == [False, True, True]
