"""Issue 7: malformed inputs of every kind, mixed among good ones in one collect + clean run
on servers and files of our own. Each ends with a named reason (a quarantine row, a clean
decision or a source's counter), the run completes, and every good input lands exactly once
and survives cleaning. The tables below read input -> reason; bad configs are at the end.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect import flow
from typer.testing import CliRunner

from lmkiln.cli import app
from lmkiln.flows.collect import CollectReport, collect
from lmkiln.tasks.clean.tasks import clean_corpus
from lmkiln.tasks.config.pipeline import PipelineConfig
from lmkiln.tasks.core import lake
from lmkiln.tasks.core.records import DOCUMENT_COLUMNS, StageResult
from tests.helpers.pipelines import DEMO_CLEAN
from tests.helpers.routes import HTML, JSON, Response, html_page, serve_routes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOUNS = (
    "kiln glaze potter clay bowl wheel shelf studio oven vase pitcher brush sponge apron bucket "
    "table window garden teapot saucer ladle chisel lantern river meadow harbour"
).split()
VERBS = "shapes trims glazes loads fires polishes carries checks cleans wraps paints".split()
ADJECTIVES = "quiet careful patient young old busy steady gentle bright small warm".split()


def prose(seed: int) -> str:
    """English prose of its own for each seed: passes the demo's clean rules, and no two
    seeds are near duplicates."""
    pick = random.Random(seed).choice
    return " ".join(
        f"The {pick(ADJECTIVES)} {pick(NOUNS)} {pick(VERBS)} the {pick(NOUNS)} and then it "
        f"{pick(VERBS)} a {pick(ADJECTIVES)} {pick(NOUNS)} near the {pick(NOUNS)}."
        for _ in range(9)
    )


def prose_page(seed: int) -> Response:
    return html_page(f"page {seed}", f"<main><p>{prose(seed)}</p></main>")


# Web pages: path -> (response, the counters it adds besides http_200).
PAGE_CAP_BYTES = 64 * 1024
WEB_BAD: dict[str, tuple[Response, tuple[str, ...]]] = {
    "/empty-body": ((200, HTML, b""), ("empty_text",)),
    "/tags-only": ((200, HTML, "<html><body><div><span></span></div>"), ("empty_text",)),
    "/nul-bytes": ((200, HTML, b"\x00" * 3000), ("binary_body",)),
    "/png-as-html": (
        (200, HTML, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(600)),
        ("binary_body",),
    ),
    "/random-bytes": ((200, HTML, random.Random(1).randbytes(4000)), ("binary_body",)),
    "/gzip-bomb": (
        (200, HTML | {"Content-Encoding": "gzip"}, gzip.compress(b"<p>" + b" " * 50_000_000)),
        ("truncated_pages", "empty_text"),
    ),
    "/over-size-cap": (html_page("big", "<p>" + "A long page. " * 20_000), ("truncated_pages",)),
    "/broken-gzip": (
        (200, HTML | {"Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00junk" * 9),
        ("bad_content_encoding",),
    ),
    "/body-cut-short": (
        (200, HTML | {"Content-Length": "9000"}, "<p>the first bytes"),
        ("errors",),
    ),
    "/huge-header": ((200, HTML | {"X-Padding": "a" * 70_000}, "<p>x</p>"), ("errors",)),
    "/too-many-headers": (
        (200, HTML | {f"X-H{i}": "v" for i in range(150)}, "<p>x</p>"),
        ("errors",),
    ),
    "/loop-a": ((302, {"Location": "/loop-b"}, ""), ("too_many_redirects",)),
    "/loop-b": ((302, {"Location": "/loop-a"}, ""), ("too_many_redirects",)),
    "/to-other-host": (
        (302, {"Location": "http://elsewhere.invalid/"}, ""),
        ("redirects_refused",),
    ),
    "/to-ftp": ((301, {"Location": "ftp://127.0.0.1/file.txt"}, ""), ("redirects_refused",)),
    "/to-no-url": ((302, {"Location": "http://[bad"}, ""), ("redirects_refused",)),
    "/redirect-without-location": ((302, {}, ""), ("http_302",)),
    "/pdf": ((200, {"Content-Type": "application/pdf"}, b"%PDF-1.7\n"), ("skipped_type",)),
    "/image": ((200, {"Content-Type": "image/png"}, b"\x89PNG\r\n"), ("skipped_type",)),
    "/json": ((200, JSON, '{"not": "a page"}'), ("skipped_type",)),
    "/no-content-type": ((200, {}, "<p>no type</p>"), ("skipped_type",)),
    "/private/denied": (prose_page(91), ("robots_forbidden",)),
    "/gone": ((410, HTML, "gone"), ("http_410",)),
    "/missing": ((404, HTML, "missing"), ("http_404",)),
    "/server-error": ((500, HTML, "oops"), ("http_500",)),
}
# Damaged, but their text is recovered: kept, and through cleaning too.
WEB_RECOVERED: dict[str, Response] = {
    "/stray-byte": (
        200,
        HTML,
        f"<main><p>{prose(40)} \xff</p></main>".encode().replace(b"\xc3\xbf", b"\xff"),
    ),
    "/unclosed-tags": (200, HTML, f"<html><body><main><p>{prose(41)}<div><b><i>"),
    "/unknown-charset": (
        200,
        {"Content-Type": "text/html; charset=x-klingon"},
        f"<p>{prose(42)}</p>",
    ),
}
WEB_GOOD = {f"/good/{n}": prose_page(n) for n in range(3)}
ROBOTS = (200, {"Content-Type": "text/plain"}, "User-agent: *\nDisallow: /private/\n")


def site_routes() -> dict[str, Response]:
    pages = [*WEB_BAD, *WEB_RECOVERED, *WEB_GOOD]
    links = "".join(f'<a href="{path}">{path}</a> ' for path in pages)
    hub = html_page("hub", f"<main><p>{prose(99)}</p><p>{links}</p></main>")
    bad = {path: response for path, (response, _) in WEB_BAD.items()}
    return {"/": hub, "/robots.txt": ROBOTS, **bad, **WEB_RECOVERED, **WEB_GOOD}


# API records, all on one page of the "records" source: case -> (record, reason).
HUGE_TEXT = {"blob": ["x" * 1000] * 150}  # 150 kB of nesting: its payload is kept cut
API_BAD: dict[str, tuple[object, str]] = {
    "a-string": ("just a string", "not_an_object"),
    "a-null": (None, "not_an_object"),
    "a-list": ([1, 2, 3], "not_an_object"),
    "no-id": ({"case": "no-id", "text": prose(200)}, "missing_id"),
    "empty-id": ({"case": "empty-id", "id": "", "text": prose(201)}, "missing_id"),
    "float-id": ({"case": "float-id", "id": 1.5, "text": prose(202)}, "bad_id"),
    "bool-id": ({"case": "bool-id", "id": True, "text": prose(203)}, "bad_id"),
    "object-id": ({"case": "object-id", "id": {"n": 1}, "text": prose(204)}, "bad_id"),
    "no-text": ({"case": "no-text", "id": "q1", "title": "untitled"}, "missing_text"),
    "null-text": ({"case": "null-text", "id": "q2", "text": None}, "missing_text"),
    "blank-text": ({"case": "blank-text", "id": "q3", "text": " \n\t "}, "missing_text"),
    "number-text": ({"case": "number-text", "id": "q4", "text": 42}, "bad_text"),
    "nested-garbage": ({"case": "nested-garbage", "id": "q5", "text": [{"a": [[{}]]}]}, "bad_text"),
    "huge-record": ({"case": "huge-record", "id": "q6", "text": HUGE_TEXT}, "bad_text"),
    "lone-surrogate": (
        {"case": "lone-surrogate", "id": "q7", "text": "half \ud800 pair"},
        "undecodable",
    ),
    "latin1-byte": ({"case": "latin1-byte", "id": "q8", "text": "LATIN1"}, "undecodable"),
}
API_GOOD = [{"id": f"g{n}", "title": f"record {n}", "text": prose(300 + n)} for n in range(12)]
REPEATED = API_GOOD[0]  # served twice on the page: counted as a duplicate, kept once


def records_page(path: str) -> Response:
    if "page=1" not in path:
        return 200, JSON, json.dumps({"items": []})
    bad = [record for record, _ in API_BAD.values()]
    items = [*(API_GOOD[n // 2] if n % 2 == 0 else bad[n // 2] for n in range(24)), *bad[12:]]
    items.append(REPEATED)
    body = json.dumps({"items": items}).encode("utf-8")
    return 200, JSON, body.replace(b'"LATIN1"', b'"caf\xe9 cr\xe8me"')  # not UTF-8


# API sources that fail as a whole, each alone: name -> (route, pagination, words of the error).
NEXT_SELF = {"items": [API_GOOD[0]], "next": "/api/loop"}
API_FAILING: dict[str, tuple[Response, dict[str, str], str]] = {
    "broken-json": ((200, JSON, '{"items": [{"id": 1, "text": "cut'), {}, "did not return JSON"),
    "html-not-json": ((200, HTML, "<html>login</html>"), {}, "did not return JSON (text/html"),
    "empty-json-body": ((200, JSON, ""), {}, "did not return JSON"),
    "no-records-path": ((200, JSON, '{"data": []}'), {}, "has no list at records_path 'items'"),
    "json-gzip-bomb": (
        (200, JSON | {"Content-Encoding": "gzip"}, gzip.compress(b" " * 30_000_000)),
        {},
        "larger than max_page_bytes",
    ),
    "loop": (
        (200, JSON, json.dumps(NEXT_SELF)),
        {"style": "next_url", "next_path": "next"},
        "pagination loops back",
    ),
    "other-host": (
        (200, JSON, json.dumps(NEXT_SELF | {"next": "http://elsewhere.invalid/p2"})),
        {"style": "next_url", "next_path": "next"},
        "the next page is on another host",
    ),
    "not-found": ((404, JSON, "{}"), {}, "HTTP 404 is not retried"),
}


def write_files(root: Path) -> dict[str, str]:
    """The "kb" files source: its bad files and JSON lines; returns input -> reason, keyed
    by file name, or "name:line" for a JSON line."""
    root.mkdir()
    (root / "good.txt").write_text(prose(400), encoding="utf-8")
    (root / "good.md").write_text(f"# Notes\n\n{prose(401)}\n", encoding="utf-8")
    pq.write_table(pa.table({"body": [prose(402), prose(403)]}), root / "good.parquet")
    bad: dict[str, str] = {}

    def add(name: str, data: bytes, reason: str) -> None:
        (root / name).write_bytes(data)
        bad[name] = reason

    add("latin1.txt", "Café crème, déjà vu.".encode("latin-1"), "undecodable")
    add("image-named.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "binary")
    add("zeros.txt", b"\x00" * 800, "binary")
    add("program.html", b"\x7fELF\x02\x01\x01" + bytes(100), "binary")
    add("empty.txt", b"", "empty_text")
    add("blank.md", b"  \n\n\t \n", "empty_text")
    add("too-large.txt", prose(404).encode() * 20, "too_large")
    add(
        "no-main-text.html",
        b"<html><body><nav><a href='/'>Home</a></nav></body></html>",
        "empty_text",
    )
    add("not-parquet.parquet", b"PAR1 this is no parquet file", "unreadable")
    whole = root / "good.parquet"
    add("cut.parquet", whole.read_bytes()[: whole.stat().st_size - 40], "unreadable")
    without_column = pa.table({"headline": ["a title"]})
    pq.write_table(without_column, root / "no-column.parquet")
    bad["no-column.parquet"] = "missing_field"
    lines = {
        1: ('{"body": "' + prose(405) + '"}', ""),
        2: ('{"body": "cut off', "bad_json"),
        3: ("[1, 2, 3]", "bad_json"),
        4: ('"a string"', "bad_json"),
        5: ('{"body": 5}', "bad_value"),
        6: ('{"body": {"nested": [1, {"deeper": []}]}}', "bad_value"),
        7: ('{"body": null}', "missing_field"),
        8: ('{"headline": "no body"}', "missing_field"),
        9: ('{"body": "   "}', "empty_text"),
        10: ('{"body": "half a \\ud800 pair"}', "undecodable"),
        11: ("LATIN1", "undecodable"),
        12: ('{"body": "' + prose(406) + '"}', ""),
    }
    text = "\n".join(line for line, _ in lines.values()) + "\n"
    data = text.encode("utf-8").replace(b"LATIN1", '{"body": "déjà"}'.encode("latin-1"))
    (root / "records.jsonl").write_bytes(data)
    bad |= {f"records.jsonl:{n}": reason for n, (_, reason) in lines.items() if reason}
    (root / "archive.jsonl.gz").write_bytes(gzip.compress(b'{"body": "x"}\n')[:12])
    return bad


# The "notes" files source: documents that reach the clean stage. file -> clean reason.
NOTES_BAD: dict[str, str] = {
    "invisible.txt": "empty",  # zero-width and no-break spaces only: nothing after normalising
    "short.txt": "too_short_chars",
    "few-words.txt": "too_few_words",
    "german.txt": "language_not_allowed",
    "boilerplate.txt": "language_low_score",
    "pii-only.txt": "pii_only",
    "repeated-ngrams.txt": "duplicated_5_n_grams",
    "z-exact-copy.txt": "exact_duplicate",  # of a-original.txt, read before it
    "z-near-copy.txt": "near_duplicate",  # of b-original.txt
}


def write_notes(root: Path) -> None:
    root.mkdir()
    near = prose(501).split()
    near[10:13] = ["entirely", "different", "words"]
    texts = {
        "a-original.txt": prose(500),
        "b-original.txt": prose(501),
        "invisible.txt": "\u200b\u2060\u00a0\u200b",
        "short.txt": "Hi there.",
        "few-words.txt": "Pneumonoultramicroscopicsilicovolcanoconiosis " * 6,
        "german.txt": "Der Töpfer formt den Ton auf der Scheibe und brennt die Schalen. " * 6,
        "boilerplate.txt": "\n".join(["Home | About | Contact | Privacy policy | Terms"] * 40),
        "pii-only.txt": "\n".join(f"ann{n}@example.com +1 415 555 01{n:02d}" for n in range(20)),
        "repeated-ngrams.txt": "the potter fires the kiln and waits for the light " * 30,
        "z-exact-copy.txt": prose(500),
        "z-near-copy.txt": " ".join(near),
    }
    for name, text in texts.items():
        (root / name).write_text(text, encoding="utf-8")


@flow(name="collect-and-clean")
def collect_and_clean(config: PipelineConfig) -> tuple[CollectReport, StageResult]:
    collected = collect(config)
    return collected, clean_corpus(collected.raw, config.clean, config.split, config.storage)


# A page's one final outcome: a document, or one of these; truncated_pages comes on top.
WEB_OUTCOMES = (
    "empty_text",
    "binary_body",
    "bad_content_encoding",
    "errors",
    "skipped_type",
    "robots_forbidden",
    "redirects_refused",
    "too_many_redirects",
    "http_302",
    "http_404",
    "http_410",
    "http_500",
)
WEB_PROGRESS = ("pages_fetched", "extracted", "bytes", "redirects", "http_200")


def api_case(payload: str) -> str:
    """Which API_BAD input a quarantined payload is."""
    data = json.loads(payload)
    if isinstance(data, dict) and data.get("truncated"):
        return re.search(r'"case": "([\w-]+)"', data["head"]).group(1)  # type: ignore[union-attr]
    if isinstance(data, dict):
        return data["case"]
    return {'"just a string"': "a-string", "null": "a-null", "[1, 2, 3]": "a-list"}[payload]


def file_input(payload: str) -> str:
    data = json.loads(payload)
    name = Path(data["path"]).name
    return f"{name}:{data['line']}" if "line" in data else name


def test_malformed_inputs_each_get_a_named_reason_and_nothing_else_is_lost(tmp_path) -> None:
    bad_files = write_files(tmp_path / "kb")
    write_notes(tmp_path / "notes")
    api_routes = {f"/api/{name}": route for name, (route, _, _) in API_FAILING.items()}
    with (
        serve_routes(site_routes()) as web,
        serve_routes(api_routes | {"/records": records_page}) as api,
    ):
        failing = [
            {
                "name": f"api-{name}",
                "url": f"{api}/api/{name}",
                "retries": 0,
                "max_page_bytes": 1_000_000,
            }
            | ({"pagination": pagination} if pagination else {})
            for name, (_, pagination, _) in API_FAILING.items()
        ]
        config = PipelineConfig.model_validate(
            {
                "storage": {"data_root": str(tmp_path / "data")},
                "collect": {
                    "web": [
                        {
                            "name": "site",
                            "start_urls": [f"{web}/"],
                            "max_depth": 1,
                            "max_pages": 100,
                            "retries": 0,
                            "timeout_s": 5,
                            "concurrency": 4,
                            "sitemaps": False,
                            "max_page_bytes": PAGE_CAP_BYTES,
                            "allow_private_addresses": True,
                        }
                    ],
                    "api": [{"name": "records", "url": f"{api}/records", "retries": 0}, *failing],
                    "files": [
                        {
                            "name": "kb",
                            "paths": [str(tmp_path / "kb")],
                            "text_field": "body",
                            "max_file_bytes": 5000,
                        },
                        {"name": "notes", "paths": [str(tmp_path / "notes")]},
                    ],
                },
                "clean": DEMO_CLEAN,
            }
        )
        collected, cleaned = collect_and_clean(config)

    # Sources that cannot be read at all fail alone, each with its reason.
    assert set(collected.failures) == {f"api-{name}" for name in API_FAILING}
    for name, (_, _, words) in API_FAILING.items():
        assert words in collected.failures[f"api-{name}"], name
    counters = {result.source: result.counters for result in collected.sources}
    raw = list(lake.read(collected.raw, DOCUMENT_COLUMNS))
    by_source = Counter(row["source"] for row in raw)

    # Web: each bad page's reason is a counter; every page has one outcome.
    site = counters["site"]
    expected = Counter(reason for _, reasons in WEB_BAD.values() for reason in reasons)
    assert {k: v for k, v in site.items() if v and k not in WEB_PROGRESS} == expected
    linked = 1 + len(WEB_BAD) + len(WEB_RECOVERED) + len(WEB_GOOD)  # the hub too
    assert linked == by_source["site"] + sum(site[outcome] for outcome in WEB_OUTCOMES)
    kept_pages = ["/", *WEB_GOOD, *WEB_RECOVERED, "/over-size-cap"]
    web_urls = Counter(row["url"].removeprefix(web) for row in raw if row["source"] == "site")
    assert web_urls == Counter(kept_pages)

    # API records: each bad one quarantined once with its reason, the good ones kept once.
    quarantine = list(
        lake.read(
            lake.head(config.storage.lake("quarantine")), ("source", "kind", "reason", "payload")
        )
    )
    api_rows = [row for row in quarantine if row["source"] == "records" and row["kind"] == "api"]
    assert {api_case(row["payload"]): row["reason"] for row in api_rows} == {
        case: reason for case, (_, reason) in API_BAD.items()
    }
    assert len(api_rows) == len(API_BAD)
    huge = next(r["payload"] for r in api_rows if api_case(r["payload"]) == "huge-record")
    assert json.loads(huge)["truncated"] is True and json.loads(huge)["chars"] > 150_000
    record_ids = Counter(
        json.loads(row["meta"])["record_id"] for row in raw if row["source"] == "records"
    )
    assert record_ids == Counter(record["id"] for record in API_GOOD)
    records = counters["records"]
    quarantined = sum(v for k, v in records.items() if k.startswith("quarantined_"))
    assert records["duplicates"] == 1 and quarantined == len(API_BAD)
    assert records["records"] == records["documents"] + records["duplicates"] + quarantined

    # Files: each bad file or line quarantined once with its reason; a .jsonl.gz is skipped.
    file_rows = [row for row in quarantine if row["source"] == "kb"]
    assert {file_input(row["payload"]): row["reason"] for row in file_rows} == bad_files
    assert len(file_rows) == len(bad_files)
    kb = counters["kb"]
    assert kb["files_skipped_type"] == 1 and by_source["kb"] == kb["documents"] == 6
    assert kb["records"] == kb["documents"] + len(bad_files)

    # Clean: every raw row decided once; the bad notes dropped for their reason, the rest kept.
    assert by_source["notes"] == 11 and len(raw) == sum(by_source.values())
    decided = list(lake.read(cleaned.lake, ("source", "url", "reason")))
    assert cleaned.counters["seen"] == len(decided) == len(raw)
    dropped = {k: v for k, v in cleaned.counters.items() if k.startswith("dropped_")}
    assert cleaned.counters["seen"] == cleaned.counters["kept"] + sum(dropped.values())
    notes = {Path(r["url"]).name: r["reason"] for r in decided if r["source"] == "notes"}
    assert notes == NOTES_BAD | {"a-original.txt": "", "b-original.txt": ""}
    others = {r["url"]: r["reason"] for r in decided if r["source"] != "notes"}
    # The page cut at the size cap is one sentence over and over: kept raw, then dropped.
    over_cap = {f"{web}/over-size-cap": "language_low_score"}
    assert {url: reason for url, reason in others.items() if reason} == over_cap
    clean_quarantine = Counter(row["reason"] for row in quarantine if row["kind"] == "clean")
    assert clean_quarantine == Counter([*NOTES_BAD.values(), *over_cap.values()])


@pytest.mark.parametrize(
    ("config", "field", "fix"),
    [
        ("train:\n  max_stepz: 3\n", "train.max_stepz", "unknown key (check its spelling"),
        ("split:\n  validation_fraction: 1.5\n", "split.validation_fraction", "less than 1"),
        ("clean:\n  min_chars: many\n", "clean.min_chars", "valid integer"),
        ("collect:\n  bucket_hours: 0\n", "collect.bucket_hours", "greater than or equal to 1"),
        (
            "collect:\n  api: [{name: a, url: example.org/api}]\n",
            "collect.api.0.url",
            "http",
        ),
        (
            "collect:\n  web: [{name: w, start_urls: ['http://x.test/'], exclude: ['(a']}]\n",
            "collect.web.0.exclude.0",
            "regular expression",
        ),
        (
            "collect:\n  web: [{name: w, start_urls: ['http://x.test/'], user_agent: bot/1.0}]\n",
            "collect.web.0.user_agent",
            "add a URL or e-mail",
        ),
        (
            "collect:\n  web: [{name: w, start_urls: ['http://x.test/'], max_page_bytes: 10}]\n",
            "collect.web.0.max_page_bytes",
            "greater than or equal to 1024",
        ),
        (
            "collect:\n  web: [{name: w, start_urls: ['http://x.test/'], concurrency: 0}]\n",
            "collect.web.0.concurrency",
            "greater than or equal to 1",
        ),
        (
            "collect:\n  files: [{name: f, paths: [.], encoding: klingon}]\n",
            "collect.files.0.encoding",
            "use e.g. 'utf-8'",
        ),
        (
            "collect:\n  api: [{name: a, url: 'https://u:tok-9f3e@api.test/'}]\n",
            "collect.api.0.url",
            "remove them and set the source's auth",
        ),
        ("train:\n  n_embd: 100\n  n_head: 3\n", "train", "divisible by n_head"),
        ("schedule:\n  cron: every night\n", "schedule.cron", "not a cron expression"),
        ("schedule:\n  timezone: Mars/Base\n", "schedule.timezone", "unknown timezone"),
        ("train: [1, 2\n", "bad.yaml", "not valid YAML"),
    ],
)
def test_a_bad_config_value_stops_the_run_before_any_work(tmp_path, config, field, fix) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"storage:\n  data_root: {tmp_path / 'data'}\n{config}", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--config", str(path)])

    assert result.exit_code == 2
    assert field in result.stderr and fix in result.stderr
    assert "tok-9f3e" not in result.stderr  # credentials in a bad URL are masked
    assert not (tmp_path / "data").exists()
