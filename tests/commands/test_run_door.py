"""Runs refused at the door: `deployment run` and `run_deployment` refuse parameters the
deployment's enforced schema refuses and job variables its pool's template refuses, before a
run exists (as Prefect's server refuses the creation), saying where and why."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.errors import InvalidInput
from flowplan.sdk.runs import run_deployment
from tests.conftest import Result
from tests.runtime.helpers import deployment

SCHEMA = {
    "title": "Parameters", "type": "object",
    "properties": {"n": {"title": "n", "type": "integer", "position": 0},
                   "day": {"title": "day", "type": "string", "format": "date", "position": 1}},
    "required": ["n"], "definitions": {},
}  # fmt: skip


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    store = LocalBackend(Path(os.environ["FLOWPLAN_HOME"]) / "flowplan.db")
    deployment(store, tmp_path, parameter_openapi_schema=SCHEMA)
    deployment(store, tmp_path, name="loose", parameter_openapi_schema=SCHEMA,
               enforce_parameter_schema=False)  # fmt: skip
    return store


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "n=abc"], "parameters.n: expected an integer, got text ('abc')"),
        (["--param", "day=2024-01-05"], "parameters: missing required key 'n'"),
        (["-p", "n=1", "-jv", "env=notadict"],
         "job_variables.env: expected a mapping, got text ('notadict')"),
        (["-p", "n=1", "-jv", "stream_output=[1]"],
         "job_variables.stream_output: expected a boolean, got a list"),
    ],
)  # fmt: skip
def test_deployment_run_refuses_before_a_run_exists(
    cli: Callable[..., Result], backend: LocalBackend, args: list[str], message: str
) -> None:
    result = cli("deployment", "run", "f/d", *args)
    assert result.code == 1, result
    assert "cannot create a run of deployment 'f/d': " in result.err
    assert message in result.err, result.err
    assert "Traceback" not in result.err
    assert backend.read_flow_runs() == []


def test_a_deployment_that_does_not_enforce_its_schema_takes_the_values(
    cli: Callable[..., Result], backend: LocalBackend
) -> None:
    result = cli("deployment", "run", "f/loose", "--param", "n=abc")
    assert result.code == 0, result
    assert [run.parameters for run in backend.read_flow_runs()] == [{"n": "abc"}]
    refused = cli("deployment", "run", "f/loose", "-jv", "env=notadict")
    assert refused.code == 1 and "job_variables.env: expected a mapping" in refused.err
    assert len(backend.read_flow_runs()) == 1  # the pool's template is always checked


def test_run_deployment_refuses_the_same_way(backend: LocalBackend) -> None:
    with pytest.raises(InvalidInput) as raised:
        run_deployment("f/d", parameters={"n": "abc"}, timeout=0, client=backend)
    assert "parameters.n: expected an integer, got text ('abc')" in raised.value.message
    with pytest.raises(InvalidInput):
        run_deployment("f/d", parameters={"n": 1}, job_variables={"env": "x"}, timeout=0,
                       client=backend)  # fmt: skip
    assert backend.read_flow_runs() == []
    created = run_deployment("f/d", parameters={"n": 1}, job_variables={"env": {"A": "1"}},
                             timeout=0, client=backend)  # fmt: skip
    assert created.parameters == {"n": 1}


PROJECT = {
    "flows.py": "from prefect import flow\n@flow\ndef etl(days: int = 1): ...\n",
    "prefect.yaml": """
        name: door
        work_pools: [{name: pool, type: process}]
        deployments:
          - {name: d, entrypoint: flows.py:etl, work_pool: {name: pool}}
        """,
}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "days=x"],
         "error: --param days: parameter 'days' (int): expected an integer, got text ('x')"),
        (["--param", "dayz=3"],
         "error: --param dayz: etl has no parameter 'dayz' (did you mean 'days'?)"),
        (["--params", '{"days": [1]}'],
         "error: --param days: parameter 'days' (int): expected an integer, got a list"),
    ],
)  # fmt: skip
def test_deploy_checks_command_line_parameters_as_the_file_ones(
    cli: Callable[..., Result], project: Callable[..., Path], args: list[str], message: str
) -> None:
    project(PROJECT)
    result = cli("deploy", "-n", "d", "--no-prompt", *args)
    assert result.code == 1, result
    assert message in result.err
    assert "nothing was deployed" in result.err
    assert cli("deployment", "ls").err.strip().endswith("No deployments.")
    deployed = cli("deploy", "-n", "d", "--no-prompt", "--param", "days=3")
    assert deployed.code == 0, deployed


def test_a_literal_alias_at_module_level_types_its_parameter(
    cli: Callable[..., Result], project: Callable[..., Path]
) -> None:
    """It gave an untyped parameter: a value outside the alias passed validate, plan and apply,
    while Prefect refuses the deployment with a 422."""
    project({
        "flows.py": "from typing import Literal\nfrom prefect import flow\n"
                    'Mode = Literal["fast", "slow"]\n@flow\ndef etl(mode: Mode = "fast"): ...\n',
        "prefect.yaml": """
            name: door
            work_pools: [{name: pool, type: process}]
            deployments:
              - {name: d, entrypoint: flows.py:etl, work_pool: {name: pool},
                 parameters: {mode: medium}}
            """,
    })  # fmt: skip
    result = cli("validate")
    assert result.code == 1
    assert "deployments[0].parameters.mode: parameter 'mode' (Mode): must be" in result.out
    assert "'medium'" in result.out
