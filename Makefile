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

.PHONY: help install run test lint typecheck pytest smoke clean

help:
	@echo "make run     start moto's AWS stand-in, provision it, serve the API on :8000"
	@echo "make test    lint, type-check and run every test"
	@echo "make smoke   run the post-deployment smoke test against 'make run'"
	@echo "make clean   remove the virtualenv and local state"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV) (first run takes a minute)..."
	@$(BIN)/python -m pip install -q -e ".[dev]" 2>&1 | $(QUIET_PIP)
	@$(BIN)/python -c "import django, rest_framework, pynamodb, moto, jwt"
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

smoke: $(STAMP)
	@$(BIN)/python -m lifestyle.local smoke

clean:
	rm -rf $(VENV) .local
