# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv and install what they need on first use.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
# This machine's pip configuration names local mirrors that may be absent;
# their warnings say nothing about our install.
QUIET_PIP := grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: help install run test lint typecheck pytest browser-test smoke bench load package clean

help:
	@echo "make run     start moto's AWS stand-in, provision it, serve the API on :8000"
	@echo "make test    lint, type-check and run every test"
	@echo "make browser-test  only the console's browser tests (Chromium, tests/browser)"
	@echo "make smoke   run the post-deployment smoke test against 'make run'"
	@echo "make bench   run the benchmark suite (bench/suite.py) and write bench/RESULTS.md"
	@echo "make load    50 simulated users for 60 s under gunicorn, check every write, update docs/reliability.md"
	@echo "make package build the Lambda zip with Zappa (build/lifestyle-dev.zip) and check it"
	@echo "make clean   remove the virtualenv and local state"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV) (first run takes a minute)..."
	@$(BIN)/python -m pip install -q -e ".[dev]" 2>&1 | $(QUIET_PIP)
	@$(BIN)/python -c "import django, rest_framework, pynamodb, moto, jwt, playwright"
	@touch $@

install: $(STAMP)

run: $(STAMP)
	@$(BIN)/python -m lifestyle.local

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

# The staff console in Chromium (apt-get install chromium; no download).
# Without it they are skipped with that message, except with CI=true.
# A failing test leaves screenshots in test-artifacts/browser/.
browser-test: $(STAMP)
	$(BIN)/pytest -m browser tests/browser

smoke: $(STAMP)
	@$(BIN)/python -m lifestyle.local smoke

# Benchmarks measure, tests do not: timings never gate `make test`.
# Writes bench/RESULTS.md; fails when a figure is over its budget.
bench: $(STAMP)
	@$(BIN)/python -m bench.suite

# A measurement too (tests/test_load_script.py only smoke-runs it): fails
# when an acknowledged write is missing or a total disagrees with its items.
load: $(STAMP)
	@$(BIN)/python -m bench.load --users 50 --seconds 60 --write

# --- Lambda package -----------------------------------------------------------
# Zappa zips the ACTIVE virtualenv, so the package is built from one that holds
# only the runtime dependencies and Zappa (pyproject's `dependencies` plus the
# `deploy` extra), never the `dev` tools. The project itself is not installed
# there: Zappa copies the working tree, and an installed copy would win over it.
# SOURCE_DATE_EPOCH makes pip write hash-based .pyc files (PEP 552): Lambda
# extracts every file with the zip's 1980 date, which invalidates ordinary
# timestamp-based bytecode, so each cold start would compile everything again.
PACKAGE_VENV := .venv-package
PACKAGE_STAMP := $(PACKAGE_VENV)/.installed
PACKAGE_STAGE ?= dev

$(PACKAGE_STAMP): pyproject.toml
	@rm -rf $(PACKAGE_VENV)
	@$(PYTHON) -m venv $(PACKAGE_VENV)
	@$(PACKAGE_VENV)/bin/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["deploy"]))' > $(PACKAGE_VENV)/requirements.txt
	@echo "Installing the runtime dependencies and Zappa into $(PACKAGE_VENV)..."
	@SOURCE_DATE_EPOCH=315532800 $(PACKAGE_VENV)/bin/python -m pip install -q -r $(PACKAGE_VENV)/requirements.txt 2>&1 | $(QUIET_PIP)
	@$(PACKAGE_VENV)/bin/python -c "import django, rest_framework, pynamodb, zappa"
	@touch $@

package: $(PACKAGE_STAMP)
	@$(PACKAGE_VENV)/bin/python deploy/package.py --stage $(PACKAGE_STAGE) --output build/lifestyle-$(PACKAGE_STAGE).zip

clean:
	rm -rf $(VENV) $(PACKAGE_VENV) .local build test-artifacts
