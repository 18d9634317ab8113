"""A nightly on the demo's sources mixed with a Common Crawl WARC file, a Wikipedia dump
excerpt and a JSON Lines collection (.zst): one corpus, whose report shows each source's
share, and a damaged archive that costs only itself."""

from __future__ import annotations

import bz2
import gzip
import json
import random

import pytest
import zstandard

from lmkiln.flows.nightly import nightly
from lmkiln.flows.report import mix_rows
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from tests.helpers.pipelines import TINY_PIPELINE
from tests.helpers.warc import Archive
from tests.helpers.wiki import dump as wiki_dump

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENTENCES = [
    "The river town grew around a wooden bridge that merchants crossed every market day.",
    "Each spring the farmers brought their wool, and the weavers bought it by the bale.",
    "A small school opened in the old mill, and the children learned to read and count.",
    "The council kept its records in a stone house near the square, safe from the floods.",
    "When the railway came, the station was built on the hill above the northern road.",
    "Travellers wrote that the inn served good bread and that its rooms were always warm.",
    "The library lent books to anyone who promised to return them within a fortnight.",
    "In the long winters the lake froze, and people skated from one village to the next.",
    "Historians still argue about the year the first church was built on the green.",
    "The museum now keeps the tools of the potters who worked there for three centuries.",
    "Most of the houses along the canal were rebuilt in brick after the great fire.",
    "A newspaper printed in the town reported the harvest, the weather and the fairs.",
]


def prose(seed: int, sentences: int = 6) -> str:
    return " ".join(random.Random(seed).sample(SENTENCES, sentences))


def warc_file(path, pages: int) -> None:
    archive = Archive()
    for n in range(pages):
        body = f"<html><head><title>Town {n}</title></head><body><main><h1>Town {n}</h1>"
        body += f"<p>{prose(n)}</p><p>{prose(n + 100)}</p></main></body></html>"
        url = f"https://town{n}.example.org/history"
        archive.response(url, body.encode(), "text/html; charset=utf-8")
    path.write_bytes(archive.data)


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpora")
    warc_file(folder / "CC-MAIN-00000.warc.gz", pages=12)
    (folder / "enwiki-pages-articles1.xml.bz2").write_bytes(bz2.compress(wiki_dump()))
    lines = (json.dumps({"text": prose(1000 + n), "meta": {"set": "Pile-CC"}}) for n in range(40))
    (folder / "pile-00.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress("\n".join(lines).encode())
    )
    damaged = gzip.compress(
        b"".join(json.dumps({"text": prose(n)}).encode() + b"\n" for n in range(20))
    )
    (folder / "cut.jsonl.gz").write_bytes(damaged[: len(damaged) // 2])
    corpora = [
        {"name": "crawl", "format": "warc", "paths": [str(folder / "*.warc.gz")]},
        {"name": "wiki", "format": "wikipedia", "paths": [str(folder / "enwiki-*.xml.bz2")]},
        {
            "name": "pile",
            "format": "jsonl",
            "paths": [str(folder / "cut.jsonl.gz"), str(folder / "pile-*.jsonl.zst")],
            "meta_fields": ["meta"],
            "max_documents": 30,
        },
    ]
    settings = TINY_PIPELINE | {"collect": TINY_PIPELINE["collect"] | {"corpora": corpora}}
    config = PipelineConfig.model_validate(
        settings | {"storage": {"data_root": str(folder / "data")}}
    )
    return config, nightly(config)


def test_one_corpus_holds_every_source_and_the_report_shows_each_share(night) -> None:
    config, report = night
    assert report.collected.failures == {}
    mix = {row["source"]: row for row in mix_rows(report.corpus.lake)}
    assert {"crawl", "wiki", "pile", "pydoc", "packages"} <= set(mix)
    assert {mix[s]["kind"] for s in ("crawl", "wiki", "pile")} == {"corpus"}
    assert sum(row["documents"] for row in mix.values()) == report.corpus.lake.rows
    assert abs(sum(row["share"] for row in mix.values()) - 1) < 1e-3
    assert "corpus " in report.summary.split("corpus mix:")[1]


def test_a_damaged_archive_costs_only_itself_and_the_cap_holds(night) -> None:
    config, report = night
    results = {r.source: r for r in report.collected.sources}
    pile = results["pile"].counters
    assert pile["quarantined_truncated_archive"] == 1 and pile["files_done"] == 1
    assert results["pile"].added == 30  # the cap, across the cut file and the next one
    raw = [row for row in lake.read(report.collected.raw, ("source", "meta"))]
    files = {json.loads(r["meta"])["corpus_file"] for r in raw if r["source"] == "pile"}
    assert {f.rsplit("/", 1)[1] for f in files} == {"cut.jsonl.gz", "pile-00.jsonl.zst"}
    assert results["crawl"].added == 12 and results["wiki"].added == 3
