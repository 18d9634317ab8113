# lmkiln: `make run` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= configs/demo.yaml

.PHONY: setup postgres run test lint format serve ui bench clean

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

# Debian's PostgreSQL server, for the tests that run Prefect and MLflow on Postgres
# (tests/postgres.py starts a throwaway cluster from /usr/lib/postgresql/<major>/bin).
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "PostgreSQL is missing and installing it needs root: sudo make postgres" >&2; \
	    exit 1; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends postgresql; \
	fi

test: $(STAMP) lint postgres
	$(BIN)/pytest -q

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
