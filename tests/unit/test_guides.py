"""The guides in docs/guides/ name files, functions and modules to touch: each one they name
exists, so a guide that a move or a rename has left behind fails here."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
GUIDES = sorted((ROOT / "docs" / "guides").glob("*.md"))
TOP = r"(?:tasks|flows|lmkiln|deployments|tests|configs|bench|docs)"
PATH = re.compile(rf"(?<![\w./:<>-]){TOP}/[\w./-]*\w")
PATH_NAME = re.compile(rf"`({TOP}/[\w/.-]+\.py):([\w.]+)`")
MODULE = re.compile(r"`(lmkiln(?:\.\w+)+)(?::([\w.]+))?`")
MODULES = re.compile(r"`(lmkiln(?:\.\w+)*)\.\{([\w, ]+)\}`")


def defines(path: Path, dotted: str) -> bool:
    """Whether the module at `path` defines `dotted`: a function, class or assignment at its
    top level, or `Class.member`."""
    scope: list[ast.stmt] = ast.parse(path.read_text(encoding="utf-8")).body
    for part in dotted.split("."):
        found = None
        for node in scope:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            else:
                names = []
            if part in names:
                found = node
        if found is None:
            return False
        scope = getattr(found, "body", [])
    return True


def module_file(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin) if spec is not None and spec.origin else None


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_every_file_function_and_module_a_guide_names_exists(guide: Path) -> None:
    text = guide.read_text(encoding="utf-8")
    missing = [p for p in PATH.findall(text) if not (ROOT / p).exists()]
    missing += [
        f"{path}:{name}"
        for path, name in PATH_NAME.findall(text)
        if (ROOT / path).is_file() and not defines(ROOT / path, name)
    ]
    named = MODULE.findall(text)
    named += [
        (f"{prefix}.{m.strip()}", "") for prefix, ms in MODULES.findall(text) for m in ms.split(",")
    ]
    for module, name in named:
        origin = module_file(module)
        if origin is None or (name and not defines(origin, name)):
            missing.append(f"{module}:{name}" if name else module)
    assert missing == []


def test_the_guides_are_there() -> None:
    names = {guide.name for guide in GUIDES}
    assert {
        "adding-a-source-kind.md",
        "adding-a-cleaning-rule.md",
        "beyond-one-machine.md",
        "upgrading.md",
    } <= names


def test_a_name_that_is_gone_is_reported(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("X = 1\n\nclass A:\n    def run(self):\n        pass\n", encoding="utf-8")
    assert defines(module, "X") and defines(module, "A.run")
    assert not defines(module, "A.stop") and not defines(module, "run")
