# lmkiln: `make run` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= configs/demo.yaml
CHROMIUM := /usr/bin/chromium

.PHONY: setup run test lint format serve ui bench clean browser

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

test: $(STAMP) lint browser
	$(BIN)/pytest -q

# Debian's Chromium for tests/integration/test_ui_browser.py, installed only when missing.
# Playwright drives it; `playwright install` would download a browser build, which fails
# here. fonts-liberation is a recommend that --no-install-recommends leaves out; the
# screenshots need a font.
browser: $(CHROMIUM)

$(CHROMIUM):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		chromium fonts-liberation

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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

clean:
	rm -rf .lmkiln
