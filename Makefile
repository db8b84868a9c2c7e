# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

## run: set up, migrate the embedded database and ingest examples/docs (the main job)
run: $(STAMP)
	$(BIN)/fileintel db upgrade
	$(BIN)/fileintel ingest examples/docs --collection examples

## test: set up, then lint, type-check and run the whole test suite
test: $(STAMP) lint typecheck pytest

## lint: style, formatting, the import layers (pyproject's importlinter contracts) and no
## database-kind branch outside fileintel/backends
lint: $(STAMP)
	$(BIN)/ruff check fileintel tests benchmarks
	$(BIN)/ruff format --check fileintel tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider tests/test_layers.py

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache
