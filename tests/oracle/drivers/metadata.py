"""Run by `.venv-prefect`'s Python: each generated module's flow as Prefect's
`load_flow_from_entrypoint` loads it (name, description, version).
Cases: [{"module", "function"}]; answers: [{"name", "description", "version"} or {"error"}]."""

import json
import sys
import warnings
from pathlib import Path

from prefect.flows import load_flow_from_entrypoint
from tests.oracle.shared import HELPERS

warnings.filterwarnings("ignore")


def main(cases_file: str, answers_file: str) -> None:
    with open(cases_file) as given:
        cases = json.load(given)
    sys.path.insert(0, ".")
    Path("helpers.py").write_text(HELPERS)
    answers = []
    for index, case in enumerate(cases):
        path = Path(f"meta_{index}.py")
        path.write_text(case["module"])
        try:
            loaded = load_flow_from_entrypoint(f"{path}:{case['function']}")
            answers.append({"name": loaded.name, "description": loaded.description,
                            "version": loaded.version})  # fmt: skip
        except Exception as exc:
            answers.append({"error": f"{type(exc).__name__}: {exc}"})
    with open(answers_file, "w") as out:
        json.dump(answers, out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
