"""The CLI's own behaviour: help texts, and bad input stopped before any work."""

import gzip
import json
import subprocess
import sys

from typer.testing import CliRunner

from lmkiln.cli import app
from lmkiln.tasks.collect.extract.extractors import identity, version
from tests.helpers.routes import HTML, serve_routes

runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = ("run", "serve", "ui", "champion", "generate", "promote", "rollback", "extract")
    for command in commands:
        assert command in result.stdout


def test_a_bad_config_stops_with_the_field_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  max_stepz: 3\nsplit:\n  validation_fraction: 2\n")
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "train.max_stepz: unknown key" in result.stderr
    assert "split.validation_fraction" in result.stderr


def test_a_missing_config_names_the_file(tmp_path):
    result = runner.invoke(app, ["champion", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml not found" in result.stderr


def test_run_prints_the_summary_links_as_written(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import lmkiln.flows.nightly
    from lmkiln.flows.collect import CollectReport
    from lmkiln.tasks.core.records import LakeRef

    summary = "# lmkiln nightly\n- model: [lmkiln v1](http://127.0.0.1:5000/#/models/lmkiln)"
    collected = CollectReport(raw=LakeRef("raw", "c1", 0), sources=())
    report = SimpleNamespace(collected=collected, summary=summary)
    monkeypatch.setattr(lmkiln.flows.nightly, "nightly", lambda config: report)
    path = tmp_path / "config.yaml"
    path.write_text(f"storage: {{data_root: {tmp_path / 'data'}}}\n")
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "[lmkiln v1](http://127.0.0.1:5000/#/models/lmkiln)" in result.stdout


PROSE = "Stoneware is fired hotter than earthenware, and it comes out of the kiln watertight."
PAGE = (
    "<html><head><title>Stoneware</title></head><body><nav><a href='/'>Home</a> "
    "<a href='/shop'>Shop</a> <a href='/blog'>Blog</a></nav><main><h1>Stoneware</h1>"
    f"<p>{PROSE}</p></main><footer>Copyright 2024 The Pottery</footer></body></html>"
)


def test_help_needs_no_extractor_library():
    heavy = (
        "lmkiln.tasks.collect.extract.main_text",
        "lmkiln.tasks.collect.web.webpage",
        "lxml",
        "trafilatura",
        "resiliparse",
        "torch",
    )
    code = f"import sys, lmkiln.cli; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_extract_prints_the_main_text_of_a_file(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    result = runner.invoke(app, ["extract", str(path)])
    assert result.exit_code == 0, result.output
    assert PROSE in result.stdout
    assert "Copyright" not in result.stdout and "Shop" not in result.stdout
    titled = runner.invoke(app, ["extract", "--title", str(path)])
    assert titled.stdout.startswith("Stoneware\n\n")


def test_extract_reads_a_gzip_file_with_another_extractor_as_json(tmp_path):
    path = tmp_path / "page.html.gz"
    path.write_bytes(gzip.compress(PAGE.encode()))
    result = runner.invoke(app, ["extract", "--json", "--extractor", "trafilatura", str(path)])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["title"] == "Stoneware" and PROSE in found["text"]
    assert found["url"] == path.resolve().as_uri()
    assert found["words"] == len(found["text"].split())
    assert f"{found['extractor']} {found['extractor_version']}" == identity("trafilatura")


def test_extract_fetches_a_url_as_the_crawler_would():
    log = []
    routes = {
        "/stoneware": (200, HTML, PAGE),
        "/moved": (301, {"Location": "/stoneware"}, ""),
        "/kiln.png": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n\x00\x00"),
    }
    with serve_routes(routes, log) as base:
        fetched = runner.invoke(app, ["extract", "--json", f"{base}/moved"])
        missing = runner.invoke(app, ["extract", f"{base}/gone"])
        image = runner.invoke(app, ["extract", f"{base}/kiln.png"])

    assert fetched.exit_code == 0, fetched.output
    found = json.loads(fetched.stdout)
    assert found["url"] == f"{base}/stoneware" and PROSE in found["text"]
    assert found["extractor_version"] == version("auto")
    assert missing.exit_code == 1 and f"{base}/gone: HTTP 404" in missing.stderr
    assert image.exit_code == 1 and "answered image/png, not HTML" in image.stderr
    assert log == ["/moved", "/stoneware", "/gone", "/kiln.png"]  # no robots.txt: one page


def test_extract_names_a_missing_file_and_the_fix(tmp_path):
    result = runner.invoke(app, ["extract", str(tmp_path / "nope.html")])
    assert result.exit_code == 1
    assert "nope.html: not found; pass an HTML file (or .html.gz) or an http(s) URL" in (
        result.stderr
    )
    bracketed = runner.invoke(app, ["extract", str(tmp_path / "page[draft].html")])
    assert "page[draft].html: not found" in bracketed.stderr  # not taken for markup
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01")
    refused = runner.invoke(app, ["extract", str(binary)])
    assert refused.exit_code == 1 and "not HTML (binary data)" in refused.stderr
