#!/usr/bin/env bash
# `make mutation`: mutmut on plan/, templating.py, masking.py, steps/runner.py,
# project/loader.py and project/bounds.py, with the unit tests. mutmut names modules from
# their path under ./, src/ or source/, so it runs on a copy beside this checkout with cli/ as src/ (../shared resolves
# there too). Prints the kill rate; the copy stays in ../flowplan-mutation for `mutmut browse`.
set -euo pipefail
here=$(pwd)
work="$(cd .. && pwd)/flowplan-mutation"
rm -rf "$work"
mkdir -p "$work"
cp -r cli "$work/src"
cp -r tests schemas recipes pyproject.toml "$work/"
sed -i 's#"cli/#"src/#g; s#pythonpath = \["cli"\]#pythonpath = ["src"]#; s#source_paths = \["cli"\]#source_paths = ["src"]#' \
  "$work/pyproject.toml"
cd "$work"
# mutmut exits non-zero only when it could not run (stats, clean tests, collection): say so
if ! "$here/.venv/bin/mutmut" run > mutmut-run.log 2>&1; then
  tail -n 40 mutmut-run.log
  echo "mutmut failed (the whole log: $work/mutmut-run.log)" >&2
  exit 1
fi
"$here/.venv/bin/python" "$here/scripts/mutation_report.py" mutants
