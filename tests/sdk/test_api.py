"""The public Python API: @flow, deploy, RunnerDeployment and the async client functions."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import pytest

import flowplan
from flowplan import (
    CronSchedule,
    DeploymentNotFound,
    IntervalSchedule,
    RunnerDeployment,
    deploy,
    flow,
)
from flowplan.backends import get_backend

FLOWS = '''
from enum import Enum
from flowplan import flow

class Mode(Enum):
    FAST = "fast"
    SLOW = "slow"

@flow(name="An important name", version="1.2")
def my_flow(name: str = "world", count: int = 1, mode: Mode = Mode.FAST):
    """Say hello.

    More text.
    """
    return f"hello {name} x{count}"

@flow
def other_flow(x: float, **extra):
    return x

async def plain(a):
    return a
'''


def load(root: Path, text: str = FLOWS, name: str = "flows/hello.py") -> ModuleType:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"user_{abs(hash(path))}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    get_backend().create_work_pool("my-pool", "process")
    return root


def test_flow_records_name_description_version_and_calls_through(project: Path) -> None:
    module = load(project)
    my_flow = module.my_flow
    assert (my_flow.name, my_flow.version) == ("An important name", "1.2")
    assert my_flow.description == "Say hello.\n\nMore text."
    assert my_flow("you", count=2) == "hello you x2"
    assert my_flow.fn("a") == "hello a x1"
    assert list(inspect.signature(my_flow).parameters) == ["name", "count", "mode"]
    assert module.other_flow.name == "other-flow"
    with pytest.raises(ValueError, match="contains '/'"):
        flow(name="a/b")(lambda: None)


def test_deploy_stores_entrypoint_schema_and_pull_step(project: Path) -> None:
    module = load(project)
    deployments = deploy(
        module.my_flow.to_deployment("daily", cron="0 2 * * *", parameters={"name": "z"},
                                     tags=["t"]),
        module.other_flow.to_deployment("o", schedule={"interval": 600}),
        work_pool_name="my-pool",
        print_next_steps=False,
    )  # fmt: skip
    assert all(isinstance(d.id, UUID) for d in deployments)
    stored = get_backend().read_deployment("An important name/daily")
    assert stored.id == str(deployments[0].id)
    assert stored.entrypoint == "flows/hello.py:my_flow"
    assert stored.path == str(project)
    assert stored.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(project)}}
    ]
    assert (stored.version, stored.description, stored.tags) == ("1.2", "Say hello.\n\nMore text.",
                                                                 ("t",))  # fmt: skip
    schema = stored.parameter_openapi_schema
    assert schema["properties"]["count"] == {"title": "count", "position": 1, "type": "integer",
                                             "default": 1}  # fmt: skip
    assert schema["properties"]["mode"]["$ref"] == "#/definitions/Mode"
    assert schema["definitions"]["Mode"]["enum"] == ["fast", "slow"]
    assert "required" not in schema  # as Prefect sends it: no required parameter, no key
    assert [s.schedule for s in stored.schedules] == [CronSchedule("0 2 * * *")]
    other = get_backend().read_deployment("other-flow/o")
    assert other.schedules[0].schedule == IntervalSchedule(600)  # type: ignore[arg-type]
    assert other.parameter_openapi_schema["required"] == ["x"]
    # no version given: the md5 of the flow's file, as Prefect sets it
    source = (project / "flows" / "hello.py").read_bytes()
    assert other.version == hashlib.md5(source).hexdigest()


def test_entrypoint_is_relative_to_the_directory_with_prefect_yaml(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "prefect.yaml").write_text("name: p\n")
    module = load(project, name="pkg/flows/hello.py")
    monkeypatch.chdir(project / "pkg")
    flow_id = module.my_flow.deploy("d", work_pool_name="my-pool", print_next_steps=False)
    stored = get_backend().read_deployment(str(flow_id))
    assert stored.entrypoint == "pkg/flows/hello.py:my_flow"


def test_redeploy_updates_in_place(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = load(project)
    first = module.my_flow.deploy("d", work_pool_name="my-pool", print_next_steps=False)
    second = module.my_flow.deploy("d", work_pool_name="my-pool", description="new")
    assert first == second
    assert get_backend().read_deployment("An important name/d").description == "new"
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "Successfully created/updated all deployments!",
        f"  An important name/d (updated, id {first})",
        "To execute flow runs from these deployments, start a worker:",
        "  $ flowplan worker start --pool 'my-pool'",
        "To trigger a run of one of them:",
        "  $ flowplan deployment run 'An important name/d'",
    ]


def test_runner_deployment_from_flow_and_deploy(project: Path) -> None:
    module = load(project)
    runner = RunnerDeployment.from_flow(module.other_flow, schedule=CronSchedule("0 * * * *"),
                                        work_pool_name="my-pool", job_variables={"env": {"A": "1"}})  # fmt: skip
    assert runner.name == "other-flow" and runner.entrypoint == "flows/hello.py:other_flow"
    deployment_id = runner.deploy()
    stored = get_backend().read_deployment(str(deployment_id))
    assert stored.job_variables == {"env": {"A": "1"}}
    assert stored.full_name == "other-flow/other-flow"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"work_pool_name": None}, "a work pool is required"),
        (
            {"work_pool_name": "my-pol"},
            "work pool 'my-pol' does not exist on the target.*did you mean 'my-pool'",
        ),
        ({"parameters": {"nmae": 1}}, "parameter\\(s\\) nmae are not parameters of flow"),
        ({"tags": "a,b"}, "tags must be a list"),
        ({"schedule": {"cron": "99 * * * *"}}, "invalid cron expression"),
        ({"job_variables": {"env": 1}}, "job variables do not fit the work pool"),
        ({"image": 5}, "image must be an image name or a DeploymentImage"),
        ({"image": "repo/my img"}, "must be a non-empty string without spaces"),
    ],
)
def test_invalid_configuration_raises_value_error_and_stores_nothing(
    project: Path, kwargs: dict[str, Any], message: str
) -> None:
    module = load(project)
    kwargs.setdefault("work_pool_name", "my-pool")
    with pytest.raises(ValueError, match=message):
        deploy(module.my_flow, name="d", print_next_steps=False, **kwargs)
    assert get_backend().read_deployments() == []


def test_default_pool_from_the_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = load(project)
    monkeypatch.setenv("PREFECT_DEFAULT_WORK_POOL_NAME", "my-pool")
    module.my_flow.deploy("d", print_next_steps=False)
    assert get_backend().read_deployment("An important name/d").work_pool_name == "my-pool"


def test_prebuilt_image_without_building(project: Path) -> None:
    module = load(project)
    deploy(module.my_flow, name="d", work_pool_name="my-pool", image="repo/img:1", build=False,
           push=False, print_next_steps=False)  # fmt: skip
    stored = get_backend().read_deployment("An important name/d")
    assert stored.job_variables == {"image": "repo/img:1"}
    assert stored.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/prefect/proj"}}
    ]


def test_flows_defined_in_functions_cannot_be_deployed(project: Path) -> None:
    module = load(project, "from flowplan import flow\ndef make():\n    @flow\n    def inner():\n"
                           "        pass\n    return inner\n")  # fmt: skip
    with pytest.raises(ValueError, match=r"defined inside 'make\.<locals>'"):
        module.make().to_deployment("d")


def test_async_client_functions(project: Path) -> None:
    module = load(project)
    module.my_flow.deploy("d", work_pool_name="my-pool", print_next_steps=False)

    async def scenario() -> None:
        deployment = await flowplan.get_deployment("An important name/d")
        updated = await flowplan.update_deployment(
            deployment.id, schedule={"cron": "0 5 * * *"}, tags=["x"], version="2"
        )
        assert (updated.tags, updated.version) == (("x",), "2")
        assert [s.schedule for s in updated.schedules] == [CronSchedule("0 5 * * *")]
        pool = await flowplan.get_work_pool("my-pool")
        assert pool.type == "process"
        queue = await flowplan.create_work_queue("my-pool", "urgent", priority=1)
        assert queue.priority == 1
        assert await flowplan.delete_deployment("An important name/d") is True
        assert await flowplan.delete_deployment("An important name/d") is False
        with pytest.raises(DeploymentNotFound):
            await flowplan.get_deployment("An important name/d")

    asyncio.run(scenario())
    assert inspect.iscoroutinefunction(flowplan.get_deployment)


def test_public_names_resolve() -> None:
    for name in flowplan.__all__:
        assert getattr(flowplan, name) is not None
    with pytest.raises(AttributeError):
        flowplan.nothing_here  # noqa: B018
