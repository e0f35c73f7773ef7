# labledger: `make run` to try it, `make test` to check it. Both set themselves up.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test fuzz lint install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "labledger needs Python 3.11 or newer (found: $$($(PYTHON) --version))" >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) \
		|| { echo "Could not create $(VENV). On Debian/Ubuntu: sudo apt-get install python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Create (or upgrade) labledger.db with the shipped configurations and demo users, then serve.
run: $(STAMP)
	$(BIN)/labledger init --demo
	$(BIN)/labledger serve --host $(HOST) --port $(PORT)

## Lint, check formatting, run the whole suite (on PostgreSQL too when
## LABLEDGER_TEST_DATABASE_URL is set).
test: $(STAMP) lint
	$(BIN)/pytest -n 2

## Fuzz the JSON API from its OpenAPI document with a large example budget
## (the suite runs the same test with a small one) and print the figures.
FUZZ_EXAMPLES ?= 100
fuzz: $(STAMP)
	LABLEDGER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -m fuzz -s -p no:xdist tests/fuzz

lint: $(STAMP)
	$(BIN)/ruff check platform tests $(wildcard bench)
	$(BIN)/ruff format --check platform tests $(wildcard bench)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
