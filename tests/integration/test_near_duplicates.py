"""The same page on two nights, lightly edited the second time: the second copy is dropped
as a near duplicate of the first night's document, with its reason in the quarantine."""

from __future__ import annotations

import json

import pytest
from prefect import flow
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

from lmkiln.flows.collect import collect
from lmkiln.tasks.clean.tasks import clean_corpus
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import StageResult
from tests.helpers.routes import html_page, serve_routes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ESSAY = """Potters have fired clay in kilns for thousands of years, and the basic idea has
hardly changed. A kiln is an insulated chamber that holds heat long enough for the clay to
change its nature. Below about six hundred degrees the water bound in the clay is driven
off, and the pots become brittle but no longer soften when they are wet again.

As the temperature climbs, the fine particles begin to fuse. Earthenware matures at a lower
heat and stays slightly porous, which is why it is usually glazed before anyone drinks from
it. Stoneware needs far more heat, and its body becomes dense and strong enough for daily
use in a busy kitchen.

Firing too quickly is the most common mistake. Steam trapped inside a thick wall can crack a
bowl or even burst it, so careful potters raise the heat slowly through the early hours of
the night. Cooling matters just as much, because a sudden draught on hot glaze makes it
craze with a network of fine lines.

Wood kilns add another layer of craft. The ash that rises with the flames settles on the
shoulders of the pots and melts into a natural glaze, green or brown depending on the wood.
No two firings look the same, and many makers value that uncertainty more than the control
that an electric kiln gives them."""


def edited(text: str) -> str:
    """A header line added and about 3% of the words replaced."""
    words = text.split(" ")
    for i in range(7, len(words), 33):
        words[i] = "remarkably"
    return "Updated this spring by the studio team.\n\n" + " ".join(words)


@flow(name="collect-and-clean")
def night(config: PipelineConfig) -> StageResult:
    collected = collect(config)
    return clean_corpus(collected.raw, config.clean, config.split, config.storage)


def test_a_lightly_edited_page_on_the_second_night_is_a_near_duplicate(tmp_path) -> None:
    page = {"text": ESSAY}
    routes = {
        "/": lambda _path: html_page("Kilns", f"<article>{_paragraphs(page['text'])}</article>")
    }
    with serve_routes(routes) as base:
        config = PipelineConfig.model_validate(
            {
                "storage": {"data_root": str(tmp_path)},
                "collect": {
                    "web": [
                        {
                            "name": "kilns",
                            "start_urls": [f"{base}/"],
                            "allow_private_addresses": True,
                            "sitemaps": False,
                        }
                    ]
                },
                "clean": {"min_chars": 100, "min_words": 20},
            }
        )
        first = night(config)
        page["text"] = edited(ESSAY)
        with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: True}):
            second = night(config)

    assert first.counters == {"seen": 1, "kept": 1}
    assert second.counters["seen"] == 1 and second.counters["dropped_near_duplicate"] == 1
    assert second.by_source["kilns"]["dropped_near_duplicate"] == 1
    rows = list(lake.read(second.lake, ("id", "reason", "meta", "text")))
    assert [r["reason"] for r in rows] == ["", "near_duplicate"]
    assert "remarkably" in rows[1]["text"]
    assert json.loads(rows[1]["meta"])["duplicate_of"] == rows[0]["id"]
    quarantined = list(
        lake.read(lake.head(config.storage.lake("quarantine")), lake.QUARANTINE_TABLE)
    )
    assert [(q["source"], q["kind"], q["reason"]) for q in quarantined] == [
        ("kilns", "clean", "near_duplicate")
    ]


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{block}</p>" for block in text.split("\n\n"))
