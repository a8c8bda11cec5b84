#!/usr/bin/env bash
# `make mutation`: mutmut on the modules of [tool.mutmut] only_mutate in pyproject.toml (plan/,
# templating.py, masking.py, steps/runner.py, project/, runtime/, backends/local/) with the
# in-process tests. One area: MUTATE='cli/flowplan/runtime/*' make mutation (globs), and with
# MUTATION_TESTS='tests/runtime' only its tests (both space-separated, replacing the lists).
# MUTATION_JOBS (default 1): how many mutants run at once.
# mutmut names modules from their path under ./, src/ or source/, so it runs on a copy beside this
# checkout with cli/ as src/ (../shared resolves there too). Prints the kill rate; the copy stays
# in ../<this checkout's name>-mutation (../flowplan-mutation) for `mutmut browse`.
set -euo pipefail
here=$(pwd)
work="$(cd .. && pwd)/${here##*/}-mutation"
rm -rf "$work"
mkdir -p "$work"
cp -r cli "$work/src"
cp -r tests schemas recipes pyproject.toml "$work/"
sed -i 's#"cli/#"src/#g; s#pythonpath = \["cli"\]#pythonpath = ["src"]#; s#source_paths = \["cli"\]#source_paths = ["src"]#' \
  "$work/pyproject.toml"
MUTATE="${MUTATE:-}" MUTATION_TESTS="${MUTATION_TESTS:-}" "$here/.venv/bin/python" - "$work/pyproject.toml" <<'PY'
import os, re, sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
for variable, key in (("MUTATE", "only_mutate"), ("MUTATION_TESTS", "pytest_add_cli_args_test_selection")):
    items = ", ".join(f'"{item}"' for item in os.environ[variable].replace("cli/", "src/").split())
    if items:
        text = re.sub(rf"^{key} = \[.*?^\]", f"{key} = [{items}]", text, count=1, flags=re.M | re.S)
open(path, "w", encoding="utf-8").write(text)
PY
cd "$work"
# the tests that need Prefect or pydantic (tests/runtime/with_prefect.py) find this checkout's
export FLOWPLAN_TEST_PREFECT_PYTHON="${FLOWPLAN_TEST_PREFECT_PYTHON:-$here/.venv-prefect/bin/python}"
# mutmut exits non-zero only when it could not run (stats, clean tests, collection): say so
if ! "$here/.venv/bin/mutmut" run --max-children "${MUTATION_JOBS:-1}" > mutmut-run.log 2>&1; then
  tail -n 40 mutmut-run.log
  echo "mutmut failed (the whole log: $work/mutmut-run.log)" >&2
  exit 1
fi
"$here/.venv/bin/python" "$here/scripts/mutation_report.py" mutants
