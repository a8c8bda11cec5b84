"""Run by `.venv-prefect`'s Python: the parameter schema Prefect sends for each generated
module's flow (`flow.parameters.model_dump(exclude_unset=True)`, as `prefect deploy` does).
Cases: [{"module"}]; answers: [{"schema"} or {"error"}]."""

import importlib.util
import sys
import typing
import warnings
from pathlib import Path

from tests.oracle.shared import HELPERS, answer_each

warnings.filterwarnings("ignore")


def answer(index: int, case: dict) -> dict:
    for clear in typing._cleanups:  # type: ignore[attr-defined]
        clear()  # typing caches List[int | str] for List[str | int]: each case on its own
    path = Path(f"generated_{index}.py")
    path.write_text(case["module"])
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # as an import registers it (dataclasses need it)
    spec.loader.exec_module(module)
    return {"schema": module.generated.parameters.model_dump(exclude_unset=True)}


if __name__ == "__main__":
    sys.path.insert(0, ".")
    Path("helpers.py").write_text(HELPERS)
    answer_each(answer)
