"""Run by `.venv-prefect`'s Python: the parameter schema Prefect sends for each generated
module's flow (`flow.parameters.model_dump(exclude_unset=True)`, as `prefect deploy` does).
Cases: [{"module"}]; answers: [{"schema"} or {"error"}]."""

import importlib.util
import json
import sys
import typing
import warnings
from pathlib import Path

from tests.oracle.shared import HELPERS

warnings.filterwarnings("ignore")


def main(cases_file: str, answers_file: str) -> None:
    with open(cases_file) as given:
        cases = json.load(given)
    sys.path.insert(0, ".")
    Path("helpers.py").write_text(HELPERS)
    answers = []
    for index, case in enumerate(cases):
        for clear in typing._cleanups:  # type: ignore[attr-defined]
            clear()  # typing caches List[int | str] for List[str | int]: each case on its own
        path = Path(f"generated_{index}.py")
        path.write_text(case["module"])
        try:
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module  # as an import registers it (dataclasses need it)
            spec.loader.exec_module(module)
            answers.append({"schema": module.generated.parameters.model_dump(exclude_unset=True)})
        except Exception as exc:
            answers.append({"error": f"{type(exc).__name__}: {exc}"})
    with open(answers_file, "w") as out:
        json.dump(answers, out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
