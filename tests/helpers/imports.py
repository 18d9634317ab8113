"""What a module under tests/ imports, read from its source: for the suite's layout checks
(tests/unit/test_suite.py) and for the calendar marking (tests/conftest.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

# A module named in code that another process runs (`python -c "from tests.unit..."`).
IMPORT_IN_TEXT = re.compile(r"\b(?:from|import)\s+(tests(?:\.\w+)+)")


def module_name(path: Path, tests: Path = TESTS) -> str:
    parts = path.relative_to(tests.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def imported(path: Path, tests: Path = TESTS) -> set[str]:
    """Every module `path` imports, relative imports resolved, including `package.name` for
    each `from package import name`, and the modules named in code it hands to a process."""
    package = module_name(path, tests).rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names |= set(IMPORT_IN_TEXT.findall(node.value))
    return names


def helper_sources(path: Path, tests: Path = TESTS) -> list[str]:
    """The source of each tests/helpers definition that `path` imports by name, or of the
    whole helper module where it imports the module."""
    wanted: dict[str, set[str] | None] = {}  # helper module -> names, None for all of it
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "tests.helpers":
            wanted |= {alias.name: None for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests.helpers."):
            module = node.module.split(".")[2]
            if wanted.get(module, set()) is not None:
                wanted[module] = wanted.get(module, set()) | {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tests.helpers."):
                    wanted[alias.name.split(".")[2]] = None
    sources = []
    for module, names in sorted(wanted.items()):
        file = tests / "helpers" / f"{module}.py"
        text = file.read_text(encoding="utf-8")
        if names is None:
            sources.append(text)
            continue
        sources += [
            ast.get_source_segment(text, node) or ""
            for node in ast.parse(text).body
            if _defined(node) & names
        ]
    return sources


def _defined(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {target.id for target in node.targets if isinstance(target, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()
