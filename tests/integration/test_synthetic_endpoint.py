"""Synthetic sources against a real OpenAI-compatible server: `transformers serve` on
127.0.0.1 over a small model made here, driven through the collect flow."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmkiln.flows.collect import collect
from lmkiln.tasks.collect.synth.serving import model_server
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import Document

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def make_model(folder: Path) -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from lmkiln.tasks.train.tokenizer import train_tokenizer

    texts = [f"Note {i}: the river, the bridge and the ferry in town." for i in range(60)]
    tokenizer = train_tokenizer(texts, 300)
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    config = GPT2Config(n_layer=1, n_head=1, n_embd=16, n_positions=128, vocab_size=len(tokenizer))
    torch.manual_seed(0)  # the same weights, so the same answers, every run
    model = GPT2LMHeadModel(config)
    # Never the end-of-text token: every answer runs to max_new_tokens, as a real model's
    # long answer would.
    model.generation_config.suppress_tokens = [tokenizer.eos_token_id]
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    model = root / "model"
    make_model(model)
    log = root / "server.log"
    with model_server(model, log) as base:  # lmkiln's own start and stop of the server
        yield f"{base}/v1", str(model), log


def posts(log: Path) -> int:
    return log.read_text().count("POST /v1/")


def config_for(tmp_path: Path, source: dict) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {"storage": {"data_root": str(tmp_path)}, "collect": {"synthetic": [source]}}
    )


def test_generations_land_with_provenance_and_a_rerun_asks_nothing(server, tmp_path) -> None:
    base, model, log = server
    source = {
        "name": "notes",
        "endpoint": {"base_url": base, "model": model, "api": "completions"},
        "templates": [{"id": "note", "text": "A note about {topic}:"}],
        "topics": ["the river", "the ferry"],
        "samples_per_prompt": 2,
        "max_new_tokens": 12,
    }
    before = posts(log)
    report = collect(config_for(tmp_path, source))
    assert not report.failures and posts(log) - before == 4

    rows = list(lake.read(report.raw, lake.DOCUMENT_TABLE))
    docs = [Document.from_row(row) for row in rows]
    assert len(docs) == 4 and all(doc.kind == "synthetic" for doc in docs)
    first = docs[0]
    assert first.text.startswith("A note about the river:")  # completions continue the prompt
    assert first.meta["generator"] == f"openai:{base}:completions:{model}"
    assert (first.meta["template_id"], first.meta["topic"]) == ("note", "the river")
    assert first.meta["usage"]["completion_tokens"] == 12 and first.meta["seed"] == 0

    # A budget set (the task's own cache does not apply): every generation comes from the
    # generation cache, none is asked again or appended again.
    again = collect(config_for(tmp_path, source | {"budget": {"max_requests": 100}}))
    (result,) = again.sources
    assert posts(log) - before == 4
    assert result.added == 0 and result.counters["collected_before"] == 4

    # Two more topics on a budget of two requests tonight, four spent already: nothing is
    # asked, the two wait for the next night, and the run completes.
    wider = source | {"topics": ["the bridge", "the harbour"], "budget": {"max_requests": 6}}
    capped = collect(config_for(tmp_path, wider))
    (result,) = capped.sources
    assert not capped.failures and posts(log) - before == 4 + 2
    assert (result.added, result.counters["over_budget"]) == (2, 2)


def test_cut_chat_answers_are_quarantined_and_a_wrong_model_fails_alone(server, tmp_path) -> None:
    base, model, _ = server
    chat = {
        "name": "chat",
        "endpoint": {"base_url": base, "model": model},
        "prompts": ["Tell me about the bridge."],
        "max_new_tokens": 6,
        "temperature": 0,  # greedy: the same answer every run
    }
    wrong = {**chat, "name": "wrong", "endpoint": {"base_url": base, "model": "no/such-model"}}
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "note.txt").write_text("The ferry leaves from the second pier.")
    kb = {"name": "kb", "paths": [str(tmp_path / "kb")]}  # so that the night has a document
    config = PipelineConfig.model_validate(
        {
            "storage": {"data_root": str(tmp_path)},
            "collect": {"synthetic": [chat, wrong], "files": [kb]},
        }
    )
    report = collect(config)

    assert (
        "HTTP 400" in report.failures["wrong"]
        and "check endpoint.model" in report.failures["wrong"]
    )
    result = next(r for r in report.sources if r.source == "chat")
    assert result.added == 0 and result.counters["quarantined_truncated"] == 1
    quarantined = list(lake.read(lake.head(config.storage.lake("quarantine")), ("reason",)))
    assert [row["reason"] for row in quarantined] == ["truncated"]
