"""Run by `.venv-prefect`'s Python: each generated module's flow as Prefect's
`load_flow_from_entrypoint` loads it (name, description, version).
Cases: [{"module", "function"}]; answers: [{"name", "description", "version"} or {"error"}]."""

import sys
import warnings
from pathlib import Path

from prefect.flows import load_flow_from_entrypoint
from tests.oracle.shared import HELPERS, answer_each

warnings.filterwarnings("ignore")


def answer(index: int, case: dict) -> dict:
    path = Path(f"meta_{index}.py")
    path.write_text(case["module"])
    loaded = load_flow_from_entrypoint(f"{path}:{case['function']}")
    return {"name": loaded.name, "description": loaded.description, "version": loaded.version}


if __name__ == "__main__":
    sys.path.insert(0, ".")
    Path("helpers.py").write_text(HELPERS)
    answer_each(answer)
