# lmkiln: `make run` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= configs/demo.yaml
CHROMIUM := /usr/bin/chromium

.PHONY: setup system run test lint format serve ui bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet -c constraints.txt torch
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/lmkiln run --config $(CONFIG)

# Debian packages the tests use, installed only when missing: PostgreSQL
# (tests/helpers/postgres.py starts throwaway clusters from /usr/lib/postgresql/<major>/bin),
# Chromium with a font for the screenshots (tests/integration/test_ui_browser.py; Playwright
# drives it, and `playwright install` would download a browser build, which fails here), and
# faketime (libfaketime, and gcc for its mend in tests/faketime/), which moves the clock of
# the calendar tests' second pass.
system:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	test -x $(CHROMIUM) || missing="$$missing chromium fonts-liberation"; \
	command -v faketime >/dev/null || missing="$$missing faketime"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "missing Debian packages:$$missing; installing them needs root: sudo make system" >&2; \
	    exit 1; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Then the tests marked `calendar` (tests/conftest.py) again, with the calendar of pytest and
# everything it starts a year ahead (tests/faketime/run): a test that fixes a date while the
# code reads the real clock fails today instead of on some later day.
test: $(STAMP) lint system
	$(BIN)/pytest -q
	tests/faketime/run $(BIN)/pytest -q -p no:cacheprovider -m calendar

# The unit tier, tests/unit: pure functions and in-process fakes (HTTP servers in a thread),
# no root, no Debian packages, no server processes; about two minutes on two idle cores.
# Prefect may not start its ephemeral server: a unit test that needs one fails, named.
.PHONY: test-unit
test-unit: $(STAMP)
	PREFECT_SERVER_ALLOW_EPHEMERAL_MODE=false $(BIN)/pytest -q tests/unit

# Import contracts (pyproject, [tool.importlinter]) are checked on lmkiln installed as a wheel
# installs it: import-linter finds a package's modules under its folder, and the checkout maps
# four folders into one `lmkiln` namespace.
LINT_SITE := $(VENV)/lint-site
# mypy (pyproject, [tool.mypy]) checks the same copy; sed turns the paths it reports back into
# the checkout's (lmkiln/tasks/x.py into tasks/x.py; flows/ and deployments/ alike). Its cache
# outlives the copy: mypy compares contents, so a second run checks only what changed, where a
# cold one takes a minute.
MYPY_CACHE := $(VENV)/mypy-cache

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# setuptools builds in build/ and reuses it: a module moved away would linger in the copy.
	rm -rf $(LINT_SITE) build
	$(BIN)/pip install --quiet --no-deps --no-build-isolation --target $(LINT_SITE) .
	cd $(LINT_SITE) && $(CURDIR)/$(BIN)/lint-imports $(CURDIR)/pyproject.toml
	cd $(LINT_SITE) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml \
	  --cache-dir $(CURDIR)/$(MYPY_CACHE) > mypy.txt; status=$$?; \
	  sed -E 's#^lmkiln/(tasks|flows|deployments)/#\1/#' mypy.txt; exit $$status
	$(BIN)/python -m lmkiln.reference --check

# The configuration reference, from the config models' field docstrings (lmkiln/reference.py);
# `make lint` fails while it is stale.
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m lmkiln.reference

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

serve: $(STAMP)
	$(BIN)/lmkiln serve --config $(CONFIG)

ui: $(STAMP)
	$(BIN)/lmkiln ui --config $(CONFIG)

# Peers (trafilatura, Scrapy, nginx, Debian doc packages) are installed on first use;
# results go to bench/results/, see bench/README.md.
bench: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m bench.extract
	$(BIN)/python -m bench.crawl
	$(BIN)/python -m bench.cleaning
	$(BIN)/python -m bench.training
	$(BIN)/python -m bench.language
	$(BIN)/python -m bench.pii
	$(BIN)/python -m bench.normalize
	$(BIN)/python -m bench.wikitext
	$(BIN)/python -m bench.warc_memory

clean:
	rm -rf .lmkiln
