"""Demo URLs and their aliases, without starting a demo server (the integration test
test_demo_servers.py starts them)."""

from __future__ import annotations

import pytest

from lmkiln.tasks.collect.http import resolve_aliases
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
