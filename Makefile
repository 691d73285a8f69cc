# gitml: `make` lists the targets. Quickstart on a fresh clone: `make run`, then `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
# Keep DVC from phoning home and from asking questions.
export DVC_NO_ANALYTICS := 1

.DEFAULT_GOAL := help
.PHONY: help install browser run repro test test-fast lint format bench clean lock

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-11s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gitml needs Python >= 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## create .venv and install gitml with its dev tools (versions pinned by requirements.lock)

run: install ## run the pipeline on the configured data through `dvc exp run` (Hydra composes params.yaml)
	$(BIN)/dvc exp run

repro: install ## reproduce the pipeline with `dvc repro` (no experiment record)
	$(BIN)/dvc repro

# Headless Chromium renders the HTML report in tests/integration/test_report_repo.py. Installed with
# apt-get when we are root (CI, containers); otherwise one line says what to install.
browser: ## make sure headless Chromium is installed (the HTML report test needs it)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	{ echo "make test needs Chromium for the HTML report test: install it (Debian/Ubuntu: sudo apt-get install chromium), then rerun." >&2; exit 1; }

test: install browser ## run the whole test suite (unit, integration, e2e)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: install ## run the unit tests only
	$(BIN)/python -m pytest -m unit -q

lint: install ## ruff lint + format check, mypy on src/ and stages/, import contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## run the pipeline benchmarks (see benchmarks/RESULTS.md for the others)
	$(BIN)/python benchmarks/pipeline_bench.py

clean: ## remove caches (keeps .venv and DVC's cache)
	rm -rf .pytest_cache .mypy_cache .ruff_cache

lock: install ## re-pin requirements.lock to what .venv has now
	(echo "# Exact versions the project is tested with (constraints for pip; regenerate: make lock)."; \
	 $(BIN)/pip freeze --exclude-editable | grep -v '^gitml') > requirements.lock
