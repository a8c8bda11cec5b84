"""Prefect as the oracle: generated cases are sent in one batch to a driver run by the Python of
`.venv-prefect` (real Prefect 3.9), which answers with one JSON result per case.

`collect` draws the cases with hypothesis (derandomized in `make test`; random, and as many as
asked, in the bench scripts); `ask_prefect` runs one driver (`tests/oracle/drivers/NAME.py`)
over them: one process per suite, never one per example.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
DRIVERS = Path(__file__).resolve().parent / "drivers"
PREFECT_PYTHON = Path(os.environ.get("FLOWPLAN_TEST_PREFECT_PYTHON",
                                     REPO / ".venv-prefect" / "bin" / "python"))  # fmt: skip


def collect(strategy: st.SearchStrategy[T], count: int, *, random: bool = False) -> list[T]:
    """`count` cases drawn from `strategy` (fewer when it has fewer distinct ones)."""
    found: list[T] = []

    @settings(max_examples=count, derandomize=not random, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def gather(case: T) -> None:
        if case not in found:
            found.append(case)

    gather()
    return found


def ask_prefect(driver: str, cases: list[Any], workdir: Path | None = None) -> list[Any]:
    """The driver's answers, one per case, from one `.venv-prefect` process."""
    assert PREFECT_PYTHON.exists(), (
        f"{PREFECT_PYTHON} is missing: 'make test' builds it (scripts/prefect-venv.sh)"
    )
    with tempfile.TemporaryDirectory(prefix="flowplan-oracle-") as temporary:
        where = Path(workdir or temporary)
        (where / "cases.json").write_text(json.dumps(cases))
        env = {**os.environ, "PREFECT_HOME": str(where / "prefect-home"), "DO_NOT_TRACK": "1",
               "PYTHONPATH": str(REPO), "PREFECT_LOGGING_LEVEL": "CRITICAL"}  # fmt: skip
        env.pop("PREFECT_API_URL", None)
        done = subprocess.run(
            [str(PREFECT_PYTHON), str(DRIVERS / f"{driver}.py"), str(where / "cases.json"),
             str(where / "answers.json")],
            cwd=where, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"the {driver} driver failed:\n{done.stderr[-4000:]}"
        answers = json.loads((where / "answers.json").read_text())
    assert len(answers) == len(cases), f"{len(answers)} answers for {len(cases)} cases"
    return list(answers)
