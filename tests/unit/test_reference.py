"""The configuration reference (docs/reference/config.md) is generated from the config models:
the committed file is current, a changed docstring makes it stale, and every field of every
model reads back from its Markdown with its help text."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

from markdown_it import MarkdownIt
from pydantic import BaseModel

from lmkiln import reference
from lmkiln.tasks.config.pipeline import PipelineConfig

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
COMMITTED = ROOT / "docs" / "reference" / "config.md"
SplitSection = PipelineConfig.model_fields["split"].annotation


class Reworded(PipelineConfig):
    split: SplitSection = SplitSection()  # type: ignore[valid-type]
    """The train/validation split, said another way."""


def reachable(model: type[BaseModel]) -> list[type[BaseModel]]:
    """Every model under `model`'s fields, found by their annotations, each once."""
    found: list[type[BaseModel]] = []

    def inside(annotation: object) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.append(annotation)
                for info in annotation.model_fields.values():
                    inside(info.annotation)
        for arg in typing.get_args(annotation):
            inside(arg)

    for info in model.model_fields.values():
        inside(info.annotation)
    return found


def plain(inline) -> str:
    """An inline token's text as written, code spans in backticks, links as their text."""
    parts = []
    for child in inline.children:
        if child.type == "code_inline":
            parts.append(f"`{child.content}`")
        elif child.type in ("text", "softbreak"):
            parts.append(child.content or " ")
    return " ".join("".join(parts).split())


BULLET = re.compile(r"^`(?P<path>[^`]+)` \((?P<kind>.*?)\): (?P<help>.*)$")


def read_back(markdown: str) -> dict[str, list[tuple[str, str]]]:
    """Each heading's list of fields as (path, help text), parsed as CommonMark."""
    sections: dict[str, list[tuple[str, str]]] = {}
    heading, depth = "", 0
    tokens = MarkdownIt("commonmark").parse(markdown)
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            heading = plain(tokens[i + 1])
            sections[heading] = []
        elif token.type == "bullet_list_open":
            depth += 1
            assert depth == 1, f"a nested list under {heading}: a line began like a list item"
        elif token.type == "bullet_list_close":
            depth -= 1
        elif token.type == "inline" and tokens[i - 1].type == "paragraph_open" and depth:
            bullet = BULLET.match(plain(token))
            assert bullet, f"not a field under {heading}: {plain(token)}"
            sections[heading].append((bullet["path"], bullet["help"]))
    return sections


def test_the_committed_reference_is_current() -> None:
    assert reference.stale(COMMITTED) is None, "docs/reference/config.md is stale: run make docs"


def test_a_changed_docstring_makes_the_reference_stale(tmp_path: Path) -> None:
    written = tmp_path / "config.md"
    reference.write(written)
    assert reference.stale(written) is None
    problem = reference.stale(written, Reworded)
    assert problem is not None
    assert problem.startswith(f"{written} is stale") and problem.endswith("run make docs")
    assert "said another way" in reference.render(Reworded)


def test_the_lint_check_fails_on_a_stale_file_and_names_the_fix(tmp_path: Path) -> None:
    stale = tmp_path / "config.md"
    text = COMMITTED.read_text(encoding="utf-8")
    stale.write_text(text.replace("Page requests per night", "Pages per night"), encoding="utf-8")
    check = [sys.executable, "-m", "lmkiln.reference", "--check", "--output"]
    done = subprocess.run([*check, str(stale)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert f"{stale} is stale" in done.stderr and "run make docs" in done.stderr
    done = subprocess.run([*check, str(COMMITTED)], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr) == (0, "")


def test_every_field_of_every_model_reads_back_with_its_help_text() -> None:
    sections = read_back(reference.render())
    models = reachable(PipelineConfig)
    assert len(models) >= 30
    for model in [PipelineConfig, *models]:
        names = list(model.model_fields)
        matches = [
            fields
            for fields in sections.values()
            if [re.split(r"\.|\[\]", path)[-1] for path, _ in fields] == names
        ]
        assert matches, f"no section lists the fields of {model.__name__}"
        helps = [" ".join((model.model_fields[name].description or "").split()) for name in names]
        assert any([h for _, h in fields] == helps for fields in matches), model.__name__
    assert all(help_text for fields in sections.values() for _, help_text in fields)


def test_each_model_is_described_once_and_each_variant_on_its_own() -> None:
    sections = read_back(reference.render())
    paths = [path for fields in sections.values() for path, _ in fields]
    # A path is listed once, but for the fields that several pagination styles share.
    repeated = sorted({path for path in paths if paths.count(path) > 1})
    assert repeated == [
        "collect.api[].pagination.has_more_path",
        "collect.api[].pagination.next_path",
        "collect.api[].pagination.param",
        "collect.api[].pagination.style",
    ]
    styles = [h for h in sections if h.startswith("`collect.api[].pagination` (style: ")]
    assert [h.split("style: ")[1].rstrip(")") for h in styles] == [
        "page",
        "offset",
        "cursor",
        "next_url",
        "link_header",
    ]
    # The endpoint's auth has the API source's fields: described there, pointed to here.
    assert "collect.api[].auth.scheme" in paths
    assert not any(p.startswith("collect.synthetic[].endpoint.auth.") for p in paths)
    text = reference.render()
    assert "The same fields are read at `collect.synthetic[].endpoint.auth`." in text
    assert "[`collect.api[].auth`](#collectapiauth)" in text


def test_types_defaults_and_bounds_read_as_a_config_would_say_them() -> None:
    fields = {path: line for path, line in _bullets(reference.render())}
    assert fields["collect.web[].max_pages"] == "integer, at least 1; default `50`"
    assert fields["collect.web[].name"] == (
        "string, at most 64 characters, matching `^[a-z0-9][a-z0-9_-]*$`; required"
    )
    assert fields["clean.min_chars"] == "integer, at least 0, or null; default `200`"
    assert fields["train.precision"] == "one of `fp32`, `bf16` or `fp16`; default `fp32`"
    assert fields["schedule.cron"] == 'string; default `"0 2 * * *"`'
    assert fields["collect.api[].pagination"].endswith("; default `{style: page}`")
    assert fields["tune.space"] == (
        "mapping of strings to lists of numbers, integers, strings or nulls; "
        "default `{learning_rate: [0.00025, 0.0005, 0.001], warmup_steps: [0, 20]}`"
    )


def _bullets(markdown: str) -> list[tuple[str, str]]:
    tokens = MarkdownIt("commonmark").parse(markdown)
    found = []
    for i, token in enumerate(tokens):
        if token.type == "inline" and tokens[i - 2].type == "list_item_open":
            bullet = BULLET.match(plain(token))
            assert bullet is not None
            found.append((bullet["path"], bullet["kind"]))
    return found
