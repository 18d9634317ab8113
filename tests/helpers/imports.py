"""What a module under tests/ imports, read from its source, for the suite's layout checks
(tests/unit/test_suite.py)."""

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
