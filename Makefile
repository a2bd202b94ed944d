# regsosek-gateway: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint format lock bench bench-quick bench-growth bench-faults bench-stats-isolation bench-breach clean

# Everything (demo, import, dev extras) at the versions and hashes of requirements/dev.txt
# (scripts/lock.sh writes it from pyproject.toml), then the project itself, editable.
$(STAMP): pyproject.toml requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	@$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

## Serve the demo: embedded PostgreSQL (unless DATABASE_URL is set), 20,000 synthetic households,
## demo clients, on http://127.0.0.1:8000 (another port: make run PORT=8012, or REGSOSEK_PORT).
run: $(STAMP)
	$(BIN)/regsosek demo $(if $(PORT),--port $(PORT))

## Rewrite requirements/*.txt from pyproject.toml (PyPI only, with hashes).
lock: $(STAMP)
	scripts/lock.sh

## The whole test suite, against DATABASE_URL or an embedded PostgreSQL, on every core (each
## worker has its own databases; at most 4 workers: each seeds its own test registry).
PYTEST_WORKERS := -n auto --maxprocesses 4
test: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_WORKERS)

## Formatting, lint, strict typing, then the tests with warnings as errors.
check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -W error $(PYTEST_WORKERS)

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

## Statistics isolation (issue 14): dinsos-pkh's new populations beside everyone else, 1,000,000 households, 30 s.
bench-stats-isolation: $(STAMP)
	$(BIN)/python -m bench.stats_isolation

## The breach impact pack (issue 17): `regsosek audit breach` over 1,000,000 audit events, one client
## with 100,000 disclosing requests (database regsosek_bench_breach, built once); target < 3 min.
bench-breach: $(STAMP)
	$(BIN)/python -m bench.breach_bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
