"""Public corpora through the collect flow: a capped night, resumption where the last commit
stopped, a damaged archive quarantined while the rest lands, and the mix in the report."""

from __future__ import annotations

import bz2
import gzip
import json
from collections import Counter

import pytest
import zstandard

from lmkiln.flows.collect import collect
from lmkiln.flows.report import mix_rows, source_rows
from lmkiln.tasks.collect.corpora import collection as corpus
from lmkiln.tasks.config.collect import CorpusSource
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import DOCUMENT_COLUMNS, LakeRef
from tests.helpers.routes import JSON, serve_routes
from tests.helpers.wiki import dump as wiki_dump

pytestmark = [pytest.mark.integration]


def jsonl(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def pile(n: int, tag: str) -> list[dict]:
    return [{"text": f"{tag} document number {i}", "meta": {"set": tag}} for i in range(n)]


@pytest.fixture()
def files(tmp_path):
    folder = tmp_path / "corpora"
    folder.mkdir()
    (folder / "pile-00.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(jsonl(pile(150, "first")))
    )
    (folder / "pile-01.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(jsonl(pile(150, "second")))
    )
    whole = gzip.compress(jsonl(pile(400, "damaged")))
    (folder / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    return folder


def sources(folder) -> list[dict]:
    return [
        {
            "name": "pile",
            "format": "jsonl",
            "paths": [str(folder / "pile-*.jsonl.zst")],
            "meta_fields": ["meta"],
            "max_documents": 120,
            "batch_documents": 50,
        },
        {"name": "cut", "format": "jsonl", "paths": [str(folder / "cut.jsonl.gz")]},
    ]


def test_a_night_takes_its_cap_of_a_corpus_beside_all_the_domain_data(tmp_path, files) -> None:
    records = {"items": [{"id": f"r{n}", "text": f"domain record {n}"} for n in range(30)]}
    with serve_routes({"/records": (200, JSON, json.dumps(records))}) as api:
        config = PipelineConfig.model_validate(
            {
                "storage": {"data_root": str(tmp_path / "data")},
                "collect": {
                    "api": [{"name": "domain", "url": f"{api}/records"}],
                    "corpora": sources(files),
                },
            }
        )
        report = collect(config)

    assert report.failures == {}
    rows = list(lake.read(report.raw, DOCUMENT_COLUMNS))
    by_source = Counter(row["source"] for row in rows)
    assert by_source["domain"] == 30 and by_source["pile"] == 120
    results = {r.source: r for r in report.sources}
    damaged = results["cut"].counters
    assert by_source["cut"] == damaged["documents"] > 0
    assert damaged["quarantined_truncated_archive"] == 1
    quarantine = lake.head(config.storage.lake("quarantine"))
    reasons = Counter(r["reason"] for r in lake.read(quarantine, ("reason", "source")))
    assert reasons == {"truncated_archive": 1}
    first = next(row for row in rows if row["source"] == "pile")
    meta = json.loads(first["meta"])
    assert meta["corpus_file"].endswith("pile-00.jsonl.zst") and meta["corpus_record"] == 0
    assert meta["meta"] == {"set": "first"} and first["kind"] == "corpus"
    status = {row["source"]: row["documents"] for row in source_rows(report)}
    assert status == {"domain": 30, "pile": 120, "cut": by_source["cut"]}

    # The mix as the run report shows it, here over the raw table.
    mix = {row["source"]: row["share"] for row in mix_rows(report.raw)}
    assert mix["pile"] == round(120 / len(rows), 4)


def test_the_next_nights_read_on_where_the_last_commit_stopped(tmp_path, files) -> None:
    config = PipelineConfig.model_validate(
        {"storage": {"data_root": str(tmp_path)}, "collect": {"corpora": sources(files)[:1]}}
    )
    source = config.collect.corpora[0]
    nights = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    taken = [corpus.collect(source, config.storage, night)[2] for night in nights]
    assert taken == [120, 120, 60, 0]  # two files of 150, 120 a night, then nothing new
    # A rerun within a night (a task retry) takes nothing past the night's cap.
    assert corpus.collect(source, config.storage, "2026-11-02")[2] == 0
    raw = lake.head(config.storage.lake("raw"))
    texts = [row["text"] for row in lake.read(raw, ("text",))]
    assert len(texts) == len(set(texts)) == 300


def test_a_crash_between_batches_repeats_nothing(tmp_path, files, monkeypatch) -> None:
    config = PipelineConfig.model_validate(
        {"storage": {"data_root": str(tmp_path)}, "collect": {"corpora": sources(files)[:1]}}
    )
    source: CorpusSource = config.collect.corpora[0].model_copy(update={"max_documents": None})
    append = lake.append
    calls = {"n": 0}

    def crash_on_the_third_commit(path, rows, *args, **kwargs) -> LakeRef:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("the machine went down")
        return append(path, rows, *args, **kwargs)

    monkeypatch.setattr(lake, "append", crash_on_the_third_commit)
    with pytest.raises(OSError):
        corpus.collect(source, config.storage, "night")
    monkeypatch.setattr(lake, "append", append)
    assert lake.head(config.storage.lake("raw")).rows == 100  # two batches committed
    assert corpus.collect(source, config.storage, "night")[2] == 200
    raw = lake.head(config.storage.lake("raw"))
    texts = [row["text"] for row in lake.read(raw, ("text",))]
    assert len(texts) == len(set(texts)) == 300


def test_a_wikipedia_dump_gives_its_articles_and_counts_its_skips(tmp_path) -> None:
    path = tmp_path / "enwiki-pages-articles1.xml.bz2"
    path.write_bytes(bz2.compress(wiki_dump()))
    config = PipelineConfig.model_validate(
        {
            "storage": {"data_root": str(tmp_path / "data")},
            "collect": {"corpora": [{"name": "wiki", "format": "wikipedia", "paths": [str(path)]}]},
        }
    )
    report = collect(config)
    (result,) = report.sources
    assert result.added == 3
    assert result.counters == {
        "records": 6,
        "documents": 3,
        "skipped_redirect": 1,
        "skipped_namespace": 1,
        "quarantined_empty_text": 1,
        "files_done": 1,
    }
    rows = {row["title"]: row for row in lake.read(report.raw, DOCUMENT_COLUMNS)}
    assert rows["Ada Lovelace"]["url"] == "https://en.wikipedia.org/wiki/Ada_Lovelace"
    assert json.loads(rows["Charles Babbage"]["meta"])["wiki_page_id"] == 5
