"""The Wikipedia dump reader on a dump excerpt built here, in the MediaWiki export schema."""

from __future__ import annotations

import bz2
import io

from lmkiln.tasks.collect.corpora.base import Damaged, Entry
from lmkiln.tasks.collect.corpora.wiki import plain_text, read_wikipedia
from tests.helpers.wiki import HEAD, PAGES, SITEINFO, TAIL, dump, page

ADA_PLAIN = """Augusta Ada King, Countess of Lovelace (née Byron; 10 December 1815 \
\u2013 27 November 1852) was an English mathematician and writer. She worked on \
Charles Babbage's proposed mechanical general-purpose computer.

Early life
Her father was Lord Byron; she met Mary Somerville in 1833. She lived 20 mi from London.

Notes
- The first algorithms
- A translation of an article
- Numbered item
References"""

BABBAGE_PLAIN = """Charles Babbage (26 December 1791 \u2013 18 October 1871) was a \
polymath. He is known as a father of the computer and wrote several books.

Difference engine
Babbage began in 1822 with what he called the difference engine."""


def read(data: bytes, name: str = "enwiki-pages-articles.xml.bz2", start: int = 0):
    return list(read_wikipedia(io.BytesIO(data), name, start))


def outcome(item: Entry | Damaged) -> str:
    return "entry" if isinstance(item, Entry) else item.reason


def test_dump_gives_articles_as_plain_text_and_names_every_skip():
    items = read(bz2.compress(dump()))

    assert [(o, outcome(item)) for o, item in items] == [
        (0, "entry"),
        (1, "redirect"),
        (2, "skipped_namespace"),
        (3, "empty_text"),
        (4, "entry"),
        (5, "entry"),
    ]
    ada, babbage, engine = items[0][1], items[4][1], items[5][1]
    assert ada.text == ADA_PLAIN
    assert babbage.text == BABBAGE_PLAIN
    assert engine.text == "The Analytical Engine was a computer design."
    assert ada.title == "Ada Lovelace"
    assert ada.url == "https://en.wikipedia.org/wiki/Ada_Lovelace"
    assert ada.meta == {
        "wiki_page_id": 1,
        "wiki_revision_id": 1000,
        "wiki_timestamp": "2024-05-02T12:00:00Z",
        "wiki_namespace": 0,
    }
    # Skips carry a name and a detail, no page text; the collection counts them.
    assert "Ada Lovelace" in items[1][1].detail and items[1][1].payload == ""
    assert "namespace 1" in items[2][1].detail and items[2][1].payload == ""


def test_reading_from_start_gives_exactly_the_tail():
    data = bz2.compress(dump())
    everything = read(data)

    for start in range(len(PAGES) + 1):
        assert read(data, start=start) == everything[start:]


def test_truncated_bz2_gives_the_pages_before_the_damage_then_stops():
    # Two bz2 streams, as in Wikimedia's multistream dumps; the second is cut in half.
    first = bz2.compress((HEAD + "".join(PAGES[:2])).encode())
    second = bz2.compress(("".join(PAGES[2:]) + TAIL).encode())
    items = read(first + second[: len(second) // 2])

    assert [(o, outcome(item)) for o, item in items] == [
        (0, "entry"),
        (1, "redirect"),
        (2, "truncated_archive"),
    ]
    assert "enwiki-pages-articles.xml.bz2" in items[-1][1].detail
    assert "download the file again" in items[-1][1].detail


def test_plain_xml_cut_inside_a_page_is_a_truncated_archive():
    data = dump()
    cut = data.index(b"<title>Charles Babbage") + 10

    items = read(data[:cut], name="enwiki-pages-articles.xml")

    assert [(o, outcome(item)) for o, item in items][-2:] == [
        (3, "empty_text"),
        (4, "truncated_archive"),
    ]


def test_a_broken_or_undecodable_page_costs_that_page_alone():
    broken = page("Broken", 7, "text").replace("</title>", "</titel>")
    undecodable = page("Latin-1", 8, "caf\u00e9").encode().replace("caf\u00e9".encode(), b"caf\xe9")
    data = (HEAD + broken).encode() + undecodable + (PAGES[5] + TAIL).encode()

    items = read(data, name="enwiki.xml")

    assert [(o, outcome(item)) for o, item in items] == [
        (0, "broken_record"),
        (1, "undecodable"),
        (2, "entry"),
    ]
    assert "caf\ufffd" in items[1][1].payload


def test_localized_namespaces_from_siteinfo_are_recognised():
    site = SITEINFO.replace(">File<", ">Datei<").replace(">Category<", ">Kategorie<")
    text = (
        "Berlin ist eine [[Stadt]].\n[[Datei:Berlin.jpg|mini|Das [[Rathaus]]]]\n[[Kategorie:Ort]]"
    )
    data = (HEAD.replace(SITEINFO, site) + page("Berlin", 9, text) + TAIL).encode()

    [(_, entry)] = read(data, name="dewiki.xml")

    assert entry.text == "Berlin ist eine Stadt."


def test_plain_text_keeps_link_labels_and_drops_unclosed_openers_alone():
    assert plain_text("[[Paris (band)|]] played {{unclosed in [[Lyon]]") == (
        "Paris played unclosed in Lyon"
    )


def test_a_utf16_export_reads_as_utf8_would():
    text = (HEAD + PAGES[5] + TAIL).replace("Analytical", "Analytiсal")  # a Cyrillic "с"

    [(_, entry)] = read(text.encode("utf-16"), name="export.xml")

    assert entry.text == "The Analytiсal Engine was a computer design."


def test_links_inside_kept_templates_and_brackets_inside_captions():
    text = (
        "Ki ({{lang|ja|[[wikt:気|気]]}}) means spirit."
        "[[File:Ki.svg|thumb|The kanji [http://example.org before] 1946]]"
    )
    assert plain_text(text) == "Ki (気) means spirit."
