"""Runs refused at the door: `deployment run` and `run_deployment` refuse parameters the
deployment's enforced schema refuses and job variables its pool's template refuses, before a
run exists (as Prefect's server refuses the creation), saying where and why."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.job_templates import default_template
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


RESOURCES = {
    "type": "object", "required": ["limits"],
    "properties": {"limits": {"type": "object", "properties": {"cpu": {"type": "string"}}}},
}  # fmt: skip


@pytest.mark.parametrize(
    ("deployment_vars", "run_vars", "outcome"),
    [
        # a dotted key deeper than one level: the worker makes {"limits": {"cpu": "1"}}
        ({}, {"resources.limits.cpu": "1"}, {"limits": {"cpu": "1"}}),
        # a plain key's mapping deep-merged over a dotted key: the worker sees cpu 2
        ({}, {"resources.limits.cpu": 2, "resources": {"limits": {}}},
         "job_variables.resources.limits.cpu: expected text, got an integer"),
        # the run's dotted key under the deployment's plain mapping, which wins (as in Prefect)
        ({"resources": {"limits": {"cpu": "3"}}}, {"resources.limits.cpu": 1},
         {"limits": {"cpu": "3"}}),
        # the run's env over the deployment's mapping: the worker cannot merge text into it
        ({"env": {"A": "1"}}, {"env": "text"}, "job variable env must be a mapping"),
    ],
)  # fmt: skip
def test_the_door_checks_the_job_variables_the_worker_renders_with(
    tmp_path: Path,
    deployment_vars: dict[str, Any],
    run_vars: dict[str, Any],
    outcome: str | dict[str, Any],
) -> None:
    """The door merges the pool's defaults, the deployment's and the run's job variables as the
    worker does (`WorkPoolJobConfiguration.from_template`), so it refuses what the worker would
    get wrong and takes what the worker takes. A null default (here `image`) is left out, as the
    worker leaves it out: it no longer refuses every run of the pool."""
    template = copy.deepcopy(default_template("process"))
    template["variables"]["properties"]["resources"] = RESOURCES
    template["variables"]["properties"]["image"] = {"type": "string", "default": None}
    template["job_configuration"]["resources"] = "{{ resources }}"
    store = LocalBackend(Path(os.environ["FLOWPLAN_HOME"]) / "flowplan.db")
    store.create_work_pool("shaped", "process", base_job_template=template)
    deployment(store, tmp_path, pool="shaped", job_variables=deployment_vars)
    if isinstance(outcome, dict):
        run = store.create_flow_run("f/d", job_variables=run_vars)
        rendered = WorkPoolJobConfiguration.from_template(template, deployment_vars, run_vars)
        assert rendered.extra["resources"] == outcome
        assert [found.id for found in store.read_flow_runs()] == [run.id]
        return
    with pytest.raises(InvalidInput) as raised:
        store.create_flow_run("f/d", job_variables=run_vars)
    assert raised.value.message.startswith("cannot create a run of deployment 'f/d': ")
    assert outcome in raised.value.message, raised.value.message
    assert store.read_flow_runs() == []
