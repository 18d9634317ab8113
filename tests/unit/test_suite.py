"""The test suite's own layout: shared code lives in tests/helpers, no test module imports
another, and the unit tier imports none of the helpers that need more than this process."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.imports import TESTS, helper_sources, imported, is_test_module, module_name

HELPERS = TESTS / "helpers"

# Helpers that start a server process of their own or need a Debian package: integration only.
NOT_FOR_UNIT = {"tests.helpers.postgres", "tests.helpers.prefect_api", "playwright"}


def python_files() -> list[Path]:
    # Not this module: the examples in its last test are offences on purpose.
    return sorted(
        path
        for path in TESTS.rglob("*.py")
        if "__pycache__" not in path.parts and path != Path(__file__).resolve()
    )


def test_shared_code_lives_in_tests_helpers() -> None:
    loose = [
        str(path.relative_to(TESTS))
        for path in python_files()
        if not path.is_relative_to(HELPERS)
        and path.name != "__init__.py"
        and not is_test_module(module_name(path))
    ]
    assert loose == [], f"move these into tests/helpers: {loose}"


def test_no_test_module_imports_another() -> None:
    offences = [
        f"{path.relative_to(TESTS)} imports {name}"
        for path in python_files()
        for name in sorted(imported(path))
        if name.startswith("tests.") and is_test_module(name)
    ]
    assert offences == [], "move what they share into tests/helpers: " + "; ".join(offences)


def test_unit_tests_use_no_helper_that_needs_a_server_or_a_debian_package() -> None:
    offences = [
        f"{path.relative_to(TESTS)} imports {banned}"
        for path in python_files()
        if path.is_relative_to(TESTS / "unit")
        for banned in sorted(NOT_FOR_UNIT)
        if any(name == banned or name.startswith(banned + ".") for name in imported(path))
    ]
    assert offences == [], "move these tests to tests/integration: " + "; ".join(offences)


def test_the_checks_see_every_kind_of_import(tmp_path: Path) -> None:
    module = tmp_path / "tests" / "integration" / "test_x.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "import tests.unit.test_a\n"
        "from tests.unit.test_b import thing\n"
        "from tests.unit import test_c\n"
        "from .test_d import other\n"
        "from . import test_e\n"
        "from ..helpers.routes import serve_routes\n"
        "CHILD = 'from tests.reliability.test_f import g; g()'\n",
        encoding="utf-8",
    )
    names = imported(module, tmp_path / "tests")
    assert {name for name in names if is_test_module(name)} == {
        "tests.unit.test_a",
        "tests.unit.test_b",
        "tests.unit.test_c",
        "tests.integration.test_d",
        "tests.integration.test_e",
        "tests.reliability.test_f",
    }
    assert "tests.helpers.routes.serve_routes" in names


def test_the_calendar_scan_reads_the_helper_definitions_a_module_imports(tmp_path: Path) -> None:
    helpers = tmp_path / "tests" / "helpers"
    helpers.mkdir(parents=True)
    (helpers / "pages.py").write_text(
        "HOME = '/'\n\n\ndef deeper(path):\n    return path + 'a/'\n", encoding="utf-8"
    )
    (helpers / "words.py").write_text("WORDS = ['kiln']\n", encoding="utf-8")
    module = tmp_path / "tests" / "unit" / "test_x.py"
    module.parent.mkdir()
    module.write_text(
        "from tests.helpers.pages import deeper\n"
        "def test_a():\n    from tests.helpers import words\n",
        encoding="utf-8",
    )
    assert helper_sources(module, tmp_path / "tests") == [
        "def deeper(path):\n    return path + 'a/'",
        "WORDS = ['kiln']\n",
    ]
