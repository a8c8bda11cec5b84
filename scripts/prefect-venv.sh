#!/usr/bin/env bash
# A second virtual environment with the real Prefect and flowplan (editable), for the tests that
# run Prefect-decorated flows through flowplan's engine. Prefect stays out of .venv so that
# nothing else in the suite can import it by accident. prefect-redis is for the benchmark's
# multi-worker Prefect server (bench/prefect_pg_bench.py).
set -euo pipefail
VENV=${1:-.venv-prefect}
if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ] \
   || [ "$0" -nt "$VENV/.installed" ]; then
  echo "Installing Prefect into $VENV (once)"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "prefect>=3.8,<4" prefect-redis -e .
  touch "$VENV/.installed"
fi
