"""The house as installed: one `lmkiln` namespace, entrypoints that ignore the working
directory's own flows/ and tasks/, import layers that point down (and fail when one does
not), a type check that passes (and fails on a planted error), and cache keys computed from
whole stage packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STAGES = ("collect", "clean", "split", "train", "registry")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """lmkiln installed as a wheel would be (no dependencies) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    # setuptools builds in build/ and reuses it: a module moved away would linger in the copy.
    shutil.rmtree(REPO / "build", ignore_errors=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    pip += ["--no-build-isolation", "--target", str(target), str(REPO)]
    subprocess.run(pip, check=True, capture_output=True, text=True, timeout=300)
    return target


def run_python(code: str, cwd: Path, site: Path | None = None) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    command = [sys.executable, "-c", code]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_installed_distribution_adds_one_top_level_package(site) -> None:
    top = {p.name for p in site.iterdir() if not p.name.endswith(".dist-info")}
    assert top - {"bin"} == {"lmkiln"}
    assert (site / "lmkiln" / "deployments" / "prefect.yaml").is_file()
    # Every package of the checkout is in it: pyproject lists them by hand.
    folders = {"lmkiln": REPO / "lmkiln", "lmkiln/flows": REPO / "flows"}
    folders |= {"lmkiln/deployments": REPO / "deployments", "lmkiln/tasks": REPO / "tasks"}
    for installed, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            assert (site / installed / init.relative_to(folder)).is_file(), init


def test_the_command_and_the_entrypoints_ignore_the_working_directory_s_own_folders(
    tmp_path, site
) -> None:
    # A Prefect user's project: its own flows/ and tasks/, which must never be imported.
    for folder in ("flows", "tasks", "deployments"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text(f"raise ImportError('the user {folder}')")
    (tmp_path / "flows" / "nightly.py").write_text("raise ImportError('the user nightly')")
    declared = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())
    entrypoints = [d["entrypoint"] for d in declared["deployments"]]
    load = (
        "from prefect.flows import load_flow_from_entrypoint\n"
        f"for e in {entrypoints!r}:\n"
        "    print(load_flow_from_entrypoint(e).name)\n"
    )
    for installed in (None, site):  # the editable install of this checkout, and a wheel's
        loaded = run_python(load, tmp_path, installed)
        assert loaded.returncode == 0, loaded.stderr[-2000:]
        assert loaded.stdout.split() == ["nightly", "retrain", "collect"]
        usage = run_python(
            "import sys; sys.argv = ['lmkiln', '--help']; import lmkiln.__main__",
            tmp_path,
            installed,
        )
        assert usage.returncode == 0 and "Usage" in usage.stdout, usage.stderr[-2000:]
    command = subprocess.run(
        [BIN / "lmkiln", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert command.returncode == 0 and "Usage" in command.stdout


def lint_imports(site: Path) -> subprocess.CompletedProcess:
    command = [BIN / "lint-imports", str(REPO / "pyproject.toml")]
    return subprocess.run(command, cwd=site, capture_output=True, text=True, timeout=300)


def planted(site: Path, tmp_path: Path, module: str, line: str) -> Path:
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    path = copy / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")
    return copy


def test_the_import_contracts_hold(site) -> None:
    done = lint_imports(site)
    assert done.returncode == 0 and "0 broken" in done.stdout, done.stdout[-3000:]


def test_a_stage_importing_one_above_it_breaks_the_layers(site, tmp_path) -> None:
    # The registry under training: registering must not import the trainer.
    copy = planted(site, tmp_path, "lmkiln.tasks.registry.register", "import lmkiln.tasks.train")
    done = lint_imports(copy)
    assert done.returncode != 0 and "Layers point down" in done.stdout
    assert "lmkiln.tasks.registry.register -> lmkiln.tasks.train" in done.stdout


def test_a_circle_between_a_stage_s_modules_breaks_a_contract(site, tmp_path) -> None:
    # tasks.py imports trainer.py; trainer.py importing tasks.py closes a circle.
    line = "import lmkiln.tasks.train.tasks"
    copy = planted(site, tmp_path, "lmkiln.tasks.train.trainer", line)
    done = lint_imports(copy)
    assert done.returncode != 0 and "No circles" in done.stdout and "BROKEN" in done.stdout


def stage_versions(site: Path) -> dict[str, str]:
    code = (
        "from lmkiln.tasks.core.caching import code_version\n"
        f"for stage in {STAGES!r}:\n"
        "    print(stage, code_version('lmkiln.tasks.' + stage))\n"
    )
    done = run_python(code, site, site)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(line.split() for line in done.stdout.splitlines())


@pytest.mark.parametrize(
    "module", ["lmkiln.tasks.clean.quality.rules", "lmkiln.tasks.collect.web.crawl"]
)
def test_changing_a_stage_s_module_changes_that_stage_s_keys_and_no_other_s(
    site, tmp_path, module
) -> None:
    before = stage_versions(site)
    after = stage_versions(planted(site, tmp_path, module, "EDITED = 1"))
    stage = module.split(".")[2]
    assert {name for name in STAGES if after[name] != before[name]} == {stage}


def test_a_comment_changes_no_key_and_core_changes_every_key(site, tmp_path) -> None:
    before = stage_versions(site)
    commented = planted(site, tmp_path / "a", "lmkiln.tasks.clean.pii", "# only a comment")
    assert stage_versions(commented) == before
    # A config field's docstring is the UI's help text: rewording it must not retrain.
    reworded = planted(site, tmp_path / "c", "lmkiln.tasks.config.train", "")
    train = reworded / "lmkiln" / "tasks" / "config" / "train.py"
    source = train.read_text()
    field_doc = source.index('    """', source.index("class TrainConfig"))
    train.write_text(source[:field_doc] + '    """Reworded. ' + source[field_doc + 7 :])
    assert stage_versions(reworded) == before
    core = stage_versions(planted(site, tmp_path / "b", "lmkiln.tasks.core.records", "X = 1"))
    assert all(core[name] != before[name] for name in STAGES)


def test_every_module_that_logs_does_so_under_the_loggers_prefect_routes(site) -> None:
    # Run logs show a stage's INFO lines only from loggers named in
    # PREFECT_LOGGING_EXTRA_LOGGERS: a module that logs elsewhere is silent in the UI.
    from lmkiln.tasks.core.environment import LOGGERS

    for path in (site / "lmkiln").rglob("*.py"):
        if "getLogger(__name__)" in path.read_text():
            module = ".".join(path.relative_to(site).with_suffix("").parts)
            assert module.startswith(LOGGERS + "."), module


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory) -> Path:
    """A cache of the tests' own, started from the one `make lint` keeps in the environment
    (Makefile, MYPY_CACHE): a check with no cache takes a minute, one with it seconds."""
    cache = tmp_path_factory.mktemp("mypy") / "cache"
    kept = Path(sys.prefix) / "mypy-cache"
    if kept.is_dir():
        shutil.copytree(kept, cache)
    return cache


def type_check(site: Path, cache: Path) -> subprocess.CompletedProcess:
    command = [BIN / "mypy", "--config-file", REPO / "pyproject.toml", "--cache-dir", cache]
    return subprocess.run(command, cwd=site, capture_output=True, text=True, timeout=600)


def test_the_installed_tree_type_checks(site, mypy_cache) -> None:
    done = type_check(site, mypy_cache)
    assert done.returncode == 0 and "Success: no issues found" in done.stdout, done.stdout[-3000:]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        # A function without annotations is checked too (check_untyped_defs).
        ("def planted():\n    return len(1)", "[arg-type]"),
        # An ignore names the error it silences, and one that silences nothing goes.
        ("ROWS: int = 'many'  # type: ignore", "[ignore-without-code]"),
        ("ROWS = 1  # type: ignore[assignment]", "[unused-ignore]"),
    ],
)
def test_a_planted_type_error_fails_the_type_check(site, tmp_path, mypy_cache, line, code) -> None:
    copy = planted(site, tmp_path, "lmkiln.tasks.split", line)
    done = type_check(copy, mypy_cache)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "lmkiln/tasks/split.py:" in done.stdout and code in done.stdout
