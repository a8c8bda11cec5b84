# `make demo` runs the main job end to end; `make test` runs lint, types and the test suite.
# Both create their own virtual environment (.venv) and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test demo lint typecheck pytest bench mutation clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check cli tests bench
	$(BIN)/ruff format --check cli tests bench

typecheck: $(BIN)/.installed
	$(BIN)/mypy

pytest: $(BIN)/.installed
	bash scripts/system-deps.sh
	bash scripts/prefect-venv.sh .venv-prefect
	$(BIN)/pytest -q

test: lint typecheck pytest

demo: $(BIN)/.installed
	$(BIN)/python scripts/demo.py

bench: $(BIN)/.installed
	$(BIN)/python bench/validate_bench.py
	$(BIN)/python bench/discovery_bench.py
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/sync_bench.py
	$(BIN)/python bench/templating_bench.py
	$(BIN)/python bench/store_open_bench.py
	$(BIN)/python bench/fuzz_validate.py
	bash scripts/prefect-venv.sh .venv-prefect
	FLOWPLAN_BENCH_PREFECT_PYTHON=.venv-prefect/bin/python $(BIN)/python bench/runtime_bench.py
	$(BIN)/python bench/supervision_bench.py

mutation: $(BIN)/.installed
	bash scripts/mutation.sh

clean:
	rm -rf $(VENV) .venv-prefect .mypy_cache .pytest_cache .ruff_cache
