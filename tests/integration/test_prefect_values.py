"""What a flow receives when Prefect (and so pydantic) is installed where the run executes: a
Prefect flow gets Prefect's own coercion (`Flow.validate_parameters`), a flowplan flow gets
pydantic's, the same one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from flowplan.domain.objects import StateType
from tests.integration.test_prefect_flows import PREFECT_PYTHON
from tests.runtime.helpers import deployment, store


@pytest.fixture
def prefect_python() -> Path:
    assert PREFECT_PYTHON.exists(), f"{PREFECT_PYTHON} is missing: 'make test' builds it"
    return PREFECT_PYTHON


MODEL = """
from datetime import date, datetime
from pydantic import BaseModel
from {module} import flow

class Cfg(BaseModel):
    size: int

@flow
def f(day: date, when: datetime | None, cfg: Cfg):
    print("got", repr(day), repr(when), repr(cfg))
"""


def run_with_prefect_installed(
    tmp_path: Path, python: Path, source: str, parameters: dict[str, object]
) -> tuple[StateType, str | None, list[str]]:
    home = tmp_path / "home"
    backend = store(home)
    deployment(backend, tmp_path, source=source, enforce_parameter_schema=False)
    run = backend.create_flow_run("f/d", parameters=parameters)
    env = {**os.environ, "FLOWPLAN_HOME": str(home), "PREFECT_HOME": str(tmp_path / "ph"),
           "DO_NOT_TRACK": "1"}  # fmt: skip
    subprocess.run(
        [str(python), "-m", "flowplan.runtime.engine", run.id], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    done = backend.read_flow_run(run.id)
    return done.state.type, done.state.message, [x.message for x in backend.read_logs(run.id)]


@pytest.mark.parametrize("module", ["prefect", "flowplan"])
def test_a_flow_receives_a_date_a_datetime_and_a_pydantic_model(
    tmp_path: Path,
    prefect_python: Path,
    module: str,
) -> None:
    parameters = {"day": "2024-01-05", "when": "2024-01-05T10:11:12", "cfg": {"size": 5}}
    state, message, logs = run_with_prefect_installed(
        tmp_path, prefect_python, MODEL.format(module=module), parameters
    )
    assert state is StateType.COMPLETED, message
    assert (
        "got datetime.date(2024, 1, 5) datetime.datetime(2024, 1, 5, 10, 11, 12) Cfg(size=5)"
    ) in logs


@pytest.mark.parametrize("module", ["prefect", "flowplan"])
def test_not_a_date_fails_the_run_with_prefects_message(
    tmp_path: Path,
    prefect_python: Path,
    module: str,
) -> None:
    parameters = {"day": "not-a-date", "when": None, "cfg": {"size": 5}}
    state, message, logs = run_with_prefect_installed(
        tmp_path, prefect_python, MODEL.format(module=module), parameters
    )
    assert state is StateType.FAILED
    assert message == (
        "Validation of flow parameters failed with error: Flow run received invalid"
        " parameters:\n - day: Input should be a valid date or datetime, invalid character in year"
    )
    assert not any(line.startswith("got") for line in logs)
