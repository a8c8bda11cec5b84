# `make demo` runs the main job end to end; `make test` runs lint, types and the test suite.
# Both create their own virtual environment (.venv) and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

CORPUS_DIR := ../shared/corpus/prefect-yaml

.PHONY: test test-corpus demo lint typecheck pytest bench mutation clean docs

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
	$(BIN)/pytest -q -m "not corpus"
	@if [ -d "$(CORPUS_DIR)" ]; then echo "make test: the corpus tests are a target of their own: make test-corpus"; \
	else echo "make test: left out the corpus tests (no $(CORPUS_DIR) beside this clone; make test-corpus runs them)"; fi

test: lint typecheck pytest

# the tests that read the shared corpus of real prefect.yaml files; fails when it is missing
test-corpus: $(BIN)/.installed
	$(BIN)/pytest -q -m corpus

demo: $(BIN)/.installed
	$(BIN)/python scripts/demo.py

bench: $(BIN)/.installed
	$(BIN)/python bench/startup_bench.py
	$(BIN)/python bench/validate_bench.py
	$(BIN)/python bench/k8s_validate_bench.py
	$(BIN)/python bench/discovery_bench.py
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/sync_bench.py
	$(BIN)/python bench/templating_bench.py
	$(BIN)/python bench/store_open_bench.py
	$(BIN)/python bench/fuzz_validate.py
	$(BIN)/python bench/masking_bench.py
	bash scripts/prefect-venv.sh .venv-prefect
	FLOWPLAN_BENCH_PREFECT_PYTHON=.venv-prefect/bin/python $(BIN)/python bench/runtime_bench.py
	$(BIN)/python bench/supervision_bench.py

# the docs site, built strictly into site/ (a broken link, anchor or nav entry fails)
$(BIN)/.docs-installed: $(BIN)/.installed pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test,dev,docs]'
	touch $@

docs: $(BIN)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --clean --site-dir site

mutation: $(BIN)/.installed
	$(BIN)/python -m pip install -q -e '.[test,dev,mutation]'
	bash scripts/mutation.sh

clean:
	rm -rf $(VENV) .venv-prefect .mypy_cache .pytest_cache .ruff_cache
