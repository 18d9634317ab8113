"""Synthetic generation against an OpenAI-compatible service (a stand-in over real HTTP):
the plan, the generation cache, the budget, retries, and the outputs that are not kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lmkiln.tasks.collect.http import SourceUnavailable
from lmkiln.tasks.collect.synth.backends import EndpointBackend, GenerationRefused
from lmkiln.tasks.collect.synth.budget import GenerationCache
from lmkiln.tasks.collect.synth.generate import generate_all, plan
from lmkiln.tasks.config.collect import SynthSpec
from lmkiln.tasks.core.caching import bucket_start
from lmkiln.tasks.core.clock import ManualClock
from lmkiln.tasks.core.records import Document
from tests.helpers.openai_fake import FakeOpenAI, serve_openai

TONIGHT = datetime(2026, 11, 27, 2, tzinfo=UTC)  # the night is judged by `clock`, as it is paid


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(TONIGHT)


@pytest.fixture
def cache(tmp_path, clock) -> GenerationCache:
    return GenerationCache(tmp_path / "cache.sqlite", clock)


def spec(base_url: str, **overrides) -> SynthSpec:
    settings = {
        "name": "guides",
        "endpoint": {"base_url": base_url, "model": "fake-model", "retries": 3},
        "templates": [{"id": "explain", "text": "Explain {topic} to a new engineer."}],
        "topics": ["rivers", "bridges", "ferries"],
        "samples_per_prompt": 2,
        "max_new_tokens": 32,
        "seed": 5,
    }
    return SynthSpec.model_validate(settings | overrides)


def run(source: SynthSpec, cache: GenerationCache, clock: ManualClock):
    """The source's night as the collect flow runs it: tonight's bucket read from the clock
    that stamps what the cache pays for."""
    backend = EndpointBackend(source.endpoint, source.name)
    return generate_all(source, backend, plan(source), cache, bucket_start(24, clock.now()))


def test_topics_are_generated_once_and_a_rerun_sends_nothing(cache, clock) -> None:
    fake = FakeOpenAI()
    with serve_openai(fake) as base:
        source = spec(base)
        first = run(source, cache, clock)
        cache.mark_collected(first.keys)
        clock.advance(timedelta(days=1))
        again = run(source, cache, clock)

    assert len(fake.requests) == 6 and first.counters["requested"] == 6
    assert [r["seed"] for r in fake.requests].count(5) == 3  # sample s: seed + s
    doc = first.documents[0]
    assert doc.kind == "synthetic" and doc.title == "rivers"
    assert doc.text.startswith("A passage on 'Explain rivers")  # a chat answer is the document
    meta = doc.meta
    assert (meta["template_id"], meta["topic"], meta["seed"]) == ("explain", "rivers", 5)
    assert meta["generator"] == f"openai:{base}:chat:fake-model"
    assert meta["usage"]["completion_tokens"] > 0 and meta["finish_reason"] == "stop"
    assert (again.counters["collected_before"], again.documents) == (6, [])


def test_the_budget_stops_the_night_and_the_next_night_goes_on(cache, clock) -> None:
    fake = FakeOpenAI()
    with serve_openai(fake) as base:
        source = spec(base, budget={"max_requests": 4})
        night = run(source, cache, clock)
        rerun = run(source, cache, clock)  # the same night: the budget is spent
        cache.mark_collected(night.keys)
        clock.advance(timedelta(days=1))
        next_night = run(source, cache, clock)
        other = spec(base, name="other", topics=["canals", "locks"], budget={"max_tokens": 1})
        by_tokens = run(other, cache, clock)

    assert (night.counters["requested"], night.counters["over_budget"]) == (4, 2)
    assert len(night.documents) == 4
    assert (rerun.counters["cached"], rerun.counters["over_budget"]) == (4, 2)
    assert next_night.counters["requested"] == 2 and len(fake.requests) == 6 + 1
    assert by_tokens.counters["requested"] == 1  # the first request spends the tokens


def test_a_night_past_midnight_spends_its_own_budget_not_the_next_nights(
    cache, clock, tmp_path
) -> None:
    import sqlite3

    fake = FakeOpenAI()
    clock.set(datetime(2031, 3, 4, 23, 58, tzinfo=UTC))
    with serve_openai(fake) as base:
        source = spec(base, budget={"max_requests": 4})
        backend = EndpointBackend(source.endpoint, source.name)
        asks = plan(source)
        night = bucket_start(24, clock.now())  # read once, as the collect flow reads it
        first = generate_all(source, backend, asks[:2], cache, night)
        clock.advance(timedelta(minutes=5))  # past midnight, the same night's run goes on
        rest = generate_all(source, backend, asks[2:], cache, night)
        cache.mark_collected(first.keys + rest.keys)
        next_night = run(source, cache, clock)  # the next bucket, read from the clock

    assert (first.counters["requested"], rest.counters["requested"]) == (2, 2)
    assert rest.counters["over_budget"] == 2
    assert next_night.counters["requested"] == 2  # its budget is whole
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        paid_after_midnight = db.execute(
            "SELECT COUNT(*) FROM generations WHERE created >= ? AND night = ?",
            (datetime(2031, 3, 5, tzinfo=UTC).timestamp(), night.isoformat()),
        ).fetchone()[0]
    assert paid_after_midnight == 2


def test_a_cache_from_before_nights_were_recorded_counts_by_its_stamps(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE generations (key TEXT PRIMARY KEY, source TEXT, generator TEXT, "
            "completion TEXT, tokens INTEGER, created REAL, collected INTEGER DEFAULT 0)"
        )
        db.execute(
            "INSERT INTO generations VALUES ('k', 'guides', 'g', '{}', 7, ?, 1)",
            ((TONIGHT + timedelta(hours=1)).timestamp(),),
        )
    old = GenerationCache(path, ManualClock(TONIGHT))
    assert old.spent_in("guides", bucket_start(24, TONIGHT)) == (1, 7)
    assert old.spent_in("guides", bucket_start(24, TONIGHT + timedelta(days=1))) == (0, 0)
    old.close()


def test_rate_limits_and_server_errors_are_retried_and_a_wrong_model_stops(cache, clock) -> None:
    fake = FakeOpenAI(faults=[(429, {"Retry-After": "0"}), (503, {})])
    with serve_openai(fake) as base:
        done = run(spec(base, topics=["rivers"], samples_per_prompt=1), cache, clock)
        assert fake.statuses == [429, 503, 200] and len(done.documents) == 1

        fake.faults = [(503, {})] * 4
        with pytest.raises(SourceUnavailable, match="HTTP 503"):
            run(spec(base, topics=["harbours"], samples_per_prompt=1), cache, clock)
        wrong = spec(base, endpoint={"base_url": base, "model": "gpt-9"})
        with pytest.raises(GenerationRefused, match="HTTP 404.*check endpoint.model"):
            run(wrong, cache, clock)


def test_refused_empty_echoed_and_cut_answers_are_quarantined(cache, clock) -> None:
    fake = FakeOpenAI()
    topics = ["REFUSE this", "EMPTY", "ECHO " + "words " * 12, "LONG answers", "canals"]
    with serve_openai(fake) as base:
        read = run(spec(base, topics=topics, samples_per_prompt=1), cache, clock)

    assert [doc.meta["topic"] for doc in read.documents] == ["canals"]
    reasons = [row["reason"] for row in read.quarantined]
    assert reasons == ["refused", "empty_output", "echoed", "truncated"]
    assert all(row["kind"] == "synthetic" and row["source"] == "guides" for row in read.quarantined)
    assert read.counters["requested"] == 5 == read.counters["documents"] + len(reasons)


def test_the_api_key_comes_from_the_environment_and_is_never_shown(
    cache, clock, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test-7f3a9c")
    fake = FakeOpenAI(api_key="sk-test-7f3a9c")
    with serve_openai(fake) as base:
        auth = {"scheme": "bearer", "env": "FAKE_OPENAI_KEY"}
        source = spec(base, endpoint={"base_url": base, "model": "fake-model", "auth": auth})
        read = run(source, cache, clock)
        assert len(read.documents) == 6
        assert "sk-test" not in repr(read) and "sk-test" not in source.model_dump_json()
        monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-wrong-1")
        with pytest.raises(GenerationRefused, match="HTTP 401") as refused:
            other = {"name": "other", "topics": ["locks"], "endpoint": source.endpoint.model_dump()}
            run(spec(base, **other), cache, clock)
        assert "sk-wrong" not in str(refused.value)


def test_grounded_templates_ask_about_each_seed_document() -> None:
    grounded = {
        "documents": 2,
        "templates": [
            {"id": "textbook", "text": "Rewrite as a textbook passage:\n{document}"},
            {"id": "qa", "text": "Write questions and answers about {title}:\n{document}"},
        ],
    }
    source = SynthSpec(name="g", prompts=[], grounded=grounded, generator="champion")
    docs = [
        Document(text=f"Text of document {i}.", kind="web", source="s", title=f"T{i}")
        for i in range(2)
    ]
    asks = plan(source, docs)
    assert [
        (r.template_id, r.inputs["seed_documents"][0] == docs[i % 2].id) for i, r in enumerate(asks)
    ] == [
        ("textbook", True),
        ("textbook", True),
        ("qa", True),
        ("qa", True),
    ]
    assert asks[2].prompt == "Write questions and answers about T0:\nText of document 0."


def test_a_source_must_ask_something() -> None:
    with pytest.raises(ValueError, match="nothing to generate"):
        SynthSpec(name="x")
    with pytest.raises(ValueError, match="has no \\{topic\\} placeholder"):
        SynthSpec(name="x", templates=[{"id": "t", "text": "Hello"}], topics=["a"])
    with pytest.raises(ValueError, match="has no \\{document\\} placeholder"):
        SynthSpec(name="x", grounded={"templates": [{"id": "t", "text": "Hello"}]})


def test_seed_documents_are_train_documents_drawn_per_corpus_commit(tmp_path) -> None:
    from lmkiln.tasks.collect.synth.generate import seed_documents
    from tests.helpers.training import corpus_rows, make_corpus

    _, corpus = make_corpus(tmp_path, corpus_rows(30))
    grounded = {"documents": 4, "templates": [{"id": "t", "text": "Rewrite: {document}"}]}
    source = SynthSpec(name="g", grounded=grounded)
    drawn = seed_documents(source, corpus)
    assert len(drawn) == 4 and drawn == seed_documents(source, corpus)  # a rerun draws the same
    validation = {r["id"] for r in corpus_rows(30) if r["split"] == "validation"}
    assert not {doc.id for doc in drawn} & validation
    assert seed_documents(source.model_copy(update={"seed": 1}), corpus) != drawn
    assert seed_documents(source, None) == []


def test_requests_are_paced_across_threads(cache, clock) -> None:
    import time

    fake = FakeOpenAI()
    with serve_openai(fake) as base:
        endpoint = {"base_url": base, "model": "fake-model", "requests_per_second": 20}
        started = time.monotonic()
        run(spec(base, endpoint=endpoint | {"concurrency": 4}), cache, clock)
        spent = time.monotonic() - started
    assert len(fake.requests) == 6 and spent >= 5 / 20 * 0.9  # 6 starts, 5 intervals


def test_an_echo_is_the_prompt_again_not_a_short_answer() -> None:
    from lmkiln.tasks.collect.synth.generate import _echo_share

    assert _echo_share("a", "A dictionary is") == 0.0
    assert _echo_share("A dictionary is", "A dictionary is") == 1.0
    assert _echo_share("the lower road", "The river covered the lower road.") == 0.0  # "road."
    assert _echo_share("river covered the", "The river covered the lower road.") == 1.0
    long = "the river rose after three days of rain and covered the lower road"
    assert _echo_share(long, f"Rewrite: {long}") == 1.0
    assert _echo_share(long, "Something else entirely, about bridges and ferries.") == 0.0


def test_a_failed_request_stops_the_rest_of_the_plan(cache, clock) -> None:
    fake = FakeOpenAI(api_key="right")
    with serve_openai(fake) as base:
        topics = [f"topic {i}" for i in range(40)]
        endpoint = {"base_url": base, "model": "fake-model", "concurrency": 2}
        with pytest.raises(GenerationRefused, match="HTTP 401"):
            run(spec(base, topics=topics, endpoint=endpoint), cache, clock)
    assert len(fake.statuses) <= 4  # the requests in flight, not the 80 planned


def test_a_key_in_the_endpoint_url_is_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        SynthSpec(
            name="x", prompts=["p"], endpoint={"base_url": "https://h/v1?api_key=k", "model": "m"}
        )


def test_a_key_in_a_query_parameter_is_sent_and_never_shown(
    cache, clock, monkeypatch, caplog
) -> None:
    import logging

    monkeypatch.setenv("FAKE_QUERY_KEY", "qk-5d2e71")
    fake = FakeOpenAI(api_key="qk-5d2e71", api_key_param="key")
    caplog.set_level(logging.DEBUG, logger="urllib3")
    with serve_openai(fake) as base:
        auth = {"scheme": "query", "param": "key", "env": "FAKE_QUERY_KEY"}
        source = spec(base, endpoint={"base_url": base, "model": "fake-model", "auth": auth})
        read = run(source, cache, clock)
    assert len(read.documents) == 6 and fake.statuses == [200] * 6
    assert "qk-5d2e71" not in caplog.text and "qk-5d2e71" not in repr(read)
