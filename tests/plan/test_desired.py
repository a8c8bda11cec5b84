"""The desired state a project file declares (plan/desired.py): each field of a deployment, of
a pool and of a queue, how values are templated, and each error, with the exact words."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from flowplan.discovery.flows import FlowInfo
from flowplan.domain.schedules import CronSchedule, IntervalSchedule, schedule_from_json
from flowplan.domain.specs import DeploymentSpec, ScheduleSpec
from flowplan.errors import FlowplanError, InvalidInput, UsageError
from flowplan.plan.desired import Overrides, desired_state, matches, project_name, select
from flowplan.plan.specs import (
    BUILD_LABEL,
    OWNER_LABEL,
    PROJECT_LABEL,
    Desired,
    PoolSpec,
    QueueSpec,
)
from flowplan.project.model import DeploymentConfig
from flowplan.project.validate import FileReport, validate_file
from flowplan.steps.predict import KNOWN_AFTER_BUILD

FLOW = (
    "from prefect import flow\n\n"
    "@flow(name='hello-flow', version='7')\n"
    "def hello(who: str = 'x'):\n"
    '    """Says hello."""\n\n'
    "@flow\n"
    "def plain_flow():\n"
    "    pass\n"
)
VARIABLES = {"team": "data", "limit": 4}


@pytest.fixture(autouse=True)
def _in_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # entrypoints and template files resolve from where flowplan runs


def report(root: Path, text: str) -> FileReport:
    os.chdir(root)
    (root / "flows").mkdir(exist_ok=True)
    (root / "flows" / "hello.py").write_text(FLOW)
    (root / "prefect.yaml").write_text(text)
    return validate_file(root / "prefect.yaml", env={})


def desired(
    root: Path, text: str, *, env: Mapping[str, str] | None = None,
    overrides: Overrides | None = None, outputs: Mapping[str, Any] | None = None,
) -> Desired:  # fmt: skip
    found = report(root, text)
    assert found.project is not None
    called: list[int] = []

    def produced(config: DeploymentConfig) -> Mapping[str, Any]:
        called.append(config.index)
        return outputs or {}

    result = desired_state(found.project, found.flows, found.project.deployments,
                           variable=VARIABLES.get, env=env or {}, overrides=overrides,
                           outputs=produced)  # fmt: skip
    for index in called:  # only deployments with build or push steps produce outputs
        config = found.project.deployments[index]
        assert config.build or config.push
    return result


def one(root: Path, deployment: str, **kwargs: Any) -> DeploymentSpec:
    text = "name: proj\ndeployments:\n  - " + deployment.replace("\n", "\n    ") + "\n"
    [spec] = desired(root, text, **kwargs).deployments
    return spec


def error(root: Path, text: str, **kwargs: Any) -> FlowplanError:
    with pytest.raises(FlowplanError) as caught:
        desired(root, text, **kwargs)
    return caught.value


BASE = "entrypoint: flows/hello.py:hello\nwork_pool: {name: pool}"


def test_every_field_of_a_deployment(tmp_path: Path) -> None:
    spec = one(
        tmp_path,
        "name: d\n"
        + """entrypoint: flows/hello.py:hello
description: Loads {{ prefect.variables.team }}
version: 3
tags: [a, ' ', '{{ $TAG }}']
parameters: {who: world, n: '{{ prefect.variables.limit }}'}
enforce_parameter_schema: false
concurrency_limit: {limit: 2, collision_strategy: CANCEL_NEW, grace_period_seconds: null}
paused: true
work_pool:
  name: pool
  work_queue_name: fast
  job_variables: {env: {A: '1'}, image: '{{ $IMAGE }}'}
schedules:
  - {cron: '0 * * * *', timezone: Europe/Paris, active: 'Yes ', slug: hourly,
     parameters: {who: cron}}
  - {interval: 60, active: false, replaces: old-slug}
triggers:
  - {type: event, expect: [x]}
  - not a trigger""",
        env={"TAG": "t", "IMAGE": "img:1"},
    )
    assert spec == DeploymentSpec(
        flow_name="hello-flow", name="d", entrypoint="flows/hello.py:hello",
        path=str(tmp_path), description="Loads data", version="3", tags=("a", "t"),
        labels={OWNER_LABEL: "flowplan", PROJECT_LABEL: "proj"},
        parameters={"who": "world", "n": 4}, parameter_openapi_schema=spec.parameter_openapi_schema,
        enforce_parameter_schema=False,
        job_variables={"env": {"A": "1"}, "image": "img:1"},
        work_pool_name="pool", work_queue_name="fast",
        pull_steps=[{"prefect.deployments.steps.set_working_directory":
                     {"directory": str(tmp_path)}}],
        concurrency_limit=2, concurrency_options={"collision_strategy": "CANCEL_NEW"},
        paused=True,
        schedules=(
            ScheduleSpec(CronSchedule("0 * * * *", "Europe/Paris"), True, {"who": "cron"},
                         "hourly"),
            ScheduleSpec(IntervalSchedule(60), False, {}, None, "old-slug"),
        ),
        triggers=[{"type": "event", "expect": ["x"]}],
    )  # fmt: skip
    assert spec.parameter_openapi_schema["properties"]["who"]["default"] == "x"


def test_what_the_flow_gives_when_the_file_is_silent(tmp_path: Path) -> None:
    spec = one(tmp_path, "name: d\n" + BASE)
    assert (spec.description, spec.version, spec.tags, spec.parameters) == (
        "Says hello.", "7", (), {})  # fmt: skip
    assert (spec.enforce_parameter_schema, spec.paused, spec.schedules, spec.triggers) == (
        None, None, None, [])  # fmt: skip
    assert (spec.work_queue_name, spec.job_variables, spec.concurrency_limit) == (None, {}, None)
    assert spec.concurrency_options is None


def test_a_plain_limit_and_a_limit_mapping_without_options(tmp_path: Path) -> None:
    assert one(tmp_path, "name: d\nconcurrency_limit: 5\n" + BASE).concurrency_limit == 5
    spec = one(tmp_path, "name: d\nconcurrency_limit: {limit: 3}\n" + BASE)
    assert (spec.concurrency_limit, spec.concurrency_options) == (3, None)


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("false", False), ("null", None), ("1", True)]
)
def test_the_parameter_schema_flag(tmp_path: Path, value: str, expected: bool | None) -> None:
    spec = one(tmp_path, f"name: d\nenforce_parameter_schema: {value}\n" + BASE)
    assert spec.enforce_parameter_schema is expected


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        ("'true'", True),
        ("' YES'", True),
        ("'1'", True),
        ("'no'", False),
        ("'TRUE '", True),
        ("true", True),
        ("false", False),
        ("null", None),
    ],
)
def test_a_schedules_active_flag(tmp_path: Path, active: str, expected: bool | None) -> None:
    spec = one(tmp_path, f"name: d\nschedules: [{{interval: 60, active: {active}}}]\n" + BASE)
    assert spec.schedules is not None and spec.schedules[0].active is expected


def test_schedules_absent_null_empty_legacy_and_from_the_command_line(tmp_path: Path) -> None:
    assert one(tmp_path, "name: d\n" + BASE).schedules is None
    assert one(tmp_path, "name: d\nschedules: null\n" + BASE).schedules is None
    assert one(tmp_path, "name: d\nschedules: []\n" + BASE).schedules == ()
    legacy = one(
        tmp_path, "name: d\nschedule: {interval: 30}\nschedules: [{interval: 60}]\n" + BASE
    )
    assert [s.schedule for s in legacy.schedules or ()] == [
        IntervalSchedule(60),
        IntervalSchedule(30),
    ]
    only_legacy = one(tmp_path, "name: d\nschedule: {cron: '* * * * *'}\n" + BASE)
    assert [s.schedule for s in only_legacy.schedules or ()] == [CronSchedule("* * * * *")]
    given = Overrides(schedules=({"cron": "0 0 * * *"},), timezone="Asia/Tokyo")
    both = one(tmp_path, "name: d\nschedules: [{interval: 60}]\n" + BASE, overrides=given)
    assert [s.schedule for s in both.schedules or ()] == [
        schedule_from_json({"interval": 60, "timezone": "Asia/Tokyo"}),
        CronSchedule("0 0 * * *", "Asia/Tokyo"),
    ]
    assert one(tmp_path, "name: d\n" + BASE, overrides=given).schedules is not None


def test_a_bad_schedule_names_the_deployment_and_the_item(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        one(tmp_path, "name: d\nschedules: [{interval: 60}, {cron: '61 * * * *'}]\n" + BASE)
    assert caught.value.message.startswith("deployment 'd': schedules[1]: ")
    assert caught.value.message != "deployment 'd': schedules[1]: "


def test_command_line_overrides_win(tmp_path: Path) -> None:
    given = Overrides(pool="other", queue="q2", description="cli", version="9", tags=("x",),
                      parameters={"who": "cli"}, job_variables={"env": {"B": "2"}},
                      enforce_parameter_schema=True)  # fmt: skip
    spec = one(
        tmp_path,
        "name: d\n"
        + """entrypoint: flows/hello.py:hello
description: file
version: 1
tags: [f]
parameters: {who: file, n: 1}
enforce_parameter_schema: false
work_pool: {name: pool, work_queue_name: q1, job_variables: {env: {A: '1'}, image: i}}""",
        overrides=given,
    )
    assert (spec.work_pool_name, spec.work_queue_name, spec.description, spec.version) == (
        "other", "q2", "cli", "9")  # fmt: skip
    assert (spec.tags, spec.parameters, spec.enforce_parameter_schema) == (
        ("x",), {"who": "cli", "n": 1}, True)  # fmt: skip
    assert spec.job_variables == {"env": {"A": "1", "B": "2"}, "image": "i"}
    assert Overrides(enforce_parameter_schema=False).given and not Overrides().given
    assert not Overrides(undeclared=True).given


def test_job_variables_from_the_command_line_replace_what_is_not_a_mapping(tmp_path: Path) -> None:
    given = Overrides(job_variables={"env": "flat", "new": {"k": 1}})
    spec = one(tmp_path, "name: d\nentrypoint: flows/hello.py:hello\nwork_pool: {name: pool,"
               " job_variables: {env: {A: '1'}}}", overrides=given)  # fmt: skip
    assert spec.job_variables == {"env": "flat", "new": {"k": 1}}


def test_a_deployment_made_from_the_command_line_is_not_the_projects(tmp_path: Path) -> None:
    spec = one(tmp_path, "name: d\n" + BASE, overrides=Overrides(undeclared=True))
    assert spec.labels == {OWNER_LABEL: "flowplan"}


def test_the_pool_comes_from_the_environment_when_the_file_names_none(tmp_path: Path) -> None:
    spec = one(tmp_path, "name: d\nentrypoint: flows/hello.py:hello",
               env={"PREFECT_DEFAULT_WORK_POOL_NAME": "from-env"})  # fmt: skip
    assert spec.work_pool_name == "from-env"


def test_the_build_label_is_the_hash_of_the_rendered_steps(tmp_path: Path) -> None:
    """`$ENV` is read now; step outputs stay placeholders (they are the same for the same
    configuration); values YAML reads as dates hash as text."""
    steps = [
        {"prefect.deployments.steps.run_shell_script": {"script": "echo $TAG", "id": "s"}},
        {"prefect.deployments.steps.run_shell_script": {"script": "{{ s.stdout }}",
                                                        "stream_output": "2024-01-02"}},
    ]  # fmt: skip
    spec = one(tmp_path, "name: d\nentrypoint: flows/hello.py:hello\nwork_pool: {name: pool}\n"
               "build:\n  - prefect.deployments.steps.run_shell_script: {id: s, script: "
               "'echo {{ $TAG }}'}\npush:\n  - prefect.deployments.steps.run_shell_script:"
               " {script: '{{ s.stdout }}', stream_output: 2024-01-02}",
               env={"TAG": "$TAG"})  # fmt: skip
    expected = hashlib.sha256(json.dumps(steps, sort_keys=True).encode()).hexdigest()[:16]
    assert spec.labels == {OWNER_LABEL: "flowplan", PROJECT_LABEL: "proj", BUILD_LABEL: expected}


def test_the_environment_is_the_process_one_unless_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHO", "from-process")
    found = report(tmp_path, "deployments:\n  - name: d\n    parameters: {who: '{{ $WHO }}'}\n"
                   "    " + BASE.replace("\n", "\n    ") + "\n")  # fmt: skip
    assert found.project is not None
    made = desired_state(found.project, found.flows, found.project.deployments,
                         variable=VARIABLES.get)  # fmt: skip
    assert made.deployments[0].parameters == {"who": "from-process"}


def test_build_outputs_fill_placeholders_and_pull_steps_keep_what_is_unknown(
    tmp_path: Path,
) -> None:
    spec = one(tmp_path, "name: d\n" + """entrypoint: flows/hello.py:hello
work_pool: {name: pool, job_variables: {image: '{{ build.image }}'}}
build:
  - prefect_docker.deployments.steps.build_docker_image: {id: build, image_name: x, tag: '1'}
pull:
  - prefect.deployments.steps.git_clone:
      repository: '{{ $REPO }}/x.git'
      branch: '{{ build.image }}'
      access_token: '{{ $TOKEN }}'
  - prefect.deployments.steps.run_shell_script:
      script: 'cd {{ ctx.flow_run.id }} {{ nothing.here }}'""",
               env={"REPO": "https://git", "TOKEN": "t0k3n"},
               outputs={"build": {"image": "x:1"}})  # fmt: skip
    assert spec.job_variables == {"image": "x:1"}
    assert spec.pull_steps == [
        {"prefect.deployments.steps.git_clone": {
            "repository": "https://git/x.git", "branch": "x:1", "access_token": "{{ $TOKEN }}"}},
        {"prefect.deployments.steps.run_shell_script": {
            "script": "cd {{ ctx.flow_run.id }} {{ nothing.here }}"}},
    ]  # fmt: skip


def test_an_explicitly_empty_pull_has_no_default(tmp_path: Path) -> None:
    assert one(tmp_path, "name: d\npull: []\n" + BASE).pull_steps == []


def test_the_project_label_and_name(tmp_path: Path) -> None:
    root = tmp_path / "my-repo"
    root.mkdir()
    result = desired(root, "deployments:\n  - {name: d, " + BASE.replace("\n", ", ") + "}\n")
    assert result.project == "my-repo"
    assert result.deployments[0].labels[PROJECT_LABEL] == "my-repo"
    found = report(root, "name: named\ndeployments: []\n")
    assert found.project is not None and project_name(found.project) == "named"


def test_secret_references_stay_and_missing_values_are_dropped_with_a_warning(
    tmp_path: Path,
) -> None:
    result = desired(tmp_path, "name: proj\ndeployments:\n  - name: d\n" + """    entrypoint: flows/hello.py:hello
    work_pool: {name: pool}
    parameters:
      password: '{{ prefect.blocks.secret.db-password }}'
      run: '{{ ctx.flow_run.id }}'
      gone: '{{ prefect.variables.nope }}'
      user: '{{ $NO_SUCH_VAR }}'
      image: '{{ no_step.image }}'""")  # fmt: skip
    assert result.deployments[0].parameters == {
        "password": "{{ prefect.blocks.secret.db-password }}", "run": "{{ ctx.flow_run.id }}",
        "gone": "", "user": "",
    }  # fmt: skip
    assert result.warnings == (
        "deployments[0] (d): no value for placeholder {{ no_step.image }}; the field is dropped",
    )


def test_triggers_of_every_type_are_stored_without_a_warning(tmp_path: Path) -> None:
    compound = "{type: compound, require: all, triggers: [{expect: [a]}, {expect: [b]}]}"
    result = desired(tmp_path, "name: proj\ndeployments:\n" + "".join(
        f"  - name: d{n}\n    {BASE.replace(chr(10), chr(10) + '    ')}\n    triggers:\n"
        + "      - {type: event, expect: [e]}\n"
        + "".join(f"      - {compound}\n" for i in range(n))
        for n in (1, 2)))  # fmt: skip
    assert result.warnings == ()
    assert [len(d.triggers) for d in result.deployments] == [2, 3]
    assert result.deployments[1].triggers[1]["type"] == "compound"


@pytest.mark.parametrize(
    ("deployment", "message", "hint"),
    [
        (
            "{entrypoint: flows/hello.py:hello, work_pool: {name: p}}",
            "deployments[0] has no name",
            "add name: ... to the deployment",
        ),
        (
            "{name: '', entrypoint: flows/hello.py:hello, work_pool: {name: p}}",
            "deployments[0] has no name",
            "add name: ... to the deployment",
        ),
        (
            "{name: d, entrypoint: flows/hello.py:nope, work_pool: {name: p}}",
            "deployment 'd': cannot find the flow of entrypoint 'flows/hello.py:nope'",
            "run 'flowplan validate' for details",
        ),
        (
            "{name: d, entrypoint: flows/hello.py:hello}",
            "deployment 'd' has no work pool",
            "set work_pool.name in prefect.yaml or pass --pool",
        ),
        (
            "{name: d, entrypoint: flows/hello.py:hello, work_pool: {name: p}, tags: abc}",
            "deployment 'd': tags became text ('abc'), not a list",
            "Prefect would split it into single characters; give a list",
        ),
    ],
)
def test_deployments_that_cannot_be_made(
    tmp_path: Path, deployment: str, message: str, hint: str
) -> None:
    found = error(tmp_path, f"deployments:\n  - {deployment}\n")
    assert (found.message, found.hint) == (message, hint)


def test_tags_known_only_after_the_build_are_kept_for_the_plan(tmp_path: Path) -> None:
    spec = one(tmp_path, "name: d\ntags: '{{ build.tags }}'\nbuild:\n  - prefect_docker."
               "deployments.steps.build_docker_image: {id: build, image_name: x}\n" + BASE,
               outputs={"build": {"tags": f"{KNOWN_AFTER_BUILD}"}})  # fmt: skip
    assert spec.tags == (KNOWN_AFTER_BUILD,)


# -- pools and queues ------------------------------------------------------------------------------


def test_every_field_of_a_pool_and_its_queues(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    template = {"job_configuration": {"command": "{{ command }}"},
                "variables": {"properties": {"command": {"type": "string"}}}}  # fmt: skip
    (tmp_path / "templates" / "t.json").write_text(json.dumps(template))
    result = desired(
        tmp_path,
        """work_pools:
  - name: '{{ $POOL }}'
    type: docker
    description: for {{ prefect.variables.team }}
    paused: true
    concurrency_limit: 3
    base_job_template: templates/t.json
    queues:
      - {name: fast, description: quick, priority: 1, concurrency_limit: 2, paused: true}
      - {name: slow}
  - {name: plain, description: '{{ no_step.text }}'}
deployments: []
""",
        env={"POOL": "gpu"},
    )
    assert result.pools == (
        PoolSpec("gpu", "docker", "for data", True, 3, template),
        PoolSpec("plain", "process"),
    )
    assert result.queues == (
        QueueSpec("gpu", "fast", "quick", 1, 2, True),
        QueueSpec("gpu", "slow"),
    )
    assert result.warnings == (
        "work_pools[1]: no value for placeholder {{ no_step.text }}; the field is dropped",
    )


def test_an_inline_pool_template_is_taken_as_it_is(tmp_path: Path) -> None:
    result = desired(tmp_path, "work_pools:\n  - name: p\n    base_job_template: {variables: "
                     "{properties: {}}, job_configuration: {}}\ndeployments: []\n")  # fmt: skip
    assert result.pools[0].base_job_template == {"variables": {"properties": {}},
                                                 "job_configuration": {}}  # fmt: skip


def test_a_pool_template_outside_the_project_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (tmp_path / "t.json").write_text("{}")
    found = error(
        root, "work_pools:\n  - {name: p, base_job_template: ../t.json}\ndeployments: []\n"
    )
    assert found.message == "work_pools[0].base_job_template: '../t.json' is outside the project"


def test_a_broken_pool_template_names_the_pool(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text("{not json")
    found = error(
        tmp_path, "work_pools:\n  - {name: p, base_job_template: t.json}\ndeployments: []\n"
    )
    assert found.message.startswith("work_pools[0].base_job_template: ")
    assert "t.json" in found.message


# -- choosing deployments ---------------------------------------------------------------------------


def config(name: str | None, entrypoint: str | None, index: int = 0) -> DeploymentConfig:
    return DeploymentConfig(index, {"name": name, "entrypoint": entrypoint}, (), (), (), False)


def flow(name: str) -> FlowInfo:
    return FlowInfo(name, "f", "a.py", 1, False, None, (), False)


@pytest.mark.parametrize(
    ("pattern", "name", "entrypoint", "flow_name", "expected"),
    [
        ("d", "d", "a.py:f", None, True),
        ("d*", "daily", "a.py:f", None, True),
        ("*ly", "daily", "a.py:f", None, True),
        ("d", "dd", "a.py:f", None, False),
        ("d", None, "a.py:f", None, False),
        ("my-flow/d", "d", "a.py:my_flow", None, True),
        ("my_flow/d", "d", "a.py:my_flow", None, True),
        ("my-flow/d", "d", "a.py:other", None, False),
        ("my-flow/d", "d", "a.py:Klass.my_flow", None, True),
        ("my-flow/d", "d", "dir:a.py:my_flow", None, True),
        ("registered/d", "d", "a.py:my_flow", "registered", True),
        ("reg-name/d", "d", "a.py:my_flow", "reg_name", True),
        ("reg_name/d", "d", "a.py:my_flow", "reg-name", True),
        ("registered/d", "d", "a.py:my_flow", None, False),
        ("m*/d", "d", "a.py:my_flow", None, True),
        ("x/d", "d", None, None, False),
        ("a.py/d", "d", "a.py:f", None, False),
    ],
)
def test_name_patterns(
    pattern: str, name: str | None, entrypoint: str | None, flow_name: str | None, expected: bool
) -> None:
    info = flow(flow_name) if flow_name else None
    assert matches(pattern, config(name, entrypoint), info) is expected


def test_select_keeps_pattern_order_without_repeats_and_tells_what_matched_nothing(
    tmp_path: Path,
) -> None:
    found = report(tmp_path, "deployments:\n" + "".join(
        f"  - {{name: {n}, {BASE.replace(chr(10), ', ')}}}\n" for n in ("a1", "b1", "a2")))  # fmt: skip
    assert found.project is not None
    chosen, unmatched = select(found.project, found.flows, ["b*", "a*", "b1", "zz", "q"], False)
    assert [c.name for c in chosen] == ["b1", "a1", "a2"]
    assert unmatched == ["zz", "q"]
    everything, none = select(found.project, found.flows, [], True)
    assert [c.name for c in everything] == ["a1", "b1", "a2"] and none == []
    assert [c.name for c in select(found.project, found.flows, [], False)[0]] == ["a1", "b1", "a2"]
    flowed, _ = select(found.project, found.flows, ["hello-flow/a2"], False)
    assert [c.name for c in flowed] == ["a2"]
    with pytest.raises(UsageError) as caught:
        select(found.project, found.flows, ["a1"], True)
    assert caught.value.message == "use either --all or -n/--name, not both"
