# labledger: `make run` to try it, `make test` to check it. Both set themselves up.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
#: Every package `make install` puts in $(VENV), pinned with its hashes: runtime, the dev
#: extra and the build backend. Written by `make lock`, never by hand.
LOCK := requirements.lock
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test fuzz lint install lock screenshots clean

# The environment is rebuilt from scratch whenever the lock changes, so it holds exactly
# the locked versions (no leftovers from an older lock). pip checks every hash; the project
# itself is installed without dependencies and built with the locked hatchling (no build
# isolation, which would fetch an unlocked one).
$(STAMP): $(LOCK) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "labledger needs Python 3.11 or newer (found: $$($(PYTHON) --version))" >&2; exit 1; }
	@$(PYTHON) -m venv --clear $(VENV) \
		|| { echo "Could not create $(VENV). On Debian/Ubuntu: sudo apt-get install python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

## Re-resolve $(LOCK) after a change to pyproject.toml (dependencies, dev extra and build
## backend), for Python 3.11+ on every platform, each with its hashes; pins that still fit
## are kept. `make lock UPGRADE=1` moves every pin to the newest version allowed.
## Review the diff, commit it; the next make target reinstalls from it.
lock: $(STAMP)
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(BIN)/uv pip compile pyproject.toml - --extra dev --universal --python-version 3.11 \
			--generate-hashes --no-build $(if $(UPGRADE),--upgrade) --quiet --custom-compile-command 'make lock' \
			--output-file $(LOCK)

## Create (or upgrade) labledger.db with the shipped configurations and demo users, then serve.
run: $(STAMP)
	$(BIN)/labledger init --demo
	$(BIN)/labledger serve --host $(HOST) --port $(PORT)

#: Where `make test` writes the trace matrix (git ignores build/).
TRACE_MATRIX ?= build/trace-matrix

## Lint, check formatting, run the whole suite (on PostgreSQL too when
## LABLEDGER_TEST_DATABASE_URL is set) and write the trace matrix of docs/requirements.json
## into $(TRACE_MATRIX); a catalogued requirement without a passing test fails the run.
test: $(STAMP) lint
	$(BIN)/pytest -n 2 --trace-matrix=$(TRACE_MATRIX) --trace-matrix-require

## Fuzz the JSON API from its OpenAPI document with a large example budget
## (the suite runs the same test with a small one) and print the figures.
FUZZ_EXAMPLES ?= 100
fuzz: $(STAMP)
	LABLEDGER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -m fuzz -s -p no:xdist tests/fuzz

## Refresh the screenshots in docs/screenshots from the browser tests (SQLite only, so
## each picture is taken once). The suite itself keeps its screenshots in a temporary directory.
screenshots: $(STAMP)
	LABLEDGER_TEST_DATABASE_URL= $(BIN)/pytest -m browser -n 2 --screenshots=docs/screenshots tests/browser

## Lint, formatting, strict types, and the import layers of .importlinter.
lint: $(STAMP)
	$(BIN)/ruff check platform tests $(wildcard bench)
	$(BIN)/ruff format --check platform tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
