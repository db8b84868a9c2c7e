# The commands of the README: `make run`, `make test` and `make chaos`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench chaos clean

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
	$(BIN)/ruff check fileintel tests benchmarks chaos
	$(BIN)/ruff format --check fileintel tests benchmarks chaos
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider tests/test_layers.py

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

## chaos: the fault-injection suite (as root), options passed through ARGS, e.g.
##   make chaos ARGS="--seed 3 --seconds 600 --collections 200 --hosts 2"
chaos: $(STAMP)
	$(BIN)/python -m chaos $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache
