# regsosek-gateway: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint format bench bench-quick bench-growth bench-faults clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Serve the demo: embedded PostgreSQL (unless DATABASE_URL is set), 20,000 synthetic households, demo clients.
run: $(STAMP)
	$(BIN)/regsosek demo

## The whole test suite, against DATABASE_URL or an embedded PostgreSQL.
test: $(STAMP)
	$(BIN)/pytest -q

## Formatting, lint, strict typing, then the tests with warnings as errors.
check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -W error

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Side-by-side benchmark against PostGraphile 5, a naive Strawberry peer and the SQL floors, on
## the bench's own PostgreSQL cluster under bench/.work (slow; never run by the tests). Each prints
## its plan and estimated wall time first; `python -m bench.run --help` for subsets and --resume.
bench: $(STAMP)
	$(BIN)/python -m bench.run --full

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

bench-growth: $(STAMP)
	$(BIN)/python -m bench.run --growth

bench-faults: $(STAMP)
	$(BIN)/python -m bench.faults

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
