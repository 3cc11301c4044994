# Two commands do all set-up: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench smoke-live clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/omega-director run

lint: $(STAMP)
	$(BIN)/ruff check director bot omega tests benchmarks
	$(BIN)/ruff format --check director bot omega tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# One real call per model tier (costs a few cents); skipped without ANTHROPIC_API_KEY.
smoke-live: $(STAMP)
	OMEGA_SMOKE_LIVE=1 $(BIN)/pytest tests/live -s -q -p no:cacheprovider

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
